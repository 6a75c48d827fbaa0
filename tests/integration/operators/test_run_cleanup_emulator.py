"""The run-scoped cleanups (services, training jobs) and the create operator's own cleanup, against
the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.operators.cleanup import (
    AbejaDeleteRunServicesOperator,
    AbejaStopRunTrainingJobsOperator,
)
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator
from airflow_provider_abeja.operators.training import AbejaCreateTrainingJobOperator
from tests._context import FakeTI
from tests.integration.operators._support import (
    BAD_VERSION,
    GOOD_VERSION,
    SAMPLE_DEPLOYMENT,
    run_operator,
)
from tests.integration.operators.test_kill_emulator import SLOW_JOB

pytestmark = pytest.mark.emulator


def create(emulator: Any, ti: FakeTI, version_id: str = GOOD_VERSION, **kwargs: Any) -> Any:
    op = AbejaCreateServiceOperator(
        task_id=ti.task_id,
        deployment_id=SAMPLE_DEPLOYMENT,
        version_id=version_id,
        check_interval=0.1,
        **kwargs,
    )
    return run_operator(op, {"ti": ti})


def remaining(emulator: Any) -> set[str]:
    return {s["service_id"] for s in emulator.state()["services"]}


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_cleanup_deletes_every_service_of_the_run_once(emulator: Any, deferrable: bool) -> None:
    run = "manual__cleanup"
    mapped = [create(emulator, FakeTI("create", run, i), deferrable=deferrable) for i in range(3)]
    plain = create(emulator, FakeTI("other_create", run), wait_for_completion=False)
    # The services cleanup must leave alone need not be READY: only their markers and routes count.
    earlier_run = create(emulator, FakeTI("create", "manual__earlier"), wait_for_completion=False)
    by_hand = emulator.create_service(SAMPLE_DEPLOYMENT, GOOD_VERSION)["service_id"]
    routed = create(emulator, FakeTI("green", run), wait_for_completion=False)
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.create_endpoint(emulator.organization_id, SAMPLE_DEPLOYMENT, routed["service_id"], "default")

    cleanup = AbejaDeleteRunServicesOperator(task_id="cleanup", deployment_id=SAMPLE_DEPLOYMENT)
    deleted = cleanup.execute({"ti": FakeTI("cleanup", run)})

    assert sorted(deleted) == sorted([s["service_id"] for s in mapped] + [plain["service_id"]])
    assert remaining(emulator) == {earlier_run["service_id"], by_hand, routed["service_id"]}
    # Idempotent: a second run (a retry, a cleared task) finds nothing of the run left.
    assert cleanup.execute({"ti": FakeTI("cleanup", run)}) == []


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_create_whose_service_fails_deletes_it(emulator: Any, deferrable: bool) -> None:
    with pytest.raises(AirflowFailException, match="was deleted"):
        create(emulator, FakeTI(), BAD_VERSION, deferrable=deferrable)
    assert emulator.counters()["services_created"] == 1
    assert remaining(emulator) == set()


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_create_whose_wait_times_out_deletes_it_unless_told_to_keep_it(
    emulator: Any, deferrable: bool
) -> None:
    emulator.configure(ready_delay=600)
    with pytest.raises(Exception, match="was deleted"):
        create(emulator, FakeTI(), timeout=0.5, deferrable=deferrable)
    assert remaining(emulator) == set()

    with pytest.raises(Exception, match="is kept") as info:
        create(emulator, FakeTI(), timeout=0.5, deferrable=deferrable, keep_service_on_failure=True)
    [kept] = remaining(emulator)
    assert kept in str(info.value)


def test_stop_run_training_jobs_stops_the_runs_running_job_only(emulator: Any, definition: str) -> None:
    run = "manual__stop"

    def start(ti: FakeTI, **kwargs: Any) -> str:
        op = AbejaCreateTrainingJobOperator(
            task_id=ti.task_id, job_definition_name=definition, version_id=1, check_interval=0.1, **kwargs
        )
        return str(run_operator(op, {"ti": ti})["training_job_id"])

    slow = {"environment": SLOW_JOB, "wait_for_completion": False}
    complete = start(FakeTI("train", run, 0), timeout=120)
    running = start(FakeTI("train", run, 1), **slow)
    other_run = start(FakeTI("train", "manual__other"), **slow)

    teardown = AbejaStopRunTrainingJobsOperator(task_id="teardown", job_definition_name=definition)
    assert teardown.execute({"ti": FakeTI("teardown", run)}) == [running]

    with APIClient(emulator.credential, api_url=emulator.url) as client:
        status = {
            job["training_job_id"]: job["status"]
            for job in client.get_training_jobs(emulator.organization_id, definition)["entries"]
        }
    assert status == {complete: "Complete", running: "Stopped", other_run: status[other_run]}
    assert status[other_run] in ("Pending", "Active")
    assert emulator.counters()["training_jobs_stopped"] == 1
    # Idempotent: a retry or a cleared teardown finds nothing of the run left running.
    assert teardown.execute({"ti": FakeTI("teardown", run)}) == []
