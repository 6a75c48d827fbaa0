"""The fault matrix: every lifecycle operation against every transient fault, on a live emulator.

Each cell injects one fault (once) on the route the operation depends on, runs the real operator
(or sensor / trigger), and asserts the outcome the retry policy promises (docs/guarantees.md):

* ``ok``: the first try succeeds (the client retried, or the operator recovered idempotently);
* ``retry``: the first try fails with a clear provider error and the Airflow task retry (the same
  task instance run again) succeeds;
* ``recorded``: (batch) the task succeeds and the one hit input is in the results as an error.

In every cell the emulator's counters prove that no service and no endpoint was created twice.
Fault shapes (``when="after"`` means the platform acted and then the answer was lost):

====================  ===========================================================================
``429``               429 with ``Retry-After: 1``, before the route acts
``500``/``502``/504   the route acts, then the answer is replaced by the status
``503``               503 before the route acts
``reset``             the route acts, then the connection is reset without an answer
``read_timeout``      the server hangs longer than the client's read timeout, never acts
``malformed``         the route acts, then answers 200 with a body that is not JSON
``slow``              the route acts after a delay longer than the client's read timeout
====================  ===========================================================================
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.exceptions import AbejaError
from tests._context import FakeTI, task_context
from tests.reliability._emulator import (
    DEPLOYMENT_ID,
    ORGANIZATION_ID,
    VERSION_ID,
    EmulatorServer,
    capped_retry_waits,
)

pytestmark = pytest.mark.emulator

#: The client's read timeout in the matrix; latencies are multiples of it.
READ_TIMEOUT = 0.6
RETRY_WAIT_MAX = 0.02

FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "retry_after": "1", "when": "before"},
    "500": {"status": 500, "when": "after"},
    "502": {"status": 502, "when": "after"},
    "503": {"status": 503, "when": "before"},
    "504": {"status": 504, "when": "after"},
    "reset": {"drop_connection": True, "when": "after"},
    "read_timeout": {"latency": READ_TIMEOUT * 2.5, "drop_connection": True, "when": "before"},
    "malformed": {"malformed_body": True, "when": "after"},
    "slow": {"latency": READ_TIMEOUT * 2, "when": "before"},
}


def expected_outcome(operation: str, fault: str) -> str:
    """What the retry policy (client/retry.py) and the operators' recovery promise for a cell."""
    if fault == "429":
        return "ok"  # never acted on: every call is re-sent after Retry-After
    if operation in ("update", "delete", "endpoint_swap"):
        # PATCH / DELETE are idempotent: re-sent after 5xx and transport failures; a 200 whose body
        # is not JSON is not a transient failure, so it fails the try and the task retry redoes it.
        return "retry" if fault == "malformed" else "ok"
    if operation in ("sensor", "trigger"):
        return "ok"  # GET polls: retried by the client, then budgeted as transient by the waiter
    if operation == "create":
        # Never re-sent; the operator looks for the service it tagged when the answer was lost
        # (5xx, reset): it finds it when the platform acted, else the task retry creates or finds it.
        return "ok" if fault in ("500", "502", "504", "reset") else "retry"
    if operation == "endpoint_create":
        # Never re-sent; the task retry finds the endpoint that routes to its service by alias.
        return "retry"
    if operation == "request":
        return "ok" if fault == "503" else "retry"  # the operator waits out 503 (not ready)
    if operation == "batch":
        if fault in ("503", "malformed"):
            return "ok"  # 503 is re-sent per input; an inference body need not be JSON
        if fault in ("reset", "read_timeout", "slow"):
            # no answer: the try stops without recording the input, and the task retry resumes
            # and sends only that one (each input exactly once in the results)
            return "retry"
        return "recorded"  # a 5xx answer is the model's: recorded once, never re-sent
    # start / stop: POSTs never re-sent; the task retry reads the state and finishes the job
    return "retry"


@dataclass
class World:
    emulator: EmulatorServer
    client: APIClient
    tmp: Path

    def ready_service(self, version_id: str = VERSION_ID) -> str:
        service = self.client.create_service(ORGANIZATION_ID, DEPLOYMENT_ID, version_id)
        return self.wait(service["service_id"], "READY")

    def wait(self, service_id: str, status: str) -> str:
        deadline = time.monotonic() + 20
        while self.status(service_id) != status:
            assert time.monotonic() < deadline, f"{service_id} never reached {status}"
            time.sleep(0.02)
        return service_id

    def status(self, service_id: str) -> str | None:
        entries = self.client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)["entries"]
        return next((e["status"] for e in entries if e["service_id"] == service_id), None)


@dataclass
class Operation:
    """One column of the matrix: the faulted route, its setup, one task try, and its postcondition."""

    route: str
    setup: Callable[[World], dict[str, Any]]
    run: Callable[[World, dict[str, Any], FakeTI], Any]
    check: Callable[[World, dict[str, Any], Any], None]


WAIT: dict[str, Any] = {"check_interval": 0.05, "timeout": 30}


# -- operations ---------------------------------------------------------------------------------------


