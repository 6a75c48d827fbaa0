"""The one fail-fast rule, checked against every operator class, the sensor and the trigger.

Every client call raises the same error; the task must end with ``AirflowFailException`` (no
Airflow retries) exactly when the table in ``exceptions.is_fail_fast`` says so. A new operator
class fails ``test_every_operator_class_is_in_the_table`` until it is added below.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

import airflow_provider_abeja.operators as operators_package
from airflow_provider_abeja.exceptions import (
    AnswerTooLargeError,
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    InternalServerError,
    InvalidArgumentError,
    InvalidResponseError,
    MethodNotAllowed,
    MissingCredentialsError,
    NotFound,
    TLSMismatchError,
    TransportError,
    Unauthorized,
    WaitGaveUpError,
    is_fail_fast,
)
from airflow_provider_abeja.hooks.abeja import AbejaHook
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger
from airflow_provider_abeja.wait import pool
from airflow_provider_abeja.wait.engine import validate_status_event
from tests._context import FakeTI

ORG, DEP, SER, VER = "1234567890123", "9999999999999", "ser-0123456789abcdef", "ver-5a3d1e0000000001"
URL = "https://api.test/x"
SER2 = "ser-fedcba9876543210"

#: The table (docs/architecture.md, "Fail fast"; docs/guarantees.md).
FAIL_FAST: dict[str, Exception] = {
    "invalid argument": InvalidArgumentError("service_id", "must not be empty"),
    "no credential": MissingCredentialsError("no credential"),
    "https to plain HTTP": TLSMismatchError("the server speaks plain HTTP: use http://", url=URL, attempts=1),
    "400": BadRequest("bad_request", "", 400, URL),
    "401": Unauthorized("unauthorized", "", 401, URL),
    "403": Forbidden("forbidden", "", 403, URL),
    "404": NotFound("not_found", "", 404, URL),
    "405": MethodNotAllowed("method_not_allowed", "", 405, URL),
    "422": HttpError("unprocessable_entity", "", 422, URL),
    "redirect": HttpError("unexpected_redirect", "", 302, URL),
    "answer too large": AnswerTooLargeError("answer_too_large", "", 200, URL),
}
RETRIED: dict[str, Exception] = {
    "transport": TransportError("connection refused", url=URL, attempts=6),
    "409": Conflict("conflict", "", 409, URL),
    "429": HttpError("too_many_requests", "", 429, URL),
    "500": InternalServerError("internal_server_error", "", 500, URL),
    "503": HttpError("service_unavailable", "", 503, URL),
    "garbled answer": InvalidResponseError("invalid_response", "not JSON", 200, URL),
}

#: Operator class name -> constructor arguments (task_id, organization_id added).
OPERATORS: dict[str, dict[str, Any]] = {
    "AbejaCreateServiceOperator": {"deployment_id": DEP, "version_id": VER},
    "AbejaUpdateServiceOperator": {
        "deployment_id": DEP,
        "service_id": SER,
        "payload": {"instance_number": 2},
    },
    "AbejaStartServiceOperator": {"deployment_id": DEP, "service_id": SER},
    "AbejaStopServiceOperator": {"deployment_id": DEP, "service_id": SER},
    "AbejaDeleteServiceOperator": {"deployment_id": DEP, "service_id": SER},
    "AbejaRequestServiceOperator": {"deployment_id": DEP, "service_id": SER, "json": {}, "timeout": 0},
    "AbejaCreateEndpointOperator": {"deployment_id": DEP, "service_id": SER},
    "AbejaUpdateEndpointOperator": {"deployment_id": DEP, "endpoint_alias": "default", "service_id": SER},
    "AbejaRouteEndpointOperator": {"deployment_id": DEP, "service_id": SER},
    "AbejaDeleteEndpointOperator": {"deployment_id": DEP, "endpoint_alias": "default"},
    "AbejaBatchRequestOperator": {"deployment_id": DEP, "service_id": SER, "inputs": [{"x": 1}]},
    "AbejaDeleteRunServicesOperator": {"deployment_id": DEP},
    "AbejaStopRunTrainingJobsOperator": {"job_definition_name": "train"},
    "AbejaCompareServicesOperator": {"deployment_id": DEP, "green_service_id": SER, "inputs": [{"x": 1}]},
    "AbejaGuardedSwapOperator": {"deployment_id": DEP, "blue_service_id": SER, "green_service_id": SER2},
    "AbejaSettleReleaseOperator": {"deployment_id": DEP, "blue_service_id": SER, "green_service_id": SER2},
    "AbejaCreateTrainingJobOperator": {"job_definition_name": "train", "version_id": 1},
    "AbejaCreateTrainingModelOperator": {"job_definition_name": "train", "training_job_id": "1234567890123"},
    "AbejaCreateDeploymentVersionOperator": {"deployment_id": DEP, "version": "1.0.0", "code": "CODE"},
    "AbejaDeleteDeploymentVersionOperator": {"deployment_id": DEP, "version_id": VER},
    "AbejaDeleteTrainingJobDefinitionOperator": {"job_definition_name": "train"},
    "AbejaDeleteTrainingJobDefinitionVersionOperator": {"job_definition_name": "train", "version_id": 1},
    "AbejaArchiveTrainingJobOperator": {"job_definition_name": "train", "training_job_id": "1234567890123"},
    "AbejaArchiveTrainingModelOperator": {"job_definition_name": "train", "model_id": "1234567890123"},
    "AbejaCreateRunOperator": {"deployment_id": DEP, "version_id": VER},
    "AbejaCreateTriggerOperator": {
        "deployment_id": DEP,
        "version_id": VER,
        "input_channel_id": "1234567890123",
    },
    "AbejaDeleteTriggerOperator": {"deployment_id": DEP, "trigger_id": "tri-1234567890123456"},
    "AbejaUploadToChannelOperator": {"channel_id": "1234567890123", "source": "INPUT"},
    "AbejaDownloadFromChannelOperator": {
        "channel_id": "1234567890123",
        "file_ids": "f1",
        "output_path": "OUT",
    },
}
#: Operators that make no platform call: they check the fail-fast wrapping and a bad argument instead.
NO_PLATFORM_CALL: dict[str, dict[str, Any]] = {
    "AbejaSplitBatchInputOperator": {"input_path": "INPUT/missing.jsonl", "work_dir": "WORK", "shards": 2},
    "AbejaMergeBatchShardsOperator": {"work_dir": "WORK/missing"},
}
#: A delete of something already gone is success (``fail_if_missing=False``): not an error at all.
GONE_IS_SUCCESS = {
    "AbejaDeleteServiceOperator",
    "AbejaDeleteEndpointOperator",
    "AbejaDeleteDeploymentVersionOperator",
    "AbejaDeleteTrainingJobDefinitionOperator",
    "AbejaDeleteTrainingJobDefinitionVersionOperator",
    "AbejaArchiveTrainingJobOperator",
    "AbejaArchiveTrainingModelOperator",
    "AbejaDeleteTriggerOperator",
}


def operator_classes() -> dict[str, type[BaseOperator]]:
    """Every public operator class of the package, whatever its base (the bases live in the
    private ``_base``, which is skipped)."""
    found: dict[str, type[BaseOperator]] = {}
    for info in pkgutil.iter_modules(operators_package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{operators_package.__name__}.{info.name}")
        for name, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and issubclass(cls, BaseOperator)
                and not name.startswith("_")
                and cls.__module__ == module.__name__
            ):
                found[name] = cls
    return found


class Raising:
    """A client whose every call raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return call

    def close(self) -> None:
        return None


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"organization_id": ORG, "auth_token": "t", "inference_addressing": "path", "max_retry_count": 0}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT",
        json.dumps({"conn_type": "abeja", "host": "http://api.test", "extra": extra}),
    )


