"""Suite-wide settings, applied before any test module imports Airflow.

Airflow reads AIRFLOW_HOME and its config on first import, so they are set here, at conftest
import time, to a private temporary home: the suite never touches ~/airflow. Under pytest-xdist
(`make test`, `make test-fast`) each worker process gets a home, and so a metadata database, of its own.
Fixtures used across folders live here too.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

BENCH_CLIENT = Path(__file__).resolve().parents[1] / "bench" / "client_throughput.py"
#: ABEJA's CLI gets a venv of its own (git-ignored), made on first use.
ABEJACLI_VENV = BENCH_CLIENT.parent / ".venv-abejacli"
ABEJACLI_REQUIREMENT = "abejacli==2.2.8"
EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"


def _remove_when_the_maker_exits(folder: str, maker: int) -> None:
    """At exit of the process that made ``folder`` (not of a forked child exiting normally)."""
    if os.getpid() == maker:
        shutil.rmtree(folder, ignore_errors=True)


#: Names the home this conftest made, so that a worker inheriting it knows it may replace it.
_OWN_HOME = "PYTEST_ABEJA_SUITE_AIRFLOW_HOME"
#: In memory when the machine has a writable /dev/shm: Airflow's SQLite database runs in WAL mode
#: with a sync on every commit, a few milliseconds each on disk and hundreds of commits per
#: `dag.test()`. (pytest's tmp_path stays in the temporary folder: the emulator runs version code
#: only from under it.)
_MEMORY = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if "AIRFLOW_HOME" not in os.environ or (_worker and os.environ.get(_OWN_HOME) == os.environ["AIRFLOW_HOME"]):
    _inherited = os.environ.get("AIRFLOW_HOME")
    _home = tempfile.mkdtemp(
        prefix=f"abeja-airflow-home-{_worker}-" if _worker else "abeja-airflow-home-", dir=_MEMORY
    )
    os.environ["AIRFLOW_HOME"] = os.environ[_OWN_HOME] = _home
    atexit.register(_remove_when_the_maker_exits, _home, os.getpid())
    if _inherited and os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") == os.path.join(_inherited, "dags"):
        del os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
# Every service instance the emulators start is a runtime that imports numpy, whose BLAS would start a
# thread per core (a third of a runtime's start-up CPU) for handlers that never multiply a matrix.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
# The suite must not pick up a developer's real ABEJA credentials or API URL.
for _name in (
    "ABEJA_API_URL",
    "PLATFORM_AUTH_TOKEN",
    "ABEJA_PLATFORM_USER_ID",
    "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN",
    "ABEJA_PLATFORM_DATASOURCE_ID",
    "ABEJA_PLATFORM_DATASOURCE_SECRET",
    "ABEJA_ORGANIZATION_ID",
    "ABEJA_API_TIMEOUT",
    "ABEJA_API_MAX_RETRY_COUNT",
):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def abeja_sdk_python() -> Path:
    """The python of the venv holding ABEJA's own SDK (abeja-sdk 2.3.6), which is never our dependency.

    One venv for the suite and the benchmarks (`bench/.venv-abeja-sdk`, git-ignored), installed from
    the package index on first use by `bench/client_throughput.py`; without an index (or on a Python
    the SDK refuses) the tests that need it are skipped with the reason.
    """
    spec = importlib.util.spec_from_file_location("bench_client_throughput", BENCH_CLIENT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    python, note = module.sdk_python()
    if python is None:
        pytest.skip(f"abeja-sdk 2.3.6 could not be installed: {note}")
    return Path(python)


@pytest.fixture(scope="session")
def abejacli_python() -> Path:
    """The python of the venv holding ABEJA's CLI (abejacli 2.2.8), never our dependency.

    Installed into `bench/.venv-abejacli` from the package index on first use; without an index
    the tests that need it are skipped with the reason.
    """
    python = ABEJACLI_VENV / "bin" / "python"
    check = [str(python), "-c", "from abejacli.version import VERSION; print(VERSION)"]
    found = subprocess.run(check, capture_output=True, text=True) if python.exists() else None
    if found is not None and found.returncode == 0 and found.stdout.strip() == "2.2.8":
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(ABEJACLI_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", ABEJACLI_REQUIREMENT],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = (getattr(exc, "stderr", None) or "").strip().splitlines()[-1:] or [str(exc)]
        pytest.skip(f"{ABEJACLI_REQUIREMENT} could not be installed: {tail[0]}")
    return python


#: The longest modules of `make test`'s first run, longest first. They mostly wait on child processes
#: (three demos, every example DAG), so they go first: under `--dist loadfile` the other worker's
#: modules then run beside them, not after them (in the folders' order the demo came after every
#: folder but tests/unit).
LONGEST_FIRST = ("tests/standalone/test_demo.py", "tests/reliability/test_secrets_dags.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the longest modules to the front; the order of everything else stays (a stable sort)."""
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Exempt what collection loaded (Airflow, the provider, every test module) from garbage
    collection: each full collection of the run, and pytest's five at its end, would walk it again."""
    gc.freeze()


# -- the metadata database and the example DAGs: once per session, whichever folder asks first ------


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the private metadata database once (initdb on a migrated database is a no-op)."""
    from airflow_provider_abeja.testing import migrate_database

    migrate_database()


@pytest.fixture(scope="session")
def dags_folder(airflow_db: None) -> Path:
    """The configured dags folder, holding a copy of `example_dags/` (`dag.test()` serializes from it)."""
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
