"""Inference: both route styles, the handler contract, isolation per version, errors and crashes."""

from __future__ import annotations

import json
import os
import textwrap

import pytest
import requests

from airflow_provider_abeja.emulator import SAMPLE_VERSION_ID

from ._util import DEP, infer, poll, ready_service

pytestmark = pytest.mark.emulator

ECHO_HANDLER = textwrap.dedent(
    """
    import os, sys

    print("echo handler imported with MODE=" + os.environ.get("MODE", "?"))

    def handler(request, context):
        mode = os.environ.get("MODE")
        body = request.read()
        if body == b"raise":
            raise ValueError("handler exploded")
        if body == b"exit":
            os._exit(3)
        if body == b"not-a-dict":
            return ["nope"]
        if body == b"bad-status":
            return {"status_code": 42}
        if body == b"bytes":
            return {"content": b"\\x00\\x01", "content_type": "application/octet-stream"}
        if body == b"text":
            return {"status_code": 201, "content": "hello",
                    "metadata": {"X-Custom": "yes", "X-Evil": "a\\r\\nSet-Cookie: x=1", "X-Uni": "\\u2603"}}
        print("handled " + body.decode("utf-8", "replace"))
        return {
            "status_code": 200,
            "content_type": "application/json",
            "content": {
                "mode": mode,
                "parent_env_visible": "AIRFLOW_HOME" in os.environ,
                "http_method": request["http_method"],
                "content_type": request["content_type"],
                "header_keys": sorted(h["key"] for h in request["headers"]),
                "contents": [
                    {"content_type": c["content_type"], "body": c.read().decode("utf-8", "replace"),
                     "file_name": c["file_name"], "form_name": c["form_name"]}
                    for c in request["contents"]
                ],
                "context": {k: context[k] for k in ("service_id", "deployment_id", "model_version")},
                "pid": os.getpid(),
            },
        }
    """
)


@pytest.fixture
def echo_version(abeja_emulator, tmp_path):
    code = tmp_path / "echo"
    code.mkdir()
    (code / "app.py").write_text(ECHO_HANDLER)
    dep = abeja_emulator.create_deployment(name="echo")["deployment_id"]
    v1 = abeja_emulator.create_version(dep, "1.0.0", "app:handler", str(code), {"MODE": "one"})
    v2 = abeja_emulator.create_version(dep, "2.0.0", "app:handler", str(code), {"MODE": "two"})
    return dep, v1["version_id"], v2["version_id"]


def _ready(handle, dep, version_id, **payload):
    service = handle.create_service(dep, version_id, **payload)
    handle.wait_for_status(dep, service["service_id"], "READY")
    return service["service_id"]


