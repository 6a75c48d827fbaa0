"""Service operators against a mocked HTTP API: argument checks, idempotency decisions, XCom.

The emulator-backed behaviour (real waits, real state changes) is in
tests/integration/operators/; here each test pins one decision of the operator code.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, TaskDeferred

from airflow_provider_abeja.exceptions import BadRequest, InternalServerError, InvalidArgumentError
from airflow_provider_abeja.operators._base import MIN_CHECK_INTERVAL, WaitInterrupted
from airflow_provider_abeja.operators.service import (
    CREATED_BY_ENV,
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
    AbejaStartServiceOperator,
    AbejaStopServiceOperator,
    AbejaUpdateServiceOperator,
)
from tests._context import FakeTI

API = "http://api.test"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
VER = "ver-5a3d1e0000000001"
BASE = f"{API}/organizations/{ORG}/deployments/{DEP}/services"
INFER = f"{API}/_inference/{ORG}/deployments/{DEP}/services/{SER}"
TOKEN = "unit-test-bearer-token"
JSON = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture
def ti():
    return FakeTI()


@pytest.fixture
def context(ti):
    return {"ti": ti}


@pytest.fixture(autouse=True)
def connection(monkeypatch):
    extra = {
        "organization_id": ORG,
        "auth_token": TOKEN,
        "inference_addressing": "path",
        "max_retry_count": 0,
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps({"conn_type": "abeja", "host": API, "extra": extra})
    )


def service(status="IN_PROGRESS", service_id=SER, env=None, created_at="2026-11-27T10:00:00Z"):
    return {
        "service_id": service_id,
        "deployment_id": DEP,
        "model_version_id": VER,
        "status": status,
        "instance_number": 1,
        "instance_type": "cpu-0.25",
        "user_env_vars": env or {},
        "created_at": created_at,
    }


def create_op(**kwargs):
    args = {"task_id": "task", "deployment_id": DEP, "version_id": VER, "check_interval": 0.01, "timeout": 5}
    args.update(kwargs)
    return AbejaCreateServiceOperator(**args)


# -- create: arguments ------------------------------------------------------------------------------


def test_every_create_argument_is_templated():
    fields = set(AbejaCreateServiceOperator.template_fields)
    assert fields >= {
        "organization_id", "deployment_id", "version_id", "instance_number", "min_instance_number",
        "max_instance_number", "enable_autoscale", "instance_type", "environment", "model_id",
    }  # fmt: skip
    assert AbejaCreateServiceOperator.template_fields_renderers["environment"] == "json"
    assert AbejaUpdateServiceOperator.template_fields_renderers["payload"] == "json"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"instance_number": 0}, "instance_number"),
        ({"instance_number": "two"}, "instance_number"),
        ({"instance_number": True}, "instance_number"),
        ({"min_instance_number": 3, "max_instance_number": 2}, "min_instance_number"),
        ({"enable_autoscale": "maybe"}, "enable_autoscale"),
        ({"environment": ["A=1"]}, "environment"),
        ({"environment": "{not json"}, "environment"),
        ({"environment": {"A": {"nested": 1}}}, "environment"),
        ({"environment": {CREATED_BY_ENV: "x"}}, "environment"),
        ({"version_id": ""}, "version_id"),
        ({"instance_type": "  "}, "instance_type"),
    ],
)
def test_create_refuses_bad_arguments_before_any_request(requests_mock, context, kwargs, argument):
    with pytest.raises(AirflowFailException, match=argument):
        create_op(**kwargs).execute(context)
    assert requests_mock.call_count == 0
    assert context["ti"].xcoms == {}


def test_bad_environment_values_are_not_echoed(requests_mock, context):
    with pytest.raises(AirflowFailException) as info:
        create_op(environment={"API_KEY": ["s3cr3t-value"]}).execute(context)
    assert "s3cr3t-value" not in str(info.value)


def test_wait_settings_take_seconds_or_timedelta():
    op = create_op(check_interval=timedelta(seconds=30), timeout=timedelta(minutes=2))
    assert (op.check_interval, op.timeout) == (30.0, 120.0)
    assert create_op(timeout=None).timeout is None


def test_bad_wait_settings_fail_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="check_interval"):
        create_op(check_interval=0)
    with pytest.raises(ValueError, match="timeout"):
        create_op(timeout=-1)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"check_interval": 0}, "check_interval"),
        ({"check_interval": -5}, "check_interval"),
        ({"check_interval": timedelta(0)}, "check_interval"),
        ({"check_interval": float("inf")}, "check_interval"),
        ({"check_interval": float("nan")}, "check_interval"),
        ({"check_interval": None}, "check_interval"),
        ({"check_interval": "soon"}, "check_interval"),
        ({"check_interval": True}, "check_interval"),
        ({"timeout": -0.5}, "timeout"),
        ({"timeout": timedelta(seconds=-1)}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
    ],
    ids=lambda v: repr(v) if not isinstance(v, dict) else "-".join(f"{k}={v[k]!r}" for k in v),
)
@pytest.mark.parametrize(
    "make",
    [
        create_op,
        lambda **kw: AbejaUpdateServiceOperator(
            task_id="u", deployment_id=DEP, service_id=SER, payload={"instance_number": 2}, **kw
        ),
        lambda **kw: AbejaStartServiceOperator(task_id="s", deployment_id=DEP, service_id=SER, **kw),
        lambda **kw: AbejaStopServiceOperator(task_id="p", deployment_id=DEP, service_id=SER, **kw),
    ],
    ids=["create", "update", "start", "stop"],
)
def test_wait_settings_are_checked_when_the_operator_is_built(make, kwargs, argument):
    with pytest.raises(InvalidArgumentError) as info:
        make(**kwargs)
    assert info.value.argument == argument


def test_a_tiny_check_interval_is_raised_to_the_floor_and_zero_timeout_is_kept():
    op = create_op(check_interval=0.0001, timeout=0)
    assert (op.check_interval, op.timeout) == (MIN_CHECK_INTERVAL, 0.0)
    assert create_op(check_interval=timedelta(milliseconds=1)).check_interval == MIN_CHECK_INTERVAL
    assert create_op(check_interval=0.25).check_interval == 0.25


def test_request_operator_names_timeout():
    with pytest.raises(InvalidArgumentError) as info:
        AbejaRequestServiceOperator(task_id="r", deployment_id=DEP, service_id=SER, timeout=-1)
    assert info.value.argument == "timeout"
    with pytest.raises(InvalidArgumentError) as info:
        AbejaRequestServiceOperator(task_id="r", deployment_id=DEP, service_id=SER, check_interval=0)
    assert info.value.argument == "check_interval"


def test_the_wait_refuses_a_zero_interval_before_deferring_or_polling(requests_mock):
    """The wait's settings are checked where the operator is built: the argument's name, not the
    trigger's error."""
    for deferrable in (True, False):
        with pytest.raises(InvalidArgumentError) as info:
            create_op(deferrable=deferrable, check_interval=0)
        assert info.value.argument == "check_interval"
        with pytest.raises(InvalidArgumentError) as info:
            create_op(deferrable=deferrable, timeout=-1)
        assert info.value.argument == "timeout"
    assert requests_mock.call_count == 0


