"""One wait engine: the same status sequence ends the same way, with the same message, in every mode.

Each scenario is played through the operators' own wait (``AbejaStartServiceOperator.wait_or_defer``
in the worker, the hook's blocking loop), the sensor's poke mode (``BaseSensorOperator.execute`` calling
``poke``), and the trigger (``AbejaServiceStatusTrigger.run``) whose event the deferrable
operators and sensor turn back into a result with ``validate_status_event``; and the same for a
training job (the job operator's own wait, ``AbejaTrainingJobSensor``, ``AbejaTrainingJobTrigger``),
whose statuses and nouns differ but whose outcomes and messages follow the same rules. The client
is scripted (no client-level retries), so only the wait's own rules decide.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.exceptions import (
    HttpError,
    NotFound,
    ServiceFailedError,
    TrainingJobFailedError,
    TransportError,
    WaitGaveUpError,
    WaitTimeoutError,
)
from airflow_provider_abeja.hooks.abeja import AbejaHook
from airflow_provider_abeja.operators.service import AbejaStartServiceOperator
from airflow_provider_abeja.operators.training import AbejaCreateTrainingJobOperator
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
from airflow_provider_abeja.sensors.training import AbejaTrainingJobSensor
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger
from airflow_provider_abeja.triggers.training import AbejaTrainingJobTrigger, validate_training_event
from airflow_provider_abeja.wait import pool
from airflow_provider_abeja.wait.engine import validate_status_event

ORG, DEP, SER = "1234567890123", "9999999999999", "ser-0123456789abcdef"
DEFINITION, JOB = "train", "2222222222222"
#: A service's status -> the training job's status that plays the same part in a scenario.
JOB_STATUSES = {"READY": "Complete", "FAILED": "Failed", "IN_PROGRESS": "Active"}
URL = f"https://api.abeja.io/organizations/{ORG}/deployments/{DEP}/services/{SER}"
UNAVAILABLE = HttpError("service_unavailable", "try later", 503, URL)
DROPPED = TransportError("connection dropped", url=URL, attempts=1)
MISSING = NotFound("not_found", "no such service", 404, URL)
#: The platform lists recent logs newest first.
RECENT_LOGS = {
    "events": [
        {"timestamp": "2026-11-27T10:00:02Z", "message": "Traceback: main.py crashed"},
        {"timestamp": "2026-11-27T10:00:01Z", "message": "booting"},
    ],
    "next_backward_token": "",
    "next_forward_token": "",
}

#: name -> (answers of successive get_service calls, the last one repeats; the wait has a deadline)
SCENARIOS: dict[str, tuple[list[Any], bool]] = {
    "ready": (["IN_PROGRESS", "IN_PROGRESS", "READY"], False),
    "failed": (["IN_PROGRESS", "FAILED"], False),
    "unknown status keeps waiting": (["MYSTERY", "MYSTERY", "READY"], False),
    "transient errors within the budget": ([UNAVAILABLE, DROPPED, UNAVAILABLE, "READY"], False),
    "transient errors beyond the budget": ([UNAVAILABLE, DROPPED] * 3, False),
    "permanent error": (["IN_PROGRESS", MISSING], False),
    "timeout": (["IN_PROGRESS"], True),
}


class Script:
    """Answers ``get_service`` / ``get_training_job`` calls in order, sync or async; recent logs
    are always the same. A training job's statuses are the service's, translated."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def _next(self) -> Any:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> dict[str, Any]:
        assert (organization_id, deployment_id, service_id) == (ORG, DEP, SER)
        return {"service_id": SER, "status": self._next()}

    def get_training_job(self, organization_id: str, definition: str, job_id: str) -> dict[str, Any]:
        assert (organization_id, definition, job_id) == (ORG, DEFINITION, JOB)
        status = self._next()
        return {"training_job_id": JOB, "status": JOB_STATUSES.get(status, status)}

    def get_service_recent_logs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return RECENT_LOGS

    get_training_job_recent_logs = get_service_recent_logs


class AsyncScript:
    def __init__(self, script: Script) -> None:
        self.script = script

    async def get_service(self, *ids: str) -> dict[str, Any]:
        return self.script.get_service(*ids)

    async def get_training_job(self, *ids: str) -> dict[str, Any]:
        return self.script.get_training_job(*ids)

    async def get_service_recent_logs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return RECENT_LOGS

    get_training_job_recent_logs = get_service_recent_logs


class Lease:
    #: A wait alone on its deployment reads its service directly (``wait.pool``).
    settings_key = "scripted"

    def __init__(self, script: Script) -> None:
        self.script = AsyncScript(script)

    async def read(self, method: str, *ids: str) -> dict[str, Any]:
        return await getattr(self.script, method)(*ids)  # type: ignore[no-any-return]

    async def release(self) -> None:
        return None


def _hook(script: Script) -> AbejaHook:
    hook = AbejaHook(abeja_conn_id="abeja_scripted")
    hook.__dict__["client"] = script
    return hook


