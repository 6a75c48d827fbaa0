"""The emulator answers as ABEJA's runtime behind the model proxy: status, content type, body bytes.

Every handler case runs twice: through the emulator over HTTP, and through `abejaruntime` driven
directly by a reference driver written from the proxy's sources (`_reference_runtime.py`, no code
shared with the emulator). Both must give the same answer, and that answer must be the one the
sources say (the literal expectations below). docs/emulator-conformance.md maps each case to the
source file that shows the platform's behaviour.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from abeja_emulator import EmulatorHandle, EmulatorProcess

from ._reference_runtime import ReferenceRuntime

pytestmark = pytest.mark.emulator

HANDLER_FILE = Path(__file__).with_name("conformance_handler.py")
HANDLER_TIMEOUT = 2.0  # shortened from the platform's 30 s
JSON = "application/json"
UNEXPECTED = b'{"status":"unexpected error occurred"}'


class Side:
    """One way to send a case: the emulator (HTTP) or the reference driver (socket)."""

    def __init__(
        self, handle: EmulatorHandle, dep: str, service_id: str, reference: ReferenceRuntime
    ) -> None:
        self.handle = handle
        self.url = handle.inference_url(dep, service_id)
        self.reference = reference


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("conformance-code")
    shutil.copy(HANDLER_FILE, folder / "main.py")
    return folder


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(ready_delay=0.0, sample=False) as process:
        process.handle.configure(handler_timeout=HANDLER_TIMEOUT)
        yield process


@pytest.fixture(scope="module")
def deployment(emulator: EmulatorProcess, code_dir: Path) -> tuple[str, str]:
    handle = emulator.handle
    dep = handle.create_deployment(name="conformance")["deployment_id"]
    version = handle.create_version(
        dep,
        "1.0.0",
        code_dir=str(code_dir),
        image="abeja-inc/all-cpu:19.10",
        user_parameters={"CONFORMANCE_PARAMETER": "p", "CONTEXT": '{"from": "CONTEXT"}'},
    )
    return dep, version["version_id"]


def _service(handle: EmulatorHandle, dep: str, version_id: str) -> str:
    service_id = handle.create_service(dep, version_id)["service_id"]
    handle.wait_for_status(dep, service_id, "READY", timeout=60)
    return str(service_id)


@pytest.fixture(scope="module")
def side(emulator: EmulatorProcess, deployment: tuple[str, str], code_dir: Path) -> Iterator[Side]:
    dep, version_id = deployment
    service_id = _service(emulator.handle, dep, version_id)
    reference = ReferenceRuntime(
        code_dir, "main:handler", {"CONFORMANCE_PARAMETER": "p", "CONTEXT": '{"from": "CONTEXT"}'}
    )
    reference.wait_ready()
    yield Side(emulator.handle, dep, service_id, reference)
    reference.close()


def emulator_answer(side: Side, case: str, method: str = "POST", **kwargs: Any) -> requests.Response:
    headers = {"X-Case": case, **kwargs.pop("headers", {})}
    return requests.request(method, side.url, headers=headers, auth=side.handle.auth, timeout=30, **kwargs)


def answer_tuple(response: requests.Response) -> tuple[int, str | None, bytes]:
    return response.status_code, response.headers.get("Content-Type"), response.content


def check(response: requests.Response, expected: tuple[int, str, bytes]) -> None:
    assert answer_tuple(response) == expected


# (case, content type of the request, body, expected status, content type, body)
HANDLER_CASES = [
    ("dict", JSON, b"{}", 200, JSON, b'{"a": 1, "b": [1, 2]}'),
    ("list_of_dicts", JSON, b"{}", 200, JSON, b'{"a": 1}\n{"b": 2}'),
    ("str", JSON, b"{}", 200, "text/plain", "h\u00e9llo".encode()),
    ("bytes", JSON, b"{}", 200, "text/plain", b"65\n66"),
    ("bytes_items", JSON, b"{}", 200, "application/octet-stream", b"\x00\x01\x02"),
    ("csv", JSON, b"{}", 200, "text/csv", b"a,b\r\n1,x\r\n2,y\r\n"),
    ("no_content_type", JSON, b"{}", 200, "text/plain", b'{"x": 1}'),
    ("generator", JSON, b"{}", 200, JSON, b'{"i": 0}\n{"i": 1}\n{"i": 2}'),
    ("datetime_numpy", JSON, b"{}", 200, JSON, b'{"t": "2020-01-02T03:04:05", "n": 7, "v": [1.5]}'),
    ("read", "application/octet-stream", b"\x00raw\xff", 200, "application/octet-stream", b"\x00raw\xff"),
    ("read_size", "text/plain", b"abcdefgh", 200, "application/octet-stream", b"abcd|efgh"),
    ("raise", JSON, b"{}", 500, JSON, UNEXPECTED),
    ("not_a_dict", JSON, b"{}", 500, JSON, UNEXPECTED),
    ("generator_handler", JSON, b"{}", 500, JSON, UNEXPECTED),
    ("metadata_list", JSON, b"{}", 500, JSON, UNEXPECTED),
    (
        "metadata_numbers", JSON, b"{}", 500, JSON,
        b'{"status":"Internal Server Error: unexpected error of Read IPC response body error: json: cannot'
        b' unmarshal number into Go struct field Response.metadata of type string"}',
    ),
    ("metadata_ok", JSON, b"{}", 201, "text/plain", b"m"),
    ("context", JSON, b"{}", 200, JSON, b'{"from": "CONTEXT"}'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "request_type", "body", "status", "content_type", "expected"),
    HANDLER_CASES,
    ids=[c[0] for c in HANDLER_CASES],
)
def test_handler_case(side, case, request_type, body, status, content_type, expected):
    reference = side.reference.call(
        "POST", request_type, {"content-type": request_type, "x-case": case}, [{"body": body}]
    )
    assert reference == (status, content_type, expected)  # the sources' answer is the runtime's
    check(emulator_answer(side, case, data=body, headers={"Content-Type": request_type}), reference)


def test_http_headers_are_case_insensitive(side):
    headers = {"Content-Type": JSON, "X-Thing": "one"}
    expected = (200, JSON, b'{"one": "one", "all": ["one"], "missing": null}')
    reference = side.reference.call(
        "POST", JSON, {"x-case": "http_headers", "x-thing": "one"}, [{"body": b""}]
    )
    assert reference == expected
    check(emulator_answer(side, "http_headers", data=b"", headers=headers), expected)


def test_get_passes_the_query_as_a_form_body(side):
    expected_content = {
        "method": "GET",
        "content_type": "application/x-www-form-urlencoded",
        "contents": [{"content_type": None, "file_name": None, "form_name": None, "body": "q=1&r=two"}],
    }
    reference = side.reference.call(
        "GET", "application/x-www-form-urlencoded", {"x-case": "describe"}, [{"body": b"q=1&r=two"}]
    )
    assert (reference[0], json.loads(reference[2])) == (200, expected_content)
    answer = emulator_answer(side, "describe", "GET", params={"q": "1", "r": "two"})
    check(answer, reference)


def test_put_reaches_the_handler(side):
    answer = emulator_answer(side, "describe", "PUT", data=b"payload", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200
    assert answer.json()["method"] == "PUT"
    assert answer.json()["contents"][0]["body"] == "payload"


@pytest.mark.parametrize(
    ("method", "headers", "message"),
    [
        ("POST", {}, b"Content-Type: [] is not supported"),
        ("POST", {"Content-Type": "no slash;"}, b"Content-Type: [no slash;] is not supported"),
        ("PUT", {"Content-Type": "text/plain; x"}, b"Content-Type: [text/plain; x] is not supported"),
        ("PATCH", {"Content-Type": JSON}, b"Content-Type: [application/json] is not supported"),
        ("DELETE", {}, b"Content-Type: [] is not supported"),
    ],
)
def test_refused_methods_and_content_types_get_501(side, method, headers, message):
    answer = emulator_answer(side, "dict", method, data=b"x" if method != "DELETE" else None, headers=headers)
    check(answer, (501, JSON, b'{"status":"' + message + b'"}'))


def test_multipart_gives_one_content_per_part(side):
    answer = emulator_answer(
        side, "describe", files={"image": ("dir/cat.png", b"PNG", "image/png"), "note": (None, "plain field")}
    )
    expected_contents = [
        {"content_type": "image/png", "file_name": "cat.png", "form_name": "image", "body": "PNG"},
        {"content_type": None, "file_name": None, "form_name": "note", "body": "plain field"},
    ]
    reference = side.reference.call(
        "POST",
        answer.request.headers["Content-Type"],
        {"x-case": "describe"},
        [
            {"body": b"PNG", "content_type": "image/png", "file_name": "cat.png", "form_name": "image"},
            {"body": b"plain field", "form_name": "note"},
        ],
    )
    assert json.loads(reference[2])["contents"] == expected_contents
    check(answer, reference)


def test_answer_headers_added_by_the_proxy_and_runtime(side):
    answer = emulator_answer(side, "metadata_ok", data=b"{}", headers={"Content-Type": JSON})
    assert answer.headers["X-Custom"] == "yes"
    assert answer.headers["X-Abeja-Sys-Meta-Runtime-Version"] == "1.1.1"
    assert answer.headers["X-Abeja-Sys-Meta-Proxy-Version"] == "2.6.5"
    assert answer.headers["X-Abeja-Deployment-Id"] == side.url.split("/deployments/")[1].split("/")[0]
    assert answer.headers["X-Abeja-Service-Id"] == side.url.rsplit("/", 1)[1]
    assert answer.headers["X-Abeja-Model-Version"] == "1.0.0"
    assert answer.headers["Content-Length"] == "1"
    refused = emulator_answer(side, "dict", "PATCH", data=b"x", headers={"Content-Type": JSON})
    assert "X-Abeja-Service-Id" not in refused.headers  # the proxy's own error answers carry no ids


def test_multipart_answer_is_refused_by_the_proxy(side):
    answer = emulator_answer(side, "multipart_answer", data=b"{}", headers={"Content-Type": JSON})
    check(
        answer, (501, JSON, b'{"status":"Content-Type: [multipart/form-data; boundary=x] is not supported"}')
    )


def test_status_code_out_of_range_drops_the_connection(side):
    with pytest.raises(requests.ConnectionError):  # Go's WriteHeader panics on 42: no answer at all
        emulator_answer(side, "status_42", data=b"{}", headers={"Content-Type": JSON})


def test_environment_of_the_handler(side):
    answer = emulator_answer(side, "environment", data=b"{}", headers={"Content-Type": JSON})
    assert answer.json() == {
        "HANDLER": "main:handler",
        "ABEJA_DEPLOYMENT_VERSION_ID": None,
        "CONFORMANCE_PARAMETER": "p",
        "CONTEXT": '{"from": "CONTEXT"}',
        "training_result_dir_set": True,
        "ipc_path_set": True,
    }


def test_health_check_and_503_before_ready(emulator, deployment, side):
    handle = emulator.handle
    health = requests.get(side.url + "/health_check", auth=handle.auth, timeout=10)
    check(health, (200, JSON, b'{"status":"ok"}'))
    dep, version_id = deployment
    handle.configure(ready_delay=30)
    try:
        starting = handle.create_service(dep, version_id)["service_id"]
        url = handle.inference_url(dep, starting)
        check(
            requests.post(url, json={}, auth=handle.auth, timeout=10),
            (503, JSON, b'{"status":"service unavailable"}'),
        )
        check(
            requests.get(url + "/health_check", auth=handle.auth, timeout=10),
            (503, JSON, b'{"status":"service unavailable"}'),
        )
    finally:
        handle.configure(ready_delay=0)


def test_handler_slower_than_the_timeout_loses_the_connection(emulator, deployment):
    handle = emulator.handle
    dep, version_id = deployment
    service_id = _service(handle, dep, version_id)
    url = handle.inference_url(dep, service_id)
    with pytest.raises(requests.ConnectionError):
        requests.post(
            url,
            data=str(HANDLER_TIMEOUT * 1.5).encode(),  # outlives the timeout by a second
            headers={"X-Case": "slow", "Content-Type": "text/plain"},
            auth=handle.auth,
            timeout=60,
        )
    # the instance stays busy until the handler returns, then serves again (no restart)
    after = requests.post(
        url, data=b"0", headers={"X-Case": "slow", "Content-Type": "text/plain"}, auth=handle.auth, timeout=60
    )
    check(after, (200, "text/plain", b"late"))
    assert any("without an answer" in m for m in handle.log_messages(service_id))


def test_runtime_crash_takes_the_instance_down(emulator, deployment):
    handle = emulator.handle
    dep, version_id = deployment
    service_id = _service(handle, dep, version_id)
    url = handle.inference_url(dep, service_id)
    crashed = requests.post(url, json={}, headers={"X-Case": "crash"}, auth=handle.auth, timeout=30)
    expected = b'{"status":"Internal Server Error: unexpected error of communication with runtime"}'
    check(crashed, (500, JSON, expected))
    handle.wait_for_status(dep, service_id, "FAILED")  # no silent respawn
    assert any("exited (code 3)" in m for m in handle.log_messages(service_id))
    later = requests.post(url, json={}, headers={"X-Case": "dict"}, auth=handle.auth, timeout=30)
    check(later, (503, JSON, b'{"status":"service unavailable"}'))


def _wheel(folder: Path) -> Path:
    """A minimal wheel of a one-module package, installable offline."""
    path = folder / "confdep-1.0-py3-none-any.whl"
    files = {
        "confdep.py": "VALUE = 'installed from requirements.txt'\n",
        "confdep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: confdep\nVersion: 1.0\n",
        "confdep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files["confdep-1.0.dist-info/RECORD"] = "".join(
        f"{name},,\n" for name in [*files, "confdep-1.0.dist-info/RECORD"]
    )
    with zipfile.ZipFile(path, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return path


def _version(handle: EmulatorHandle, dep: str, name: str, code: Path, handler: str = "main:handler") -> str:
    return str(handle.create_version(dep, name, handler, str(code))["version_id"])


def test_requirements_and_the_abeja_folder(emulator, deployment, tmp_path):
    """The runtime moves into the folder holding `.abeja` and installs its requirements.txt there."""
    handle = emulator.handle
    dep, _ = deployment
    project = tmp_path / "upload" / "project"
    (project / ".abeja").mkdir(parents=True)
    wheel = _wheel(tmp_path)
    (project / "requirements.txt").write_text(f"--no-index\n{wheel}\n")
    (project / "main.py").write_text(
        "import os, confdep\n\n"
        "def handler(request, context):\n"
        "    return {'content': confdep.VALUE + ' in ' + os.path.basename(os.getcwd())}\n"
    )
    service_id = _service(handle, dep, _version(handle, dep, "2.0.0", tmp_path / "upload"))
    answer = requests.post(handle.inference_url(dep, service_id), json={}, auth=handle.auth, timeout=30)
    check(answer, (200, "text/plain", b"installed from requirements.txt in project"))
    site = tmp_path / "reference-site"  # the reference installs aside too, not into the test's venv
    site.mkdir()
    reference = ReferenceRuntime(
        tmp_path / "upload", "main:handler", {"PIP_TARGET": str(site), "PYTHONPATH": str(site)}
    )
    reference.wait_ready()
    assert reference.call("POST", JSON, {}, [{"body": b"{}"}]) == answer_tuple(answer)
    reference.close()


def test_handler_without_a_colon_fails_the_service(emulator, deployment, code_dir):
    handle = emulator.handle
    dep, _ = deployment
    version_id = _version(handle, dep, "3.0.0", code_dir, handler="main")
    service_id = handle.create_service(dep, version_id)["service_id"]
    handle.wait_for_status(dep, service_id, "FAILED", timeout=60)
    assert any('handler needs one ":" separator' in m for m in handle.log_messages(service_id))
    reference = ReferenceRuntime(code_dir, "main")
    assert reference.exit_code() == 1
    assert 'handler needs one ":" separator' in reference.output()
    reference.close()
