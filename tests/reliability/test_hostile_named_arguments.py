"""Every operator x every argument naming a file, a folder, an id or a target x what a template
renders for nothing: refused by name, fail-fast, before any request or file I/O.

Each case runs the operator's real ``execute`` with a connection to a live emulator, from an empty
current directory: the emulator's request counter must not move, the socket guard must see no
connect or name lookup, and the directory must stay empty (an empty path is that directory).
The table lists each operator's arguments itself, so an argument dropped from an operator's
``named_arguments`` fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.operators import (
    batch,
    cleanup,
    endpoint,
    guarded,
    runs,
    service,
    sharding,
    training,
)
from tests._context import FakeTI, task_context
from tests.reliability._emulator import DEPLOYMENT_ID as DEP
from tests.reliability._emulator import VERSION_ID as VER
from tests.reliability._netguard import no_network

pytestmark = pytest.mark.emulator

SER = "ser-0123456789abcdef"
BLUE = "ser-fedcba9876543210"
CHANNEL = "1234567890123"
#: Stands for a folder of the test's own, which no case may create.
ELSEWHERE = "/nonexistent"
#: What a template renders when its value is missing or empty.
NOTHING = {"empty": "", "blank": " \t", "None": "None", "NULL": "NULL"}
CONNECTION = ("abeja_conn_id", "organization_id")
DEPLOYMENT = (*CONNECTION, "deployment_id")
SERVICE = (*DEPLOYMENT, "service_id")
ENDPOINT = (*DEPLOYMENT, "endpoint_alias", "service_id")
RELEASE = ("endpoint_alias", "blue_service_id", "green_service_id")
TRAINING = (*CONNECTION, "job_definition_name")
BATCH_PATHS = ("input_path", "output_path", "errors_path", "include_keys_from", "storage_conn_id")

#: operator class, valid keyword arguments (absolute paths under /nonexistent: never touched),
#: and every argument of it that names a file, a folder, an id or a target.
OPERATORS: list[tuple[type[Any], dict[str, Any], tuple[str, ...]]] = [
    (
        service.AbejaCreateServiceOperator,
        {"deployment_id": DEP, "version_id": VER, "model_id": "1111111111111", "wait_for_completion": False},
        (*DEPLOYMENT, "version_id", "model_id"),
    ),
    (
        service.AbejaUpdateServiceOperator,
        {"deployment_id": DEP, "service_id": SER, "payload": {"instance_number": 2}},
        SERVICE,
    ),
    (service.AbejaStartServiceOperator, {"deployment_id": DEP, "service_id": SER}, SERVICE),
    (service.AbejaStopServiceOperator, {"deployment_id": DEP, "service_id": SER}, SERVICE),
    (service.AbejaDeleteServiceOperator, {"deployment_id": DEP, "service_id": SER}, SERVICE),
    (
        service.AbejaRequestServiceOperator,
        {"deployment_id": DEP, "service_id": SER, "input_path": "/nonexistent/in.json"},
        (*DEPLOYMENT, "service_id", "input_path", "output_path", "storage_conn_id"),
    ),
    (
        service.AbejaRequestServiceOperator,
        {"deployment_id": DEP, "endpoint_alias": "default", "json": {}, "output_path": "/nonexistent/o"},
        ("endpoint_alias",),
    ),
    (endpoint.AbejaCreateEndpointOperator, {"deployment_id": DEP, "service_id": SER}, ENDPOINT),
    (
        endpoint.AbejaUpdateEndpointOperator,
        {"deployment_id": DEP, "service_id": SER, "endpoint_alias": "prod"},
        ENDPOINT,
    ),
    (endpoint.AbejaRouteEndpointOperator, {"deployment_id": DEP, "service_id": SER}, ENDPOINT),
    (
        endpoint.AbejaDeleteEndpointOperator,
        {"deployment_id": DEP, "endpoint_alias": "prod"},
        (*DEPLOYMENT, "endpoint_alias"),
    ),
    (
        training.AbejaCreateTrainingJobOperator,
        {"job_definition_name": "train", "version_id": "1", "wait_for_completion": False},
        (*CONNECTION, "job_definition_name", "version_id"),
    ),
    (
        training.AbejaCreateTrainingModelOperator,
        {"job_definition_name": "train", "training_job_id": "3333333333333"},
        (*CONNECTION, "job_definition_name", "training_job_id"),
    ),
    (
        training.AbejaCreateDeploymentVersionOperator,
        {
            "deployment_id": DEP,
            "version": "1.0.0",
            "code": "/nonexistent/code",
            "handler": "m:h",
            "image": "i",
        },
        (*DEPLOYMENT, "version", "code", "handler", "image"),
    ),
    (
        cleanup.AbejaDeleteRunServicesOperator,
        {"deployment_id": DEP, "task_ids": "create"},
        (*DEPLOYMENT, "task_ids"),
    ),
    (
        cleanup.AbejaStopRunTrainingJobsOperator,
        {"job_definition_name": "train", "task_ids": "train"},
        (*TRAINING, "task_ids"),
    ),
    (
        cleanup.AbejaDeleteDeploymentVersionOperator,
        {"deployment_id": DEP, "version_id": VER},
        (*DEPLOYMENT, "version_id"),
    ),
    (
        cleanup.AbejaDeleteTrainingJobDefinitionOperator,
        {"job_definition_name": "train"},
        TRAINING,
    ),
    (
        cleanup.AbejaDeleteTrainingJobDefinitionVersionOperator,
        {"job_definition_name": "train", "version_id": "1"},
        (*TRAINING, "version_id"),
    ),
    (
        cleanup.AbejaArchiveTrainingJobOperator,
        {"job_definition_name": "train", "training_job_id": "3333333333333"},
        (*TRAINING, "training_job_id"),
    ),
    (
        cleanup.AbejaArchiveTrainingModelOperator,
        {"job_definition_name": "train", "model_id": "4444444444444"},
        (*TRAINING, "model_id"),
    ),
    (
        runs.AbejaCreateRunOperator,
        {"deployment_id": DEP, "version_id": VER, "input_channel_id": CHANNEL, "input_file_id": "20261206T1"},
        (*DEPLOYMENT, "version_id", "input_channel_id", "input_file_id", "output_channel_id", "model_id"),
    ),
    (
        runs.AbejaUploadToChannelOperator,
        {"channel_id": CHANNEL, "source": "/nonexistent/in.json"},
        (*CONNECTION, "channel_id", "source", "storage_conn_id"),
    ),
    (
        runs.AbejaDownloadFromChannelOperator,
        {"channel_id": CHANNEL, "file_ids": "20261206T1", "output_path": "/nonexistent/out"},
        (*CONNECTION, "channel_id", "file_ids", "output_path", "storage_conn_id"),
    ),
    (
        runs.AbejaCreateTriggerOperator,
        {"deployment_id": DEP, "version_id": VER, "input_channel_id": CHANNEL},
        (*DEPLOYMENT, "version_id", "input_channel_id", "output_channel_id", "model_id"),
    ),
    (
        runs.AbejaDeleteTriggerOperator,
        {"deployment_id": DEP, "trigger_id": "tri-1"},
        (*DEPLOYMENT, "trigger_id"),
    ),
    (
        guarded.AbejaCompareServicesOperator,
        {
            "deployment_id": DEP,
            "blue_service_id": BLUE,
            "green_service_id": SER,
            "input_path": "/nonexistent/in.jsonl",
            "output_path": "/nonexistent/out.jsonl",
        },
        (
            *DEPLOYMENT,
            "endpoint_alias",
            "output_path",
            *BATCH_PATHS[3:],
            "input_path",
            *RELEASE[1:],
            "report_path",
        ),
    ),
    (
        guarded.AbejaGuardedSwapOperator,
        {"deployment_id": DEP, "blue_service_id": BLUE, "green_service_id": SER, "bake_seconds": 0},
        (*DEPLOYMENT, *RELEASE, "input_path", "storage_conn_id"),
    ),
    (
        guarded.AbejaSettleReleaseOperator,
        {"deployment_id": DEP, "blue_service_id": BLUE, "green_service_id": SER},
        (*DEPLOYMENT, "endpoint_alias"),  # its ids may be missing (tests/dags/test_guarded_dag.py)
    ),
    (
        batch.AbejaBatchRequestOperator,
        {
            "deployment_id": DEP,
            "service_id": SER,
            "input_path": "/nonexistent/in.jsonl",
            "output_path": "/nonexistent/out.jsonl",
            "errors_path": "/nonexistent/errors.jsonl",
            "include_keys_from": "/nonexistent/keys.jsonl",
            "concurrency": 1,
        },
        (*DEPLOYMENT, "service_id", *BATCH_PATHS),
    ),
    (
        batch.AbejaBatchRequestOperator,
        {"deployment_id": DEP, "endpoint_alias": "default", "inputs": [{}], "output_path": "/nonexistent/o"},
        ("endpoint_alias",),
    ),
    (
        sharding.AbejaSplitBatchInputOperator,
        {
            "input_path": "/nonexistent/in.jsonl",
            "work_dir": "/nonexistent/w",
            "output_dir": "/nonexistent/r",
            "shards": 2,
        },
        ("input_path", "work_dir", "output_dir", "storage_conn_id"),
    ),
    (
        sharding.AbejaMergeBatchShardsOperator,
        {"work_dir": "/nonexistent/w", "manifest_path": "/nonexistent/m.json"},
        ("work_dir", "manifest_path", "storage_conn_id"),
    ),
]


#: The arguments without a default: a template or XCom that gives None (native rendering) is refused too.
REQUIRED = {
    "deployment_id",
    "service_id",
    "version_id",
    "job_definition_name",
    "training_job_id",
    "version",
    "code",
    "work_dir",
}
#: ... and these of one operator only (elsewhere they are optional).
REQUIRED_OF = {
    (batch.AbejaBatchRequestOperator, "output_path"),
    (sharding.AbejaSplitBatchInputOperator, "input_path"),
    (endpoint.AbejaUpdateEndpointOperator, "endpoint_alias"),
}
#: A delete of None has nothing to do (the previous service of a first release), see below.
DELETES = (
    service.AbejaDeleteServiceOperator,
    endpoint.AbejaDeleteEndpointOperator,
    cleanup.AbejaDeleteDeploymentVersionOperator,
    runs.AbejaDeleteTriggerOperator,
)


def _required(operator: type, argument: str) -> bool:
    if (operator, argument) in REQUIRED_OF:
        return True
    if operator in DELETES and argument == operator.id_field:
        return False  # None: nothing to delete (below)
    optional = (service.AbejaRequestServiceOperator, batch.AbejaBatchRequestOperator, *DELETES)
    return argument in REQUIRED and not (argument == "service_id" and issubclass(operator, optional))


def _cases() -> list[Any]:
    return [
        pytest.param(operator, kwargs, argument, value, id=f"{operator.__name__[5:-8]}-{argument}-{label}")
        for operator, kwargs, arguments in OPERATORS
        for argument in arguments
        for label, value in [
            *NOTHING.items(),
            *([("missing", None)] if _required(operator, argument) else []),
        ]
    ]


CASES = _cases()


def test_the_table_covers_every_named_argument() -> None:
    """Every operator is in the table, with its declared ``named_arguments``, and the other way round."""
    public = {
        value
        for module in (batch, cleanup, endpoint, guarded, runs, service, sharding, training)
        for name, value in vars(module).items()
        if name.startswith("Abeja") and name.endswith("Operator") and value.__module__ == module.__name__
    }
    assert public == {operator for operator, _, _ in OPERATORS}
    for operator, _, _ in OPERATORS:
        listed = {a for op, _, arguments in OPERATORS if op is operator for a in arguments}
        assert listed == set(operator.named_arguments), operator.__name__


def _refusal(exc: BaseException) -> InvalidArgumentError | None:
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, InvalidArgumentError):
        seen = seen.__cause__ or seen.__context__
    return seen


@pytest.fixture
def connected(abeja_emulator_module: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's emulator, not reset between cases: none of them may change it."""
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(abeja_emulator_module.airflow_connection()))
    return abeja_emulator_module