def run_operator(name: str, error: Exception, tmp_path: Path) -> Any:
    kwargs = dict(OPERATORS[name])
    if name in ("AbejaBatchRequestOperator", "AbejaCompareServicesOperator"):
        kwargs["output_path"] = str(tmp_path / "out.jsonl")
    if name == "AbejaUploadToChannelOperator":
        (tmp_path / "in.csv").write_text("a,b\n")
        kwargs["source"] = str(tmp_path / "in.csv")
    if name == "AbejaDownloadFromChannelOperator":
        kwargs["output_path"] = str(tmp_path / "out")
    if name == "AbejaCreateDeploymentVersionOperator":
        (tmp_path / "code").mkdir(exist_ok=True)
        (tmp_path / "code" / "main.py").write_text("def handler(request, context):\n    return {}\n")
        kwargs["code"] = str(tmp_path / "code")
    op = operator_classes()[name](task_id="task", organization_id=ORG, **kwargs)
    client = Raising(error)
    hook = AbejaHook()
    hook.__dict__["client"] = client
    op.__dict__["hook"] = hook
    if name in ("AbejaBatchRequestOperator", "AbejaCompareServicesOperator"):
        op.__dict__["_client"] = lambda concurrency: client
    return op.execute({"ti": FakeTI()})


def test_every_operator_class_is_in_the_table() -> None:
    assert set(operator_classes()) == set(OPERATORS) | set(NO_PLATFORM_CALL)


