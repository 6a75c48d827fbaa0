"""The run, Datalake and platform-trigger operators against the emulator over loopback.

One deployment version whose handler upper-cases its input (or fails when the run's environment
says ``FAIL``); runs go through the emulator's batch proxy and the real runtime. A try that dies
after storing its run (Airflow 3.3's task state store) is played by a store whose write ends the
try, or by a try that deferred and is never resumed.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, TaskDeferred

from airflow_provider_abeja.operators.runs import (
    STORE_RUN_ID,
    AbejaCreateRunOperator,
    AbejaCreateTriggerOperator,
    AbejaDeleteTriggerOperator,
    AbejaDownloadFromChannelOperator,
    AbejaUploadToChannelOperator,
)
from airflow_provider_abeja.sensors.runs import AbejaRunSensor
from tests._context import FakeTI

from ._support import route_count, run_operator
from .test_kill_emulator import FakeStore, needs_store

pytestmark = pytest.mark.emulator

HANDLER = """
import os


def handler(request, context):
    if os.environ.get("FAIL"):
        print("about to fail on purpose")
        raise ValueError("the handler failed on purpose")
    body = request["contents"][0].read() if request["contents"] else b""
    return {"content_type": "text/plain", "content": body.decode("utf-8").upper()}
"""


@pytest.fixture
def platform(emulator: Any, tmp_path: Path) -> dict[str, str]:
    """A deployment and version with ``HANDLER``, an input and an output channel."""
    emulator.configure(run_step_delay=0.01)
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text(HANDLER)
    dep = emulator.create_deployment(name="runs")["deployment_id"]
    version = emulator.create_version(dep, "1.0.0", code_dir=str(code))["version_id"]
    client = _client(emulator)
    org = emulator.organization_id
    return {
        "deployment_id": dep,
        "version_id": version,
        "input": client.create_channel(org, "input")["channel"]["channel_id"],
        "output": client.create_channel(org, "output")["channel"]["channel_id"],
    }


def _client(emulator: Any) -> Any:
    from airflow_provider_abeja.client import APIClient

    return APIClient(api_url=emulator.url, credential=emulator.credential)


def _upload(platform: dict[str, str], tmp_path: Path, text: str = "hello") -> str:
    source = tmp_path / "in.txt"
    source.write_text(text)
    op = AbejaUploadToChannelOperator(task_id="upload", channel_id=platform["input"], source=str(source))
    (uploaded,) = op.execute({"ti": FakeTI("upload")})
    return str(uploaded["file_id"])


def _run_op(platform: dict[str, str], file_id: str, **kwargs: Any) -> AbejaCreateRunOperator:
    return AbejaCreateRunOperator(
        task_id="run",
        deployment_id=platform["deployment_id"],
        version_id=platform["version_id"],
        input_channel_id=platform["input"],
        input_file_id=file_id,
        output_channel_id=platform["output"],
        retry_count=0,
        check_interval=0.1,
        **kwargs,
    )


def test_upload_run_download_and_a_retry_reuses_the_run(
    platform: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    file_id = _upload(platform, tmp_path)
    # A retried upload finds the file its first try sent (conflict_target=filename): no duplicate.
    assert _upload(platform, tmp_path) == file_id
    assert len(_client(emulator).list_channel_files(platform["input"])["files"]) == 1

    ti = FakeTI("run")
    summary = _run_op(platform, file_id).execute({"ti": ti})
    assert summary["status"] == "SUCCEEDED"
    assert (summary["channel_id"], summary["file_id"]) == (platform["input"], file_id)
    assert summary["output_file_id"]
    assert ti.xcoms["run_id"] == summary["run_id"]
    assert "/runs/" in ti.xcoms["run_url"]

    retry = _run_op(platform, file_id).execute({"ti": FakeTI("run", try_number=2)})
    assert retry["run_id"] == summary["run_id"]
    assert route_count(emulator, "create_run") == 1

    AbejaRunSensor(
        task_id="watch", deployment_id=platform["deployment_id"], run_id=summary["run_id"], poke_interval=0.1
    ).execute({"ti": FakeTI("watch")})

    out = tmp_path / "out"
    download = AbejaDownloadFromChannelOperator(
        task_id="download",
        channel_id=platform["output"],
        file_ids=[summary["output_file_id"], None],
        output_path=str(out),
    )
    (written,) = download.execute({"ti": FakeTI("download")})
    assert Path(written.removeprefix("file://")).read_text() == "HELLO"
    assert Path(written.removeprefix("file://")).name == f"{summary['run_id']}_0.txt"


@pytest.mark.parametrize("deferrable", [False, True])
def test_execution_timeout_ends_a_runs_wait_first_as_it_does_every_wait(
    platform: dict[str, str], emulator: Any, tmp_path: Path, deferrable: bool
) -> None:
    """A run's wait has the one skeleton's deadline: the sooner of ``timeout`` and
    ``execution_timeout`` less a margin, with the one timeout message, in the worker and deferred."""
    file_id = _upload(platform, tmp_path)
    ti = FakeTI("run")
    ti.start_date = datetime.now(timezone.utc)  # type: ignore[attr-defined]
    op = _run_op(
        platform, file_id, timeout=None, execution_timeout=timedelta(seconds=1), deferrable=deferrable
    )
    emulator.configure(run_step_delay=5)
    try:
        with pytest.raises(AirflowException, match="before the deadline") as failed:
            run_operator(op, {"ti": ti})
    finally:
        emulator.configure(run_step_delay=0.01)
    assert "run" in str(failed.value)


def test_a_failing_handler_fails_the_task_with_the_runs_log_lines(
    platform: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    file_id = _upload(platform, tmp_path)
    op = _run_op(platform, file_id, environment={"FAIL": "1"}, deferrable=True)
    with pytest.raises(AirflowFailException) as info:
        run_operator(op, {"ti": FakeTI("run")})
    assert "reached failure status FAILED" in str(info.value)
    assert "about to fail on purpose" in str(info.value)
    assert _client(emulator).list_channel_files(platform["output"])["files"] == []  # nothing uploaded
    # A retry after a failed run starts a new one (the failed one is not reused).
    with pytest.raises(AirflowFailException):
        _run_op(platform, file_id, environment={"FAIL": "1"}).execute({"ti": FakeTI("run", try_number=2)})
    assert route_count(emulator, "create_run") == 2


def test_platform_trigger_is_created_once_and_deleted(platform: dict[str, str], emulator: Any) -> None:
    arguments = {
        "deployment_id": platform["deployment_id"],
        "version_id": platform["version_id"],
        "input_channel_id": platform["input"],
        "output_channel_id": platform["output"],
    }
    first = AbejaCreateTriggerOperator(task_id="trigger", **arguments).execute({"ti": FakeTI("trigger")})
    again = AbejaCreateTriggerOperator(task_id="trigger", **arguments).execute({"ti": FakeTI("trigger")})
    assert first["trigger_id"] == again["trigger_id"]
    assert route_count(emulator, "create_trigger") == 1
    delete = AbejaDeleteTriggerOperator(
        task_id="delete", deployment_id=platform["deployment_id"], trigger_id=first["trigger_id"]
    )
    assert delete.execute({"ti": FakeTI("delete")}) is not None
    assert delete.execute({"ti": FakeTI("delete")}) is None  # already gone: success


def _try(try_number: int, max_tries: int) -> FakeTI:
    """A try of a task with ``retries=1``: a clear sets ``max_tries`` to the cleared try plus one."""
    ti = FakeTI("run", try_number=try_number)
    ti.max_tries = max_tries  # type: ignore[attr-defined]
    return ti


@pytest.mark.parametrize("stored", [False, pytest.param(True, marks=needs_store)])
def test_the_first_try_after_a_clear_starts_a_new_run_and_keeps_the_old(
    platform: dict[str, str], emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], stored: bool
) -> None:
    """A run cannot be cancelled: a clear leaves the run its try waited for running (said in the
    log) and the rerun starts its own, though the task state store still holds the old one; a
    crash's retry reconnects to the newest, never a third."""
    file_id = _upload(platform, tmp_path)
    store = {"task_state_store": FakeStore()} if stored else {}
    emulator.configure(run_step_delay=5)  # every run stays unfinished while the tries start
    try:
        first = _try(1, 1)
        with pytest.raises(TaskDeferred):
            _run_op(platform, file_id, deferrable=True, retries=1).execute({"ti": first, **store})
        rerun = _try(2, 2)
        with pytest.raises(TaskDeferred):
            _run_op(platform, file_id, deferrable=True, retries=1).execute({"ti": rerun, **store})
        assert rerun.xcoms["run_id"] != first.xcoms["run_id"]
        assert "a run cannot be cancelled, so it goes on (kept)" in capsys.readouterr().out
        old = _client(emulator).get_run(
            emulator.organization_id, platform["deployment_id"], first.xcoms["run_id"]
        )
        assert old["status"] not in ("SUCCEEDED", "FAILED")  # nothing ended it
        crashed = _try(3, 2)  # the rerun's worker died: its retry finds the rerun's run
        with pytest.raises(TaskDeferred):
            _run_op(platform, file_id, deferrable=True, retries=1).execute({"ti": crashed, **store})
        assert crashed.xcoms["run_id"] == rerun.xcoms["run_id"]
        assert route_count(emulator, "create_run") == 2
    finally:
        emulator.configure(run_step_delay=0.01)