def _placed(kwargs: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The table's ``/nonexistent/...`` paths moved under ``folder`` (a broken guard writes there)."""
    return {
        k: str(folder) + v.removeprefix(ELSEWHERE) if isinstance(v, str) and v.startswith(ELSEWHERE) else v
        for k, v in kwargs.items()
    }


@pytest.mark.parametrize(("operator", "kwargs", "argument", "value"), CASES)
def test_an_argument_that_names_nothing_is_refused_before_any_request(
    operator: type[Any],
    kwargs: dict[str, Any],
    argument: str,
    value: str | None,
    connected: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    op = operator(task_id="hostile", **_placed({**kwargs, argument: value}, tmp_path / "elsewhere"))
    before = connected.counters()["requests"]
    with no_network() as attempts, pytest.raises(AirflowFailException) as info:
        op.execute(task_context(FakeTI(task_id="hostile")))
    assert attempts == [], f"the network was reached: {attempts}"
    refused = _refusal(info.value)
    assert refused is not None, repr(info.value)
    assert refused.argument == argument, repr(info.value)
    if value is not None:
        assert f"{argument}: rendered to {value!r}" in str(info.value)
    assert connected.counters()["requests"] == before, "the emulator saw a request"
    assert list(tmp_path.iterdir()) == [cwd], "a file was written"
    assert list(cwd.iterdir()) == [], "a file was written in the current directory"


#: Inputs that name the whole file system, or the worker's current directory by a relative path.
WHOLE_FOLDERS = [".", "./", "sub/..", "*.jsonl", "**/*", "/", "/*", "file:///", "file:///**/*.png"]
INPUT_READERS: list[tuple[type[Any], dict[str, Any]]] = [
    (batch.AbejaBatchRequestOperator, {"deployment_id": DEP, "service_id": SER, "concurrency": 1}),
    (sharding.AbejaSplitBatchInputOperator, {"shards": 2}),
]


@pytest.mark.parametrize("input_path", WHOLE_FOLDERS)
@pytest.mark.parametrize(("operator", "kwargs"), INPUT_READERS, ids=["batch", "split"])
def test_a_batch_input_is_never_the_current_directory_or_the_root(
    operator: type[Any],
    kwargs: dict[str, Any],
    input_path: str,
    connected: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "airflow.cfg").write_text("[core]\n")
    monkeypatch.chdir(cwd)
    places = {"output_path": str(tmp_path / "out.jsonl"), "work_dir": str(tmp_path / "work")}
    given = {k: v for k, v in places.items() if k in operator.named_arguments}
    op = operator(task_id="hostile", input_path=input_path, **kwargs, **given)
    before = connected.counters()["requests"]
    with no_network() as attempts, pytest.raises(AirflowFailException, match="input_path: ") as info:
        op.execute(task_context(FakeTI(task_id="hostile")))
    assert attempts == []
    assert _refusal(info.value) is not None
    assert connected.counters()["requests"] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd"], "something was written"


@pytest.mark.parametrize(
    ("operator", "argument"),
    [
        (DELETES[0], "service_id"),
        (DELETES[1], "endpoint_alias"),
        (DELETES[2], "version_id"),
        (DELETES[3], "trigger_id"),
    ],
)
def test_a_delete_of_none_has_nothing_to_do_unless_it_must_exist(
    operator: type[Any], argument: str, connected: Any
) -> None:
    """``route.output["previous_service_id"]`` is None on a first release: nothing to delete."""
    before = connected.counters()["requests"]
    lenient = operator(task_id="delete", deployment_id=DEP, **{argument: None})
    with no_network() as attempts:
        assert lenient.execute(task_context()) is None
    assert attempts == []
    strict = operator(task_id="delete", deployment_id=DEP, fail_if_missing=True, **{argument: None})
    with no_network() as attempts, pytest.raises(AirflowFailException, match=f"{argument}: is required"):
        strict.execute(task_context())
    assert attempts == []
    assert connected.counters()["requests"] == before


def _sensor_cases() -> list[Any]:
    from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
    from airflow_provider_abeja.sensors.training import AbejaTrainingJobSensor

    sensors = [
        (AbejaServiceStatusSensor, {"deployment_id": DEP, "service_id": SER}),
        (AbejaTrainingJobSensor, {"job_definition_name": "train", "training_job_id": "3333333333333"}),
    ]
    return [
        pytest.param(sensor, kwargs, argument, value, id=f"{sensor.__name__[5:]}-{argument}-{label}")
        for sensor, kwargs in sensors
        for argument in ("abeja_conn_id", "organization_id", *kwargs)
        for label, value in NOTHING.items()
    ]


@pytest.mark.parametrize(("sensor", "kwargs", "argument", "value"), _sensor_cases())
def test_a_sensor_argument_that_names_nothing_is_refused_before_any_request(
    sensor: type[Any], kwargs: dict[str, Any], argument: str, value: str, connected: Any
) -> None:
    poking = sensor(task_id="hostile", **{**kwargs, argument: value})
    before = connected.counters()["requests"]
    with no_network() as attempts, pytest.raises(AirflowFailException, match=f"{argument}: rendered to"):
        poking.poke(task_context(FakeTI(task_id="hostile")))
    assert attempts == []
    assert connected.counters()["requests"] == before
