"""Run the example DAGs through `dag.test()` against the emulator.

`dag.test()` needs a migrated metadata database and the DAG in a file under the configured dags
folder (it parses the dags-folder bundle and serialises the DAG from there). The suite-wide
`tests/conftest.py` points AIRFLOW_HOME and DAGS_FOLDER at a private temporary directory, migrates
its database once and copies `example_dags/` (data files included) into it (``example_dagbag``,
shared with the secrets test of tests/reliability); this conftest points the connection at the
emulator.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.testing import DagRunner

CONN_ENV = "AIRFLOW_CONN_ABEJA_DEFAULT"


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
