"""AbejaServiceStatusTrigger against the emulator over loopback: every event and the deadline.

The trigger runs as the triggerer runs it (``async for event in trigger.run()``), with the real
hook, connection (``AIRFLOW_CONN_...``) and async client; only the poll interval is short.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from abeja_emulator.handle import EmulatorHandle
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger, validate_status_event

pytestmark = pytest.mark.emulator

DEP = "9999999999999"
GOOD_VERSION = "ver-5a3d1e0000000001"
BAD_VERSION = "ver-bad0000000000001"
CONN_ID = "abeja_trigger_it"
POLL = 0.05


@pytest.fixture
def emulator(abeja_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    """The emulator with an Airflow connection to it; client retries off so every 503 reaches the trigger."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(abeja_emulator.airflow_connection(CONN_ID, max_retry_count=0)),
    )
    return abeja_emulator


def _trigger(emulator: EmulatorHandle, service_id: str, **overrides: Any) -> AbejaServiceStatusTrigger:
    kwargs: dict[str, Any] = {
        "organization_id": emulator.organization_id,
        "deployment_id": DEP,
        "service_id": service_id,
        "poll_interval": POLL,
        "abeja_conn_id": CONN_ID,
    }
    kwargs.update(overrides)
    return AbejaServiceStatusTrigger(**kwargs)


async def _events(trigger: AbejaServiceStatusTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def _create(emulator: EmulatorHandle, version: str = GOOD_VERSION) -> str:
    return str(emulator.create_service(DEP, version)["service_id"])


async def test_success_when_the_service_becomes_ready(emulator: EmulatorHandle) -> None:
    emulator.configure(ready_delay=0.5)
    ser = _create(emulator)
    events = await _events(_trigger(emulator, ser))
    assert events == [
        {
            "status": "success",
            "service_id": ser,
            "service_status": "READY",
            "message": f"service {ser} reached status READY",
        }
    ]
    assert emulator.get_service(DEP, ser)["status"] == "READY"
    # It waited: IN_PROGRESS was seen at least once before READY.
    assert emulator.counters()["requests"].get("get_service", 0) >= 2
    assert validate_status_event(events[0], ser) == events[0]


async def test_failure_carries_the_latest_log_lines(emulator: EmulatorHandle) -> None:
    ser = _create(emulator, BAD_VERSION)
    (event,) = await _events(_trigger(emulator, ser))
    assert event["status"] == "failure"
    assert event["service_id"] == ser
    assert event["service_status"] == "FAILED"
    assert event["log_lines"], "a failure event carries the service's log lines"
    # The latest lines, oldest first, as the emulator has them.
    assert event["log_lines"] == emulator.log_messages(ser)[-len(event["log_lines"]) :]
    assert any("FAILED" in line for line in event["log_lines"])
    # The reason of the failure (the handler's import error) is among them.
    assert any("ModuleNotFoundError" in line for line in event["log_lines"])


async def test_timeout_at_the_deadline(emulator: EmulatorHandle) -> None:
    emulator.configure(ready_delay=60)
    ser = _create(emulator)
    end_time = time.time() + 0.5
    (event,) = await _events(_trigger(emulator, ser, end_time=end_time))
    assert time.time() >= end_time, "no timeout before the deadline"
    assert event["status"] == "timeout"
    assert event["service_status"] == "IN_PROGRESS"
    assert event["log_lines"] == emulator.log_messages(ser)[-len(event["log_lines"]) :]
    assert emulator.get_service(DEP, ser)["status"] == "IN_PROGRESS"


async def test_deadline_survives_a_triggerer_restart(emulator: EmulatorHandle) -> None:
    emulator.configure(ready_delay=60)
    ser = _create(emulator)
    first = _trigger(emulator, ser, end_time=time.time() + 1.0)
    # The triggerer runs the trigger for a while, then dies (its task is cancelled).
    task = asyncio.ensure_future(_events(first))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The new triggerer rebuilds the trigger from the stored (JSON) kwargs.
    classpath, kwargs = first.serialize()
    assert classpath.endswith(".AbejaServiceStatusTrigger")
    second = AbejaServiceStatusTrigger(**json.loads(json.dumps(kwargs)))
    assert second.end_time == first.end_time
    (event,) = await _events(second)
    assert event["status"] == "timeout"
    assert first.end_time is not None
    assert time.time() >= first.end_time
    # The deadline in the message is the first run's, not a new one.
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(first.end_time))
    assert stamp in event["message"]


async def test_unknown_service_is_an_error_at_once(emulator: EmulatorHandle) -> None:
    missing = "ser-ffffffffffffffff"
    before = emulator.counters()["requests"].get("get_service", 0)
    (event,) = await _events(_trigger(emulator, missing, transient_error_budget=5))
    assert event["status"] == "error"
    assert "404" in event["message"]
    assert emulator.counters()["requests"].get("get_service", 0) - before == 1


async def test_bad_credentials_are_an_error_at_once(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = emulator.airflow_connection(CONN_ID, max_retry_count=0)
    conn["password"] = "not-the-token"
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    ser = _create(emulator)
    (event,) = await _events(_trigger(emulator, ser))
    assert event["status"] == "error"
    assert "401" in event["message"]
    assert "not-the-token" not in json.dumps(event)


async def test_stopped_is_a_failure_unless_it_is_the_target(emulator: EmulatorHandle) -> None:
    ser = _create(emulator)
    emulator.set_service_status(ser, "STOPPED")
    (failure,) = await _events(_trigger(emulator, ser))
    assert failure["status"] == "failure"
    assert failure["service_status"] == "STOPPED"
    (success,) = await _events(_trigger(emulator, ser, target_status="STOPPED"))
    assert success["status"] == "success"


async def test_many_triggers_share_one_loop(emulator: EmulatorHandle) -> None:
    emulator.configure(ready_delay=0.5)
    services = [_create(emulator) for _ in range(3)]
    triggers = [_trigger(emulator, ser) for ser in services for _ in range(10)]
    results = await asyncio.gather(*(_events(t) for t in triggers))
    assert [events[0]["status"] for events in results] == ["success"] * len(triggers)
