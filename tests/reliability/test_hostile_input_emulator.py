"""Hostile input to the emulator: a web page, a careless script or a typo, at every edge it exposes.

Table-driven, one live emulator with small upload limits. Each refused case must answer its 4xx
*and change nothing*: the emulator's whole state (deployments, versions, services, endpoints, faults,
settings) is the same before and after. The allowed controls show the guards are not over-broad.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.emulator import _archives as ar
from tests.reliability._emulator import DEPLOYMENT_ID, ORGANIZATION_ID, EmulatorServer

pytestmark = pytest.mark.emulator

LIMITS = ["--max-upload-mb", "1", "--max-expanded-mb", "2", "--max-archive-files", "50"]
DEP = f"/organizations/{ORGANIZATION_ID}/deployments/{DEPLOYMENT_ID}"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def abeja_emulator_module() -> Iterator[EmulatorServer]:
    with EmulatorServer(ready_delay=0.2, extra_args=LIMITS) as server:
        yield server


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    #: a path, or "upload" (the version's upload URL) / "training" (a training definition version)
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: Any = None
    files: dict[str, Any] | None = None
    auth: bool = True


@pytest.fixture
def world(emulator: EmulatorServer, tmp_path: Path) -> dict[str, Any]:
    """A version with an upload URL, a marker fault (a reset would remove it), a link out of /tmp."""
    handle = emulator.handle
    version = handle.create_version(DEPLOYMENT_ID, version="7.7.7")
    handle.inject_fault("get_deployment", status=500, probability=0.0)
    link = tmp_path / "link-to-etc"
    link.symlink_to("/etc")
    return {"upload": version["upload_url"], "link": str(link), "port": emulator.port}


def _send(emulator: EmulatorServer, probe: Probe, world: dict[str, Any]) -> requests.Response:
    if probe.path == "upload":
        url = world["upload"]
    elif probe.path == "training":
        url = (
            emulator.url + f"/organizations/{ORGANIZATION_ID}/training/definitions/sample-sentiment/versions"
        )
    else:
        url = emulator.url + probe.path.format(port=world["port"])
    headers = {k: v.format(port=world["port"]) for k, v in probe.headers.items()}
    body = probe.json
    if isinstance(body, dict) and isinstance(body.get("code_dir"), str):
        body = dict(body, code_dir=body["code_dir"].format(link=world["link"]))
    data = probe.data() if callable(probe.data) else probe.data
    return requests.request(
        probe.method,
        url,
        headers=headers,
        json=body,
        data=data,
        files=probe.files,
        auth=emulator.handle.auth if probe.auth else None,
        timeout=60,
    )


def _host(name: str, host: str, method: str = "GET", path: str = DEP + "/services", **kw: Any) -> Probe:
    return Probe(f"host-{name}", method, path, 403, headers={"Host": host}, **kw)


FAULT = {"route": "get_services", "status": 503}
JSON = {"Content-Type": "application/json"}

HOSTS = [
    _host("foreign", "evil.example"),
    _host("foreign-port", "evil.example:{port}"),
    _host("org-on-foreign", "1234567890123.evil.example", "POST", f"/deployments/{DEPLOYMENT_ID}", json={}),
    _host("loopback-ip-prefix", "127.0.0.1.evil.example"),
    _host("localhost-prefix", "localhost.evil.example"),
    _host("localhost-upper-prefix", "LOCALHOST.evil.example:{port}"),
    _host("userinfo-trick", "localhost@evil.example"),
    _host("private-ip", "10.0.0.1:{port}"),
    _host("link-local-v6", "[fe80::1]:{port}"),
    _host("wildcard-ip", "0.0.0.0:{port}"),
    _host("create-version", "evil.example", "POST", DEP + "/versions", json={"version": "6.6.6"}),
    _host("create-service", "evil.example", "POST", DEP + "/services", json={"version_id": "x"}),
    _host("reset", "evil.example", "POST", "/_emulator/reset", json={}),
    _host("add-fault", "evil.example", "POST", "/_emulator/faults", json=FAULT),
    _host("config", "evil.example", "POST", "/_emulator/config", json={"ready_delay": 9}),
    _host("state", "evil.example", "GET", "/_emulator/state"),
    _host("health", "evil.example", "GET", "/_emulator/health"),
    _host("upload", "evil.example", "PUT", "upload", data=ar.tar_files(ar.HANDLER)),
    _host("console", "evil.example", "GET", "/console/"),
]

CONTROL = [
    Probe(
        "text-plain-fault", "POST", "/_emulator/faults", 415, {"Content-Type": "text/plain"}, data='{"a": 1}'
    ),
    Probe("text-plain-reset", "POST", "/_emulator/reset", 415, {"Content-Type": "text/plain"}, data="x"),
    Probe("form-config", "POST", "/_emulator/config", 415, data={"ready_delay": "99"}),
    Probe("multipart-fault", "POST", "/_emulator/faults", 415, files={"route": (None, "get_services")}),
    Probe("no-type-reset", "POST", "/_emulator/reset", 415),
    Probe("no-type-clear-faults", "DELETE", "/_emulator/faults", 415),
    Probe("text-plain-clear-faults", "DELETE", "/_emulator/faults", 415, {"Content-Type": "text/plain"}),
    Probe("text-status", "POST", "/_emulator/services/ser-1/status", 415, {"Content-Type": "text/plain"}),
    Probe("form-logs", "POST", "/_emulator/services/ser-1/logs", 415, data={"message": "x"}),
    Probe("json-prefix-type", "POST", "/_emulator/faults", 415, {"Content-Type": "application/jsonx"}),
    Probe(
        "json-in-param", "POST", "/_emulator/reset", 415, {"Content-Type": "text/plain; a=application/json"}
    ),
    Probe("foreign-origin", "POST", "/_emulator/faults", 403, {"Origin": "http://evil.example"}, json=FAULT),
    Probe("null-origin", "POST", "/_emulator/reset", 403, {"Origin": "null"}, json={}),
    Probe("other-port-origin", "POST", "/_emulator/reset", 403, {"Origin": "http://127.0.0.1:1"}, json={}),
    Probe(
        "lookalike-origin",
        "POST",
        "/_emulator/reset",
        403,
        {"Origin": "http://localhost.evil.example"},
        json={},
    ),
    Probe("file-origin", "POST", "/_emulator/config", 403, {"Origin": "file://"}, json={"ready_delay": 9}),
    Probe("origin-on-read", "GET", "/_emulator/state", 403, {"Origin": "http://evil.example"}),
]


def _code_dir(name: str, code_dir: str) -> Probe:
    return Probe(
        f"code-dir-{name}", "POST", DEP + "/versions", 400, json={"version": "6.6.6", "code_dir": code_dir}
    )


#: The repository (and the emulator's working folder, which is the repository) is refused unless it
#: lies in an allowed root itself: a clone under the temporary folder, which is one by default.
_REPO_IN_A_CODE_ROOT = REPO.is_relative_to(Path(tempfile.gettempdir()).resolve())
CODE_DIRS = [
    _code_dir("etc", "/etc"),
    _code_dir("root", "/"),
    _code_dir("home", str(Path.home())),
    *([] if _REPO_IN_A_CODE_ROOT else [_code_dir("repository", str(REPO))]),
    _code_dir("dotdot-out-of-tmp", "/tmp/../etc"),
    _code_dir("symlink-out-of-tmp", "{link}"),
    _code_dir("tmp-prefix-lookalike", "/tmpfoo"),
    *([] if _REPO_IN_A_CODE_ROOT else [_code_dir("proc-cwd", "/proc/self/cwd")]),
]


def _upload(name: str, status: int, archive: Callable[[], Any] | bytes, **kw: Any) -> Probe:
    return Probe(f"upload-{name}", "PUT", "upload", status, data=archive, auth=False, **kw)


def _chunks() -> Iterator[bytes]:
    for _ in range(24):
        yield bytes(64 * 1024)


UPLOADS = [
    _upload("over-size", 413, bytes(int(1.5 * ar.MIB))),
    _upload("over-size-chunked", 413, _chunks),
    _upload("tar-bomb", 400, ar.tar_files(ar.zeros(3 * ar.MIB))),
    _upload("zip-bomb", 400, ar.zip_files(ar.zeros(3 * ar.MIB))),
    _upload("tar-spread-bomb", 400, ar.tar_files(ar.spread(3 * ar.MIB, 40))),
    _upload("zip-spread-bomb", 400, ar.zip_files(ar.spread(3 * ar.MIB, 40))),
    _upload("tar-many-files", 400, ar.tar_files(ar.many(60))),
    _upload("zip-many-files", 400, ar.zip_files(ar.many(60))),
    _upload("tar-dotdot", 400, ar.tar_files({"../evil.py": b"x"})),
    _upload("tar-absolute", 400, ar.tar_files({"/tmp/evil.py": b"x"})),
    _upload("zip-dotdot", 400, ar.zip_files({"../evil.py": b"x"})),
    _upload("tar-symlink-absolute", 400, ar.tar_gz([ar.special_member("l", tarfile.SYMTYPE, "/etc/passwd")])),
    _upload("tar-symlink-dotdot", 400, ar.tar_gz([ar.special_member("l", tarfile.SYMTYPE, "../x")])),
    _upload(
        "tar-hardlink-out", 400, ar.tar_gz([ar.special_member("l", tarfile.LNKTYPE, "../../etc/passwd")])
    ),
    _upload("tar-char-device", 400, ar.tar_gz([ar.special_member("d", tarfile.CHRTYPE)])),
    _upload("tar-fifo", 400, ar.tar_gz([ar.special_member("p", tarfile.FIFOTYPE)])),
    _upload("not-an-archive", 400, b"just some bytes"),
    _upload("empty-body", 400, b""),
]


def _training(name: str, status: int, source: bytes) -> Probe:
    files = {
        "source_code": ("code.zip", source, "application/zip"),
        "parameters": (None, '{"handler": "train:handler"}'),
    }
    return Probe(f"training-{name}", "POST", "training", status, files=files)


TRAINING = [
    _training("zip-bomb", 400, ar.zip_files(ar.zeros(3 * ar.MIB))),
    _training("zip-many-files", 400, ar.zip_files(ar.many(60))),
    _training("tar-bomb", 400, ar.tar_files(ar.zeros(3 * ar.MIB))),
    _training("over-size", 413, bytes(int(1.5 * ar.MIB))),
]


def _fault(name: str, expect: int = 400, **spec: Any) -> Probe:
    return Probe(f"fault-{name}", "POST", "/_emulator/faults", expect, json={"route": "get_services", **spec})


def _raw_fault(name: str, text: str) -> Probe:
    """JSON's non-standard numbers (Python's json reads them), sent as written."""
    return Probe(f"fault-{name}", "POST", "/_emulator/faults", 400, JSON, data=text)


FAULTS = [
    _raw_fault("latency-infinity", '{"route": "get_services", "latency": Infinity}'),
    _raw_fault("latency-nan", '{"route": "get_services", "latency": NaN}'),
    _fault("latency-inf-text", latency="inf"),
    _fault("latency-nan-text", latency="nan"),
    _fault("latency-negative", latency=-1),
    _fault("latency-over-bound", latency=301),
    _fault("latency-huge", latency=1e308),
    _fault("latency-text", latency="soon"),
    _fault("route-typo", route="get_servce", status=500),
    _fault("route-case", route="GET_SERVICES", status=500),
    _fault("route-space", route="get_services ", status=500),
    _fault("route-control-api", route="reset", status=500),
    _fault("retry-after-crlf", status=503, retry_after="1\r\nX-Evil: 1"),
    _fault("retry-after-lf", status=503, retry_after="1\n"),
    _fault("retry-after-nul", status=503, retry_after="\x00"),
    _fault("retry-after-non-ascii", status=503, retry_after="\u00b2"),
    _fault("status-low", status=99),
    _fault("status-high", status=600),
    _fault("status-text", status="bad"),
    _fault("status-bool", status=True),
    _fault("times-zero", status=500, times=0),
    _fault("times-fraction", status=500, times="1.5"),
    _fault("probability-over", status=500, probability=1.5),
    _raw_fault("probability-nan", '{"route": "get_services", "status": 500, "probability": NaN}'),
    _fault("probability-nan-text", status=500, probability="nan"),
    _fault("when-unknown", status=500, when="during"),
    _fault("bool-unknown", status=500, drop_connection="maybe"),
    _fault("unknown-option", status=500, colour="red"),
    _fault("does-nothing"),
]

REFUSED = HOSTS + CONTROL + CODE_DIRS + UPLOADS + TRAINING + FAULTS


@pytest.mark.parametrize("probe", REFUSED, ids=lambda p: p.name)
def test_refused_and_nothing_changed(emulator: EmulatorServer, world: dict[str, Any], probe: Probe) -> None:
    before = emulator.state()
    answer = _send(emulator, probe, world)
    assert answer.status_code == probe.status, answer.text
    body = answer.json()
    assert body["error_description"]
    assert "\n" not in body["error_description"]
    assert emulator.state() == before


def test_an_unknown_fault_route_lists_the_known_ones(emulator: EmulatorServer) -> None:
    answer = requests.post(
        emulator.url + "/_emulator/faults", json={"route": "get_servce", "status": 500}, timeout=10
    )
    assert answer.status_code == 400
    description = answer.json()["error_description"]
    assert "get_servce" in description
    assert all(name in description for name in ("get_service", "request_service", "download_training_result"))


ALLOWED = [
    Probe("host-localhost", "GET", DEP + "/services", 200, {"Host": "localhost:{port}"}),
    Probe("host-loopback-range", "GET", DEP + "/services", 200, {"Host": "127.0.0.2"}),
    Probe("host-v6-loopback", "GET", DEP + "/services", 200, {"Host": "[::1]:{port}"}),
    Probe("host-trailing-dot", "GET", DEP + "/services", 200, {"Host": "LocalHost.:{port}"}),
    Probe(
        "same-origin-control",
        "POST",
        "/_emulator/faults",
        200,
        {"Origin": "http://127.0.0.1:{port}"},
        json=FAULT,
    ),
    Probe(
        "json-charset",
        "POST",
        "/_emulator/reset",
        200,
        {"Content-Type": "application/json; charset=utf-8"},
        data="{}",
    ),
    Probe("read-without-type", "GET", "/_emulator/state", 200),
    Probe(
        "code-dir-under-tmp", "POST", DEP + "/versions", 200, json={"version": "6.6.7", "code_dir": "/tmp/x"}
    ),
    _upload("valid-tar", 200, ar.tar_files(ar.HANDLER), headers={"Content-Type": "application/gzip"}),
    _upload("valid-zip", 200, ar.zip_files(ar.HANDLER)),
    _upload(
        "tar-link-inside",
        200,
        ar.tar_gz([ar.file_member("a.py", b"x"), ar.special_member("b.py", tarfile.SYMTYPE, "a.py")]),
    ),
    _fault("at-bound", 200, latency=300, times=1),
]


@pytest.mark.parametrize("probe", ALLOWED, ids=lambda p: p.name)
def test_allowed_controls(emulator: EmulatorServer, world: dict[str, Any], probe: Probe) -> None:
    answer = _send(emulator, probe, world)
    assert answer.status_code == probe.status, answer.text