def _create_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator

    op = AbejaCreateServiceOperator(
        task_id="create", deployment_id=DEPLOYMENT_ID, version_id=VERSION_ID, **WAIT
    )
    return op.execute(task_context(ti))


def _create_check(world: World, state: dict[str, Any], result: Any) -> None:
    assert result["status"] == "READY"
    assert world.status(result["service_id"]) == "READY"


def _update_setup(world: World) -> dict[str, Any]:
    return {"service_id": world.ready_service()}


def _update_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.operators.service import AbejaUpdateServiceOperator

    op = AbejaUpdateServiceOperator(
        task_id="update",
        deployment_id=DEPLOYMENT_ID,
        service_id=state["service_id"],
        payload={"instance_number": 2},
        **WAIT,
    )
    return op.execute(task_context(ti))


def _update_check(world: World, state: dict[str, Any], result: Any) -> None:
    service = world.client.get_service(ORGANIZATION_ID, DEPLOYMENT_ID, state["service_id"])
    assert (service["status"], service["instance_number"]) == ("READY", 2)


def _stopped_setup(world: World) -> dict[str, Any]:
    service_id = world.ready_service()
    world.client.stop_service(ORGANIZATION_ID, DEPLOYMENT_ID, service_id)
    return {"service_id": world.wait(service_id, "STOPPED")}


def _state_change(kind: str) -> Callable[[World, dict[str, Any], FakeTI], Any]:
    def run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
        from airflow_provider_abeja.operators import service as ops

        cls = ops.AbejaStartServiceOperator if kind == "start" else ops.AbejaStopServiceOperator
        op = cls(task_id=kind, deployment_id=DEPLOYMENT_ID, service_id=state["service_id"], **WAIT)
        return op.execute(task_context(ti))

    return run


def _status_is(status: str | None) -> Callable[[World, dict[str, Any], Any], None]:
    def check(world: World, state: dict[str, Any], result: Any) -> None:
        assert world.status(state["service_id"]) == status

    return check


def _delete_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.operators.service import AbejaDeleteServiceOperator

    op = AbejaDeleteServiceOperator(
        task_id="delete", deployment_id=DEPLOYMENT_ID, service_id=state["service_id"]
    )
    return op.execute(task_context(ti))


def _request_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.operators.service import AbejaRequestServiceOperator

    op = AbejaRequestServiceOperator(
        task_id="request",
        deployment_id=DEPLOYMENT_ID,
        service_id=state["service_id"],
        json={"text": "good"},
        check_interval=0.05,
        timeout=10,
    )
    return op.execute(task_context(ti))


def _request_check(world: World, state: dict[str, Any], result: Any) -> None:
    assert result["label"] == "positive"


def _endpoint_create_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.operators.endpoint import AbejaCreateEndpointOperator

    op = AbejaCreateEndpointOperator(
        task_id="endpoint", deployment_id=DEPLOYMENT_ID, service_id=state["service_id"], endpoint_alias="live"
    )
    return op.execute(task_context(ti))


def _endpoint_create_check(world: World, state: dict[str, Any], result: Any) -> None:
    entries = world.client.get_endpoints(ORGANIZATION_ID, DEPLOYMENT_ID)["entries"]
    assert [(e["custom_alias"], e["service_id"]) for e in entries] == [("live", state["service_id"])]


def _swap_setup(world: World) -> dict[str, Any]:
    blue, green = world.ready_service(), world.ready_service()
    endpoint = world.client.create_endpoint(ORGANIZATION_ID, DEPLOYMENT_ID, blue, "default")
    return {"blue": blue, "green": green, "endpoint_id": endpoint["endpoint_id"]}


def _swap_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.operators.endpoint import AbejaUpdateEndpointOperator

    op = AbejaUpdateEndpointOperator(
        task_id="swap", deployment_id=DEPLOYMENT_ID, endpoint_alias="default", service_id=state["green"]
    )
    return op.execute(task_context(ti))


def _swap_check(world: World, state: dict[str, Any], result: Any) -> None:
    endpoint = world.client.get_endpoint(ORGANIZATION_ID, DEPLOYMENT_ID, state["endpoint_id"])
    assert endpoint["service_id"] == state["green"]


def _sensor_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

    sensor = AbejaServiceStatusSensor(
        task_id="sensor", deployment_id=DEPLOYMENT_ID, service_id=state["service_id"], poke_interval=0.05
    )
    for _ in range(20):  # what poke mode does, without the scheduler around it
        if sensor.poke(task_context(ti)):
            return True
        time.sleep(0.05)
    return False


def _true(world: World, state: dict[str, Any], result: Any) -> None:
    assert result is True


