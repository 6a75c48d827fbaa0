"""AbejaServiceStatusSensor without a server: arguments, deferral, execute_complete.

The real hook and client run; requests-mock answers. The waits against the emulator (poke,
reschedule, deferrable) are in ``tests/integration/wait``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
import requests_mock as rm
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_abeja.sensors.runs import AbejaRunSensor
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
from airflow_provider_abeja.sensors.training import AbejaTrainingJobSensor
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

API = "http://abeja.test"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
SERVICE_URL = f"{API}/organizations/{ORG}/deployments/{DEP}/services/{SER}"
LOGS_URL = f"{SERVICE_URL}/recentlogs"
CONN_ID = "abeja_sensor_unit"
TOKEN = "sensor-unit-bearer-token"


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "abeja",
        "host": API,
        "extra": {"auth_token": TOKEN, "organization_id": ORG, "max_retry_count": 0},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


def _sensor(**overrides: Any) -> AbejaServiceStatusSensor:
    kwargs: dict[str, Any] = {
        "task_id": "wait",
        "deployment_id": DEP,
        "service_id": SER,
        "abeja_conn_id": CONN_ID,
        "poke_interval": 0,
        "timeout": 30,
    }
    kwargs.update(overrides)
    return AbejaServiceStatusSensor(**kwargs)


def _status(status: str) -> dict[str, Any]:
    return {"json": {"service_id": SER, "status": status}, "status_code": 200}


class TestArguments:
    def test_defaults(self) -> None:
        sensor = _sensor()
        assert sensor.target_status == "READY"
        assert sensor.failure_statuses == ["FAILED", "STOPPED"]
        assert sensor.organization_id is None
        assert sensor.deferrable is False  # [operators] default_deferrable is off in the test config
        assert sensor.mode == "poke"

    def test_ids_and_target_are_templated(self) -> None:
        assert set(AbejaServiceStatusSensor.template_fields) >= {
            "organization_id",
            "deployment_id",
            "service_id",
            "target_status",
        }

    @pytest.mark.parametrize(
        ("sensor_class", "ids"),
        [
            (AbejaServiceStatusSensor, {"deployment_id": DEP, "service_id": SER}),
            (AbejaTrainingJobSensor, {"job_definition_name": "defn", "training_job_id": "1111111111111"}),
            (AbejaRunSensor, {"deployment_id": DEP, "run_id": "1111111111111"}),
        ],
    )
    def test_each_sensor_keeps_and_templates_its_triggers_path_ids(
        self, sensor_class: Any, ids: dict[str, str]
    ) -> None:
        """The trigger names the kind; the kind's path ids are the templated ids, kept by name."""
        kind = sensor_class.trigger_class.kind
        assert sensor_class.kind is kind
        assert sensor_class.template_fields[:3] == kind.path_ids
        sensor = sensor_class(task_id="wait", organization_id=ORG, **ids)
        assert {name: getattr(sensor, name) for name in ids} == ids
        assert sensor.resource_id == list(ids.values())[-1]

    def test_a_subclass_that_keeps_its_own_ids_still_works(self) -> None:
        from airflow_provider_abeja.triggers.runs import AbejaRunTrigger
        from airflow_provider_abeja.wait import engine
        from airflow_provider_abeja.wait.sensor import StatusSensor

        class OwnIds(StatusSensor):
            kind, trigger_class = engine.RUN, AbejaRunTrigger
            template_fields = ("organization_id", "deployment_id", "run_id")

            def __init__(self, *, deployment_id: str, run_id: str, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.deployment_id, self.run_id = deployment_id, run_id

        sensor = OwnIds(task_id="wait", deployment_id=DEP, run_id="1111111111111")
        assert (sensor.deployment_id, sensor.resource_id) == (DEP, "1111111111111")

    @pytest.mark.slow  # a fresh interpreter with another config
    def test_default_deferrable_follows_the_config(self) -> None:
        # Read when the module is imported (the providers' convention): check in a fresh interpreter.
        code = (
            "from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor as S; "
            "print(S(task_id='t', deployment_id='1', service_id='ser-1').deferrable)"
        )
        env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip().splitlines()[-1] == "True"

    def test_failure_statuses_as_a_string_is_refused(self) -> None:
        with pytest.raises(TypeError):
            _sensor(failure_statuses="FAILED")


class TestPoke:
    def test_only_the_target_counts(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, [_status("IN_PROGRESS"), _status("SCALING"), _status("READY")])
        sensor = _sensor()
        assert sensor.poke({}) is False
        assert sensor.poke({}) is False
        assert sensor.poke({}) is True

    def test_target_stopped_is_not_a_failure(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, [_status("READY"), _status("STOPPED")])
        sensor = _sensor(target_status="STOPPED")
        assert sensor.poke({}) is False
        assert sensor.poke({}) is True

    def test_failure_status_fails_without_retries_with_log_lines(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, **_status("FAILED"))
        requests_mock.get(
            LOGS_URL,
            json={"events": [{"message": "ModuleNotFoundError: main", "timestamp": 2}, {"message": "boot"}]},
        )
        with pytest.raises(AirflowFailException) as info:
            _sensor().poke({})
        text = str(info.value)
        assert "FAILED" in text
        assert text.index("boot") < text.index("ModuleNotFoundError: main")

    def test_not_found_fails_without_retries(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, status_code=404, json={"error": "not_found", "error_description": "x"})
        with pytest.raises(AirflowFailException, match="404"):
            _sensor().poke({})

    def test_no_organization_anywhere_fails_without_retries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        conn = {"conn_type": "abeja", "host": API, "extra": {"auth_token": TOKEN}}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        with pytest.raises(AirflowFailException, match="organization_id"):
            _sensor().poke({})
        with pytest.raises(AirflowFailException, match="organization_id"):
            _sensor(deferrable=True).execute({})

    def test_explicit_organization_wins(self, requests_mock: rm.Mocker) -> None:
        other = "5555555555555"
        requests_mock.get(SERVICE_URL.replace(ORG, other), **_status("READY"))
        assert _sensor(organization_id=other).poke({}) is True

    def test_no_secret_in_errors(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, status_code=401, json={"error": "unauthorized"})
        with pytest.raises(AirflowFailException) as info:
            _sensor().poke({})
        assert TOKEN not in str(info.value)
        assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


class TestDeferrable:
    def test_already_there_does_not_defer(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, **_status("READY"))
        assert _sensor(deferrable=True).execute({}) is None

    def test_defers_with_the_timeout_as_wall_clock_deadline(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, **_status("IN_PROGRESS"))
        sensor = _sensor(deferrable=True, timeout=600, poke_interval=7, failure_statuses=["FAILED"])
        before = time.time()
        with pytest.raises(TaskDeferred) as info:
            sensor.execute({})
        after = time.time()
        trigger = info.value.trigger
        assert isinstance(trigger, AbejaServiceStatusTrigger)
        assert info.value.method_name == "execute_complete"
        classpath, kwargs = trigger.serialize()
        assert classpath == "airflow_provider_abeja.triggers.service.AbejaServiceStatusTrigger"
        assert before + 600 <= kwargs["end_time"] <= after + 600
        assert kwargs["organization_id"] == ORG  # resolved from the connection before deferring
        assert kwargs["poll_interval"] == 7.0
        assert kwargs["failure_statuses"] == ["FAILED"]
        assert kwargs["abeja_conn_id"] == CONN_ID
        json.dumps(kwargs)
        # The task-level deferral timeout leaves the trigger time to report its own timeout.
        assert info.value.timeout is not None
        assert info.value.timeout.total_seconds() > 600

    def test_failure_on_the_first_poke_with_soft_fail_skips(self, requests_mock: rm.Mocker) -> None:
        requests_mock.get(SERVICE_URL, **_status("FAILED"))
        requests_mock.get(LOGS_URL, json={"events": []})
        with pytest.raises(AirflowSkipException):
            _sensor(deferrable=True, soft_fail=True).execute({})


class TestExecuteComplete:
    def test_success(self) -> None:
        event = {"status": "success", "service_id": SER, "service_status": "READY", "message": "ok"}
        assert _sensor().execute_complete({}, event) is None

    def test_timeout_is_a_sensor_timeout(self) -> None:
        event = {
            "status": "timeout",
            "service_id": SER,
            "service_status": "IN_PROGRESS",
            "message": "deadline",
            "log_lines": [],
        }
        with pytest.raises(AirflowSensorTimeout):
            _sensor().execute_complete({}, event)

    def test_failure_carries_log_lines(self) -> None:
        event = {
            "status": "failure",
            "service_id": SER,
            "service_status": "FAILED",
            "message": "failed",
            "log_lines": ["ImportError: main"],
        }
        with pytest.raises(AirflowFailException, match="ImportError: main"):
            _sensor().execute_complete({}, event)

    @pytest.mark.parametrize("status", ["failure", "timeout", "error"])
    def test_soft_fail_turns_a_resumed_failure_into_a_skip(self, status: str) -> None:
        event = {"status": status, "service_id": SER, "service_status": "FAILED", "message": "m"}
        with pytest.raises(AirflowSkipException):
            _sensor(soft_fail=True).resume_execution("execute_complete", {"event": event}, {})
        with pytest.raises(AirflowException):
            _sensor().resume_execution("execute_complete", {"event": event}, {})

    @pytest.mark.parametrize(
        "event", [None, {"status": "success", "service_id": "ser-ffffffffffffffff"}, {"status": "?"}]
    )
    def test_unexpected_events_fail_loudly(self, event: Any) -> None:
        with pytest.raises(AirflowException):
            _sensor().execute_complete({}, event)


def test_deferral_goes_through_the_task_runner_and_back(requests_mock: rm.Mocker) -> None:
    """What Airflow 3's task runner sends to the supervisor, and what the triggerer rebuilds from it."""
    task_runner = pytest.importorskip("airflow.sdk.execution_time.task_runner")
    serde = pytest.importorskip("airflow.sdk.serde")
    import types

    requests_mock.get(SERVICE_URL, **_status("IN_PROGRESS"))
    with pytest.raises(TaskDeferred) as info:
        _sensor(deferrable=True, timeout=120).execute({})
    ti = types.SimpleNamespace(dag_id="d", task_id="wait", run_id="r", task=types.SimpleNamespace(queue="q"))
    message, _state = task_runner._defer_task(info.value, ti, task_runner.log)
    wire = json.loads(message.model_dump_json())
    assert wire["classpath"] == "airflow_provider_abeja.triggers.service.AbejaServiceStatusTrigger"
    # Plain JSON: nothing needed serde's type wrappers (a tuple, set or datetime would have).
    assert wire["trigger_kwargs"] == info.value.trigger.serialize()[1]
    # The triggerer side: deserialize the stored kwargs and build the trigger again.
    kwargs = serde.deserialize(wire["trigger_kwargs"])
    rebuilt = AbejaServiceStatusTrigger(**kwargs)
    assert rebuilt.serialize() == info.value.trigger.serialize()


# -- retries: waiting is idempotent (apache/airflow#67287) -------------------------------------------


# -- what the service and training job sensors share (``wait.sensor.StatusSensor``) ------------

DEFINITION, JOB = "train", "2222222222222"
JOB_URL = f"{API}/organizations/{ORG}/training/definitions/{DEFINITION}/jobs/{JOB}"


def _job_sensor(**overrides: Any) -> Any:
    from airflow_provider_abeja.sensors.training import AbejaTrainingJobSensor

    kwargs: dict[str, Any] = {
        "task_id": "wait",
        "job_definition_name": DEFINITION,
        "training_job_id": JOB,
        "abeja_conn_id": CONN_ID,
        "poke_interval": 0,
        "timeout": 30,
    }
    kwargs.update(overrides)
    return AbejaTrainingJobSensor(**kwargs)


#: name -> (build a sensor, the argument holding its resource id, its URL, its failure status)
SENSORS = {
    "service": (_sensor, "service_id", SERVICE_URL, "FAILED"),
    "training job": (_job_sensor, "training_job_id", JOB_URL, "Failed"),
}


@pytest.mark.parametrize("kind", SENSORS)
def test_the_sensor_retries_by_default_but_respects_the_dags_choice(kind: str) -> None:
    """Waiting is idempotent (apache/airflow#67287): both sensors retry unless the DAG says not."""
    import datetime

    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_abeja.sensors.service import WAIT_RETRIES

    build = SENSORS[kind][0]
    assert WAIT_RETRIES > 0
    assert build().retries == WAIT_RETRIES
    assert build(retries=0).retries == 0
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    with DAG("d", schedule=None, start_date=start, default_args={"retries": 0}):
        assert build().retries == 0


@pytest.mark.parametrize("kind", SENSORS)
def test_a_bad_resource_id_fails_without_retries_before_any_request(
    kind: str, requests_mock: rm.Mocker
) -> None:
    from airflow_provider_abeja.exceptions import InvalidArgumentError

    build, argument = SENSORS[kind][:2]
    with pytest.raises(AirflowFailException) as info:
        build(**{argument: "../x"}).poke({})
    assert isinstance(info.value.__cause__, InvalidArgumentError)
    assert info.value.__cause__.argument == argument
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("kind", SENSORS)
def test_a_failure_on_the_first_deferrable_poke_with_soft_fail_skips(
    kind: str, requests_mock: rm.Mocker
) -> None:
    build, _, url, failed = SENSORS[kind]
    requests_mock.get(url, json={"status": failed})
    requests_mock.get(f"{url}/recentlogs", json={"events": []})
    with pytest.raises(AirflowSkipException):
        build(deferrable=True, soft_fail=True).execute({})
