"""Deployments and versions created through the emulator's routes, and services built from them."""

from __future__ import annotations

import re

import pytest

from abeja_emulator import SAMPLE_DEPLOYMENT_ID, SAMPLE_VERSION_ID

from ._util import api, infer

pytestmark = pytest.mark.emulator


def test_sample_deployment_is_there(abeja_emulator):
    deployment = api(abeja_emulator, "GET", f"deployments/{SAMPLE_DEPLOYMENT_ID}").json()
    assert deployment["name"] == "sample-model"
    versions = api(abeja_emulator, "GET", f"deployments/{SAMPLE_DEPLOYMENT_ID}/versions").json()["entries"]
    assert {v["version_id"]: v["version"] for v in versions} == {
        SAMPLE_VERSION_ID: "1.0.0",
        "ver-5a3d1e0000000002": "1.1.0",
        "ver-bad0000000000001": "0.0.1-broken",
    }
    one = api(
        abeja_emulator, "GET", f"deployments/{SAMPLE_DEPLOYMENT_ID}/versions/{SAMPLE_VERSION_ID}"
    ).json()
    assert one["handler"] == "main:handler"


def test_create_deployment_and_version_then_serve(abeja_emulator):
    deployment = abeja_emulator.create_deployment(name="retrained", default_environment={"TIER": "dev"})
    dep = deployment["deployment_id"]
    assert re.fullmatch(r"[1-9]\d{12}", dep)
    version = abeja_emulator.create_version(
        dep, version="1.2.0", user_env_vars={"SAMPLE_MODEL_PARAMS": "params_v2.json"}
    )
    assert re.fullmatch(r"ver-[0-9a-f]{16}", version["version_id"])
    listed = api(abeja_emulator, "GET", "deployments").json()["entries"]
    assert dep in {d["deployment_id"] for d in listed}
    service = abeja_emulator.create_service(dep, version["version_id"])
    assert service["merged_env_vars"] == {"TIER": "dev", "SAMPLE_MODEL_PARAMS": "params_v2.json"}
    abeja_emulator.wait_for_status(dep, service["service_id"], "READY")
    answer = infer(abeja_emulator, service["service_id"], dep=dep, json={"text": "excellent"})
    assert answer.status_code == 200
    assert answer.json()["model_version"] == "1.2.0"
    counters = abeja_emulator.counters()
    assert (counters["deployments_created"], counters["versions_created"]) == (1, 1)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"version": "1.0.0"},  # exists in the sample deployment
        {"version": "2.0.0", "code_dir": "relative/path"},
        {"version": "2.0.0", "handler": "not a handler"},
        {"version": "2.0.0", "user_env_vars": {"A": 1}},
    ],
)
def test_create_version_rejects(abeja_emulator, body):
    response = api(abeja_emulator, "POST", f"deployments/{SAMPLE_DEPLOYMENT_ID}/versions", json=body)
    assert response.status_code == 400


def test_deployment_errors(abeja_emulator):
    assert api(abeja_emulator, "POST", "deployments", json={"name": ""}).status_code == 400
    assert (
        api(abeja_emulator, "POST", "deployments", json={"deployment_id": SAMPLE_DEPLOYMENT_ID}).status_code
        == 400
    )
    assert api(abeja_emulator, "GET", "deployments/1000000000000").status_code == 404
    assert (
        api(abeja_emulator, "POST", "deployments/1000000000000/versions", json={"version": "1"}).status_code
        == 404
    )
    fixed = api(abeja_emulator, "POST", "deployments", json={"name": "x", "deployment_id": "4444444444444"})
    assert fixed.json()["deployment_id"] == "4444444444444"


def test_missing_code_dir_fails_the_service(abeja_emulator, tmp_path):
    dep = abeja_emulator.create_deployment(name="nowhere")["deployment_id"]
    version = abeja_emulator.create_version(dep, version="1.0.0", code_dir=str(tmp_path / "missing"))
    service = abeja_emulator.create_service(dep, version["version_id"])
    abeja_emulator.wait_for_status(dep, service["service_id"], "FAILED")
