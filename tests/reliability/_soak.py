"""The soak: many deploy -> wait -> invoke -> teardown sequences against an emulator with random faults.

Each step is a real operator (create, the status sensor, request, delete) run the way a worker runs a
task: a fresh operator per try, the same task instance identity across tries, and a task retry (after a
retry delay) on any failure that is not ``AirflowFailException``. The teardown runs whatever happened
before it, like an Airflow teardown task. Used by ``tests/reliability/test_soak.py`` (short, in CI) and
``bench/soak.py`` (the full 200 sequences).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

from tests._context import FakeTI, task_context
from tests.reliability._emulator import DEPLOYMENT_ID, VERSION_ID, EmulatorServer, capped_retry_waits

#: The faults drawn at random, each on every platform route; together they fire on ``rate`` of requests.
FAULT_MIX: list[dict[str, Any]] = [
    {"status": 429, "retry_after": "1", "when": "before"},
    {"status": 500, "when": "after"},
    {"status": 502, "when": "after"},
    {"status": 503, "when": "before"},
    {"status": 504, "when": "after"},
    {"drop_connection": True, "when": "after"},
    {"malformed_body": True, "when": "after"},
    {"latency": 1.2, "when": "before"},  # slower than the client's read timeout, then acts
]
READ_TIMEOUT = 0.6
TASK_RETRIES = 4
#: Longer than any injected latency: Airflow's default retry delay is minutes.
RETRY_DELAY = 1.5


@dataclass
class SoakResult:
    sequences: int
    deployed: int = 0
    succeeded: int = 0
    failed_sequences: list[str] = field(default_factory=list)
    task_retries: int = 0
    teardown_failures: int = 0
    counters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Services created beyond one per sequence whose deploy task succeeded."""
        return int(self.counters["services_created"]) - self.deployed

    @property
    def left_running(self) -> int:
        return int(self.counters["services_running"])

    def summary(self) -> str:
        c = self.counters
        return (
            f"{self.sequences} sequences in {self.seconds:.1f}s: {self.succeeded} succeeded end to end, "
            f"{len(self.failed_sequences)} failed; {self.task_retries} task retries; "
            f"faults fired {c['faults_triggered']} of {sum(c['requests'].values())} requests; "
            f"services created {c['services_created']} (duplicates {self.duplicates}), "
            f"deleted {c['services_deleted']}, left running {self.left_running}, "
            f"left at all {c['services_total']}; teardown failures {self.teardown_failures}"
        )


@contextmanager
def soak_environment(emulator: EmulatorServer, retry_wait_max: float = 0.02) -> Iterator[None]:
    """The ``abeja_default`` connection to the emulator, and a small backoff cap for every client."""
    connection = emulator.airflow_connection(timeout=READ_TIMEOUT, max_retry_count=3)
    previous = os.environ.get("AIRFLOW_CONN_ABEJA_DEFAULT")
    os.environ["AIRFLOW_CONN_ABEJA_DEFAULT"] = json.dumps(connection)
    try:
        with capped_retry_waits(retry_wait_max):
            yield
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_ABEJA_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_ABEJA_DEFAULT"] = previous


def run_task(make: Callable[[], Any], ti: FakeTI, result: SoakResult) -> Any:
    """One task with Airflow's retry semantics; returns what the successful try returned."""
    for attempt in range(TASK_RETRIES + 1):
        try:
            return make().execute(task_context(ti))
        except AirflowFailException:
            raise
        except Exception:
            if attempt == TASK_RETRIES:
                raise
            result.task_retries += 1
            time.sleep(RETRY_DELAY)
    raise AssertionError("unreachable")


class _PokeLoop:
    """The sensor in poke mode, without the scheduler: poke until True (exceptions fail the try)."""

    def __init__(self, service_id: str, run: int) -> None:
        from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

        self.sensor = AbejaServiceStatusSensor(
            task_id=f"wait_{run}", deployment_id=DEPLOYMENT_ID, service_id=service_id, poke_interval=0.05
        )

    def execute(self, context: dict[str, Any]) -> bool:
        deadline = time.monotonic() + 30
        while not self.sensor.poke(task_context(context["ti"])):
            if time.monotonic() > deadline:
                raise TimeoutError("service did not become READY")
            time.sleep(0.05)
        return True


def run_sequence(run: int, result: SoakResult) -> bool:
    """deploy -> wait -> invoke, then teardown whatever happened; True when all four succeeded."""
    from airflow_provider_abeja.operators.service import (
        AbejaCreateServiceOperator,
        AbejaDeleteServiceOperator,
        AbejaRequestServiceOperator,
    )

    run_id = f"soak__{run}"
    service_id: str | None = None
    try:
        created = run_task(
            lambda: AbejaCreateServiceOperator(
                task_id="deploy",
                deployment_id=DEPLOYMENT_ID,
                version_id=VERSION_ID,
                wait_for_completion=False,
            ),
            FakeTI("deploy", run_id),
            result,
        )
        service_id = str(created["service_id"])
        result.deployed += 1
        run_task(lambda: _PokeLoop(str(service_id), run), FakeTI("wait", run_id), result)
        answer = run_task(
            lambda: AbejaRequestServiceOperator(
                task_id="invoke",
                deployment_id=DEPLOYMENT_ID,
                service_id=str(service_id),
                json={"text": f"good run {run}"},
                check_interval=0.05,
                timeout=30,
            ),
            FakeTI("invoke", run_id),
            result,
        )
        ok = isinstance(answer, dict) and answer.get("label") == "positive"
    except Exception as exc:
        result.failed_sequences.append(f"run {run}: {type(exc).__name__}: {exc}")
        ok = False
    finally:
        if service_id is not None:
            try:
                run_task(
                    lambda: AbejaDeleteServiceOperator(
                        task_id="teardown", deployment_id=DEPLOYMENT_ID, service_id=str(service_id)
                    ),
                    FakeTI("teardown", run_id),
                    result,
                )
            except Exception:
                result.teardown_failures += 1
    return ok


def soak(emulator: EmulatorServer, sequences: int, rate: float = 0.05, seed: int = 8) -> SoakResult:
    """Run ``sequences`` sequences with faults on ``rate`` of all platform requests."""
    random.seed(seed)
    emulator.reset()
    for spec in FAULT_MIX:
        emulator.inject_fault(route="*", probability=rate / len(FAULT_MIX), **spec)
    result = SoakResult(sequences)
    started = time.monotonic()
    with soak_environment(emulator):
        for run in range(sequences):
            if run_sequence(run, result):
                result.succeeded += 1
    emulator.clear_faults()
    result.seconds = time.monotonic() - started
    result.counters = emulator.counters()
    return result
