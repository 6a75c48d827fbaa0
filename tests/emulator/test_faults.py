"""Fault injection: status + Retry-After, N times, probability, latency, dropped connections, bad bodies."""

from __future__ import annotations

import pytest
import requests

from abeja_emulator import SAMPLE_VERSION_ID

from ._util import DEP, api, infer, ready_service

pytestmark = pytest.mark.emulator


def test_status_with_retry_after_n_times(abeja_emulator):
    fault_id = abeja_emulator.inject_fault("get_services", status=503, retry_after=2, times=2)
    assert fault_id.startswith("flt-")
    for _ in range(2):
        answer = api(abeja_emulator, "GET", f"deployments/{DEP}/services")
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "2"
        assert answer.json()["error"] == "service_unavailable"
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/services").status_code == 200
    assert abeja_emulator.faults() == []
    counters = abeja_emulator.counters()
    assert counters["requests"]["get_services"] == 3
    assert counters["faults_triggered"] == 2


def test_fault_only_hits_its_route_and_star_hits_all(abeja_emulator):
    abeja_emulator.inject_fault("get_endpoints", status=500)
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/services").status_code == 200
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/endpoints").status_code == 500
    abeja_emulator.clear_faults()
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/endpoints").status_code == 200
    abeja_emulator.inject_fault(
        "*", status=429, body={"error": "too_many_requests", "error_description": "slow down"}
    )
    answer = api(abeja_emulator, "GET", f"deployments/{DEP}/services")
    assert (answer.status_code, answer.json()["error"]) == (429, "too_many_requests")
    assert requests.get(
        abeja_emulator.url + "/_emulator/health", timeout=5
    ).ok  # control API is never faulted


def test_probability_zero_and_one(abeja_emulator):
    never = abeja_emulator.inject_fault("get_services", status=500, probability=0.0)
    assert all(api(abeja_emulator, "GET", f"deployments/{DEP}/services").ok for _ in range(5))
    abeja_emulator.remove_fault(never)
    abeja_emulator.inject_fault("get_services", status=500, probability=1.0)
    assert all(api(abeja_emulator, "GET", f"deployments/{DEP}/services").status_code == 500 for _ in range(5))


def test_latency_makes_a_short_read_timeout_fire(abeja_emulator):
    abeja_emulator.inject_fault("get_services", latency=1.5, times=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api(abeja_emulator, "GET", f"deployments/{DEP}/services", timeout=(5, 0.3))
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/services", timeout=(5, 5)).status_code == 200


def test_latency_alone_still_answers(abeja_emulator):
    abeja_emulator.inject_fault("get_services", latency=0.2, times=1)
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/services").status_code == 200


def test_drop_connection_is_a_connection_error(abeja_emulator):
    with requests.Session() as session:
        warm = session.get(
            abeja_emulator.api_url(f"deployments/{DEP}/services"), auth=abeja_emulator.auth, timeout=10
        )
        assert warm.status_code == 200  # the drop now hits a reused keep-alive connection
        abeja_emulator.inject_fault("get_service", drop_connection=True, times=1)
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(abeja_emulator.api_url(f"deployments/{DEP}/services/ser-0000000000000000"),
                        auth=abeja_emulator.auth, timeout=10)  # fmt: skip
        again = session.get(
            abeja_emulator.api_url(f"deployments/{DEP}/services"), auth=abeja_emulator.auth, timeout=10
        )
        assert again.status_code == 200


def test_malformed_body(abeja_emulator):
    abeja_emulator.inject_fault("get_services", malformed_body=True, times=1)
    answer = api(abeja_emulator, "GET", f"deployments/{DEP}/services")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        answer.json()


def test_after_fault_lets_the_action_happen(abeja_emulator):
    """A lost response: the service is created, the client only sees the failure."""
    abeja_emulator.inject_fault("create_service", status=504, when="after", times=1)
    answer = api(
        abeja_emulator, "POST", f"deployments/{DEP}/services", json={"version_id": SAMPLE_VERSION_ID}
    )
    assert answer.status_code == 504
    assert abeja_emulator.counters()["services_created"] == 1
    assert len(api(abeja_emulator, "GET", f"deployments/{DEP}/services").json()["entries"]) == 1


def test_drop_after_on_inference(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    abeja_emulator.inject_fault("request_service", drop_connection=True, when="after", times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        infer(abeja_emulator, service_id, json={"text": "good"})
    assert abeja_emulator.metrics(service_id)["served"] == 1
    assert infer(abeja_emulator, service_id, json={"text": "good"}).status_code == 200


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"status": 99},
        {"status": 500, "times": 0},
        {"status": 500, "probability": 2},
        {"status": 500, "x": 1},
        {"status": 500, "when": "later"},
        {"latency": -1},
    ],
)
def test_invalid_fault_specs_are_400(abeja_emulator, spec):
    answer = requests.post(abeja_emulator.url + "/_emulator/faults", json=spec, timeout=5)
    assert answer.status_code == 400
    assert abeja_emulator.faults() == []


def test_reset_clears_faults(abeja_emulator):
    abeja_emulator.inject_fault("*", status=500)
    abeja_emulator.reset()
    assert abeja_emulator.faults() == []
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/services").ok


async def test_drop_and_latency_seen_by_an_async_httpx_client(abeja_emulator):
    import httpx

    url = abeja_emulator.api_url(f"deployments/{DEP}/services")
    async with httpx.AsyncClient(auth=abeja_emulator.auth) as client:
        assert (await client.get(url)).status_code == 200
        abeja_emulator.inject_fault("get_services", drop_connection=True, times=1)
        with pytest.raises(httpx.TransportError):
            await client.get(url)
        abeja_emulator.inject_fault("get_services", latency=1.5, times=1)
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url, timeout=httpx.Timeout(5, read=0.3))
        assert (await client.get(url)).status_code == 200
