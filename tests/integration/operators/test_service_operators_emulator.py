"""Service operators against the emulator over loopback, in sync and deferrable mode.

Each test starts from the emulator's sample deployment (ready delay 0.2 s) and checks the
platform's side through the emulator's counters and state, not only what the operator returned.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.exceptions import TransportError, WaitTimeoutError
from airflow_provider_abeja.operators.service import (
    CREATED_BY_ENV,
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
    AbejaStartServiceOperator,
    AbejaStopServiceOperator,
    AbejaUpdateServiceOperator,
    WaitInterrupted,
)
from tests._context import FakeTI
from tests.integration.operators._support import (
    BAD_VERSION,
    GOOD_VERSION,
    MISSING_SERVICE,
    OTHER_VERSION,
    SAMPLE_DEPLOYMENT,
    ready_service,
    route_count,
    run_operator,
)

pytestmark = pytest.mark.emulator

MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
FAST = {"check_interval": 0.1, "timeout": 60}


def create_op(deferrable: bool, **kwargs: Any) -> AbejaCreateServiceOperator:
    args: dict[str, Any] = {
        "task_id": "task",
        "deployment_id": SAMPLE_DEPLOYMENT,
        "version_id": GOOD_VERSION,
        "deferrable": deferrable,
        **FAST,
    }
    args.update(kwargs)
    return AbejaCreateServiceOperator(**args)


def status_of(emulator: Any, service_id: str) -> str:
    return str(emulator.get_service(SAMPLE_DEPLOYMENT, service_id)["status"])


# -- create -------------------------------------------------------------------------------------------


@MODES
def test_create_until_ready(emulator, context, deferrable):
    result = run_operator(create_op(deferrable, environment={"MODE": "it"}), context)
    service_id = context["ti"].xcoms["service_id"]
    assert result["service_id"] == service_id
    assert result["status"] == "READY"
    assert status_of(emulator, service_id) == "READY"
    assert (
        context["ti"]
        .xcoms["service_url"]
        .endswith(
            f"/organizations/{emulator.organization_id}/deployments/{SAMPLE_DEPLOYMENT}/services/{service_id}"
        )
    )
    platform = emulator.get_service(SAMPLE_DEPLOYMENT, service_id)
    assert platform["user_env_vars"] == {"MODE": "it", CREATED_BY_ENV: "dag/task/manual__1"}
    assert emulator.counters()["services_created"] == 1


@MODES
def test_create_of_a_broken_version_fails_fast_with_its_logs(emulator, context, deferrable):
    with pytest.raises(AirflowFailException) as info:
        run_operator(create_op(deferrable, version_id=BAD_VERSION, timeout=600), context)
    assert "FAILED" in str(info.value)
    assert "could not be loaded" in str(info.value)  # the service's own log line
    assert "was deleted" in str(info.value)  # a failed service is not left behind
    assert emulator.state()["services"] == []


@MODES
def test_create_times_out(emulator, context, deferrable):
    emulator.configure(ready_delay=30)
    # One outcome in both modes: a retryable AirflowException from WaitTimeoutError.
    with pytest.raises(AirflowException, match=r"(?i)timeout|timed out|did not reach|within") as info:
        run_operator(create_op(deferrable, timeout=0.3), context)
    assert not isinstance(info.value, AirflowFailException)
    causes = []
    error: BaseException | None = info.value
    while error is not None:
        causes.append(type(error))
        error = error.__cause__
    assert WaitTimeoutError in causes
    assert emulator.state()["services"] == []  # no retry follows: the create deleted its service


@MODES
def test_task_retry_reuses_the_first_tries_service(emulator, deferrable):
    emulator.configure(ready_delay=30)
    first = {"ti": FakeTI(try_number=1)}
    with pytest.raises((WaitTimeoutError, AirflowException), match="kept for the task's next try"):
        run_operator(create_op(deferrable, timeout=0.2, retries=1), first)
    emulator.configure(ready_delay=0.2)
    emulator.set_service_status(first["ti"].xcoms["service_id"], "READY")
    second = {"ti": FakeTI(try_number=2)}  # same dag/task/run: the next try of the same task instance
    result = run_operator(create_op(deferrable), second)
    assert second["ti"].xcoms["service_id"] == first["ti"].xcoms["service_id"]
    assert result["status"] == "READY"
    counters = emulator.counters()
    assert counters["services_created"] == 1
    assert counters["services_total"] == 1
    assert counters["requests"]["create_service"] == 1


@pytest.mark.parametrize("delete_on_kill", [True, False])
def test_on_kill_ends_a_sync_wait_and_deletes_the_service_unless_kept(emulator, delete_on_kill):
    emulator.configure(ready_delay=30)
    op = create_op(False, check_interval=30, timeout=None, delete_on_kill=delete_on_kill)
    ti = FakeTI()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_operator(op, {"ti": ti})
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while "service_id" not in ti.xcoms and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the operator created the service and started waiting
    op.on_kill()
    worker.join(30)
    assert not worker.is_alive()
    assert [type(e) for e in errors] == [WaitInterrupted]
    counters = emulator.counters()
    expected = (0, 1) if delete_on_kill else (1, 0)
    assert (counters["services_total"], counters["services_deleted"]) == expected


def test_another_run_gets_its_own_service(emulator):
    run_operator(create_op(False), {"ti": FakeTI(run_id="run_1")})
    run_operator(create_op(False), {"ti": FakeTI(run_id="run_2")})
    assert emulator.counters()["services_created"] == 2


@pytest.mark.parametrize("fault", [{"status": 500}, {"drop_connection": True}], ids=["500", "lost-answer"])
def test_create_whose_answer_is_lost_is_found_not_repeated(emulator, context, fault):
    emulator.inject_fault("create_service", when="after", times=1, **fault)
    result = run_operator(create_op(False), context)
    assert result["status"] == "READY"
    counters = emulator.counters()
    assert counters["requests"]["create_service"] == 1  # never re-sent
    assert counters["services_total"] == 1


def test_failed_service_of_an_earlier_try_is_replaced(emulator):
    with pytest.raises(AirflowFailException):
        run_operator(create_op(False, version_id=BAD_VERSION), {"ti": FakeTI()})
    # e.g. the version was fixed and the task cleared: the next try must not reuse the broken one.
    result = run_operator(create_op(False), {"ti": FakeTI()})
    assert result["status"] == "READY"
    counters = emulator.counters()
    assert counters["services_created"] == 2
    assert counters["services_deleted"] == 1
    assert counters["services_total"] == 1


def test_retry_after_a_version_change_replaces_the_old_service(emulator):
    first = run_operator(create_op(False), {"ti": FakeTI()})
    second = run_operator(create_op(False, version_id=OTHER_VERSION), {"ti": FakeTI()})
    assert second["service_id"] != first["service_id"]
    assert second["model_version_id"] == OTHER_VERSION
    counters = emulator.counters()
    assert (counters["services_created"], counters["services_deleted"], counters["services_total"]) == (
        2,
        1,
        1,
    )


def test_create_in_an_unknown_deployment_fails_without_retry(emulator, context):
    with pytest.raises(AirflowFailException):
        run_operator(create_op(False, deployment_id="1111111111111"), context)
    assert emulator.counters()["services_total"] == 0


# -- update -------------------------------------------------------------------------------------------


@MODES
def test_update_until_ready(emulator, context, deferrable):
    service_id = ready_service(emulator)
    op = AbejaUpdateServiceOperator(
        task_id="update",
        deployment_id=SAMPLE_DEPLOYMENT,
        service_id=service_id,
        payload={"instance_number": 2},
        deferrable=deferrable,
        **FAST,
    )
    result = run_operator(op, context)
    assert result["status"] == "READY"
    assert emulator.get_service(SAMPLE_DEPLOYMENT, service_id)["instance_number"] == 2
    assert context["ti"].xcoms["service_id"] == service_id


def update_op(
    service_id: str, payload: Any, deferrable: bool = False, **kwargs: Any
) -> AbejaUpdateServiceOperator:
    return AbejaUpdateServiceOperator(
        task_id="update", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id, payload=payload,
        deferrable=deferrable, **{**FAST, **kwargs},
    )  # fmt: skip


@MODES
def test_update_to_a_broken_version_fails_fast(emulator, context, deferrable):
    service_id = ready_service(emulator)
    with pytest.raises(AirflowFailException, match="FAILED"):
        run_operator(update_op(service_id, {"version_id": BAD_VERSION}, deferrable, timeout=600), context)
    assert status_of(emulator, service_id) == "FAILED"


@MODES
def test_update_of_a_stopped_service_does_not_wait(emulator, context, deferrable):
    service_id = ready_service(emulator)
    emulator.set_service_status(service_id, "STOPPED")
    result = run_operator(update_op(service_id, {"instance_number": 3}, deferrable), context)
    assert result["instance_number"] == 3
    assert status_of(emulator, service_id) == "STOPPED"


def test_update_of_a_missing_service_fails_without_retry(emulator, context):
    op = AbejaUpdateServiceOperator(
        task_id="update", deployment_id=SAMPLE_DEPLOYMENT, service_id=MISSING_SERVICE, payload={"x": 1}
    )
    with pytest.raises(AirflowFailException, match="404"):
        run_operator(op, context)


# -- start / stop --------------------------------------------------------------------------------------


def start_op(service_id: str, deferrable: bool = False, **kwargs: Any) -> AbejaStartServiceOperator:
    return AbejaStartServiceOperator(
        task_id="start", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id, deferrable=deferrable,
        **{**FAST, **kwargs},
    )  # fmt: skip


def stop_op(service_id: str, deferrable: bool = False, **kwargs: Any) -> AbejaStopServiceOperator:
    return AbejaStopServiceOperator(
        task_id="stop", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id, deferrable=deferrable,
        **{**FAST, **kwargs},
    )  # fmt: skip


@MODES
def test_stop_then_start(emulator, context, deferrable):
    service_id = ready_service(emulator)
    assert run_operator(stop_op(service_id, deferrable), context)["status"] == "STOPPED"
    assert status_of(emulator, service_id) == "STOPPED"
    assert run_operator(start_op(service_id, deferrable), context)["status"] == "READY"
    assert status_of(emulator, service_id) == "READY"
    assert (route_count(emulator, "stop_service"), route_count(emulator, "start_service")) == (1, 1)


@MODES
def test_start_of_a_running_service_is_success_without_a_request(emulator, context, deferrable, capsys):
    service_id = ready_service(emulator)
    assert run_operator(start_op(service_id, deferrable), context)["status"] == "READY"
    assert route_count(emulator, "start_service") == 0
    assert "already running" in capsys.readouterr().out


@MODES
def test_stop_of_a_stopped_service_is_success_without_a_request(emulator, context, deferrable, capsys):
    service_id = ready_service(emulator)
    emulator.set_service_status(service_id, "STOPPED")
    assert run_operator(stop_op(service_id, deferrable), context)["status"] == "STOPPED"
    assert route_count(emulator, "stop_service") == 0
    assert "already stopped" in capsys.readouterr().out


def test_start_race_answered_400_is_success(emulator, context):
    """Another actor starts the service between our read and our start: the platform says 400."""
    service_id = ready_service(emulator)
    emulator.set_service_status(service_id, "STOPPED")
    op = start_op(service_id, wait_for_completion=False)
    client = op.client
    real_start = client.start_service

    def start_service(*args: Any) -> Any:
        emulator.set_service_status(service_id, "READY")  # the other actor wins the race
        return real_start(*args)  # the real emulator answers 400 "already running"

    client.start_service = start_service  # type: ignore[method-assign]
    run_operator(op, context)
    assert route_count(emulator, "start_service") == 1
    assert status_of(emulator, service_id) == "READY"


@MODES
@pytest.mark.parametrize("make", [start_op, stop_op], ids=["start", "stop"])
def test_start_or_stop_of_a_missing_service_fails_without_retry(emulator, context, deferrable, make):
    with pytest.raises(AirflowFailException, match="404"):
        run_operator(make(MISSING_SERVICE, deferrable), context)
    assert route_count(emulator, "start_service") + route_count(emulator, "stop_service") == 0


@MODES
def test_start_times_out(emulator, context, deferrable):
    service_id = ready_service(emulator)
    emulator.set_service_status(service_id, "STOPPED")
    emulator.configure(ready_delay=30)
    with pytest.raises((WaitTimeoutError, AirflowException)):
        run_operator(start_op(service_id, deferrable, timeout=0.3), context)
    assert status_of(emulator, service_id) == "IN_PROGRESS"


@MODES
def test_start_of_a_broken_service_fails_fast(emulator, context, deferrable):
    service = emulator.create_service(SAMPLE_DEPLOYMENT, BAD_VERSION)
    service_id = service["service_id"]
    emulator.wait_for_status(SAMPLE_DEPLOYMENT, service_id, "FAILED")
    with pytest.raises(AirflowFailException, match="FAILED"):
        run_operator(start_op(service_id, deferrable, timeout=600), context)


# -- delete -------------------------------------------------------------------------------------------


def test_delete_then_delete_again(emulator, context):
    service_id = ready_service(emulator)
    op = AbejaDeleteServiceOperator(task_id="delete", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id)
    assert run_operator(op, context) is not None
    assert run_operator(op, context) is None  # already gone: success
    counters = emulator.counters()
    assert (counters["services_deleted"], counters["services_total"]) == (1, 0)
    strict = AbejaDeleteServiceOperator(
        task_id="delete", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id, fail_if_missing=True
    )
    with pytest.raises(AirflowFailException, match="does not exist"):
        run_operator(strict, context)


# -- request ------------------------------------------------------------------------------------------


def request_op(service_id: str, **kwargs: Any) -> AbejaRequestServiceOperator:
    return AbejaRequestServiceOperator(
        task_id="request",
        deployment_id=SAMPLE_DEPLOYMENT,
        service_id=service_id,
        check_interval=0.1,
        **kwargs,
    )


def test_request_json_to_xcom(emulator, context):
    service_id = ready_service(emulator)
    result = run_operator(request_op(service_id, json={"text": "good great"}), context)
    assert result["label"] in {"positive", "negative"}
    assert "model_version" in result
    assert emulator.counters()["inference_requests"] == 1


def test_request_waits_out_a_service_that_is_not_ready_yet(emulator, context):
    emulator.configure(ready_delay=1.0)
    service_id = emulator.create_service(SAMPLE_DEPLOYMENT, GOOD_VERSION)["service_id"]
    result = run_operator(request_op(service_id, json={"text": "good"}), context)
    assert "label" in result
    assert route_count(emulator, "request_service") > 1  # it was answered 503 at least once


def test_request_gives_up_at_the_ready_deadline(emulator, context):
    service_id = ready_service(emulator)
    emulator.set_service_status(service_id, "STOPPED")
    with pytest.raises(AirflowException, match="still not ready"):
        run_operator(request_op(service_id, json={"text": "x"}, timeout=0.3), context)


def test_request_fails_with_the_services_message(emulator, context):
    service_id = ready_service(emulator)
    with pytest.raises(AirflowException, match="give text or texts"):
        run_operator(request_op(service_id, json={"nothing": 1}), context)


def test_request_file_in_file_out(emulator, context, tmp_path):
    handler_dir = tmp_path / "png_model"
    handler_dir.mkdir()
    (handler_dir / "main.py").write_text(
        "def handler(request, context):\n"
        "    data = request.read()\n"
        "    return {'content_type': 'image/png', 'content': [b'PNG:' + data[::-1]]}\n"
    )
    version = emulator.create_version(SAMPLE_DEPLOYMENT, version="9.9.9", code_dir=str(handler_dir))
    service_id = ready_service(emulator, version["version_id"])
    source = tmp_path / "in.bin"
    source.write_bytes(b"abc" * 100_000)
    target = tmp_path / "out" / "answer.png"
    result = run_operator(request_op(service_id, input_path=str(source), output_path=str(target)), context)
    assert result == str(target)
    assert target.read_bytes() == b"PNG:" + (b"abc" * 100_000)[::-1]
    assert context["ti"].xcoms["content_type"].startswith("image/png")
    with pytest.raises(AirflowFailException, match="output_path"):
        run_operator(request_op(service_id, data=b"xyz"), context)


def test_request_to_a_missing_service_fails(emulator, context):
    with pytest.raises(AirflowException, match="404"):
        run_operator(request_op(MISSING_SERVICE, json={"text": "x"}), context)


def test_transport_error_on_request_is_not_hidden(emulator, context):
    service_id = ready_service(emulator)
    emulator.inject_fault("request_service", drop_connection=True, times=1)
    with pytest.raises(TransportError):
        run_operator(request_op(service_id, json={"text": "x"}), context)


def test_stop_and_start_log_only_the_services_new_lines(emulator, context, capsys):
    """Item 9: stop and start copied the service's whole recent-log history into their log again."""
    service_id = ready_service(emulator)
    emulator.add_log(service_id, "history line before the stop")
    capsys.readouterr()
    run_operator(stop_op(service_id), context)
    emulator.add_log(service_id, "history line before the start")
    run_operator(start_op(service_id), context)
    out = capsys.readouterr().out
    assert "history line" not in out
    assert "service created from version" not in out
    assert "starting 1 instance(s)" in out  # the start's own lines are shown
