"""Waits on one deployment share its ``get_services`` listing: against the emulator over loopback.

The triggers run as the triggerer runs them, with the real hook, connection, shared clients and
async client; services are held ``IN_PROGRESS`` (a long ready delay: no instance starts) and
forced to ``STOPPED``, the waits' target, to end them. The sharing rules themselves are unit
tested in ``tests/unit/wait/test_pool_listing.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from abeja_emulator.handle import EmulatorHandle
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger
from airflow_provider_abeja.wait.pool import group_count, shared_client_count

pytestmark = pytest.mark.emulator

DEP = "9999999999999"
VERSION = "ver-5a3d1e0000000001"
CONN_ID = "abeja_sharing_it"
POLL = 0.1
TARGET = "STOPPED"


@pytest.fixture
def emulator(abeja_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    """Client retries off, so every 503 reaches the waits; services stay IN_PROGRESS until forced."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(abeja_emulator.airflow_connection(CONN_ID, max_retry_count=0)),
    )
    abeja_emulator.configure(ready_delay=3600)
    return abeja_emulator


def _trigger(emulator: EmulatorHandle, service_id: str, **overrides: Any) -> AbejaServiceStatusTrigger:
    kwargs: dict[str, Any] = {
        "organization_id": emulator.organization_id,
        "deployment_id": DEP,
        "service_id": service_id,
        "target_status": TARGET,
        "failure_statuses": ["FAILED"],
        "poll_interval": POLL,
        "abeja_conn_id": CONN_ID,
    }
    kwargs.update(overrides)
    return AbejaServiceStatusTrigger(**kwargs)


async def _event(trigger: AbejaServiceStatusTrigger) -> dict[str, Any]:
    (event,) = [event.payload async for event in trigger.run()]
    return event


def _services(emulator: EmulatorHandle, count: int) -> list[str]:
    return [str(emulator.create_service(DEP, VERSION)["service_id"]) for _ in range(count)]