def test_sample_model_both_route_styles(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    path_style = infer(abeja_emulator, service_id, json={"text": "great but slow", "id": 7})
    assert path_style.status_code == 200
    assert path_style.json() == {
        "label": "positive", "score": 1.0, "matched": ["great", "slow"], "model_version": "1.0.0", "id": 7
    }  # fmt: skip
    assert path_style.headers["X-Abeja-Deployment-Id"] == DEP
    assert path_style.headers["X-Abeja-Service-Id"] == service_id
    assert path_style.headers["X-Abeja-Model-Version"] == "1.0.0"
    vhost = requests.post(
        f"{abeja_emulator.url}/deployments/{DEP}/services/{service_id}",
        json={"text": "great but slow", "id": 7},
        headers={"Host": f"{abeja_emulator.organization_id}.api.localhost"},
        auth=abeja_emulator.auth,
        timeout=10,
    )
    assert vhost.status_code == 200
    assert vhost.json() == path_style.json()
    batch = infer(abeja_emulator, service_id, json={"texts": ["terrible", "love it"]}).json()
    assert [p["label"] for p in batch["predictions"]] == ["negative", "positive"]
    assert infer(abeja_emulator, service_id, data=b"not json").status_code == 400


def test_virtual_host_needs_an_organization_host(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    bare = requests.post(
        f"{abeja_emulator.url}/deployments/{DEP}/services/{service_id}",
        json={"text": "good"},
        auth=abeja_emulator.auth,
        timeout=10,
    )
    assert bare.status_code == 404
    foreign = requests.post(
        f"{abeja_emulator.url}/deployments/{DEP}/services/{service_id}",
        json={"text": "good"},
        headers={"Host": "5555555555555.localhost"},
        auth=abeja_emulator.auth,
        timeout=10,
    )
    assert foreign.status_code == 403


def test_handler_contract(abeja_emulator, echo_version):
    dep, v1, _ = echo_version
    service_id = _ready(abeja_emulator, dep, v1)
    answer = infer(abeja_emulator, service_id, dep=dep, json={"a": 1})
    assert answer.status_code == 200
    body = answer.json()
    assert body["http_method"] == "POST"
    assert body["content_type"] == "application/json"
    assert "authorization" not in body["header_keys"]  # credentials never reach the model
    assert "content-type" in body["header_keys"]
    assert body["contents"] == [
        {"content_type": "application/json", "body": '{"a": 1}', "file_name": None, "form_name": None}
    ]
    assert body["context"] == {"service_id": service_id, "deployment_id": dep, "model_version": "1.0.0"}

    multipart = infer(
        abeja_emulator, service_id, dep=dep,
        files={"image": ("cat.png", b"PNGDATA", "image/png"), "meta": (None, "m", "text/plain")},
    ).json()  # fmt: skip
    assert multipart["contents"] == [
        {"content_type": "image/png", "body": "PNGDATA", "file_name": "cat.png", "form_name": "image"},
        {"content_type": "text/plain", "body": "m", "file_name": None, "form_name": "meta"},
    ]
    got = requests.get(
        abeja_emulator.inference_url(dep, service_id) + "?q=1&r=2", auth=abeja_emulator.auth, timeout=10
    ).json()
    assert got["http_method"] == "GET"
    assert got["contents"][0]["body"] == "q=1&r=2"

    raw = infer(abeja_emulator, service_id, dep=dep, data=b"bytes")
    assert raw.content == b"\x00\x01"
    assert raw.headers["Content-Type"] == "application/octet-stream"
    text = infer(abeja_emulator, service_id, dep=dep, data=b"text")
    assert (text.status_code, text.text, text.headers["X-Custom"]) == (201, "hello", "yes")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert "Set-Cookie" not in text.headers
    assert "X-Evil" not in text.headers
    assert "X-Uni" not in text.headers


def test_handler_errors_answer_500_and_log(abeja_emulator, echo_version):
    dep, v1, _ = echo_version
    service_id = _ready(abeja_emulator, dep, v1)
    for body in (b"raise", b"not-a-dict", b"bad-status"):
        answer = infer(abeja_emulator, service_id, dep=dep, data=body)
        assert answer.status_code == 500
        assert answer.json() == {"status": "unexpected error occurred"}
    messages = abeja_emulator.log_messages(service_id)
    assert "ValueError: handler exploded" in messages
    assert any("handler returned list" in m for m in messages)
    assert any("handler returned status_code 42" in m for m in messages)
    assert infer(abeja_emulator, service_id, dep=dep, data=b"fine").status_code == 200


def test_crashed_instance_answers_500_and_comes_back(abeja_emulator, echo_version):
    dep, v1, _ = echo_version
    service_id = _ready(abeja_emulator, dep, v1)
    first_pid = infer(abeja_emulator, service_id, dep=dep, data=b"x").json()["pid"]
    crashed = infer(abeja_emulator, service_id, dep=dep, data=b"exit")
    assert crashed.status_code == 500
    assert crashed.json() == {"status": "unexpected error occurred"}
    later = poll(lambda: infer(abeja_emulator, service_id, dep=dep, data=b"x").json().get("pid"))
    assert later != first_pid
    assert any("stopped unexpectedly" in m for m in abeja_emulator.log_messages(service_id))


def test_versions_are_isolated_and_prints_reach_recent_logs(abeja_emulator, echo_version):
    dep, v1, v2 = echo_version
    assert "AIRFLOW_HOME" in os.environ  # inherited by the emulator, must not reach the handler
    one = _ready(abeja_emulator, dep, v1)
    two = _ready(abeja_emulator, dep, v2)
    assert infer(abeja_emulator, one, dep=dep, data=b"a").json()["mode"] == "one"
    assert infer(abeja_emulator, two, dep=dep, data=b"b").json()["mode"] == "two"
    assert infer(abeja_emulator, one, dep=dep, data=b"c").json()["parent_env_visible"] is False
    assert "echo handler imported with MODE=one" in abeja_emulator.log_messages(one)
    assert "handled a" in abeja_emulator.log_messages(one)
    assert "handled b" not in abeja_emulator.log_messages(one)
    assert "handled b" in abeja_emulator.log_messages(two)


def test_service_environment_overrides_version(abeja_emulator, echo_version):
    dep, v1, _ = echo_version
    service_id = _ready(abeja_emulator, dep, v1, environment={"MODE": "override"})
    assert infer(abeja_emulator, service_id, dep=dep, data=b"a").json()["mode"] == "override"


def test_not_ready_is_503_and_unknown_is_404(abeja_emulator):
    abeja_emulator.configure(ready_delay=30)
    service = abeja_emulator.create_service(DEP, SAMPLE_VERSION_ID)
    answer = infer(abeja_emulator, service["service_id"], json={"text": "good"})
    assert answer.status_code == 503
    assert answer.json()["error"] == "service_unavailable"
    assert infer(abeja_emulator, "ser-0000000000000000", json={"text": "good"}).status_code == 404


def test_large_body_round_trip(abeja_emulator, echo_version):
    dep, v1, _ = echo_version
    service_id = _ready(abeja_emulator, dep, v1)
    payload = json.dumps({"blob": "x" * 2_000_000})
    answer = infer(
        abeja_emulator, service_id, dep=dep, data=payload, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 200
    assert len(answer.json()["contents"][0]["body"]) == len(payload)
