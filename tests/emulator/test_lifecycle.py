"""Service lifecycle over loopback HTTP: create, ready, update, stop, start, delete, failures."""

from __future__ import annotations

import re

import pytest

from abeja_emulator import SAMPLE_BAD_VERSION_ID, SAMPLE_VERSION_ID, SAMPLE_VERSION_ID_V2

from ._util import DEP, api, create_service, infer, wait_status

pytestmark = pytest.mark.emulator

SEED_FIELDS = {
    "service_id", "deployment_id", "models", "model_version", "model_version_id", "status",
    "instance_number", "min_instance_number", "max_instance_number", "enable_autoscale", "instance_type",
    "metrics_url", "user_env_vars", "merged_env_vars", "record_channel_id", "service_process_type",
    "created_at", "modified_at",
}  # fmt: skip


def test_create_goes_in_progress_then_ready(abeja_emulator):
    created = create_service(
        abeja_emulator, SAMPLE_VERSION_ID, environment={"EXAMPLE_ENV": "abc"}, model_id="3333333333333"
    )
    assert set(created) >= SEED_FIELDS
    assert created["status"] == "IN_PROGRESS"
    assert re.fullmatch(r"ser-[0-9a-f]{16}", created["service_id"])
    assert re.fullmatch(r"\d{13}", created["record_channel_id"])
    assert created["model_version"] == "1.0.0"
    assert created["models"] == {"alias": "3333333333333"}
    assert created["user_env_vars"] == {"EXAMPLE_ENV": "abc"}
    assert created["merged_env_vars"] == {"EXAMPLE_ENV": "abc", "SAMPLE_MODEL_PARAMS": "params_v1.json"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created["created_at"])
    ready = wait_status(abeja_emulator, created["service_id"], "READY")
    assert ready["modified_at"] >= created["modified_at"]
    listed = api(abeja_emulator, "GET", f"deployments/{DEP}/services").json()
    assert [s["service_id"] for s in listed["entries"]] == [created["service_id"]]


def test_bad_handler_fails_with_reason_in_recent_logs(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_BAD_VERSION_ID)["service_id"]
    wait_status(abeja_emulator, service_id, "FAILED")
    logs = api(abeja_emulator, "GET", f"deployments/{DEP}/services/{service_id}/recentlogs").json()
    messages = [e["message"] for e in logs["events"]]
    assert any(
        "ModuleNotFoundError" in m and "sample_dependency_that_is_not_installed" in m for m in messages
    )
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 503


