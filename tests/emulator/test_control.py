"""The control API and handle helpers: reset, counters, state, metrics, edge cases of the lifecycle."""

from __future__ import annotations

import pytest
import requests

from abeja_emulator import SAMPLE_VERSION_ID, SAMPLE_VERSION_ID_V2

from ._util import DEP, api, create_service, infer, ready_service

pytestmark = pytest.mark.emulator

COUNTER_KEYS = {
    "requests", "services_created", "services_deleted", "endpoints_created", "endpoints_deleted",
    "services_running",
}  # fmt: skip


def test_counters_shape_and_route_names(abeja_emulator):
    counters = abeja_emulator.counters()
    assert set(counters) >= COUNTER_KEYS
    assert counters["requests"] == {}
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    infer(abeja_emulator, service_id, json={"text": "good"})
    api(abeja_emulator, "GET", f"deployments/{DEP}/services/{service_id}/recentlogs")
    requests_by_route = abeja_emulator.counters()["requests"]
    assert requests_by_route["create_service"] == 1
    assert requests_by_route["request_service"] == 1
    assert requests_by_route["get_service_recent_logs"] == 1
    assert requests_by_route["get_service"] >= 1  # wait_for_status polls
    assert abeja_emulator.counters()["services_running"] == 1


def test_reset_restores_everything(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID, instance_number=2)
    abeja_emulator.create_deployment(name="temporary")
    api(abeja_emulator, "POST", f"deployments/{DEP}/endpoints", json={"service_id": service_id})
    abeja_emulator.configure(ready_delay=5)
    assert abeja_emulator.counters()["workers_running"] == 2
    abeja_emulator.reset()
    state = abeja_emulator.state()
    assert [d["deployment_id"] for d in state["deployments"]] == [DEP]
    assert len(state["versions"]) == 3
    assert state["services"] == state["endpoints"] == state["faults"] == []
    assert state["config"]["ready_delay"] == 0.2
    counters = abeja_emulator.counters()
    assert counters["services_created"] == 0
    assert counters["workers_running"] == 0


def test_state_dump_lists_resources(abeja_emulator):
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    state = abeja_emulator.state()
    assert [s["service_id"] for s in state["services"]] == [service_id]
    assert state["services"][0]["organization_id"] == abeja_emulator.organization_id
    assert "emulator-token" not in str(state)


def test_metrics_url_of_a_service_answers(abeja_emulator):
    service = abeja_emulator.get_service(DEP, ready_service(abeja_emulator, SAMPLE_VERSION_ID))
    metrics = requests.get(service["metrics_url"], timeout=10).json()
    assert metrics["service_id"] == service["service_id"]
    assert metrics["instances"] == 1
    assert len(metrics["worker_pids"]) == 1


def test_update_of_stopped_service_applies_at_next_start(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    base = f"deployments/{DEP}/services/{service_id}"
    api(abeja_emulator, "POST", f"{base}/stop")
    updated = api(abeja_emulator, "PATCH", base, json={"version_id": SAMPLE_VERSION_ID_V2}).json()
    assert updated["status"] == "STOPPED"
    assert updated["model_version"] == "1.1.0"
    api(abeja_emulator, "POST", f"{base}/start")
    abeja_emulator.wait_for_status(DEP, service_id, "READY")
    assert (
        infer(abeja_emulator, service_id, json={"text": "good"}).headers["X-Abeja-Model-Version"] == "1.1.0"
    )


def test_update_can_recover_a_failed_service(abeja_emulator):
    service_id = create_service(abeja_emulator, "ver-bad0000000000001")["service_id"]
    abeja_emulator.wait_for_status(DEP, service_id, "FAILED")
    base = f"deployments/{DEP}/services/{service_id}"
    assert api(abeja_emulator, "POST", f"{base}/stop").status_code == 400  # FAILED is not running
    api(abeja_emulator, "PATCH", base, json={"version_id": SAMPLE_VERSION_ID})
    abeja_emulator.wait_for_status(DEP, service_id, "READY")


def test_deleted_service_behind_an_endpoint(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    api(abeja_emulator, "POST", f"deployments/{DEP}/endpoints", json={"service_id": service_id})
    api(abeja_emulator, "DELETE", f"deployments/{DEP}/services/{service_id}")
    url = abeja_emulator.inference_url(DEP)
    assert requests.post(url, json={"text": "good"}, auth=abeja_emulator.auth, timeout=10).status_code == 404


def test_virtual_host_default_endpoint_with_bearer(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    api(abeja_emulator, "POST", f"deployments/{DEP}/endpoints", json={"service_id": service_id})
    answer = requests.post(
        f"{abeja_emulator.url}/deployments/{DEP}",
        json={"text": "good"},
        headers={"Host": "1234567890123.api.localhost:9", "Authorization": "Bearer emulator-bearer-token"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["X-Abeja-Service-Id"] == service_id


def test_forced_status_errors(abeja_emulator):
    url = abeja_emulator.url + "/_emulator/services/{}/status"
    assert (
        requests.post(url.format("ser-0000000000000000"), json={"status": "READY"}, timeout=5).status_code
        == 404
    )
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    assert requests.post(url.format(service_id), json={"status": "BROKEN"}, timeout=5).status_code == 400
    assert requests.post(url.format(service_id), json={}, timeout=5).status_code == 400


def test_unknown_route_and_method_use_platform_error_shape(abeja_emulator):
    missing = requests.get(abeja_emulator.url + "/nothing/here", timeout=5)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = requests.put(
        abeja_emulator.api_url(f"deployments/{DEP}/services"), auth=abeja_emulator.auth, timeout=5
    )
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


def test_forcing_ready_during_startup_serves(abeja_emulator):
    abeja_emulator.configure(ready_delay=30)
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    abeja_emulator.set_service_status(service_id, "IN_PROGRESS")  # cancels the start in flight
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 503
    abeja_emulator.set_service_status(service_id, "READY")
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 200


def test_inference_route_with_another_method_is_405(abeja_emulator):
    answer = requests.options(abeja_emulator.inference_url(DEP, "ser-0000000000000000"), timeout=5)
    assert (answer.status_code, answer.json()["error"]) == (405, "method_not_allowed")
