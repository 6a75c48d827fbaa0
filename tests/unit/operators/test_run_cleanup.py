"""The create operator's cleanup after its failed wait, and the run-scoped cleanup (mocked HTTP)."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, TaskDeferred

from airflow_provider_abeja.operators._base import (
    CREATED_BY_ENV,
    WaitInterrupted,
    created_in_run,
    creation_marker,
)
from airflow_provider_abeja.operators.cleanup import (
    AbejaDeleteRunServicesOperator,
    AbejaStopRunTrainingJobsOperator,
    run_services,
)
from tests._context import FakeTI
from tests.unit.operators.test_service_operators import API, BASE, DEP, ORG, SER, create_op, service
from tests.unit.operators.test_service_operators import connection as connection

ENDPOINTS = f"{BASE.rsplit('/', 1)[0]}/endpoints"
FAILED_EVENT = {
    "status": "failure",
    "service_id": SER,
    "service_status": "FAILED",
    "message": "failed",
    "log_lines": ["boom"],
}


@pytest.fixture
def context():
    return {"ti": FakeTI()}


def failing_create(requests_mock, status="FAILED"):
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(BASE, json=service())
    requests_mock.get(f"{BASE}/{SER}", json=service(status))
    requests_mock.get(f"{BASE}/{SER}/recentlogs", json={"events": []})
    return requests_mock.delete(f"{BASE}/{SER}", json={"message": "deleted"})


# -- the create operator cleans up after its own failed wait ---------------------------------------


def test_a_failed_wait_deletes_the_service_and_says_so(requests_mock, context):
    delete = failing_create(requests_mock)
    with pytest.raises(AirflowFailException, match=f"service {SER} was deleted"):
        create_op().execute(context)
    assert delete.call_count == 1


def test_a_timed_out_wait_deletes_the_service(requests_mock, context):
    delete = failing_create(requests_mock, status="IN_PROGRESS")
    with pytest.raises(AirflowException, match=f"service {SER} was deleted") as info:
        create_op(timeout=0.05).execute(context)
    assert "IN_PROGRESS" in str(info.value)
    assert delete.call_count == 1


def test_keep_service_on_failure_keeps_it_and_says_so(requests_mock, context):
    delete = failing_create(requests_mock)
    with pytest.raises(AirflowFailException, match=r"is kept .*may still be running"):
        create_op(keep_service_on_failure=True).execute(context)
    assert delete.call_count == 0


def test_a_failed_delete_does_not_hide_the_wait_failure(requests_mock, context):
    failing_create(requests_mock)
    requests_mock.delete(f"{BASE}/{SER}", status_code=500, json={"error": "internal"})
    with pytest.raises(AirflowFailException, match="may still be running") as info:
        create_op().execute(context)
    assert "FAILED" in str(info.value)


def test_a_killed_wait_keeps_the_service_for_the_retry_or_the_cleanup(requests_mock, context):
    delete = failing_create(requests_mock, status="IN_PROGRESS")
    op = create_op(timeout=None)
    op.on_kill()
    with pytest.raises(WaitInterrupted):
        op.execute(context)
    assert delete.call_count == 0


def test_a_timeout_with_a_retry_to_come_keeps_the_service_for_it(requests_mock):
    delete = failing_create(requests_mock, status="IN_PROGRESS")
    ti = FakeTI()
    ti.try_number = 1
    with pytest.raises(AirflowException, match="kept for the task's next try"):
        create_op(timeout=0.05, retries=1).execute({"ti": ti})
    ti.try_number = 2  # the last try: nothing will reuse it
    with pytest.raises(AirflowException, match="was deleted"):
        create_op(timeout=0.05, retries=1).execute({"ti": ti})
    assert delete.call_count == 1


def test_a_failed_service_is_deleted_even_with_retries_left(requests_mock):
    delete = failing_create(requests_mock)
    ti = FakeTI()
    ti.try_number = 1
    with pytest.raises(AirflowFailException, match="was deleted"):  # fails fast: no retry comes
        create_op(retries=3).execute({"ti": ti})
    assert delete.call_count == 1


def test_deferring_is_not_a_failure(requests_mock, context):
    delete = failing_create(requests_mock, status="IN_PROGRESS")
    with pytest.raises(TaskDeferred):
        create_op(deferrable=True).execute(context)
    assert delete.call_count == 0


def test_a_failure_event_deletes_the_service_of_this_map_index(requests_mock):
    delete = failing_create(requests_mock)
    ti = FakeTI(map_index=2)
    ti.xcom_push("service_id", SER)
    with pytest.raises(AirflowFailException, match="was deleted"):
        create_op(deferrable=True).execute_complete({"ti": ti}, FAILED_EVENT)
    assert delete.call_count == 1


# -- which services a run made ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("dag/create/manual__1", "create"),
        ("dag/create/manual__1/4", "create"),
        ("dag/create/odd/run/id", "create"),
        ("dag/create/odd/run/id/0", "create"),
        ("dag/create/manual__2", None),
        ("dag/create/manual__1x", None),
        ("dag/create/manual__1/x", None),
        ("other/create/manual__1", None),
        ("dag//manual__1", None),
        (None, None),
        (42, None),
    ],
)
def test_created_in_run_reads_the_marker(marker, expected):
    run_id = "odd/run/id" if marker and "odd" in str(marker) else "manual__1"
    assert created_in_run(marker, "dag", run_id) == expected


def test_the_marker_of_a_mapped_instance_is_found_for_its_run():
    ti = FakeTI(run_id="scheduled__2026-01-01T00:00:00+00:00", map_index=3)
    marker = creation_marker({"ti": ti})
    assert created_in_run(marker, ti.dag_id, ti.run_id) == ti.task_id


def entry(service_id, marker):
    return service("READY", service_id=service_id, env={CREATED_BY_ENV: marker} if marker else {})


def test_run_services_picks_this_runs_creates_only():
    services = [
        entry("ser-1", "dag/create/manual__1/0"),
        entry("ser-2", "dag/other/manual__1"),
        entry("ser-3", "dag/create/manual__2/0"),
        entry("ser-4", None),
        "not a mapping",
    ]
    assert run_services(services, "dag", "manual__1") == ["ser-1", "ser-2"]
    assert run_services(services, "dag", "manual__1", {"create"}) == ["ser-1"]


# -- the run-scoped cleanup operator ----------------------------------------------------------------


def cleanup_op(**kwargs):
    return AbejaDeleteRunServicesOperator(task_id="cleanup", deployment_id=DEP, **kwargs)


def test_cleanup_deletes_the_runs_services_and_keeps_routed_ones(requests_mock, context):
    requests_mock.get(
        BASE,
        json={
            "entries": [
                entry("ser-1", "dag/create/manual__1/0"),
                entry("ser-2", "dag/create/manual__1/1"),
                entry("ser-3", "dag/create/manual__1/2"),
                entry("ser-9", "dag/create/manual__0"),
            ]
        },
    )
    requests_mock.get(ENDPOINTS, json={"entries": [{"endpoint_id": "pnt-1", "service_id": "ser-3"}]})
    deletes = {s: requests_mock.delete(f"{BASE}/{s}", json={"message": "ok"}) for s in ("ser-1", "ser-3")}
    requests_mock.delete(f"{BASE}/ser-2", status_code=404, json={"error": "not_found"})
    lines = {"events": [{"message": "Traceback (most recent call last):"}]}
    logs = {s: requests_mock.get(f"{BASE}/{s}/recentlogs", json=lines) for s in ("ser-1", "ser-2", "ser-3")}

    op = cleanup_op()
    logged = []
    op.log.info = lambda template, *args: logged.append(("info", template % args))  # type: ignore[method-assign]
    op.log.warning = lambda template, *args: logged.append(("warning", template % args))  # type: ignore[method-assign]
    assert op.execute(context) == ["ser-1"]
    assert deletes["ser-1"].call_count == 1
    assert deletes["ser-3"].call_count == 0  # an endpoint routes traffic to it
    # A release keeps what it released: said at info level, in the closing line.
    assert logged[-1] == (
        "info",
        "Deleted 1 service(s) this run created; kept ser-3, which an endpoint serves",
    )
    assert not [line for level, line in logged if level == "warning"]
    # The last log lines of each service it deletes are copied first (the kept one's are not read).
    assert [logs[s].call_count for s in ("ser-1", "ser-2", "ser-3")] == [1, 1, 0]
    assert (
        "info",
        "Deleting service ser-1.\nLatest log lines of the service:\nTraceback (most recent call last):",
    ) in logged


def test_cleanup_with_nothing_left_is_success(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.get(ENDPOINTS, json={"entries": []})
    assert cleanup_op().execute(context) == []


def test_cleanup_tries_every_service_before_failing(requests_mock, context):
    requests_mock.get(
        BASE, json={"entries": [entry("ser-1", "dag/a/manual__1"), entry("ser-2", "dag/b/manual__1")]}
    )
    requests_mock.get(ENDPOINTS, json={"entries": []})
    requests_mock.delete(f"{BASE}/ser-1", status_code=500, json={"error": "internal"})
    second = requests_mock.delete(f"{BASE}/ser-2", json={"message": "ok"})
    with pytest.raises(AirflowException, match=r"could not delete 1 service.*ser-1") as info:
        cleanup_op().execute(context)
    assert not isinstance(info.value, AirflowFailException)  # a retry may get through
    assert second.call_count == 1


@pytest.mark.parametrize("task_ids", [[], [""], ["ok", 3]])
def test_cleanup_refuses_bad_task_ids_before_any_request(requests_mock, context, task_ids):
    with pytest.raises(AirflowFailException, match="task_ids"):
        cleanup_op(task_ids=task_ids).execute(context)
    assert requests_mock.call_count == 0


def test_cleanup_is_registered_with_the_provider():
    from airflow_provider_abeja.get_provider_info import get_provider_info

    modules = [m for entry in get_provider_info()["operators"] for m in entry["python-modules"]]
    assert "airflow_provider_abeja.operators.cleanup" in modules


# -- the run-scoped training job teardown -----------------------------------------------------------

JOBS = f"{API}/organizations/{ORG}/training/definitions/sentiment/jobs"


def job(job_id, marker, status="Active"):
    return {"training_job_id": job_id, "status": status, "environment": {CREATED_BY_ENV: marker}}


def stop_op(**kwargs):
    return AbejaStopRunTrainingJobsOperator(task_id="stop", job_definition_name="sentiment", **kwargs)


def test_stop_ends_the_runs_running_jobs_only(requests_mock, context):
    entries = [
        job("j-1", "dag/train/manual__1"),
        job("j-2", "dag/train/manual__1/0", "Pending"),
        job("j-3", "dag/train/manual__1", "Complete"),
        job("j-4", "dag/train/manual__0"),
        job("j-5", "dag/other/manual__1"),
        {"training_job_id": "j-6", "status": "Active"},
    ]
    requests_mock.get(JOBS, json={"entries": entries})
    stops = {j: requests_mock.post(f"{JOBS}/{j}/stop", json={"message": "ok"}) for j in ["j-1", "j-2", "j-5"]}
    assert stop_op(task_ids="train").execute(context) == ["j-1", "j-2"]
    assert [stops[j].call_count for j in ("j-1", "j-2", "j-5")] == [1, 1, 0]
    assert [r.method for r in requests_mock.request_history].count("POST") == 2  # j-3, j-4, j-6 untouched
    assert stop_op().execute(context) == ["j-1", "j-2", "j-5"]  # every task of the run


def test_stop_takes_gone_and_just_ended_jobs_as_done(requests_mock, context):
    requests_mock.get(JOBS, json={"entries": [job("j-1", "dag/t/manual__1"), job("j-2", "dag/t/manual__1")]})
    requests_mock.post(f"{JOBS}/j-1/stop", status_code=404, json={"error": "not_found"})
    requests_mock.post(f"{JOBS}/j-2/stop", status_code=400, json={"error": "bad_request"})
    requests_mock.get(f"{JOBS}/j-2", json=job("j-2", "dag/t/manual__1", "Complete"))
    assert stop_op().execute(context) == []


def test_stop_tries_every_job_before_failing(requests_mock, context):
    requests_mock.get(JOBS, json={"entries": [job("j-1", "dag/t/manual__1"), job("j-2", "dag/t/manual__1")]})
    requests_mock.post(f"{JOBS}/j-1/stop", status_code=400, json={"error": "bad_request"})
    requests_mock.get(f"{JOBS}/j-1", json=job("j-1", "dag/t/manual__1"))  # still running
    second = requests_mock.post(f"{JOBS}/j-2/stop", json={"message": "ok"})
    with pytest.raises(AirflowException, match=r"could not stop 1 training job.*j-1") as info:
        stop_op().execute(context)
    assert not isinstance(info.value, AirflowFailException)
    assert second.call_count == 1


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"task_ids": []}, "task_ids"), ({"job_definition_name": " "}, "job_definition_name")],
)
def test_stop_refuses_bad_arguments_before_any_request(requests_mock, context, kwargs, argument):
    kwargs = {"task_id": "stop", "job_definition_name": "sentiment", **kwargs}
    with pytest.raises(AirflowFailException, match=argument):
        AbejaStopRunTrainingJobsOperator(**kwargs).execute(context)
    assert requests_mock.call_count == 0


def test_stop_is_templated_partial_and_a_teardown():
    from airflow.providers.common.compat.sdk import DAG

    assert {"job_definition_name", "task_ids"} <= set(AbejaStopRunTrainingJobsOperator.template_fields)
    with DAG("d", schedule=None):
        mapped = AbejaStopRunTrainingJobsOperator.partial(task_id="m").expand(job_definition_name=["a", "b"])
        teardown = stop_op().as_teardown()
    assert teardown.is_teardown
    assert mapped.task_id == "m"
    assert mapped.expand_input.value == {"job_definition_name": ["a", "b"]}
