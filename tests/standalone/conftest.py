"""A real `airflow standalone` (api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite
or, with the `airflow_postgres` fixture, a private PostgreSQL).

`dag.test()` runs triggers inline in the test process; only a real triggerer process shows that a
trigger can be imported from the installed package and serialised across processes. The fixture starts
standalone in its own session (process group) and stops that whole group when the test ends, pass or
fail, so no scheduler, worker or triggerer outlives the test.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
# Settings read by every component; anything suite-wide (unit-test mode, private home) is replaced.
_DROPPED = ("AIRFLOW__CORE__UNIT_TEST_MODE", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW_HOME")
TERMINAL_RUN_STATES = {"success", "failed"}
#: Seconds between two looks at the REST API: a GET is cheap, and every wait loses half of it on average.
POLL = 0.5


def free_port() -> int:
    """A port nobody listens on right now (the api-server must not take a fixed 8080)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a recycled id owned by someone else
        return False
    return True


def group_members(pgids: list[int]) -> str:
    """`ps` lines of the processes in these groups (for a failure message)."""
    out = subprocess.run(["ps", "-e", "-o", "pid,pgid,stat,args"], capture_output=True, text=True).stdout
    wanted = {str(p) for p in pgids}
    return "\n".join(line for line in out.splitlines() if line.split()[1:2] and line.split()[1] in wanted)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
    pgid = proc.pid  # started with start_new_session=True: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and group_alive(pgid):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    # Killed children of killed parents linger until init reaps them: wait for the group to empty.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.1)