def via_operator_wait(script: Script, deadline: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    op = AbejaStartServiceOperator(
        task_id="wait",
        deployment_id=DEP,
        service_id=SER,
        organization_id=ORG,
        check_interval=0.1,
        timeout=0 if deadline else 60,
        deferrable=False,
    )
    op.__dict__["hook"] = _hook(script)
    return op.wait_or_defer((ORG, DEP, SER), target_status="READY")


def via_sensor_poke(script: Script, deadline: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    sensor = AbejaServiceStatusSensor(
        task_id="sense",
        deployment_id=DEP,
        service_id=SER,
        organization_id=ORG,
        mode="poke",
        poke_interval=0,
        timeout=0 if deadline else 60,
        deferrable=False,
    )
    sensor.__dict__["hook"] = _hook(script)
    return sensor.execute({})


def first_event(trigger: Any, script: Script, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The one event ``trigger`` yields, its client lease answering from ``script``."""

    async def lease_client(abeja_conn_id: str) -> Lease:
        return Lease(script)

    async def run() -> Any:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger yielded no event")

    monkeypatch.setattr(pool, "lease_client", lease_client)
    return asyncio.run(run())


def via_trigger(script: Script, deadline: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    trigger = AbejaServiceStatusTrigger(
        organization_id=ORG,
        deployment_id=DEP,
        service_id=SER,
        poll_interval=0.01,
        end_time=time.time() if deadline else None,
        abeja_conn_id="abeja_scripted",
    )

    return validate_status_event(first_event(trigger, script, monkeypatch), SER)


def via_training_operator_wait(script: Script, deadline: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    op = AbejaCreateTrainingJobOperator(
        task_id="train",
        job_definition_name=DEFINITION,
        version_id=1,
        organization_id=ORG,
        check_interval=0.1,
        timeout=0 if deadline else 60,
        stop_on_kill=False,
    )
    op.__dict__["hook"] = _hook(script)
    return op.wait_or_defer((ORG, DEFINITION, JOB))


def via_training_sensor_poke(script: Script, deadline: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    sensor = AbejaTrainingJobSensor(
        task_id="sense",
        job_definition_name=DEFINITION,
        training_job_id=JOB,
        organization_id=ORG,
        mode="poke",
        poke_interval=0,
        timeout=0 if deadline else 60,
        deferrable=False,
    )
    sensor.__dict__["hook"] = _hook(script)
    return sensor.execute({})


def via_training_trigger(script: Script, deadline: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    trigger = AbejaTrainingJobTrigger(
        organization_id=ORG,
        job_definition_name=DEFINITION,
        training_job_id=JOB,
        poll_interval=0.01,
        end_time=time.time() if deadline else None,
        abeja_conn_id="abeja_scripted",
    )

    return validate_training_event(first_event(trigger, script, monkeypatch), JOB)


MODES = {"operator wait": via_operator_wait, "sensor poke": via_sensor_poke, "trigger": via_trigger}
TRAINING_MODES = {
    "operator wait": via_training_operator_wait,
    "sensor poke": via_training_sensor_poke,
    "trigger": via_training_trigger,
}


def outcome(run: Any, answers: list[Any], deadline: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(outcome, message): success / fail-fast / timeout / retryable, and the task's error text."""
    try:
        run(Script(list(answers)), deadline, monkeypatch)
    except AirflowException as exc:
        cause = exc.__cause__
        failed = (ServiceFailedError, TrainingJobFailedError)
        assert isinstance(cause, (*failed, WaitTimeoutError, WaitGaveUpError)), repr(cause)
        if isinstance(exc, AirflowFailException):
            kind = "fail-fast"
        elif isinstance(cause, WaitTimeoutError):
            kind = "timeout"
        else:
            kind = "retryable"
        # The deadline's timestamp is when each mode started: everything else is the same text.
        return kind, re.sub(r"before the deadline \([^)]*\)", "before the deadline (...)", str(exc))
    return "success", ""


EXPECTED = {
    "ready": ("success", ""),
    "failed": (
        "fail-fast",
        f"service {SER} reached failure status FAILED while waiting for READY\n"
        "Latest log lines of the service:\nbooting\nTraceback: main.py crashed",
    ),
    "unknown status keeps waiting": ("success", ""),
    "transient errors within the budget": ("success", ""),
    "transient errors beyond the budget": (
        "retryable",
        f"giving up on service {SER} after 6 transient errors in a row (budget 5); last: {DROPPED}",
    ),
    "permanent error": ("fail-fast", f"cannot get service {SER}: {MISSING}"),
    "timeout": (
        "timeout",
        f"service {SER} did not reach READY before the deadline (...); last status: IN_PROGRESS\n"
        "Latest log lines of the service:\nbooting\nTraceback: main.py crashed",
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_outcome_and_message_in_every_mode(scenario: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answers, deadline = SCENARIOS[scenario]
    seen = {name: outcome(run, answers, deadline, monkeypatch) for name, run in MODES.items()}
    assert seen == dict.fromkeys(MODES, EXPECTED[scenario])


def as_training_job(expected: tuple[str, str]) -> tuple[str, str]:
    """The service's expected outcome, told of the training job (same rule, its nouns and statuses)."""
    kind, message = expected
    message = message.replace(f"service {SER}", f"training job {JOB}").replace(
        "of the service", "of the training job"
    )
    for service_status, job_status in JOB_STATUSES.items():
        message = message.replace(service_status, job_status)
    return kind, message


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_training_job_wait_follows_the_same_rules_in_every_mode(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, deadline = SCENARIOS[scenario]
    seen = {name: outcome(run, answers, deadline, monkeypatch) for name, run in TRAINING_MODES.items()}
    assert seen == dict.fromkeys(TRAINING_MODES, as_training_job(EXPECTED[scenario]))