def test_the_deferral_polls_no_faster_than_the_floor(requests_mock):
    op = create_op(deferrable=True, check_interval=0.001, timeout=None)
    with pytest.raises(TaskDeferred) as info:
        op.wait_or_defer((ORG, DEP, SER), "READY")
    _, kwargs = info.value.trigger.serialize()
    assert kwargs["poll_interval"] == MIN_CHECK_INTERVAL
    assert kwargs["end_time"] is None


def test_organization_falls_back_to_the_connection_and_explicit_wins(requests_mock, context):
    other = "7777777777777"
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(BASE, json=service())
    requests_mock.get(f"{API}/organizations/{other}/deployments/{DEP}/services", json={"entries": []})
    requests_mock.post(f"{API}/organizations/{other}/deployments/{DEP}/services", json=service())
    create_op(wait_for_completion=False).execute(context)
    create_op(wait_for_completion=False, organization_id=other).execute(context)
    posts = [r.url for r in requests_mock.request_history if r.method == "POST"]
    assert posts == [BASE, f"{API}/organizations/{other}/deployments/{DEP}/services"]


def test_missing_organization_fails_without_retry(monkeypatch, requests_mock, context):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT",
        json.dumps({"conn_type": "abeja", "host": API, "extra": {"auth_token": TOKEN}}),
    )
    with pytest.raises(AirflowFailException, match="organization_id"):
        create_op().execute(context)
    assert requests_mock.call_count == 0