@pytest.mark.parametrize("name", sorted(set(OPERATORS) | set(NO_PLATFORM_CALL)))
def test_every_operator_runs_under_the_rule(name: str) -> None:
    cls = operator_classes()[name]
    assert getattr(cls.execute, "__abeja_fail_fast__", False)


@pytest.mark.parametrize("name", sorted(NO_PLATFORM_CALL))
def test_operators_without_platform_calls_fail_fast_on_bad_input(name: str, tmp_path: Path) -> None:
    kwargs = {
        key: value.replace("INPUT", str(tmp_path)).replace("WORK", str(tmp_path / "work"))
        if isinstance(value, str)
        else value
        for key, value in NO_PLATFORM_CALL[name].items()
    }
    op = operator_classes()[name](task_id="task", **kwargs)
    with pytest.raises(AirflowFailException):
        op.execute({"ti": FakeTI()})


def test_the_table_is_the_rule() -> None:
    assert all(is_fail_fast(e) for e in FAIL_FAST.values())
    assert not any(is_fail_fast(e) for e in RETRIED.values())


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("error", sorted(FAIL_FAST))
def test_fail_fast_errors_fail_every_operator_without_retries(
    operator: str, error: str, tmp_path: Path
) -> None:
    if operator in GONE_IS_SUCCESS and error == "404":
        assert run_operator(operator, FAIL_FAST[error], tmp_path) is None
        return
    if operator == "AbejaSettleReleaseOperator" and error == "404":  # no endpoint, services gone
        assert run_operator(operator, FAIL_FAST[error], tmp_path)["deleted"] == []
        return
    with pytest.raises(AirflowFailException):
        run_operator(operator, FAIL_FAST[error], tmp_path)


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("error", sorted(RETRIED))
def test_other_errors_leave_every_operator_to_its_retries(operator: str, error: str, tmp_path: Path) -> None:
    with pytest.raises(Exception) as info:
        run_operator(operator, RETRIED[error], tmp_path)
    assert not isinstance(info.value, AirflowFailException)


def _sensor(error: Exception) -> AbejaServiceStatusSensor:
    sensor = AbejaServiceStatusSensor(
        task_id="sense", deployment_id=DEP, service_id=SER, organization_id=ORG, poke_interval=0, timeout=60
    )
    hook = AbejaHook()
    hook.__dict__["client"] = Raising(error)
    sensor.__dict__["hook"] = hook
    return sensor


def _trigger_outcome(error: Exception, monkeypatch: pytest.MonkeyPatch) -> Any:
    class Lease:
        settings_key = "raising"  # alone on its deployment: the wait reads its service directly

        async def read(self, method: str, *ids: str) -> Any:
            raise error

        async def release(self) -> None:
            return None

    async def lease_client(abeja_conn_id: str) -> Lease:
        return Lease()

    monkeypatch.setattr(pool, "lease_client", lease_client)
    trigger = AbejaServiceStatusTrigger(ORG, DEP, SER, poll_interval=0.01, transient_error_budget=2)

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload

    return validate_status_event(asyncio.run(first_event()), SER)


@pytest.mark.parametrize("error", sorted(FAIL_FAST))
def test_fail_fast_errors_fail_the_sensor_and_the_trigger_without_retries(
    error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AirflowFailException):
        _sensor(FAIL_FAST[error]).poke({})
    with pytest.raises(AirflowFailException) as info:
        _trigger_outcome(FAIL_FAST[error], monkeypatch)
    assert isinstance(info.value.__cause__, WaitGaveUpError)


@pytest.mark.parametrize("error", sorted(RETRIED))
def test_other_errors_leave_the_sensor_and_the_trigger_to_retries(
    error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = _sensor(RETRIED[error])
    with pytest.raises(AirflowException) as info:  # noqa: PT012 - the budget runs out on the last poke
        for _ in range(sensor.transient_error_budget + 1):
            assert sensor.poke({}) is False
    assert not isinstance(info.value, AirflowFailException)
    with pytest.raises(AirflowException) as info:
        _trigger_outcome(RETRIED[error], monkeypatch)
    assert not isinstance(info.value, AirflowFailException)
