"""Secrets, end to end: every example DAG run with sentinel credentials leaks them nowhere.

Each example DAG runs through ``dag.test()`` (the pipelines' own harness: the suite's session
``example_dagbag`` and the DAG-testing plugin's ``DagRunner``)
against an emulator that accepts only the sentinel token; then one failing run whose server echoes
the token in its error body. Searched afterwards: everything written to stdout/stderr (the task logs
of ``dag.test()``), every log record at DEBUG, every file under ``AIRFLOW_HOME/logs``, the whole
metadata database file (XCom values, rendered template fields, task instance notes, trigger rows)
and the emulator's own output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.testing import DagRunner
from tests.reliability._emulator import USER_ID, EmulatorServer
from tests.reliability.test_secrets import (
    SENTINEL_BEARER,
    SENTINEL_TOKEN,
    _echo_fault,
    assert_no_sentinel,
    sentinel_forms,
)

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


@pytest.fixture(scope="module")
def abeja_emulator_module() -> Iterator[EmulatorServer]:
    with EmulatorServer(
        ready_delay=0.05,
        token=SENTINEL_TOKEN,
        extra_args=["--bearer-token", SENTINEL_BEARER, "--access-log", "--log-level", "debug"],
    ) as server:
        yield server


def _database_bytes() -> bytes:
    """The metadata database file(s), raw: whatever any table holds is in here."""
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn")
    assert url.startswith("sqlite:///"), url
    path = Path(url.removeprefix("sqlite:///"))
    files = (path, Path(f"{path}-wal"), Path(f"{path}-journal"))
    return b"".join(p.read_bytes() for p in files if p.exists())


def _stored_values(dag_ids: set[str]) -> tuple[list[Any], list[Any]]:
    """XCom values and rendered template fields of these DAGs' runs (to prove the search saw some)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = [r.value for r in session.query(XComModel).filter(XComModel.dag_id.in_(dag_ids))]
        rendered = [
            r.rendered_fields
            for r in session.query(RenderedTaskInstanceFields).filter(
                RenderedTaskInstanceFields.dag_id.in_(dag_ids)
            )
        ]
    return xcoms, rendered


def test_example_dags_never_leak_the_credential(
    emulator: EmulatorServer,
    example_dagbag: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.configuration import conf

    caplog.set_level(logging.DEBUG)
    connection = emulator.airflow_connection()
    connection["login"], connection["password"] = USER_ID, SENTINEL_TOKEN
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.1")
    monkeypatch.setenv("ABEJA_EXAMPLE_OUTPUT_DIR", str(tmp_path / "outputs"))
    run = DagRunner(example_dagbag, emulator)
    dag_ids = sorted(example_dagbag.dag_ids)
    assert len(dag_ids) >= 3, dag_ids

    states = {dag_id: run(dag_id).state for dag_id in dag_ids}
    # A failing run whose server echoes the credential: the error reaches the task log.
    _echo_fault(emulator, "request_service", SENTINEL_TOKEN, status=500)
    failing = run("abeja_deploy_invoke_teardown").state

    assert states == dict.fromkeys(dag_ids, "success"), states
    assert failing == "failed"
    counters = emulator.counters()
    assert counters["services_created"] >= len(dag_ids)  # the sentinel credential did the work

    out, err = capfd.readouterr()
    assert_no_sentinel("task output (stdout/stderr)", out + err)
    assert_no_sentinel("log records", caplog.text)
    logs = Path(conf.get("logging", "base_log_folder"))
    for path in logs.rglob("*") if logs.exists() else []:
        if path.is_file():
            assert_no_sentinel(f"log file {path}", path.read_text(errors="replace"))
    xcoms, rendered = _stored_values(set(dag_ids))
    assert xcoms, "no XCom stored: the search would prove nothing"
    assert_no_sentinel("XCom values", json.dumps(xcoms, default=str))
    assert_no_sentinel("rendered template fields", json.dumps(rendered, default=str))
    raw = _database_bytes()
    for form in sentinel_forms():
        assert form.encode() not in raw, f"credential found in the metadata database: {form}"
    assert_no_sentinel("emulator output", emulator.output)
