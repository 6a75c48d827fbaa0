"""Kill, timeout and crash against the emulator over loopback (no scheduler; the matrix under a
real scheduler and triggerer is tests/kill_matrix/).

A deferred wait killed by a user: the trigger's ``on_kill`` (what Airflow 3.3's triggerer awaits
after mark failed, mark success or clear) ends the resource; cancelling the trigger without it
(a triggerer restart) ends nothing. A retry after a crash reconnects through the task state store.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator, AbejaStartServiceOperator
from airflow_provider_abeja.operators.training import AbejaCreateTrainingJobOperator
from tests._context import FakeTI
from tests.integration.operators._support import GOOD_VERSION, SAMPLE_DEPLOYMENT, run_operator
from tests.integration.training._support import DEFINITION, poll

pytestmark = pytest.mark.emulator
try:
    from airflow.sdk.execution_time.context import NEVER_EXPIRE  # noqa: F401
except ImportError:  # before Airflow 3.3 (or 3.0): no task state store, the creation marker only
    HAS_STORE = False
else:
    HAS_STORE = True
needs_store = pytest.mark.skipif(not HAS_STORE, reason="the task state store arrived in Airflow 3.3")
SLOW_JOB = {"SAMPLE_TRAIN_SECONDS": "600"}


class FakeStore:
    """The task state store of one task instance (Airflow 3.3's ``context["task_state_store"]``)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def job_op(**kwargs: Any) -> AbejaCreateTrainingJobOperator:
    kwargs = {"check_interval": 0.1, "timeout": 120, **kwargs}
    return AbejaCreateTrainingJobOperator(
        task_id="train", job_definition_name=DEFINITION, version_id=1, **kwargs
    )


def service_op(**kwargs: Any) -> AbejaCreateServiceOperator:
    kwargs = {"check_interval": 0.1, "timeout": 120, **kwargs}
    return AbejaCreateServiceOperator(
        task_id="task", deployment_id=SAMPLE_DEPLOYMENT, version_id=GOOD_VERSION, **kwargs
    )


def deferred_trigger(op: Any, context: dict[str, Any]) -> Any:
    """The trigger ``op`` defers to, rebuilt from its serialized form as the triggerer does."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    path, kwargs = deferred.value.trigger.serialize()
    module, _, name = path.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)(**kwargs)


async def killed(trigger: Any, *, user_action: bool) -> None:
    """Run ``trigger`` a moment, then cancel it as Airflow 3.3's triggerer does: ``on_kill``
    only for a user's action (``run_trigger``), never when it stops or hands the trigger on."""
    task = asyncio.ensure_future(trigger.run().__anext__())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if user_action:
        await trigger.on_kill()


def job_status(emulator: Any, job_id: str) -> str:
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        return str(client.get_training_job(emulator.organization_id, DEFINITION, job_id)["status"])


@pytest.mark.parametrize(("stop_on_kill", "user_action"), [(True, True), (False, True), (True, False)])
def test_a_deferred_job_is_stopped_only_by_a_users_kill_with_the_flag(
    emulator: Any, definition: str, stop_on_kill: bool, user_action: bool
) -> None:
    ti = FakeTI()
    trigger = deferred_trigger(
        job_op(deferrable=True, environment=SLOW_JOB, stop_on_kill=stop_on_kill), {"ti": ti}
    )
    asyncio.run(killed(trigger, user_action=user_action))
    expected = "Stopped" if stop_on_kill and user_action else "Active"
    assert (
        poll(lambda: (s := job_status(emulator, ti.xcoms["training_job_id"])) != "Pending" and s) == expected
    )


@pytest.mark.parametrize(("delete_on_kill", "user_action"), [(True, True), (False, True), (True, False)])
def test_a_deferred_service_create_is_deleted_only_by_a_users_kill_with_the_flag(
    emulator: Any, delete_on_kill: bool, user_action: bool
) -> None:
    emulator.configure(ready_delay=30)
    trigger = deferred_trigger(service_op(deferrable=True, delete_on_kill=delete_on_kill), {"ti": FakeTI()})
    asyncio.run(killed(trigger, user_action=user_action))
    deleted = delete_on_kill and user_action
    assert (emulator.counters()["services_total"], emulator.counters()["services_deleted"]) == (
        (0, 1) if deleted else (1, 0)
    )


def test_on_kill_finishes_its_delete_when_the_triggerer_cancels_it_again(emulator: Any) -> None:
    """A busy triggerer cancels the trigger's task again while ``on_kill`` awaits: the delete
    still goes through."""
    emulator.configure(ready_delay=30)
    trigger = deferred_trigger(service_op(deferrable=True), {"ti": FakeTI()})

    async def kill_then_cancel_again() -> None:
        await killed(trigger, user_action=False)
        on_kill = asyncio.ensure_future(trigger.on_kill())
        await asyncio.sleep(0)  # on_kill has started
        on_kill.cancel()
        with pytest.raises(asyncio.CancelledError):
            await on_kill
        # The shielded delete goes on meanwhile: keep the loop running until the emulator saw it.
        deadline = asyncio.get_running_loop().time() + 10
        while asyncio.get_running_loop().time() < deadline:
            if (await asyncio.to_thread(emulator.counters))["services_deleted"]:
                break
            await asyncio.sleep(0.02)

    asyncio.run(kill_then_cancel_again())
    assert (emulator.counters()["services_total"], emulator.counters()["services_deleted"]) == (0, 1)


def test_other_service_operators_never_cancel_on_kill(emulator: Any) -> None:
    service = emulator.create_service(SAMPLE_DEPLOYMENT, GOOD_VERSION)
    emulator.wait_for_status(SAMPLE_DEPLOYMENT, service["service_id"], "READY")
    emulator.set_service_status(service["service_id"], "STOPPED")
    op = AbejaStartServiceOperator(
        task_id="start", deployment_id=SAMPLE_DEPLOYMENT, service_id=service["service_id"], deferrable=True
    )
    assert deferred_trigger(op, {"ti": FakeTI(task_id="start")}).cancel_on_kill is False


@needs_store
def test_a_retry_after_a_crash_reconnects_through_the_task_state_store(
    emulator: Any, definition: str
) -> None:
    store = FakeStore()
    first = job_op(environment=SLOW_JOB, deferrable=True)
    ti = FakeTI()
    deferred_trigger(first, {"ti": ti, "task_state_store": store})  # the worker dies while deferred
    job_id = ti.xcoms["training_job_id"]
    assert store.values == {"abeja_training_job_id": job_id}
    retry = job_op(environment=SLOW_JOB, deferrable=True)
    trigger = deferred_trigger(retry, {"ti": FakeTI(try_number=2), "task_state_store": store})
    assert trigger.training_job_id == job_id
    assert emulator.counters()["training_jobs_created"] == 1
    asyncio.run(killed(trigger, user_action=True))


@needs_store
def test_a_retry_starts_afresh_when_the_stored_job_was_stopped(emulator: Any, definition: str) -> None:
    store = FakeStore()
    ti = FakeTI()
    asyncio.run(
        killed(
            deferred_trigger(
                job_op(environment=SLOW_JOB, deferrable=True), {"ti": ti, "task_state_store": store}
            ),
            user_action=True,
        )
    )
    poll(lambda: job_status(emulator, ti.xcoms["training_job_id"]) == "Stopped")
    retry = job_op(environment=SLOW_JOB, deferrable=True)
    trigger = deferred_trigger(retry, {"ti": FakeTI(try_number=2), "task_state_store": store})
    assert trigger.training_job_id != ti.xcoms["training_job_id"]
    assert store.values["abeja_training_job_id"] == trigger.training_job_id
    asyncio.run(killed(trigger, user_action=True))


@needs_store
def test_a_stored_service_is_reconnected_without_listing(emulator: Any) -> None:
    store = FakeStore()
    first = run_operator(service_op(), {"ti": FakeTI(), "task_state_store": store})
    listed = emulator.counters()["requests"].get("get_services", 0)
    again = run_operator(service_op(), {"ti": FakeTI(try_number=2), "task_state_store": store})
    assert again["service_id"] == first["service_id"] == store.values["abeja_service_id"]
    assert emulator.counters()["services_created"] == 1
    assert emulator.counters()["requests"].get("get_services", 0) == listed


@pytest.mark.parametrize("deferrable", [False, True])
def test_execution_timeout_ends_the_wait_first_and_stops_the_job_the_same_way(
    emulator: Any, definition: str, deferrable: bool
) -> None:
    op = job_op(
        environment=SLOW_JOB, deferrable=deferrable, timeout=None, execution_timeout=timedelta(seconds=1)
    )
    ti = FakeTI()
    ti.start_date = datetime.now(timezone.utc)  # type: ignore[attr-defined]
    with pytest.raises(AirflowException, match="before the deadline") as failed:  # not Airflow's timeout
        run_operator(op, {"ti": ti})
    assert "training job" in str(failed.value)
    assert poll(lambda: job_status(emulator, ti.xcoms["training_job_id"]) == "Stopped")


def test_a_deferral_airflow_failed_stops_the_job_as_a_timeout_does(emulator: Any, definition: str) -> None:
    """Airflow resumes with ``__fail__`` when the trigger outlived ``execution_timeout`` (no
    triggerer ran it): the job is stopped all the same, and Airflow's error is raised."""
    ti = FakeTI(task_id="train")
    op = job_op(deferrable=True, environment=SLOW_JOB)
    asyncio.run(killed(deferred_trigger(op, {"ti": ti}), user_action=False))
    with pytest.raises(AirflowException, match="Trigger timeout"):
        op.resume_execution("__fail__", {"error": "Trigger timeout"}, {"ti": ti})
    assert poll(lambda: job_status(emulator, ti.xcoms["training_job_id"]) == "Stopped")
