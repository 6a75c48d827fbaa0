"""The run operator's retry against a mocked HTTP API and a mocked task state store (Airflow 3.3):
each decision the stored run id leads to. The same against the emulator, with the real runtime,
is in tests/integration/operators/test_run_operators_emulator.py."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_abeja.operators.runs import CREATED_BY_ENV, STORE_RUN_ID, AbejaCreateRunOperator
from tests._context import FakeTI

try:
    from airflow.sdk.execution_time.context import NEVER_EXPIRE
except ImportError:  # before Airflow 3.3: no task state store
    pytest.skip("the task state store arrived in Airflow 3.3", allow_module_level=True)

API = "http://api.test"
ORG = "1234567890123"
DEP = "9999999999999"
VER = "ver-5a3d1e0000000001"
OLD = "run-0000000000000001"
NEW = "run-0000000000000002"
RUNS = f"{API}/organizations/{ORG}/deployments/{DEP}/runs"
MARKER = "dag/run/manual__1"


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"organization_id": ORG, "auth_token": "unit-test-token", "max_retry_count": 0}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps({"conn_type": "abeja", "host": API, "extra": extra})
    )


def run(run_id: str, status: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "deployment_id": DEP,
        "model_version_id": VER,
        "status": status,
        "user_env_vars": {CREATED_BY_ENV: MARKER},
        "created_at": "2026-12-07T10:00:00.000000Z",
    }


def store(run_id: str | None) -> mock.Mock:
    """The task state store of one task instance, holding ``run_id`` under the run's key."""
    mocked = mock.Mock()
    mocked.get.side_effect = lambda key, default=None: run_id if key == STORE_RUN_ID else default
    return mocked


def op(**kwargs: Any) -> AbejaCreateRunOperator:
    kwargs = {"check_interval": 0.01, "timeout": 5, "retries": 1, **kwargs}
    return AbejaCreateRunOperator(task_id="run", deployment_id=DEP, version_id=VER, **kwargs)


def context(stored: mock.Mock, try_number: int = 2, max_tries: int = 1) -> dict[str, Any]:
    """A retry's context by default (``retries=1``: a clear sets ``max_tries`` to try + 1)."""
    ti = FakeTI("run", try_number=try_number)
    ti.max_tries = max_tries  # type: ignore[attr-defined]
    return {"ti": ti, "task_state_store": stored}


@pytest.mark.parametrize("status", ["SUBMITTED", "RUNNING"])
def test_a_retry_reconnects_to_the_stored_run_without_listing(requests_mock: Any, status: str) -> None:
    requests_mock.get(f"{RUNS}/{OLD}", [{"json": run(OLD, status)}, {"json": run(OLD, "SUCCEEDED")}])
    stored = store(OLD)
    summary = op().execute(context(stored))
    assert (summary["run_id"], summary["status"]) == (OLD, "SUCCEEDED")
    assert [(r.method, r.url) for r in requests_mock.request_history] == [("GET", f"{RUNS}/{OLD}")] * 2
    stored.set.assert_called_once_with(STORE_RUN_ID, OLD, retention=NEVER_EXPIRE)


def test_a_retry_returns_the_stored_run_that_succeeded_without_waiting(requests_mock: Any) -> None:
    requests_mock.get(f"{RUNS}/{OLD}", json=run(OLD, "SUCCEEDED"))
    summary = op().execute(context(store(OLD)))
    assert (summary["run_id"], summary["status"]) == (OLD, "SUCCEEDED")
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    "stored_answer", [{"json": run(OLD, "FAILED")}, {"status_code": 404, "json": {"message": "not found"}}]
)
def test_a_retry_starts_afresh_when_the_stored_run_failed_or_is_gone(
    requests_mock: Any, stored_answer: dict[str, Any]
) -> None:
    requests_mock.get(f"{RUNS}/{OLD}", **stored_answer)
    requests_mock.get(RUNS, json={"entries": [run(OLD, "FAILED")]})  # the marker's net finds it failed too
    post = requests_mock.post(RUNS, json=run(NEW, "SUBMITTED"))
    stored = store(OLD)
    summary = op(wait_for_completion=False).execute(context(stored))
    assert summary["run_id"] == NEW
    assert post.last_request.json()["environment"] == {CREATED_BY_ENV: MARKER}
    stored.set.assert_called_once_with(STORE_RUN_ID, NEW, retention=NEVER_EXPIRE)


def test_the_first_try_after_a_clear_starts_a_new_run_though_the_store_holds_a_running_one(
    requests_mock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    requests_mock.get(f"{RUNS}/{OLD}", json=run(OLD, "RUNNING"))
    requests_mock.get(RUNS, json={"entries": [run(OLD, "RUNNING")]})
    post = requests_mock.post(RUNS, json=run(NEW, "SUBMITTED"))
    stored = store(OLD)
    with pytest.raises(TaskDeferred) as deferred:  # waits for the new run
        op(deferrable=True).execute(context(stored, try_number=2, max_tries=2))
    assert deferred.value.trigger.run_id == NEW
    assert post.call_count == 1
    stored.set.assert_called_once_with(STORE_RUN_ID, NEW, retention=NEVER_EXPIRE)
    assert f"Cleared while it waited for run {OLD} (RUNNING)" in capsys.readouterr().out


def test_without_reuse_the_store_is_neither_read_nor_written(requests_mock: Any) -> None:
    post = requests_mock.post(RUNS, json=run(NEW, "SUBMITTED"))
    stored = store(OLD)
    op(wait_for_completion=False, reuse_existing=False).execute(context(stored))
    assert [r.method for r in requests_mock.request_history] == ["POST"]
    assert post.last_request.json()["environment"] == {}  # no marker
    assert (stored.get.call_count, stored.set.call_count) == (0, 0)
