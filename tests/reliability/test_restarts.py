"""Restarts: a wait survives an emulator restart (persistent state), and a trigger resumed after its
triggerer restarted keeps its original deadline; both end successfully before that deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient
from tests._context import FakeTI, task_context
from tests.reliability._emulator import DEPLOYMENT_ID, ORGANIZATION_ID, VERSION_ID, EmulatorServer

pytestmark = pytest.mark.emulator

#: Long enough for a restart (or a triggerer "outage") to happen in the middle of the wait.
READY_DELAY = 2.5
WAIT_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def abeja_emulator_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    state_dir: Path = tmp_path_factory.mktemp("emulator-state")
    with EmulatorServer(ready_delay=READY_DELAY, extra_args=["--state-dir", str(state_dir)]) as server:
        yield server


@pytest.fixture
def connected(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(emulator.airflow_connection(timeout=5)))
    return emulator


def _run_trigger(trigger: Any, cancel_after: float | None = None) -> dict[str, Any] | None:
    """The trigger's first event, or None when it was cancelled (the triggerer went away) first."""

    async def main() -> dict[str, Any] | None:
        async def first() -> dict[str, Any] | None:
            async for event in trigger.run():
                return dict(event.payload)
            return None

        task = asyncio.ensure_future(first())
        if cancel_after is None:
            return await task
        done, _ = await asyncio.wait({task}, timeout=cancel_after)
        if done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None

    return asyncio.run(main())


def _revive(serialized: tuple[str, dict[str, Any]]) -> Any:
    """Rebuild a trigger from ``serialize()`` through JSON, the way a new triggerer process does."""
    path, kwargs = serialized
    kwargs = json.loads(json.dumps(kwargs))
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def test_a_wait_survives_an_emulator_restart_with_persistent_state(connected: EmulatorServer) -> None:
    from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator

    op = AbejaCreateServiceOperator(
        task_id="deploy",
        deployment_id=DEPLOYMENT_ID,
        version_id=VERSION_ID,
        check_interval=0.2,
        timeout=WAIT_TIMEOUT,
    )
    ti = FakeTI("deploy", "manual__restart")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = op.execute(task_context(ti))
        except Exception as exc:
            outcome["error"] = exc
        outcome["finished"] = time.monotonic()

    started = time.monotonic()
    deadline = started + WAIT_TIMEOUT
    worker = threading.Thread(target=run)
    worker.start()
    while "service_id" not in ti.xcoms:  # pushed before the wait begins
        assert worker.is_alive(), outcome
        time.sleep(0.05)
    connected.restart()  # mid-wait: the service is IN_PROGRESS, the operator is polling
    restarted_at = time.monotonic()
    worker.join(WAIT_TIMEOUT + 10)

    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"]["status"] == "READY"
    assert outcome["result"]["service_id"] == ti.xcoms["service_id"]
    assert restarted_at < outcome["finished"] < deadline
    # the state survived: the same (single) service, READY after the restart
    with APIClient(connected.credential, api_url=connected.url) as client:
        entries = client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)["entries"]
    assert [(e["service_id"], e["status"]) for e in entries] == [(ti.xcoms["service_id"], "READY")]


def test_a_trigger_resumed_after_a_triggerer_restart_keeps_its_deadline(connected: EmulatorServer) -> None:
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    with APIClient(connected.credential, api_url=connected.url) as client:
        service_id = client.create_service(ORGANIZATION_ID, DEPLOYMENT_ID, VERSION_ID)["service_id"]
    end_time = time.time() + WAIT_TIMEOUT
    first = AbejaServiceStatusTrigger(
        ORGANIZATION_ID, DEPLOYMENT_ID, service_id, poll_interval=0.1, end_time=end_time
    )
    serialized = first.serialize()

    # The triggerer runs it for a while and then dies (the task is cancelled mid-wait).
    assert _run_trigger(first, cancel_after=0.5) is None
    time.sleep(0.5)  # the outage
    resumed = _revive(serialized)
    assert resumed.serialize()[1]["end_time"] == end_time  # the deadline carried over, not reset
    event = _run_trigger(resumed)
    finished = time.time()

    assert event is not None
    assert (event["status"], event["service_id"], event["service_status"]) == ("success", service_id, "READY")
    assert finished < end_time


def test_a_trigger_resumed_after_its_deadline_times_out_at_once(connected: EmulatorServer) -> None:
    """The deadline is wall-clock: a triggerer that comes back too late does not start a new wait."""
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    with APIClient(connected.credential, api_url=connected.url) as client:
        service_id = client.create_service(ORGANIZATION_ID, DEPLOYMENT_ID, VERSION_ID)["service_id"]
    end_time = time.time() + 0.3
    serialized = AbejaServiceStatusTrigger(
        ORGANIZATION_ID, DEPLOYMENT_ID, service_id, poll_interval=0.1, end_time=end_time
    ).serialize()
    time.sleep(0.5)  # the triggerer was down past the deadline; the service is still IN_PROGRESS

    polls_before = connected.counters()["requests"].get("get_service", 0)
    event = _run_trigger(_revive(serialized))
    polls = connected.counters()["requests"].get("get_service", 0) - polls_before

    assert event is not None
    assert event["status"] == "timeout", event
    assert polls <= 1, f"a trigger revived after its deadline polled {polls} times instead of ending"


def test_a_trigger_survives_an_emulator_restart_within_its_deadline(connected: EmulatorServer) -> None:
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    with APIClient(connected.credential, api_url=connected.url) as client:
        service_id = client.create_service(ORGANIZATION_ID, DEPLOYMENT_ID, VERSION_ID)["service_id"]
    end_time = time.time() + WAIT_TIMEOUT
    trigger = AbejaServiceStatusTrigger(
        ORGANIZATION_ID, DEPLOYMENT_ID, service_id, poll_interval=0.2, end_time=end_time
    )
    restarter = threading.Timer(0.5, connected.restart)
    restarter.start()
    try:
        event = _run_trigger(trigger)
    finally:
        restarter.join()
    assert event is not None
    assert (event["status"], event["service_status"]) == ("success", "READY"), event
    assert time.time() < end_time