def test_a_clear_after_the_run_succeeded_reuses_it(
    platform: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    file_id = _upload(platform, tmp_path)
    done = _run_op(platform, file_id, retries=1).execute({"ti": _try(1, 1)})
    again = _run_op(platform, file_id, retries=1).execute({"ti": _try(2, 2)})
    assert again["run_id"] == done["run_id"]
    assert again["status"] == "SUCCEEDED"
    assert route_count(emulator, "create_run") == 1


class Killed(BaseException):
    """The worker SIGKILLed: nothing of the try runs after the moment it is raised."""


def _killed_before_waiting(op: AbejaCreateRunOperator, context: dict[str, Any]) -> str:
    """Run a try up to its wait and SIGKILL it there (what comes before, the run made and its id
    stored, has happened); the run's id."""

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise Killed

    op.wait_or_defer = killed  # type: ignore[method-assign]
    with pytest.raises(Killed):
        op.execute(context)
    return str(context["ti"].xcoms["run_id"])


#: Other runs that ``_bury`` starts, each on a page of its own.
BUSY_RUNS = 6


def _bury(platform: dict[str, str], emulator: Any) -> None:
    """A busy deployment: other runs, one per page, push every earlier run ``BUSY_RUNS`` pages
    down the listing."""
    emulator.configure(runs_page_size=1)
    client = _client(emulator)
    for _ in range(BUSY_RUNS):
        client.create_run(emulator.organization_id, platform["deployment_id"], platform["version_id"])


def _status(emulator: Any, platform: dict[str, str], run_id: str) -> str:
    run = _client(emulator).get_run(emulator.organization_id, platform["deployment_id"], run_id)
    return str(run["status"])


def _until(emulator: Any, platform: dict[str, str], run_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while _status(emulator, platform, run_id) != status:
        assert time.monotonic() < deadline, f"run {run_id} never reached {status}"
        time.sleep(0.05)


def test_a_retry_without_a_stored_run_finds_it_however_busy_the_deployment(
    platform: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    """No task state store (Airflow 2.11, or a kill before the store write): the creation
    marker's search reads the deployment's runs page by page until it finds the earlier run."""
    file_id = _upload(platform, tmp_path)
    run_id = _killed_before_waiting(_run_op(platform, file_id), {"ti": FakeTI("run")})
    _until(emulator, platform, run_id, "SUCCEEDED")
    _bury(platform, emulator)
    listed = route_count(emulator, "get_runs")
    summary = _run_op(platform, file_id).execute({"ti": FakeTI("run", try_number=2)})
    assert (summary["run_id"], summary["status"]) == (run_id, "SUCCEEDED")
    assert route_count(emulator, "create_run") == 1 + BUSY_RUNS
    assert route_count(emulator, "get_runs") - listed > BUSY_RUNS


@needs_store
def test_a_retry_reconnects_to_the_running_run_it_stored(
    platform: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    """The worker died while its try was deferred; on a busy deployment the run is past the
    marker's search, yet the retry reconnects to it through the task state store, without
    listing: one run."""
    file_id, store = _upload(platform, tmp_path), FakeStore()
    emulator.configure(run_step_delay=5)
    try:
        first = FakeTI("run")
        with pytest.raises(TaskDeferred):
            _run_op(platform, file_id, deferrable=True).execute({"ti": first, "task_state_store": store})
        _bury(platform, emulator)
        listed = route_count(emulator, "get_runs")
        with pytest.raises(TaskDeferred) as deferred:
            _run_op(platform, file_id, deferrable=True).execute(
                {"ti": FakeTI("run", try_number=2), "task_state_store": store}
            )
        run_id = first.xcoms["run_id"]
        assert deferred.value.trigger.run_id == run_id
        assert _status(emulator, platform, run_id) not in ("SUCCEEDED", "FAILED")
    finally:
        emulator.configure(run_step_delay=0.01)
    assert route_count(emulator, "create_run") == 1 + BUSY_RUNS
    assert route_count(emulator, "get_runs") == listed
    assert store.values == {STORE_RUN_ID: run_id}


@needs_store
def test_a_retry_returns_the_stored_run_that_finished(
    platform: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    """SIGKILLed before it waited; the run finished meanwhile, past the marker's search on a busy
    deployment: the retry returns its result (the output file too) without starting another."""
    file_id, store = _upload(platform, tmp_path), FakeStore()
    run_id = _killed_before_waiting(
        _run_op(platform, file_id), {"ti": FakeTI("run"), "task_state_store": store}
    )
    _until(emulator, platform, run_id, "SUCCEEDED")
    _bury(platform, emulator)
    summary = _run_op(platform, file_id).execute(
        {"ti": FakeTI("run", try_number=2), "task_state_store": store}
    )
    assert (summary["run_id"], summary["status"]) == (run_id, "SUCCEEDED")
    assert summary["output_file_id"]
    assert route_count(emulator, "create_run") == 1 + BUSY_RUNS


@needs_store
def test_a_retry_starts_afresh_when_the_stored_run_failed(
    platform: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    """SIGKILLed before it waited for the run, which then failed: the retry starts a new run and
    stores it in place of the failed one."""
    file_id, store = _upload(platform, tmp_path), FakeStore()
    failing = {"environment": {"FAIL": "1"}}
    failed = _killed_before_waiting(
        _run_op(platform, file_id, **failing), {"ti": FakeTI("run"), "task_state_store": store}
    )
    _until(emulator, platform, failed, "FAILED")
    with pytest.raises(AirflowFailException, match="reached failure status FAILED"):
        _run_op(platform, file_id, **failing).execute(
            {"ti": FakeTI("run", try_number=2), "task_state_store": store}
        )
    assert store.values[STORE_RUN_ID] not in (None, failed)
    assert route_count(emulator, "create_run") == 2


@pytest.mark.parametrize("stored", [pytest.param(True, marks=needs_store), False])
def test_an_upload_without_a_conflict_target_resumes_from_the_task_state_store(
    platform: dict[str, str], emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: bool
) -> None:
    """``conflict_target=None``: the platform takes a file of the same name twice. A try SIGKILLed
    after two of three files: on Airflow 3.3 its retry sends only the third (each file once);
    without the store it sends all three again (the duplicates ``conflict_target`` avoids)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(name)
    store = {"task_state_store": FakeStore()} if stored else {}
    send, calls = type(_client(emulator)).upload_channel_file, []

    def killed_at_the_third(client: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["metadata"]["filename"])
        if len(calls) == 3:  # the first try's third file
            raise Killed
        return send(client, *args, **kwargs)

    monkeypatch.setattr(type(_client(emulator)), "upload_channel_file", killed_at_the_third)

    def upload(try_number: int) -> Any:
        op = AbejaUploadToChannelOperator(
            task_id="upload", channel_id=platform["input"], source=str(folder), conflict_target=None
        )
        return op.execute({"ti": FakeTI("upload", try_number=try_number), **store})

    with pytest.raises(Killed):
        upload(1)
    files = upload(2)
    assert [f["filename"] for f in files] == ["a.txt", "b.txt", "c.txt"]
    listed = _client(emulator).list_channel_files(platform["input"])["files"]
    assert len(listed) == (3 if stored else 5)
    assert {f["file_id"] for f in files} <= {f["file_id"] for f in listed}