def test_a_connection_without_credentials_fails_without_retry(monkeypatch, requests_mock, context):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT",
        json.dumps({"conn_type": "abeja", "host": API, "extra": {"organization_id": ORG}}),
    )
    for op in (create_op(), AbejaStartServiceOperator(task_id="s", deployment_id=DEP, service_id=SER)):
        with pytest.raises(AirflowFailException, match="credential"):
            op.execute(context)
    assert requests_mock.call_count == 0


# -- create: the request, XCom, result ---------------------------------------------------------------


def test_create_sends_every_argument_with_the_marker_and_pushes_xcom(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    created = service(env={"MODE": "fast", CREATED_BY_ENV: "dag/task/manual__1"})
    post = requests_mock.post(BASE, json=created)
    result = create_op(
        wait_for_completion=False,
        instance_number="2",
        min_instance_number=1,
        max_instance_number="3",
        enable_autoscale="true",
        instance_type="gpu-1",
        environment='{"MODE": "fast", "WORKERS": 4}',
        model_id="3333333333333",
    ).execute(context)
    body = post.last_request.json()
    assert body["version_id"] == VER
    assert body["instance_number"] == 2
    assert body["min_instance_number"] == 1
    assert body["max_instance_number"] == 3
    assert body["enable_autoscale"] is True
    assert body["instance_type"] == "gpu-1"
    assert body["environment"] == {"MODE": "fast", "WORKERS": "4", CREATED_BY_ENV: "dag/task/manual__1"}
    assert body["models"] == {"alias": "3333333333333"}
    assert context["ti"].xcoms["service_id"] == SER
    assert context["ti"].xcoms["service_url"] == (
        f"https://console.abeja.io/organizations/{ORG}/deployments/{DEP}/services/{SER}"
    )
    # Environment values may be secrets: the return value (XCom) hides them.
    assert result["user_env_vars"] == {"MODE": "***", CREATED_BY_ENV: "***"}
    assert result["service_id"] == SER


def test_marker_names_the_map_index_of_mapped_tasks(requests_mock):
    requests_mock.get(BASE, json={"entries": []})
    post = requests_mock.post(BASE, json=service())
    create_op(wait_for_completion=False).execute({"ti": FakeTI(map_index=3)})
    assert post.last_request.json()["environment"] == {CREATED_BY_ENV: "dag/task/manual__1/3"}


def test_reuse_existing_false_neither_marks_nor_lists(requests_mock, context):
    post = requests_mock.post(BASE, json=service())
    create_op(wait_for_completion=False, reuse_existing=False).execute(context)
    assert "environment" not in post.last_request.json()
    assert [r.method for r in requests_mock.request_history] == ["POST"]


def test_retry_reuses_the_service_of_an_earlier_try(requests_mock, context, capsys):
    mine = service("READY", env={CREATED_BY_ENV: "dag/task/manual__1"})
    other_run = service("READY", service_id="ser-1111111111111111", env={CREATED_BY_ENV: "dag/task/other"})
    requests_mock.get(BASE, json={"entries": [other_run, mine]})
    post = requests_mock.post(BASE, json=service())
    result = create_op().execute(context)
    assert post.call_count == 0
    assert result["service_id"] == SER
    assert context["ti"].xcoms["service_id"] == SER
    assert "Reusing service" in capsys.readouterr().out  # task logs go through structlog


def test_a_service_of_another_version_from_an_earlier_try_is_replaced(requests_mock, context):
    """The DAG changed between tries: the old try's service must not stand in for the new version."""
    old = {
        **service("READY", env={CREATED_BY_ENV: "dag/task/manual__1"}),
        "model_version_id": "ver-0000000000000old",
    }
    requests_mock.get(BASE, json={"entries": [old]})
    delete = requests_mock.delete(f"{BASE}/{SER}", json={"message": "deleted"})
    post = requests_mock.post(BASE, json=service(service_id="ser-2222222222222222"))
    result = create_op(wait_for_completion=False).execute(context)
    assert (delete.call_count, post.call_count) == (1, 1)
    assert result["service_id"] == "ser-2222222222222222"


def test_a_failed_service_of_an_earlier_try_is_replaced(requests_mock, context):
    failed = service("FAILED", service_id="ser-ffffffffffffffff", env={CREATED_BY_ENV: "dag/task/manual__1"})
    requests_mock.get(BASE, json={"entries": [failed]})
    delete = requests_mock.delete(f"{BASE}/ser-ffffffffffffffff", json={"message": "deleted"})
    post = requests_mock.post(BASE, json=service())
    create_op(wait_for_completion=False).execute(context)
    assert delete.call_count == 1
    assert post.call_count == 1


def test_create_answered_500_finds_the_service_the_platform_made(requests_mock, context):
    mine = service(env={CREATED_BY_ENV: "dag/task/manual__1"})
    requests_mock.get(BASE, [{"json": {"entries": []}}, {"json": {"entries": [mine]}}])
    post = requests_mock.post(BASE, status_code=500, json={"error": "internal", "error_description": "boom"})
    result = create_op(wait_for_completion=False).execute(context)
    assert post.call_count == 1
    assert result["service_id"] == SER
    assert context["ti"].xcoms["service_id"] == SER


def test_create_answered_500_and_nothing_made_fails_for_a_retry(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    post = requests_mock.post(BASE, status_code=500, json={"error": "internal"})
    with pytest.raises(InternalServerError):
        create_op(wait_for_completion=False).execute(context)
    assert post.call_count == 1
    assert "service_id" not in context["ti"].xcoms


def test_create_answered_400_is_not_looked_up(requests_mock, context):
    listing = requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(
        BASE, status_code=400, json={"error": "bad_request", "error_description": "no such version"}
    )
    with pytest.raises(AirflowFailException, match="no such version"):  # a retry cannot fix a 400
        create_op(wait_for_completion=False).execute(context)
    assert listing.call_count == 1  # the look-up before creating, none after


# -- create: waiting --------------------------------------------------------------------------------


def test_create_waits_until_ready(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(BASE, json=service())
    requests_mock.get(f"{BASE}/{SER}", [{"json": service()}, {"json": service("READY")}])
    requests_mock.get(f"{BASE}/{SER}/recentlogs", json={"events": []})
    assert create_op().execute(context)["status"] == "READY"


def test_a_failed_service_fails_the_task_without_retry_and_shows_its_logs(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(BASE, json=service())
    requests_mock.get(f"{BASE}/{SER}", json=service("FAILED"))
    requests_mock.get(
        f"{BASE}/{SER}/recentlogs",
        json={"events": [{"message": "ImportError: no module main", "timestamp": "2026-11-27T10:00:01Z"}]},
    )
    with pytest.raises(AirflowFailException, match="ImportError: no module main"):
        create_op().execute(context)
    assert context["ti"].xcoms["service_id"] == SER  # pushed before the wait


def test_on_kill_stops_a_wait(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(BASE, json=service())
    polled = threading.Event()

    def in_progress(request, ctx):
        polled.set()
        return service()

    requests_mock.get(f"{BASE}/{SER}", json=in_progress)
    requests_mock.get(f"{BASE}/{SER}/recentlogs", json={"events": []})
    op = create_op(check_interval=60, timeout=None)
    killer = threading.Thread(target=lambda: (polled.wait(30), op.on_kill()))
    killer.start()
    try:
        with pytest.raises(WaitInterrupted):
            op.execute(context)
    finally:
        killer.join()


def test_deferrable_create_defers_with_a_wall_clock_deadline(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(BASE, json=service())
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        create_op(deferrable=True, timeout=120, check_interval=3).execute(context)
    deferred = info.value
    path, kwargs = deferred.trigger.serialize()
    assert path == "airflow_provider_abeja.triggers.service.AbejaServiceStatusTrigger"
    assert kwargs["service_id"] == SER
    assert kwargs["organization_id"] == ORG
    assert kwargs["target_status"] == "READY"
    assert sorted(kwargs["failure_statuses"]) == ["FAILED", "STOPPED"]
    assert kwargs["poll_interval"] == 3
    assert before + 120 <= kwargs["end_time"] <= time.time() + 120
    assert deferred.method_name == "execute_complete"
    assert deferred.kwargs == {"organization_id": ORG, "service_id": SER}
    assert context["ti"].xcoms["service_id"] == SER


def test_execute_complete_validates_the_event(requests_mock, context):
    requests_mock.get(f"{BASE}/{SER}", json=service("READY", env={"K": "secret"}))
    op = create_op(deferrable=True)
    ok = {"status": "success", "service_id": SER, "service_status": "READY", "message": "ready"}
    result = op.execute_complete(context, ok, organization_id=ORG, service_id=SER)
    assert result["status"] == "READY"
    assert result["user_env_vars"] == {"K": "***"}
    failed = {**ok, "status": "failure", "service_status": "FAILED", "message": "failed", "log_lines": ["x"]}
    with pytest.raises(AirflowFailException):
        op.execute_complete(context, failed, organization_id=ORG, service_id=SER)
    with pytest.raises(AirflowException):
        op.execute_complete(context, None, organization_id=ORG, service_id=SER)
    with pytest.raises(AirflowException):
        op.execute_complete(
            context, {**ok, "service_id": "ser-ffffffffffffffff"}, organization_id=ORG, service_id=SER
        )


# -- update ----------------------------------------------------------------------------------------


def test_update_sends_the_payload_and_polls_instead_of_trusting_the_answer(requests_mock, context):
    patch = requests_mock.patch(f"{BASE}/{SER}", json=service("READY"))
    poll = requests_mock.get(
        f"{BASE}/{SER}",
        [{"json": service("READY")}, {"json": service("IN_PROGRESS")}, {"json": service("READY")}],
    )
    requests_mock.get(f"{BASE}/{SER}/recentlogs", json={"events": []})
    op = AbejaUpdateServiceOperator(
        task_id="u", deployment_id=DEP, service_id=SER, payload='{"instance_number": 2}', check_interval=0.01
    )
    assert op.execute(context)["status"] == "READY"
    assert patch.last_request.json() == {"instance_number": 2}
    assert poll.call_count == 3  # the state before, then polls until READY again


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({}, "payload"),
        ("[1, 2]", "payload"),
        (None, "payload"),
        ({"instance_number": 0}, "payload.instance_number"),
    ],
)
def test_update_refuses_an_empty_non_mapping_or_bad_payload_before_any_request(
    requests_mock, context, payload, named
):
    op = AbejaUpdateServiceOperator(task_id="u", deployment_id=DEP, service_id=SER, payload=payload)
    with pytest.raises(AirflowFailException, match=f"^{re.escape(named)}:"):
        op.execute(context)
    assert requests_mock.call_count == 0


# -- start / stop ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["READY", "IN_PROGRESS"])
def test_start_of_a_running_service_sends_nothing(requests_mock, context, status, capsys):
    requests_mock.get(f"{BASE}/{SER}", json=service(status))
    start = requests_mock.post(f"{BASE}/{SER}/start", json={"message": "started"})
    op = AbejaStartServiceOperator(task_id="s", deployment_id=DEP, service_id=SER, wait_for_completion=False)
    op.execute(context)
    assert start.call_count == 0
    assert "already running" in capsys.readouterr().out


def test_start_race_with_another_starter_is_success(requests_mock, context):
    requests_mock.get(f"{BASE}/{SER}", [{"json": service("STOPPED")}, {"json": service("IN_PROGRESS")}])
    start = requests_mock.post(
        f"{BASE}/{SER}/start", status_code=400, json={"error": "bad_request", "error_description": "running"}
    )
    op = AbejaStartServiceOperator(task_id="s", deployment_id=DEP, service_id=SER, wait_for_completion=False)
    op.execute(context)
    assert start.call_count == 1


def test_start_refused_for_another_reason_fails(requests_mock, context):
    requests_mock.get(f"{BASE}/{SER}", json=service("STOPPED"))
    requests_mock.post(
        f"{BASE}/{SER}/start", status_code=400, json={"error": "bad_request", "error_description": "quota"}
    )
    op = AbejaStartServiceOperator(task_id="s", deployment_id=DEP, service_id=SER, wait_for_completion=False)
    # A 400 is fail-fast (one rule for every operator): no Airflow retry, the BadRequest chained.
    with pytest.raises(AirflowFailException, match="quota") as info:
        op.execute(context)
    assert isinstance(info.value.__cause__, BadRequest)


def test_stop_of_a_stopped_service_sends_nothing(requests_mock, context):
    requests_mock.get(f"{BASE}/{SER}", json=service("STOPPED"))
    stop = requests_mock.post(f"{BASE}/{SER}/stop", json={"message": "stopped"})
    result = AbejaStopServiceOperator(task_id="s", deployment_id=DEP, service_id=SER).execute(context)
    assert stop.call_count == 0
    assert result["status"] == "STOPPED"


def test_stop_race_is_success_and_other_refusals_fail(requests_mock, context):
    refused = {"status_code": 400, "json": {"error": "bad_request", "error_description": "not running"}}
    requests_mock.post(f"{BASE}/{SER}/stop", **refused)
    requests_mock.get(f"{BASE}/{SER}", [{"json": service("READY")}, {"json": service("STOPPED")}])
    AbejaStopServiceOperator(task_id="s", deployment_id=DEP, service_id=SER).execute(context)
    requests_mock.get(f"{BASE}/{SER}", [{"json": service("READY")}, {"json": service("FAILED")}])
    with pytest.raises(AirflowException, match="FAILED"):
        AbejaStopServiceOperator(task_id="s", deployment_id=DEP, service_id=SER).execute(context)


# -- delete ------------------------------------------------------------------------------------------


def test_delete_of_a_missing_service_is_success_unless_asked(requests_mock, context):
    requests_mock.delete(f"{BASE}/{SER}", status_code=404, json={"error": "not_found"})
    assert AbejaDeleteServiceOperator(task_id="d", deployment_id=DEP, service_id=SER).execute(context) is None
    op = AbejaDeleteServiceOperator(task_id="d", deployment_id=DEP, service_id=SER, fail_if_missing=True)
    with pytest.raises(AirflowFailException, match="does not exist"):
        op.execute(context)


@pytest.mark.parametrize("deployment_id", [f" {DEP}\n", int(DEP)], ids=["padded", "number"])
def test_every_deployment_operator_takes_its_deployment_id_as_checked(requests_mock, context, deployment_id):
    """Stripped, a number as its text: as the create operator takes it (the client refuses both)."""
    requests_mock.delete(f"{BASE}/{SER}", json={"message": "deleted"})
    op = AbejaDeleteServiceOperator(task_id="d", deployment_id=deployment_id, service_id=SER)
    assert op.execute(context) == {"message": "deleted"}
    assert requests_mock.last_request.url == f"{BASE}/{SER}"


def test_delete_refuses_a_path_changing_id(requests_mock, context):
    op = AbejaDeleteServiceOperator(task_id="d", deployment_id=DEP, service_id="../endpoints/pnt-1")
    with pytest.raises(AirflowFailException, match="service_id"):
        op.execute(context)
    assert requests_mock.call_count == 0


# -- request -------------------------------------------------------------------------------------


def request_op(**kwargs):
    return AbejaRequestServiceOperator(
        task_id="r", deployment_id=DEP, service_id=SER, check_interval=0.01, **kwargs
    )


def test_request_json_answer_goes_to_xcom(requests_mock, context):
    call = requests_mock.post(INFER, json={"label": "cat"}, headers=JSON)
    assert request_op(json={"image": "x"}).execute(context) == {"label": "cat"}
    assert call.last_request.json() == {"image": "x"}
    assert context["ti"].xcoms["service_id"] == SER


def test_request_waits_out_503(requests_mock, context):
    call = requests_mock.post(
        INFER,
        [
            {"status_code": 503, "json": {"error": "unavailable"}},
            {"status_code": 200, "json": {"ok": True}, "headers": JSON},
        ],
    )
    assert request_op(json={}).execute(context) == {"ok": True}
    assert call.call_count == 2


def test_request_gives_up_on_503_at_the_deadline(requests_mock, context):
    requests_mock.post(INFER, status_code=503, json={"error": "unavailable"})
    with pytest.raises(AirflowException, match="still not ready"):
        request_op(json={}, timeout=0.05).execute(context)


def test_request_fails_with_the_services_own_message(requests_mock, context):
    requests_mock.post(
        INFER, status_code=422, json={"error": "invalid_image", "error_description": "not a PNG"}
    )
    with pytest.raises(AirflowException, match="not a PNG"):
        request_op(data=b"xx").execute(context)


def test_request_non_json_answer_needs_an_output_path(requests_mock, context, tmp_path):
    requests_mock.post(INFER, content=b"\x89PNG...", headers={"Content-Type": "image/png"})
    with pytest.raises(AirflowFailException, match="output_path"):
        request_op(json={}).execute(context)
    target = tmp_path / "out" / "answer.png"
    assert request_op(json={}, output_path=str(target)).execute(context) == str(target)
    assert target.read_bytes() == b"\x89PNG..."
    assert context["ti"].xcoms["content_type"] == "image/png"
    assert [p.name for p in target.parent.iterdir()] == ["answer.png"]  # no leftover part file


def test_request_json_over_the_cap_fails_clearly(requests_mock, context):
    requests_mock.post(INFER, json={"blob": "x" * 100}, headers=JSON)
    with pytest.raises(AirflowFailException, match="max_xcom_bytes"):
        request_op(json={}, max_xcom_bytes=50).execute(context)


def test_request_streams_an_input_file_with_a_guessed_type(requests_mock, context, tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(b"PNGDATA")
    seen = []

    def answer(request, ctx):
        body = request.body
        seen.append(body if isinstance(body, bytes) else body.read())  # a file object: streamed
        ctx.headers = JSON
        return {"ok": 1}

    call = requests_mock.post(INFER, json=answer)
    assert request_op(input_path=str(source)).execute(context) == {"ok": 1}
    assert call.last_request.headers["Content-Type"] == "image/png"
    assert seen == [b"PNGDATA"]


def test_request_needs_exactly_one_target(requests_mock, context):
    both = AbejaRequestServiceOperator(task_id="r", deployment_id=DEP, service_id=SER, endpoint_alias="prod")
    neither = AbejaRequestServiceOperator(task_id="r", deployment_id=DEP)
    for op in (both, neither):
        with pytest.raises(AirflowFailException, match="exactly one"):
            op.execute(context)
    assert requests_mock.call_count == 0


def test_request_to_the_default_endpoint_uses_the_deployment_address(requests_mock, context):
    call = requests_mock.post(
        f"{API}/_inference/{ORG}/deployments/{DEP}",
        json={"ok": 1},
        headers={**JSON, "X-Abeja-Service-Id": SER},
    )
    op = AbejaRequestServiceOperator(task_id="r", deployment_id=DEP, endpoint_alias="default", json={})
    assert op.execute(context) == {"ok": 1}
    assert call.call_count == 1
    assert context["ti"].xcoms["service_id"] == SER


def test_request_refuses_two_bodies_or_a_missing_file(requests_mock, context, tmp_path):
    with pytest.raises(AirflowFailException, match="only one"):
        request_op(json={}, data="x").execute(context)
    with pytest.raises(AirflowFailException, match="no such file"):
        request_op(input_path=str(tmp_path / "nope")).execute(context)
    assert requests_mock.call_count == 0


def test_no_credential_in_xcom_or_rendered_fields(requests_mock, context):
    requests_mock.get(BASE, json={"entries": []})
    requests_mock.post(BASE, json=service())
    op = create_op(wait_for_completion=False)
    result = op.execute(context)
    blob = json.dumps([result, context["ti"].xcoms, [getattr(op, f) for f in op.template_fields]])
    assert TOKEN not in blob


def test_execute_complete_without_kwargs_uses_the_pushed_service_id(requests_mock, context):
    """dag.test() on Airflow 3.3 resumes with the event only: the id pushed before deferring is used."""
    requests_mock.get(f"{BASE}/{SER}", json=service("READY"))
    op = create_op(deferrable=True)
    ok = {"status": "success", "service_id": SER, "service_status": "READY", "message": "ready"}
    with pytest.raises(AirflowException, match="resumed without"):
        op.execute_complete(context, ok)
    context["ti"].xcom_push(key="service_id", value=SER)
    assert op.execute_complete(context, ok)["service_id"] == SER
    with pytest.raises(AirflowException, match="expected"):
        op.execute_complete(context, {**ok, "service_id": "ser-ffffffffffffffff"})
