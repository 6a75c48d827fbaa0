"""Run the example DAGs through `dag.test()` against the emulator.

`dag.test()` needs a migrated metadata database and the DAG in a file under the configured dags
folder (it parses the dags-folder bundle and serialises the DAG from there). The suite-wide
`tests/conftest.py` points AIRFLOW_HOME and DAGS_FOLDER at a private temporary directory; this
conftest migrates its database once and copies `example_dags/` (data files included) into it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
CONN_ENV = "AIRFLOW_CONN_ABEJA_DEFAULT"


@dataclass
class DagRunResult:
    """What a test asserts on: the run's state, each task's state and return value."""

    state: str
    task_states: dict[str, str | None]
    returns: dict[str, Any] = field(default_factory=dict)
    #: (task_id, map_index) -> state of every mapped task instance
    map_states: dict[tuple[str, int], str | None] = field(default_factory=dict)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the private metadata database once (initdb on a migrated database is a no-op)."""
    from airflow import __version__
    from airflow.configuration import conf
    from airflow.utils import db

    if __version__.startswith("2.") and conf.get("database", "sql_alchemy_conn").startswith("sqlite"):
        # Airflow 2's unit-test config names the LocalExecutor, which refuses SQLite; a sensor's
        # dependency check loads it even in dag.test().
        conf.set("core", "executor", "SequentialExecutor")
    db.initdb()


@pytest.fixture(scope="session")
def dags_folder(airflow_db: None) -> Path:
    """The configured dags folder, holding a copy of `example_dags/`."""
    from airflow.configuration import conf

    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        EXAMPLE_DAGS, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return folder


@pytest.fixture(scope="session")
def example_dagbag(dags_folder: Path) -> Any:
    """The example DAGs parsed from the dags folder, as the scheduler would parse them."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    return DagBag(str(dags_folder))


@pytest.fixture
def emulator_connection(abeja_emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`abeja_default` points at a fresh emulator; every test starts from its sample deployment."""
    monkeypatch.setenv(CONN_ENV, connection_env_value(abeja_emulator))
    # Read when a DAG file is parsed: short status polls, and outputs in the test's own directory.
    monkeypatch.setenv("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.1")
    monkeypatch.setenv("ABEJA_EXAMPLE_OUTPUT_DIR", str(tmp_path / "outputs"))
    return abeja_emulator


def connection_env_value(handle: Any) -> str:
    """The emulator handle's connection as the JSON `AIRFLOW_CONN_ABEJA_DEFAULT` takes."""
    return str(handle.airflow_connection_env("abeja_default")[CONN_ENV])


class DagRunner:
    """`runner(dag_id, **conf)` runs one DAG once with `dag.test()`; `.handle` is the emulator."""

    def __init__(self, dagbag: Any, handle: Any) -> None:
        self.dagbag = dagbag
        self.handle = handle

    def __call__(self, dag_id: str, **conf: Any) -> DagRunResult:
        known = self.dagbag.get_dag(dag_id)
        assert known is not None, f"{dag_id} not found; import errors: {self.dagbag.import_errors}"
        # Parse the file anew for every run: a run's conf is merged into the task params in place,
        # so a DAG object used twice would carry one test's params into the next.
        dag = type(self.dagbag)(known.fileloc).get_dag(dag_id)
        dag_run = dag.test(run_conf=conf or None)
        tis = dag_run.get_task_instances()
        return DagRunResult(
            state=str(dag_run.state),
            task_states={ti.task_id: (None if ti.state is None else str(ti.state)) for ti in tis},
            returns={ti.task_id: xcom_value(ti) for ti in tis},
            map_states={
                (ti.task_id, ti.map_index): (None if ti.state is None else str(ti.state))
                for ti in tis
                if ti.map_index >= 0
            },
        )


@pytest.fixture
def run_dag(example_dagbag: Any, emulator_connection: Any) -> DagRunner:
    """Runs example DAGs against a freshly reset emulator (see DagRunner)."""
    return DagRunner(example_dagbag, emulator_connection)


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