def test_stop_start_and_their_400s(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    base = f"deployments/{DEP}/services/{service_id}"
    started_early = api(abeja_emulator, "POST", f"{base}/start")
    assert started_early.status_code == 400  # IN_PROGRESS counts as running
    assert set(started_early.json()) >= {"error", "error_description"}
    wait_status(abeja_emulator, service_id, "READY")
    assert api(abeja_emulator, "POST", f"{base}/start").status_code == 400
    stopped = api(abeja_emulator, "POST", f"{base}/stop")
    assert stopped.json() == {"message": f"{service_id} stopped"}
    assert api(abeja_emulator, "GET", base).json()["status"] == "STOPPED"
    assert api(abeja_emulator, "POST", f"{base}/stop").status_code == 400
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 503
    assert api(abeja_emulator, "POST", f"{base}/start").json() == {"message": f"{service_id} started"}
    assert api(abeja_emulator, "GET", base).json()["status"] == "IN_PROGRESS"
    wait_status(abeja_emulator, service_id, "READY")
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 200


def test_update_version_redeploys(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    wait_status(abeja_emulator, service_id, "READY")
    before = infer(abeja_emulator, service_id, json={"text": "slow"}).json()
    updated = api(
        abeja_emulator, "PATCH", f"deployments/{DEP}/services/{service_id}",
        json={"version_id": SAMPLE_VERSION_ID_V2, "environment": {"A": "1"}, "instance_number": 2},
    )  # fmt: skip
    assert updated.status_code == 200
    body = updated.json()
    assert body["status"] == "IN_PROGRESS"
    assert body["model_version_id"] == SAMPLE_VERSION_ID_V2
    assert body["instance_number"] == 2
    wait_status(abeja_emulator, service_id, "READY")
    after = infer(abeja_emulator, service_id, json={"text": "slow"})
    assert after.headers["X-Abeja-Model-Version"] == "1.1.0"
    assert after.json()["model_version"] == "1.1.0"
    assert after.json()["score"] != before["score"]
    assert abeja_emulator.metrics(service_id)["instances"] == 2


def test_update_of_scaling_bounds_only_keeps_status(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    wait_status(abeja_emulator, service_id, "READY")
    payload = {"min_instance_number": 2, "max_instance_number": 6, "enable_autoscale": "true"}
    body = api(abeja_emulator, "PATCH", f"deployments/{DEP}/services/{service_id}", json=payload).json()
    assert body["status"] == "READY"
    assert (body["min_instance_number"], body["max_instance_number"], body["enable_autoscale"]) == (
        2,
        6,
        True,
    )


def test_delete_and_unknown_ids(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    base = f"deployments/{DEP}/services/{service_id}"
    assert api(abeja_emulator, "DELETE", base).json() == {"message": f"{service_id} deleted"}
    for method, path in [
        ("GET", base),
        ("DELETE", base),
        ("PATCH", base),
        ("POST", f"{base}/start"),
        ("POST", f"{base}/stop"),
        ("GET", f"{base}/recentlogs"),
        ("GET", "deployments/1000000000001/services"),
    ]:
        response = api(abeja_emulator, method, path, json={})
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == "not_found"
    counters = abeja_emulator.counters()
    assert counters["services_created"] == 1
    assert counters["services_deleted"] == 1
    assert counters["services_running"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"version_id": "ver-0000000000000000"},
        {"version_id": SAMPLE_VERSION_ID, "instance_number": 0},
        {"version_id": SAMPLE_VERSION_ID, "instance_number": "many"},
        {"version_id": SAMPLE_VERSION_ID, "environment": {"A": 1}},
        {"version_id": SAMPLE_VERSION_ID, "instance_type": "huge"},
    ],
)
def test_create_rejects_bad_payloads(abeja_emulator, payload):
    response = api(abeja_emulator, "POST", f"deployments/{DEP}/services", json=payload)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert abeja_emulator.counters()["services_created"] == 0


def test_invalid_json_body_is_400(abeja_emulator):
    response = api(
        abeja_emulator,
        "POST",
        f"deployments/{DEP}/services",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_forced_status_sticks(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    wait_status(abeja_emulator, service_id, "READY")
    forced = abeja_emulator.set_service_status(service_id, "FAILED", message="out of memory")
    assert forced["status"] == "FAILED"
    assert "out of memory" in abeja_emulator.log_messages(service_id)
    abeja_emulator.set_service_status(service_id, "IN_PROGRESS")
    assert abeja_emulator.get_service(DEP, service_id)["status"] == "IN_PROGRESS"
    abeja_emulator.set_service_status(service_id, "READY")
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 200


def test_scaling_update_while_starting_still_reaches_ready(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    payload = {"max_instance_number": 3}
    body = api(abeja_emulator, "PATCH", f"deployments/{DEP}/services/{service_id}", json=payload).json()
    assert body["status"] == "IN_PROGRESS"
    assert wait_status(abeja_emulator, service_id, "READY")["max_instance_number"] == 3


def test_long_ready_delay_holds_in_progress_without_processes(abeja_emulator):
    abeja_emulator.configure(ready_delay=3600)
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID, instance_number=3)["service_id"]
    assert abeja_emulator.get_service(DEP, service_id)["status"] == "IN_PROGRESS"
    assert abeja_emulator.counters()["workers_running"] == 0
    assert not any("starting" in m for m in abeja_emulator.log_messages(service_id))
    abeja_emulator.set_service_status(service_id, "READY")  # forcing READY starts them at once
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 200
    assert abeja_emulator.metrics(service_id)["instances"] == 3