class StandaloneAirflow:
    """One `airflow standalone` in a private AIRFLOW_HOME, driven through its REST API."""

    api_root = "/api/v2"
    health_path = "/api/v2/monitor/health"

    def __init__(self, home: Path, dag_files: list[Path], extra_env: Mapping[str, str]) -> None:
        self.home = home
        self.dags = home / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        for path in dag_files:
            shutil.copy(path, self.dags / path.name)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output_path = home / "standalone.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        self.created = time.monotonic()
        #: seconds since creation at which each step finished (printed by the tests, for diagnosis)
        self.marks: dict[str, float] = {}
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            {
                "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__PARALLELISM": "4",
                # Short loops: a test waits for each of them (a new DAG file, an idle scheduler).
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                # Workers report to the execution API of *this* api-server, not localhost:8080.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            }
        )
        env.update(extra_env)
        self.env = env

    # -- process -------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        with self.output_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), "standalone"],
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # setsid: its own process group, stopped as one
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited early:\n{self.output_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}{self.health_path}", timeout=2) as resp:
                    health = json.load(resp)
                if all(
                    (health.get(part) or {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer")
                ):
                    self.mark("healthy")
                    return
            except (OSError, ValueError):
                pass
            time.sleep(POLL)
        raise TimeoutError(f"airflow standalone not healthy after {timeout}s:\n{self.output_tail()}")

    def mark(self, step: str) -> None:
        self.marks[step] = round(time.monotonic() - self.created, 1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def output_tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    # -- REST API ------------------------------------------------------------------------------
    def authorization(self) -> str:
        if self._token is None:
            with urllib.request.urlopen(f"{self.base}/auth/token", timeout=10) as resp:
                self._token = json.load(resp)["access_token"]
        return f"Bearer {self._token}"

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base}{path}",
            data=data,
            method=method,
            headers={"Authorization": self.authorization(), "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=20) as resp:
            return json.load(resp)

    def wait_for_dag(self, dag_id: str, timeout: float = 90.0) -> None:
        """Wait until the dag-processor has parsed and serialised `dag_id`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._request("GET", f"{self.api_root}/dags/{dag_id}/details")
                self.mark("dag parsed")
                return
            except urllib.error.HTTPError as err:
                if err.code != 404:
                    raise
            time.sleep(POLL)
        errors = self._request("GET", f"{self.api_root}/importErrors")
        raise TimeoutError(f"{dag_id} not parsed after {timeout}s; import errors: {errors}")

    def run_body(self, conf: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """A new DAG run's body (Airflow 3 asks for the logical date, None for "now")."""
        return {"logical_date": None, "conf": dict(conf or {}), **fields}

    def state_body(self, state: str) -> dict[str, Any]:
        """A task instance's new state, as a user sets it."""
        return {"new_state": state}

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        run = self._request("POST", f"{self.api_root}/dags/{dag_id}/dagRuns", self.run_body(conf))
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = str(self._request("GET", f"{self.api_root}/dags/{dag_id}/dagRuns/{run_id}")["state"])
            if state in TERMINAL_RUN_STATES:
                self.mark(f"run {state}")
                return state
            time.sleep(POLL)
        raise TimeoutError(f"run {run_id} of {dag_id} not finished after {timeout}s")

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 120.0
    ) -> None:
        """Wait until a task instance is in `state` (fails early if the run ends first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.task_states(dag_id, run_id).get(task_id) == state:
                self.mark(f"{task_id} {state}")
                return
            run_state = str(self._request("GET", f"{self.api_root}/dags/{dag_id}/dagRuns/{run_id}")["state"])
            if run_state in TERMINAL_RUN_STATES:
                raise AssertionError(f"run ended {run_state} before {task_id} was {state}")
            time.sleep(POLL)
        raise TimeoutError(f"{task_id} not {state} after {timeout}s: {self.task_states(dag_id, run_id)}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self._request("GET", f"{self.api_root}/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.glob("*.log")) if folder.exists() else []


class StandaloneAirflow2(StandaloneAirflow):
    """The same on Airflow 2.11: scheduler, webserver (REST API v1, basic auth) and triggerer.

    2.11's LocalExecutor refuses SQLite: give it the `airflow_postgres` settings.
    """

    api_root = "/api/v1"
    health_path = "/health"

    def __init__(self, home: Path, dag_files: list[Path], extra_env: Mapping[str, str]) -> None:
        super().__init__(home, dag_files, extra_env)
        self.env.update(
            {
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.port),
                "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
                **extra_env,
            }
        )

    def authorization(self) -> str:
        password = (self.home / "standalone_admin_password.txt").read_text().strip()
        return "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()

    def run_body(self, conf: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        return {"conf": dict(conf or {}), **fields}

    def state_body(self, state: str) -> dict[str, Any]:
        return {"new_state": state, "dry_run": False}  # v1's default is a dry run


def airflow_major() -> int:
    from airflow import __version__

    return int(__version__.split(".")[0])


@pytest.fixture(scope="session")
def airflow_postgres() -> Iterator[dict[str, str]]:
    """Settings that put Airflow's metadata database on a private PostgreSQL server.

    SQLite takes one writer at a time: with ~30 concurrent tasks its scheduler exits on "database
    is locked". pgserver (the `kill-matrix` extra) bundles PostgreSQL's binaries; it listens on a
    unix socket only, and as root runs the server as its own system user (PostgreSQL refuses root).
    psycopg 3 is Airflow 3's sync and async driver, psycopg2 Airflow 2.11's. The server stops
    when the session ends.
    """
    try:
        import pgserver

        importlib.import_module("psycopg" if airflow_major() >= 3 else "psycopg2")
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise RuntimeError(f"{exc}: install the `kill-matrix` extra (make test-kill-matrix does)") from exc
    # Not under pytest's temporary root: every pytest session on the machine makes that 0700 again,
    # and the server's own user must reach its data directory until it stops.
    server = pgserver.get_server(tempfile.mkdtemp(prefix="abeja-airflow-pg-"), cleanup_mode="delete")
    try:
        if airflow_major() >= 3:
            url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
            yield {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,
            }
        else:  # SQLAlchemy 1.4: psycopg2
            url = server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
            yield {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    finally:
        server.cleanup()


DAG_FILES = [
    EXAMPLE_DAGS / "abeja_deploy_invoke_teardown.py",
    EXAMPLE_DAGS / "abeja_mapped_versions.py",
    EXAMPLE_DAGS / "abeja_scheduled_retraining.py",
    Path(__file__).parent / "dags" / "abeja_test_label_reviews.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the shared standalone run last, so it stops as soon as they are done."""
    items.sort(key=lambda item: "standalone" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def standalone(abeja_emulator_process: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One standalone holding every DAG the scheduler tests run, against the shared emulator.

    Starting it is most of a scheduler test's time, so the tests share it (one per pytest-xdist
    worker that runs any of them: `make test` spreads them over two): each resets the emulator
    (through `abeja_emulator`) and triggers its own runs. The whole process group is stopped at the
    end, pass or fail.
    """
    home = tmp_path_factory.mktemp("standalone")
    env = {
        **abeja_emulator_process.handle.airflow_connection_env("abeja_default"),
        "ABEJA_EXAMPLE_CHECK_INTERVAL": "0.5",
        "ABEJA_EXAMPLE_LABELLED_REVIEWS": str(home / "labelled.jsonl"),
    }
    airflow = StandaloneAirflow(home / "home", DAG_FILES, env)
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()
        alive = [airflow.proc.pid] if airflow.proc is not None and group_alive(airflow.proc.pid) else []
        assert not alive, f"process group still alive after stop: {alive}\n{group_members(alive)}"
