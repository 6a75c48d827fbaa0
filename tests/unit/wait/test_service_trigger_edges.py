"""AbejaServiceStatusTrigger edge cases that the emulator does not produce on demand.

The real hook and the real ``AsyncAPIClient`` run; only the HTTP answers come from respx.
The main paths (success, failure with log lines, timeout) run against the emulator in
``tests/integration/wait``; the transient-error budget in ``tests/unit/wait/test_transient_error_budget.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_abeja.client import AsyncAPIClient
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

API = "http://abeja.test"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
SERVICE_URL = f"{API}/organizations/{ORG}/deployments/{DEP}/services/{SER}"
LOGS_URL = f"{SERVICE_URL}/recentlogs"
CONN_ID = "abeja_edges"
TOKEN = "edge-bearer-token-value"


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "abeja",
        "host": API,
        "extra": {"auth_token": TOKEN, "organization_id": ORG, "max_retry_count": 0},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[AsyncAPIClient]:
    """Records every AsyncAPIClient.aclose() call (the original still runs)."""
    closed: list[AsyncAPIClient] = []
    original = AsyncAPIClient.aclose

    async def recording_aclose(self: AsyncAPIClient) -> None:
        closed.append(self)
        await original(self)

    monkeypatch.setattr(AsyncAPIClient, "aclose", recording_aclose)
    return closed


def _trigger(**overrides: Any) -> AbejaServiceStatusTrigger:
    kwargs: dict[str, Any] = {
        "organization_id": ORG,
        "deployment_id": DEP,
        "service_id": SER,
        "poll_interval": 0.01,
        "abeja_conn_id": CONN_ID,
    }
    kwargs.update(overrides)
    return AbejaServiceStatusTrigger(**kwargs)


async def _events(trigger: AbejaServiceStatusTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def _service(status: str) -> httpx.Response:
    return httpx.Response(200, json={"service_id": SER, "status": status})


def _error(code: int, error: str) -> httpx.Response:
    return httpx.Response(code, json={"error": error, "error_description": f"{error} here"})


@respx.mock
async def test_unknown_statuses_keep_waiting_with_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    route = respx.get(SERVICE_URL).mock(
        side_effect=[
            _service("IN_PROGRESS"),
            _service("SCALING"),
            _service("SCALING"),
            _service("SCALING"),
            _service("MIGRATING"),
            _service("READY"),
        ]
    )
    trigger = _trigger()
    # A plain logging logger (Airflow 3 logs through structlog, which caplog does not see).
    trigger._log = logging.getLogger("tests.abeja.trigger")  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="tests.abeja.trigger"):
        events = await _events(trigger)
    assert events == [
        {
            "status": "success",
            "service_id": SER,
            "service_status": "READY",
            "message": f"service {SER} reached status READY",
        }
    ]
    assert route.call_count == 6
    unknown = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "unknown status" in r.getMessage()
    ]
    assert len(unknown) == 2
    assert "'SCALING'" in unknown[0]
    assert "'MIGRATING'" in unknown[1]


@respx.mock
@pytest.mark.parametrize(("code", "error"), [(404, "not_found"), (401, "unauthorized"), (403, "forbidden")])
async def test_permanent_errors_end_at_once(code: int, error: str, closes: list[AsyncAPIClient]) -> None:
    route = respx.get(SERVICE_URL).mock(return_value=_error(code, error))
    (event,) = await _events(_trigger(transient_error_budget=5))
    assert event["status"] == "error"
    assert event["service_id"] == SER
    assert event["service_status"] is None
    assert str(code) in event["message"]
    assert event["log_lines"] == []
    assert TOKEN not in json.dumps(event)
    assert route.call_count == 1
    assert len(closes) == 1


@respx.mock
async def test_failure_when_recent_logs_cannot_be_read_still_reports_the_failure() -> None:
    respx.get(SERVICE_URL).mock(return_value=_service("FAILED"))
    respx.get(LOGS_URL).mock(return_value=_error(500, "internal"))
    (event,) = await _events(_trigger())
    assert event["status"] == "failure"
    assert event["service_status"] == "FAILED"
    assert event["log_lines"] == []


@respx.mock
async def test_a_deadline_already_past_polls_once_then_times_out() -> None:
    route = respx.get(SERVICE_URL).mock(return_value=_service("IN_PROGRESS"))
    respx.get(LOGS_URL).mock(
        return_value=httpx.Response(200, json={"events": [{"message": "loading model", "timestamp": 1}]})
    )
    (event,) = await _events(_trigger(end_time=time.time() - 1))
    assert event["status"] == "timeout"
    assert event["service_status"] == "IN_PROGRESS"
    assert event["log_lines"] == ["loading model"]
    assert route.call_count == 1


@respx.mock
async def test_a_deadline_already_past_still_reports_success() -> None:
    respx.get(SERVICE_URL).mock(return_value=_service("READY"))
    (event,) = await _events(_trigger(end_time=time.time() - 1))
    assert event["status"] == "success"


@respx.mock
async def test_cancellation_closes_the_client(closes: list[AsyncAPIClient]) -> None:
    route = respx.get(SERVICE_URL).mock(return_value=_service("IN_PROGRESS"))
    task = asyncio.ensure_future(_events(_trigger()))
    while route.call_count < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(closes) == 1


@respx.mock
async def test_success_closes_the_client_before_the_event(closes: list[AsyncAPIClient]) -> None:
    respx.get(SERVICE_URL).mock(return_value=_service("READY"))
    async for event in _trigger().run():
        assert event.payload["status"] == "success"
        assert len(closes) == 1


async def test_missing_connection_gives_an_error_event() -> None:
    (event,) = await _events(_trigger(abeja_conn_id="abeja_nowhere"))
    assert event["status"] == "error"
    assert "abeja_nowhere" in event["message"]


@respx.mock
async def test_slow_recent_logs_do_not_hold_back_the_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_abeja.wait import trigger as trigger_module

    monkeypatch.setattr(trigger_module, "LOG_FETCH_TIMEOUT", 0.2)
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, json={"events": []})

    respx.get(SERVICE_URL).mock(return_value=_service("FAILED"))
    respx.get(LOGS_URL).mock(side_effect=hang)
    (event,) = await asyncio.wait_for(_events(_trigger()), timeout=20)
    assert started.is_set()
    assert event["status"] == "failure"
    assert event["log_lines"] == []
