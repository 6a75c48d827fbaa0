"""Hostile input to the operators (what DAG authors and templates pass): refused before any request.

Each operator runs its real ``execute`` against a connection to a live emulator. The socket guard
must record no connect and no name lookup during ``execute`` (the connection itself is read from the
environment, no network), and the emulator's request counters must not move. The failure must name
the argument (an ``InvalidArgumentError`` in the exception chain) and must not be retried by Airflow.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.endpoint import (
    AbejaCreateEndpointOperator,
    AbejaDeleteEndpointOperator,
    AbejaUpdateEndpointOperator,
)
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
    AbejaStartServiceOperator,
    AbejaStopServiceOperator,
    AbejaUpdateServiceOperator,
)
from tests._context import FakeTI, task_context
from tests.reliability._emulator import DEPLOYMENT_ID as DEP
from tests.reliability._emulator import VERSION_ID as VER
from tests.reliability._netguard import no_network

pytestmark = pytest.mark.emulator

SER = "ser-0123456789abcdef"
BATCH_OUT = str(Path(tempfile.gettempdir()) / "abeja-reliability-hostile-batch.jsonl")


@dataclass(frozen=True)
class Case:
    name: str
    operator: type
    kwargs: dict[str, Any]
    argument: str
    #: a known gap, reported; the test stays strict so that the fix turns it green loudly
    gap: str | None = None


def _create(**kwargs: Any) -> dict[str, Any]:
    return {"deployment_id": DEP, "version_id": VER, "wait_for_completion": False, **kwargs}


def _svc(service_id: Any = SER, **kwargs: Any) -> dict[str, Any]:
    return {"deployment_id": DEP, "service_id": service_id, **kwargs}


CASES: list[Case] = [
    Case(
        "create-org-host-injection",
        AbejaCreateServiceOperator,
        _create(organization_id="evil.example#"),
        "organization_id",
    ),
    Case("create-org-dotted", AbejaCreateServiceOperator, _create(organization_id="a.b"), "organization_id"),
    Case("create-dep-traversal", AbejaCreateServiceOperator, _create(deployment_id="../x"), "deployment_id"),
    Case(
        "create-version-traversal",
        AbejaCreateServiceOperator,
        _create(version_id="ver-1/../../x"),
        "version_id",
    ),
    Case("create-instance-zero", AbejaCreateServiceOperator, _create(instance_number=0), "instance_number"),
    Case(
        "create-instance-negative-text",
        AbejaCreateServiceOperator,
        _create(instance_number="-1"),
        "instance_number",
    ),
    Case(
        "create-instance-bool", AbejaCreateServiceOperator, _create(instance_number=True), "instance_number"
    ),
    Case(
        "create-instance-words", AbejaCreateServiceOperator, _create(instance_number="two"), "instance_number"
    ),
    Case(
        "create-min-above-max",
        AbejaCreateServiceOperator,
        _create(min_instance_number=4, max_instance_number=2),
        "min_instance_number",
    ),
    Case(
        "create-max-negative",
        AbejaCreateServiceOperator,
        _create(max_instance_number=-3),
        "max_instance_number",
    ),
    Case("create-instance-type-int", AbejaCreateServiceOperator, _create(instance_type=4), "instance_type"),
    Case(
        "create-autoscale-words",
        AbejaCreateServiceOperator,
        _create(enable_autoscale="sometimes"),
        "enable_autoscale",
    ),
    Case(
        "create-environment-not-json", AbejaCreateServiceOperator, _create(environment="A=B"), "environment"
    ),
    Case(
        "create-environment-json-list",
        AbejaCreateServiceOperator,
        _create(environment=json.dumps(["A", "B"])),
        "environment",
    ),
    Case(
        "create-environment-value-none",
        AbejaCreateServiceOperator,
        _create(environment={"KEY": None}),
        "environment",
    ),
    Case(
        "create-environment-value-dict",
        AbejaCreateServiceOperator,
        _create(environment={"KEY": {"nested": 1}}),
        "environment",
    ),
    Case(
        "create-environment-key-empty",
        AbejaCreateServiceOperator,
        _create(environment={"": "v"}),
        "environment",
    ),
    Case(
        "create-environment-key-equals",
        AbejaCreateServiceOperator,
        _create(environment={"A=B": "v"}),
        "environment",
    ),
    Case(
        "update-payload-not-json",
        AbejaUpdateServiceOperator,
        _svc(payload="instance_number=2", wait_for_completion=False),
        "payload",
    ),
    Case(
        "update-payload-json-list",
        AbejaUpdateServiceOperator,
        _svc(payload="[1, 2]", wait_for_completion=False),
        "payload",
    ),
    Case(
        "update-service-fragment",
        AbejaUpdateServiceOperator,
        _svc(SER + "#", payload={"instance_number": 2}, wait_for_completion=False),
        "service_id",
    ),
    Case(
        "start-service-traversal",
        AbejaStartServiceOperator,
        _svc("../../services", wait_for_completion=False),
        "service_id",
    ),
    Case(
        "stop-service-query",
        AbejaStopServiceOperator,
        _svc(SER + "?x=1", wait_for_completion=False),
        "service_id",
    ),
    Case("delete-service-empty", AbejaDeleteServiceOperator, _svc(""), "service_id"),
    Case("delete-service-at", AbejaDeleteServiceOperator, _svc("x@evil.example"), "service_id"),
    Case("request-service-unicode", AbejaRequestServiceOperator, _svc("sér-1", json={}), "service_id"),
    Case(
        "request-org-host-injection",
        AbejaRequestServiceOperator,
        _svc(organization_id="evil.example/", json={}),
        "organization_id",
    ),
    Case(
        "create-endpoint-service-traversal",
        AbejaCreateEndpointOperator,
        _svc("../x", check_ready=False),
        "service_id",
    ),
    Case(
        "create-endpoint-alias-slash",
        AbejaCreateEndpointOperator,
        _svc(endpoint_alias="a/b", check_ready=False),
        "endpoint_alias",
    ),
    Case(
        "update-endpoint-traversal",
        AbejaUpdateEndpointOperator,
        {"deployment_id": DEP, "endpoint_alias": "pnt-1/../x", "service_id": SER, "check_ready": False},
        "endpoint_alias",
    ),
    Case(
        "update-endpoint-target-space",
        AbejaUpdateEndpointOperator,
        {"deployment_id": DEP, "endpoint_alias": "default", "service_id": "ser 1", "check_ready": False},
        "service_id",
    ),
    Case(
        "batch-service-traversal",
        AbejaBatchRequestOperator,
        {"deployment_id": DEP, "service_id": "../x", "inputs": [{"text": "a"}], "output_path": BATCH_OUT},
        "service_id",
    ),
    Case(
        "batch-alias-query",
        AbejaBatchRequestOperator,
        {"deployment_id": DEP, "endpoint_alias": "a?b", "inputs": [{"text": "a"}], "output_path": BATCH_OUT},
        "endpoint_alias",
    ),
    Case(
        "batch-org-host-injection",
        AbejaBatchRequestOperator,
        {
            "deployment_id": DEP,
            "organization_id": "x@evil",
            "service_id": SER,
            "inputs": [{"text": "a"}],
            "output_path": BATCH_OUT,
        },
        "organization_id",
    ),
    Case(
        "delete-endpoint-percent",
        AbejaDeleteEndpointOperator,
        {"deployment_id": DEP, "endpoint_alias": "%2e%2e"},
        "endpoint_alias",
    ),
]


def _invalid_argument(exc: BaseException) -> InvalidArgumentError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, InvalidArgumentError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@pytest.fixture
def connected(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(emulator.airflow_connection()))
    return emulator


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.gap)] if c.gap else [])
        for c in cases
    ]


@pytest.mark.parametrize("case", _params(CASES))
def test_operator_refuses_hostile_input_before_any_request(case: Case, connected: Any) -> None:
    op = case.operator(task_id=f"hostile_{case.name.replace('-', '_')}", **case.kwargs)
    before = connected.counters()["requests"]
    with no_network() as attempts, pytest.raises(Exception) as info:
        op.execute(task_context(FakeTI(task_id=op.task_id)))
    assert attempts == [], f"{case.name}: the network was reached: {attempts}"
    refused = _invalid_argument(info.value)
    assert refused is not None, f"{case.name}: {type(info.value).__name__}: {info.value}"
    assert refused.argument == case.argument
    assert case.argument in str(info.value)
    # a bad argument is not something a task retry can fix
    assert isinstance(info.value, AirflowFailException | InvalidArgumentError)
    assert connected.counters()["requests"] == before, f"{case.name}: the emulator saw a request"


SENSOR_CASES = [
    ("sensor-service-traversal", {"service_id": "../../services"}, "service_id"),
    ("sensor-org-host-injection", {"service_id": SER, "organization_id": "evil.example#"}, "organization_id"),
    ("sensor-dep-query", {"service_id": SER, "deployment_id": DEP + "?x"}, "deployment_id"),
]


@pytest.mark.parametrize(("name", "kwargs", "argument"), SENSOR_CASES, ids=[c[0] for c in SENSOR_CASES])
def test_sensor_refuses_hostile_input_before_any_request(
    name: str, kwargs: dict[str, Any], argument: str, connected: Any
) -> None:
    from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

    sensor = AbejaServiceStatusSensor(task_id="sensor", **{"deployment_id": DEP, **kwargs})
    before = connected.counters()["requests"]
    with no_network() as attempts, pytest.raises(Exception) as info:
        sensor.poke(task_context(FakeTI(task_id="sensor")))
    assert attempts == []
    refused = _invalid_argument(info.value)
    assert refused is not None, f"{type(info.value).__name__}: {info.value}"
    assert refused.argument == argument
    assert connected.counters()["requests"] == before


TRIGGER_CASES = [
    ("trigger-org-host-injection", ("evil.example#", DEP, SER), "organization_id"),
    ("trigger-dep-traversal", ("1234567890123", "../x", SER), "deployment_id"),
    ("trigger-service-at", ("1234567890123", DEP, "x@evil.example"), "service_id"),
]


@pytest.mark.parametrize(("name", "ids", "argument"), TRIGGER_CASES, ids=[c[0] for c in TRIGGER_CASES])
def test_trigger_refuses_hostile_input_before_any_request(
    name: str, ids: tuple[str, str, str], argument: str, connected: Any
) -> None:
    """The trigger ends with one ``error`` event naming the argument; nothing reaches the network."""
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    trigger = AbejaServiceStatusTrigger(*ids, poll_interval=0.05, end_time=time.time() + 10)

    async def first() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    before = connected.counters()["requests"]
    with no_network() as attempts:
        event = asyncio.run(first())
    assert attempts == []
    assert event["status"] == "error", event
    assert argument in event["message"], event
    assert connected.counters()["requests"] == before