def _requests(emulator: EmulatorHandle, route: str) -> int:
    return int(emulator.counters()["requests"].get(route, 0))


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (without blocking the triggers' loop) until ``condition`` holds; 30 s at most."""
    for _ in range(1500):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met within 30 s")


async def _finish(emulator: EmulatorHandle, services: list[str]) -> None:
    for ser in services:
        await asyncio.to_thread(emulator.set_service_status, ser, TARGET)


async def test_waits_on_one_deployment_share_its_listing(emulator: EmulatorHandle) -> None:
    services = _services(emulator, 8)
    started = time.monotonic()
    waits = [asyncio.ensure_future(_event(_trigger(emulator, ser))) for ser in services]
    await _until(lambda: _requests(emulator, "get_services") >= 5)
    await _finish(emulator, services)
    events = await asyncio.gather(*waits)
    elapsed = time.monotonic() - started
    assert [(e["status"], e["service_id"]) for e in events] == [("success", ser) for ser in services]
    # One wait per service would be about 8 requests per interval; shared, about one. (An
    # upper bound only: a slow machine polls less, never more.)
    sent = _requests(emulator, "get_services") + _requests(emulator, "get_service")
    assert sent <= 2 * elapsed / POLL + 3, (sent, elapsed)
    assert group_count("get_services") == 0
    assert shared_client_count() == 0


async def test_a_service_deleted_mid_wait_ends_its_wait_as_a_lone_wait_would(
    emulator: EmulatorHandle,
) -> None:
    kept, deleted = _services(emulator, 2)
    waits = [asyncio.ensure_future(_event(_trigger(emulator, ser))) for ser in (kept, deleted)]
    await _until(lambda: _requests(emulator, "get_services") >= 2)
    response = requests.delete(
        emulator.api_url(f"deployments/{DEP}/services/{deleted}"), auth=emulator.auth, timeout=30
    )
    assert response.status_code == 200, response.text
    gone = await waits[1]
    # The outcome a wait alone on the deleted service gets (its own read says not found).
    alone = await _event(_trigger(emulator, deleted))
    assert {**gone, "service_status": None} == alone  # the lone wait never saw a status
    assert (gone["status"], gone["retryable"]) == ("error", False)
    assert "404" in gone["message"]
    assert not waits[0].done()
    await _finish(emulator, [kept])
    assert (await waits[0])["status"] == "success"


async def test_a_failing_listing_counts_against_each_waits_budget(emulator: EmulatorHandle) -> None:
    services = _services(emulator, 3)
    waits = [
        asyncio.ensure_future(_event(_trigger(emulator, ser, transient_error_budget=5))) for ser in services
    ]
    await _until(lambda: _requests(emulator, "get_services") >= 1)
    before = _requests(emulator, "get_services")
    emulator.inject_fault("get_services", status=503)
    # A wait left alone reads its own service: that fails too here (the platform is down).
    emulator.inject_fault("get_service", status=503)
    events = await asyncio.gather(*waits)
    assert _requests(emulator, "get_services") - before >= 5  # the shared listing failed for all
    assert [e["status"] for e in events] == ["error"] * 3
    assert all("6 transient errors in a row (budget 5)" in e["message"] for e in events)
    assert all("503" in e["message"] and e["retryable"] for e in events)
    emulator.clear_faults()
    assert emulator.get_service(DEP, services[0])["status"] == "IN_PROGRESS"


async def test_listing_errors_within_the_budget_are_ridden_out(emulator: EmulatorHandle) -> None:
    services = _services(emulator, 3)
    waits = [
        asyncio.ensure_future(_event(_trigger(emulator, ser, transient_error_budget=3))) for ser in services
    ]
    await _until(lambda: _requests(emulator, "get_services") >= 1)
    before = _requests(emulator, "get_services")
    emulator.inject_fault("get_services", status=503, times=3)
    await _until(lambda: _requests(emulator, "get_services") >= before + 4)  # 3 failed, then one served
    await _finish(emulator, services)
    assert [e["status"] for e in await asyncio.gather(*waits)] == ["success"] * 3


async def test_a_listing_that_pages_is_read_to_its_end(emulator: EmulatorHandle) -> None:
    emulator.configure(services_page_size=2)
    services = _services(emulator, 5)  # three pages
    waits = [asyncio.ensure_future(_event(_trigger(emulator, ser))) for ser in services]
    await _until(lambda: _requests(emulator, "get_services") >= 3 * 5)
    await _finish(emulator, services)
    assert [e["status"] for e in await asyncio.gather(*waits)] == ["success"] * 5
    pages = _requests(emulator, "get_services")
    assert pages % 3 == 0, "every listing read all three pages"
    # Services of the last page were found in the listing, not read on their own at every poll.
    assert _requests(emulator, "get_service") < pages // 3


async def test_waits_with_different_intervals_on_one_deployment(emulator: EmulatorHandle) -> None:
    fast_ser, slow_ser = _services(emulator, 2)
    end_time = time.time() + 1.0
    slow = _trigger(emulator, slow_ser, poll_interval=0.5, end_time=end_time)
    fast = asyncio.ensure_future(_event(_trigger(emulator, fast_ser, poll_interval=0.05)))
    # The slow wait keeps its own deadline although the fast one sets the listing's pace.
    timed_out = await _event(slow)
    assert time.time() >= end_time
    assert (timed_out["status"], timed_out["service_status"]) == ("timeout", "IN_PROGRESS")
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end_time)) in timed_out["message"]
    assert not fast.done()
    await _finish(emulator, [fast_ser])
    assert (await fast)["status"] == "success"
    assert _requests(emulator, "get_services") >= 2


async def test_a_restarted_trigger_keeps_its_deadline_and_rejoins_the_listing(
    emulator: EmulatorHandle,
) -> None:
    restarted_ser, other_ser = _services(emulator, 2)
    first = _trigger(emulator, restarted_ser, end_time=time.time() + 1.0)
    other = asyncio.ensure_future(_event(_trigger(emulator, other_ser)))
    running = asyncio.ensure_future(_event(first))
    await _until(lambda: _requests(emulator, "get_services") >= 2)
    running.cancel()  # the triggerer dies
    with pytest.raises(asyncio.CancelledError):
        await running
    # A new triggerer rebuilds the trigger from its stored, JSON-only kwargs.
    classpath, kwargs = first.serialize()
    second = AbejaServiceStatusTrigger(**json.loads(json.dumps(kwargs)))
    assert classpath.endswith(".AbejaServiceStatusTrigger")
    assert second.end_time == first.end_time
    listings_before = _requests(emulator, "get_services")
    event = await _event(second)
    assert first.end_time is not None
    assert time.time() >= first.end_time
    assert event["status"] == "timeout"
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(first.end_time)) in event["message"]
    assert _requests(emulator, "get_services") > listings_before  # it read through the listing again
    await _finish(emulator, [other_ser])
    assert (await other)["status"] == "success"
    assert group_count("get_services") == 0