def _trigger_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    trigger = AbejaServiceStatusTrigger(
        ORGANIZATION_ID,
        DEPLOYMENT_ID,
        state["service_id"],
        poll_interval=0.05,
        end_time=time.time() + 20,
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    event = asyncio.run(first_event())
    if event["status"] != "success":
        raise AirflowException(f"trigger ended with {event}")
    return event


def _trigger_check(world: World, state: dict[str, Any], result: Any) -> None:
    assert (result["status"], result["service_status"]) == ("success", "READY")


BATCH_INPUTS = [{"text": f"good {i}"} for i in range(4)]


def _batch_setup(world: World) -> dict[str, Any]:
    state = _update_setup(world)
    state["output"] = world.tmp / f"batch-{time.monotonic_ns()}.jsonl"
    return state


def _batch_run(world: World, state: dict[str, Any], ti: FakeTI) -> Any:
    from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator

    op = AbejaBatchRequestOperator(
        task_id="batch",
        deployment_id=DEPLOYMENT_ID,
        service_id=state["service_id"],
        inputs=BATCH_INPUTS,
        output_path=str(state["output"]),
        concurrency=1,
        max_error_rate=0.5,
        progress_interval=60,
    )
    return op.execute(task_context(ti))


def _batch_records(state: dict[str, Any]) -> list[dict[str, Any]]:
    lines = state["output"].read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _batch_check(world: World, state: dict[str, Any], result: Any) -> None:
    records = _batch_records(state)
    keys = [str(r.get("key")) for r in records]
    assert len(keys) == len(BATCH_INPUTS), keys  # every input has a result ...
    assert len(set(keys)) == len(keys), keys  # ... exactly once


OPERATIONS: dict[str, Operation] = {
    "create": Operation("create_service", lambda w: {}, _create_run, _create_check),
    "update": Operation("update_service", _update_setup, _update_run, _update_check),
    "start": Operation("start_service", _stopped_setup, _state_change("start"), _status_is("READY")),
    "stop": Operation("stop_service", _update_setup, _state_change("stop"), _status_is("STOPPED")),
    "delete": Operation("delete_service", _update_setup, _delete_run, _status_is(None)),
    "request": Operation("request_service", _update_setup, _request_run, _request_check),
    "endpoint_create": Operation(
        "create_endpoint", _update_setup, _endpoint_create_run, _endpoint_create_check
    ),
    "endpoint_swap": Operation("update_endpoint", _swap_setup, _swap_run, _swap_check),
    "sensor": Operation("get_service", _update_setup, _sensor_run, _true),
    "trigger": Operation("get_service", _update_setup, _trigger_run, _trigger_check),
    "batch": Operation("request_service", _batch_setup, _batch_run, _batch_check),
}


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def abeja_emulator_module() -> Iterator[EmulatorServer]:
    """This module's emulator: services become READY quickly (90 cells, most need a service)."""
    with EmulatorServer(ready_delay=0.05) as server:
        yield server


@pytest.fixture
def world(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    connection = emulator.airflow_connection(timeout=READ_TIMEOUT, max_retry_count=3)
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(connection))
    # Tiny backoff for every client built during the test (hook, trigger, batch; sync and async):
    # the matrix tests what is retried, not how long the waits are.
    with (
        capped_retry_waits(RETRY_WAIT_MAX),
        APIClient(emulator.credential, api_url=emulator.url, timeout=10) as client,
    ):
        yield World(emulator, client, tmp_path)


def _is_clear(exc: BaseException) -> bool:
    """A provider or Airflow error whose message says what happened (not a raw library error)."""
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, AbejaError):
            return bool(str(exc).strip())
        chain = chain.__cause__
    return isinstance(exc, AirflowException) and bool(str(exc).strip())


CELLS = [(op, fault) for op in OPERATIONS for fault in FAULTS]


@pytest.mark.parametrize(("operation", "fault"), CELLS, ids=[f"{o}-{f}" for o, f in CELLS])
def test_fault_cell(operation: str, fault: str, world: World) -> None:
    spec = OPERATIONS[operation]
    state = spec.setup(world)
    before = world.emulator.counters()
    world.emulator.inject_fault(route=spec.route, times=1, **FAULTS[fault])
    ti = FakeTI(task_id=operation, run_id=f"manual__{operation}_{fault}")

    outcome = "ok"
    first_error: BaseException | None = None
    try:
        result = spec.run(world, state, ti)
    except Exception as exc:
        first_error = exc
        outcome = "retry"
        # Airflow's retry comes minutes later; here: once the server is done with the faulted call.
        # A latency fault outlasts the read timeout, so the client gave up on that call (and could
        # fail the try) no sooner than READ_TIMEOUT after the server took it: only the rest is left.
        time.sleep(max(FAULTS[fault].get("latency", 0.0) - READ_TIMEOUT, 0.0) + 0.1)
        result = spec.run(world, state, ti)
    if operation == "batch" and outcome == "ok":
        statuses = [r.get("status") for r in _batch_records(state)]
        if any(s != "ok" for s in statuses):
            outcome = "recorded"
    after = world.emulator.counters()

    assert after["faults_triggered"] - before["faults_triggered"] == 1, "the fault never fired"
    spec.check(world, state, result)
    assert outcome == expected_outcome(operation, fault), f"first try: {first_error!r}"
    if first_error is not None:
        assert _is_clear(first_error), f"unclear error: {type(first_error).__name__}: {first_error}"
    created = after["services_created"] - before["services_created"]
    assert created == (1 if operation == "create" else 0), f"services created: {created}"
    endpoints = after["endpoints_created"] - before["endpoints_created"]
    assert endpoints == (1 if operation == "endpoint_create" else 0), f"endpoints created: {endpoints}"
