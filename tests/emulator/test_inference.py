"""Inference above the model proxy: both route styles, isolation per version, logs, large bodies.

The handler contract itself (bodies, errors, crashes) is tests/emulator/test_conformance.py.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest
import requests

from abeja_emulator import SAMPLE_VERSION_ID

from ._util import DEP, infer, ready_service

pytestmark = pytest.mark.emulator

ECHO_HANDLER = textwrap.dedent(
    """
    import os

    print("echo handler imported with MODE=" + os.environ.get("MODE", "?"))

    def handler(request, context):
        body = request.read()
        print("handled " + body.decode("utf-8", "replace"))
        content = {
            "mode": os.environ.get("MODE"),
            "parent_env_visible": "AIRFLOW_HOME" in os.environ,
            "header_keys": sorted(h["key"] for h in request["headers"]),
            "size": len(body),
            "pid": os.getpid(),
        }
        return {"status_code": 200, "content_type": "application/json", "content": content}
    """
)
TEXT = {"Content-Type": "text/plain"}


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
    assert infer(abeja_emulator, service_id, data=b"not json", headers=TEXT).status_code == 400


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


def test_versions_are_isolated_and_prints_reach_recent_logs(abeja_emulator, echo_version):
    dep, v1, v2 = echo_version
    assert "AIRFLOW_HOME" in os.environ  # inherited by the emulator, must not reach the handler
    one = _ready(abeja_emulator, dep, v1)
    two = _ready(abeja_emulator, dep, v2)
    assert infer(abeja_emulator, one, dep=dep, data=b"a", headers=TEXT).json()["mode"] == "one"
    assert infer(abeja_emulator, two, dep=dep, data=b"b", headers=TEXT).json()["mode"] == "two"
    assert infer(abeja_emulator, one, dep=dep, data=b"c", headers=TEXT).json()["parent_env_visible"] is False
    assert "echo handler imported with MODE=one" in abeja_emulator.log_messages(one)
    assert "handled a" in abeja_emulator.log_messages(one)
    assert "handled b" not in abeja_emulator.log_messages(one)
    assert "handled b" in abeja_emulator.log_messages(two)


def test_service_environment_overrides_version(abeja_emulator, echo_version):
    dep, v1, _ = echo_version
    service_id = _ready(abeja_emulator, dep, v1, environment={"MODE": "override"})
    assert infer(abeja_emulator, service_id, dep=dep, data=b"a", headers=TEXT).json()["mode"] == "override"


def test_not_ready_is_503_and_unknown_is_404(abeja_emulator):
    abeja_emulator.configure(ready_delay=30)
    service = abeja_emulator.create_service(DEP, SAMPLE_VERSION_ID)
    answer = infer(abeja_emulator, service["service_id"], json={"text": "good"})
    assert (answer.status_code, answer.content) == (503, b'{"status":"service unavailable"}')
    assert infer(abeja_emulator, "ser-0000000000000000", json={"text": "good"}).status_code == 404


def test_large_body_round_trip(abeja_emulator, echo_version):
    dep, v1, _ = echo_version
    service_id = _ready(abeja_emulator, dep, v1)
    payload = json.dumps({"blob": "x" * 2_000_000})
    answer = infer(
        abeja_emulator, service_id, dep=dep, data=payload, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 200
    assert answer.json()["size"] == len(payload)
