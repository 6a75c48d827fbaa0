"""A clear of a deferred task races with the triggerer's ``on_kill`` (guarantee 10): the scheduler
may start the next try before the triggerer has noticed the clear. Played here without a
scheduler, in the order that lost the race in CI: the first try defers, the user clears (Airflow
sets ``max_tries`` to the cleared try plus ``retries``), the rerun starts, and only then does the
old trigger's ``on_kill`` run. Every resource must end cancelled, one made per try, never two running.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient
from tests._context import FakeTI
from tests.integration.operators.test_kill_emulator import (
    SLOW_JOB,
    FakeStore,
    deferred_trigger,
    job_op,
    killed,
    needs_store,
    service_op,
)
from tests.integration.training._support import DEFINITION, poll

pytestmark = [pytest.mark.emulator, needs_store]
RETRIES = 1


def try_of(try_number: int, max_tries: int, resource: str = "service") -> FakeTI:
    ti = FakeTI(task_id="task" if resource == "service" else "train", try_number=try_number)
    ti.max_tries = max_tries  # type: ignore[attr-defined]
    return ti


def statuses(emulator: Any, resource: str) -> dict[str, str]:
    """Every resource of ``resource``'s kind and its status ("deleted": a service gone)."""
    state = emulator.state()
    if resource == "service":
        made = emulator.counters()["services_created"]
        live = {s["service_id"]: s["status"] for s in state["services"]}
        return {**{f"deleted-{n}": "deleted" for n in range(made - len(live))}, **live}
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        jobs = client.get_training_jobs(emulator.organization_id, DEFINITION).get("entries") or []
    return {str(j["training_job_id"]): str(j["status"]) for j in jobs}


def operator(resource: str) -> Any:
    if resource == "service":
        return service_op(deferrable=True, retries=RETRIES)
    return job_op(deferrable=True, environment=SLOW_JOB, retries=RETRIES)


@pytest.fixture(params=["service", "training"])
def resource(request: pytest.FixtureRequest, emulator: Any) -> str:
    if request.param == "service":
        emulator.configure(ready_delay=30)
    else:
        request.getfixturevalue("definition")
    return str(request.param)


def test_the_rerun_of_a_cleared_deferred_task_never_reconnects_to_what_the_clear_cancels(
    emulator: Any, resource: str
) -> None:
    store = FakeStore()
    key = "service_id" if resource == "service" else "training_job_id"
    first = try_of(1, RETRIES, resource)
    old_trigger = deferred_trigger(operator(resource), {"ti": first, "task_state_store": store})
    old = first.xcoms[key]

    # the clear: the rerun starts before the triggerer runs the old trigger's on_kill
    rerun = try_of(2, 1 + RETRIES, resource)
    new_trigger = deferred_trigger(operator(resource), {"ti": rerun, "task_state_store": store})
    assert getattr(new_trigger, key) != old, "the rerun reconnected to what the clear cancels"
    assert store.values[f"abeja_{key}"] == rerun.xcoms[key] == getattr(new_trigger, key)
    asyncio.run(old_trigger.on_kill())  # the late on_kill: nothing left to do

    # the user then ends the rerun (the matrix marks it failed)
    asyncio.run(killed(new_trigger, user_action=True))
    cancelled = {"deleted"} if resource == "service" else {"Stopped"}
    assert poll(lambda: len(s := statuses(emulator, resource)) == 2 and set(s.values()) <= cancelled)
    counters = emulator.counters()
    assert counters["services_created" if resource == "service" else "training_jobs_created"] == 2


def test_a_retry_after_a_crash_still_reconnects(emulator: Any, resource: str) -> None:
    """Not a clear: ``max_tries`` is the first try's, and the retry reconnects to the one resource."""
    store = FakeStore()
    key = "service_id" if resource == "service" else "training_job_id"
    first = try_of(1, RETRIES, resource)
    deferred_trigger(operator(resource), {"ti": first, "task_state_store": store})  # then SIGKILLed
    retry = try_of(2, RETRIES, resource)
    trigger = deferred_trigger(operator(resource), {"ti": retry, "task_state_store": store})
    assert getattr(trigger, key) == first.xcoms[key]
    asyncio.run(killed(trigger, user_action=True))


def test_a_cleared_task_whose_service_is_ready_reuses_it(emulator: Any) -> None:
    """A task cleared after its service reached READY (e.g. after it succeeded) gets it back:
    only what the cleared try was still waiting for is ended."""
    emulator.configure(ready_delay=0)
    store = FakeStore()
    first = try_of(1, RETRIES)
    op = service_op(retries=RETRIES)
    made = op.execute({"ti": first, "task_state_store": store})
    again = service_op(retries=RETRIES).execute({"ti": try_of(2, 1 + RETRIES), "task_state_store": store})
    assert again["service_id"] == made["service_id"]
    assert emulator.counters()["services_created"] == 1
    assert emulator.counters()["services_deleted"] == 0
