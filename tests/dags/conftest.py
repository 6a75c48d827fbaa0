"""Run the example DAGs through `dag.test()` against the emulator.

`dag.test()` needs a migrated metadata database and the DAG in a file under the configured dags
folder (it parses the dags-folder bundle and serialises the DAG from there). The suite-wide
`tests/conftest.py` points AIRFLOW_HOME and DAGS_FOLDER at a private temporary directory; this
conftest migrates its database once and copies `example_dags/` (data files included) into it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.testing import DagRunner, migrate_database

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
CONN_ENV = "AIRFLOW_CONN_ABEJA_DEFAULT"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the private metadata database once (initdb on a migrated database is a no-op)."""
    migrate_database()


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


@pytest.fixture
def run_dag(example_dagbag: Any, emulator_connection: Any) -> DagRunner:
    """Runs example DAGs against a freshly reset emulator (``DagRunner``: the DAG-testing plugin's)."""
    return DagRunner(example_dagbag, emulator_connection)


@contextmanager
def pattern_runner(pattern: Path, dags_folder: Path, emulator: Any) -> Iterator[DagRunner]:
    """Runs the DAGs of a file of ``tests/dags/patterns``; the file is in the dags folder only
    meanwhile (other tests run every DAG found there)."""
    copy = dags_folder / pattern.name
    shutil.copy(pattern, copy)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    try:
        dagbag = DagBag(str(copy))
        assert not dagbag.import_errors, dagbag.import_errors
        yield DagRunner(dagbag, emulator)
    finally:
        copy.unlink()
