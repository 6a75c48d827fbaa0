"""pytest fixtures to test your own DAGs against the local emulator, in CI or on a laptop.

Enable them first thing in your ``conftest.py`` with ``pytest_plugins = ["airflow_provider_abeja.testing"]``
(or ``-p airflow_provider_abeja.testing`` in pytest's ``addopts``), with the ``emulator`` extra
installed. Loading this module gives the session a private Airflow home when none is set: Airflow
reads ``AIRFLOW_HOME`` once, on its first import, so this has to happen before any DAG is imported.
The guide: ``docs/testing-your-dags.md``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="abeja-airflow-home-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

__all__ = ["DagRunResult", "DagRunner", "migrate_database"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("abeja_dags_folder", "the DAGs run_abeja_dag runs (from the rootdir)", default="dags")
    parser.addini("abeja_conn_id", "the connection id the DAGs use", default="abeja_default")


@dataclass
class DagRunResult:
    """What a test asserts on: the run's state, each task's state and return value."""

    state: str
    task_states: dict[str, str | None]
    returns: dict[str, Any] = field(default_factory=dict)
    #: (task_id, map_index) -> state, for every mapped task instance
    map_states: dict[tuple[str, int], str | None] = field(default_factory=dict)


class DagRunner:
    """``runner(dag_id, **conf)`` runs one DAG once with ``dag.test()``; ``.emulator`` is its handle."""

    def __init__(self, dagbag: Any, emulator: Any) -> None:
        self.dagbag = dagbag
        self.emulator = emulator

    def __call__(self, dag_id: str, **conf: Any) -> DagRunResult:
        known = self.dagbag.get_dag(dag_id)
        assert known is not None, f"{dag_id} not found; import errors: {self.dagbag.import_errors}"
        # Parsed anew for every run: a run's conf is merged into the task params in place, so a
        # DAG object run twice would carry one test's params into the next.
        dag = type(self.dagbag)(known.fileloc).get_dag(dag_id)
        dag_run = dag.test(run_conf=conf or None)
        tis = dag_run.get_task_instances()
        return DagRunResult(
            state=str(dag_run.state),
            task_states={ti.task_id: _state(ti) for ti in tis},
            returns={ti.task_id: xcom_value(ti) for ti in tis},
            map_states={(ti.task_id, ti.map_index): _state(ti) for ti in tis if ti.map_index >= 0},
        )


def _state(ti: Any) -> str | None:
    return None if ti.state is None else str(ti.state)


def xcom_value(ti: Any, key: str = "return_value") -> Any:
    """A task's XCom, read from the metadata database (None when it pushed none)."""
    try:
        from airflow.models.xcom import XComModel
    except ImportError:  # Airflow 2
        from airflow.models.xcom import XCom

        return XCom.get_one(
            run_id=ti.run_id, key=key, dag_id=ti.dag_id, task_id=ti.task_id, map_index=ti.map_index
        )
    from airflow.utils.session import create_session

    query = XComModel.get_many(
        run_id=ti.run_id, key=key, dag_ids=ti.dag_id, task_ids=ti.task_id, map_indexes=ti.map_index
    )
    with create_session() as session:
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def migrate_database() -> None:
    """Migrate the metadata database (a no-op on a migrated one)."""
    from airflow import __version__
    from airflow.configuration import conf
    from airflow.utils import db

    if not __version__.startswith("2."):
        db.initdb()
        return
    if conf.get("database", "sql_alchemy_conn").startswith("sqlite"):
        # Airflow 2's unit-test config names the LocalExecutor, which refuses SQLite; a sensor's
        # dependency check loads it even in dag.test().
        conf.set("core", "executor", "SequentialExecutor")
    # Airflow 2's migrations run alembic's fileConfig, which swaps the root logger's handlers for
    # one on stderr: task logs would no longer reach stdout for the rest of the process.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        db.initdb()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture(scope="session")
def abeja_airflow_db() -> None:
    """The session's metadata database, migrated once."""
    migrate_database()


@pytest.fixture(scope="session")
def abeja_dagbag(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Any:
    """Your DAG files (the ``abeja_dags_folder`` ini option), parsed from Airflow's dags folder.

    ``dag.test()`` serializes the DAG from a file under the configured dags folder, so the files
    (data files included) are copied there first. The option is checked before the database is
    migrated (``abeja_airflow_db``), so a wrong value fails at once.
    """
    name = str(pytestconfig.getini("abeja_dags_folder")).strip()
    source = Path(pytestconfig.rootpath, name)
    if not name or not source.is_dir():  # an empty value would copy the whole project
        raise pytest.UsageError(f"abeja_dags_folder: {name!r} is not a folder under {pytestconfig.rootpath}")
    request.getfixturevalue("abeja_airflow_db")
    from airflow.configuration import conf

    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    folder = Path(conf.get("core", "dags_folder"))
    if source.resolve() != folder.resolve():
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(source, folder, dirs_exist_ok=True, ignore=ignore)
    return DagBag(str(folder))


@pytest.fixture
def run_abeja_dag(
    pytestconfig: pytest.Config, abeja_dagbag: Any, abeja_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> DagRunner:
    """Runs your DAGs with their ABEJA connection pointed at a freshly reset emulator."""
    conn_id = pytestconfig.getini("abeja_conn_id")
    for name, value in abeja_emulator.airflow_connection_env(conn_id).items():
        monkeypatch.setenv(name, value)
    return DagRunner(abeja_dagbag, abeja_emulator)
