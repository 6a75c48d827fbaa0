"""A model's failure is visible in the task log: the request that failed carries the service's
latest log lines (the handler's traceback, as the runtime printed it), and every delete (the
create's own cleanup, the teardown, the run's cleanup) copies them before they are gone."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.operators.cleanup import AbejaDeleteRunServicesOperator
from airflow_provider_abeja.operators.endpoint import AbejaCreateEndpointOperator
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
)
from tests._context import FakeTI
from tests.integration.operators._support import BAD_VERSION, SAMPLE_DEPLOYMENT, ready_service

pytestmark = pytest.mark.emulator

BOOM = {"raise": "the model exploded"}
TRACEBACK = "RuntimeError: the model exploded"


def _fail_a_request(emulator: Any, context: dict[str, Any], **target: Any) -> str:
    request = AbejaRequestServiceOperator(
        task_id="predict", deployment_id=SAMPLE_DEPLOYMENT, json=BOOM, **target
    )
    with pytest.raises(AirflowException) as info:
        request.execute(context)
    return str(info.value)


@pytest.mark.parametrize("through", ["service", "endpoint"])
def test_a_request_the_handler_fails_shows_its_traceback(emulator: Any, context: Any, through: str) -> None:
    service_id = ready_service(emulator)
    if through == "endpoint":
        AbejaCreateEndpointOperator(
            task_id="endpoint", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id, endpoint_alias="prod"
        ).execute(context)
    target = {"service_id": service_id} if through == "service" else {"endpoint_alias": "prod"}
    failure = _fail_a_request(emulator, context, **target)
    assert "answered 500" in failure
    assert "Latest log lines of the service:" in failure
    assert TRACEBACK in failure


def test_a_request_the_platform_refuses_reads_no_logs(emulator: Any, context: Any) -> None:
    """A 404 (no such service) never reached a model: there is no traceback to read."""
    before = emulator.counters()["requests"].get("get_service_recent_logs", 0)
    failure = _fail_a_request(emulator, context, service_id="ser-0000000000000000")
    assert "404" in failure
    assert "Latest log lines" not in failure
    assert emulator.counters()["requests"].get("get_service_recent_logs", 0) == before


def test_the_teardown_copies_the_last_lines_before_deleting(emulator: Any, context: Any, capsys: Any) -> None:
    service_id = ready_service(emulator)
    _fail_a_request(emulator, context, service_id=service_id)
    capsys.readouterr()
    AbejaDeleteServiceOperator(
        task_id="teardown", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id
    ).execute(context)
    out = capsys.readouterr().out
    assert f"Deleting service {service_id}." in out
    assert out.index(TRACEBACK) < out.index(f"Deleted service {service_id}")
    assert emulator.state()["services"] == []


def test_the_run_cleanup_copies_the_last_lines_before_deleting(emulator: Any, capsys: Any) -> None:
    ti = FakeTI(task_id="create")
    created = AbejaCreateServiceOperator(
        task_id="create",
        deployment_id=SAMPLE_DEPLOYMENT,
        version_id="ver-5a3d1e0000000001",
        check_interval=0.1,
    ).execute({"ti": ti})
    _fail_a_request(emulator, {"ti": ti}, service_id=created["service_id"])
    capsys.readouterr()
    AbejaDeleteRunServicesOperator(task_id="cleanup", deployment_id=SAMPLE_DEPLOYMENT).execute(
        {"ti": FakeTI(task_id="cleanup")}
    )
    assert TRACEBACK in capsys.readouterr().out
    assert emulator.state()["services"] == []


def test_the_create_copies_the_last_lines_before_deleting_its_failed_service(
    emulator: Any, context: Any, capsys: Any
) -> None:
    create = AbejaCreateServiceOperator(
        task_id="create",
        deployment_id=SAMPLE_DEPLOYMENT,
        version_id=BAD_VERSION,
        check_interval=0.1,
        timeout=60,
    )
    with pytest.raises(AirflowException, match="was deleted"):
        create.execute(context)
    out = capsys.readouterr().out
    assert "Deleting service ser-" in out
    assert out.index("could not be loaded") < out.index("The wait for service")
    assert emulator.state()["services"] == []


def test_a_retry_copies_the_last_lines_of_the_earlier_tries_failed_service(
    emulator: Any, capsys: Any
) -> None:
    ti = FakeTI(task_id="create")
    failing = AbejaCreateServiceOperator(
        task_id="create",
        deployment_id=SAMPLE_DEPLOYMENT,
        version_id=BAD_VERSION,
        keep_service_on_failure=True,
        check_interval=0.1,
        timeout=60,
    )
    with pytest.raises(AirflowException, match="is kept"):
        failing.execute({"ti": ti})
    failed = emulator.state()["services"][0]["service_id"]
    capsys.readouterr()
    ti.try_number = 2
    AbejaCreateServiceOperator(
        task_id="create", deployment_id=SAMPLE_DEPLOYMENT, version_id=BAD_VERSION, wait_for_completion=False
    ).execute({"ti": ti})
    out = capsys.readouterr().out
    assert f"Deleting service {failed}." in out
    assert "could not be loaded" in out
