"""A real small cluster on loopback: Redis, an S3-compatible store (moto), and Airflow with Celery.

Runs only under `make test-distributed` (which installs the `distributed` extra and Redis and sets
ABEJA_TEST_DISTRIBUTED=1): the plain `make test` does not collect this folder. Every server is
started here on a free loopback port, in its own process group, and stopped by its group.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

if not os.environ.get("ABEJA_TEST_DISTRIBUTED"):
    collect_ignore_glob = ["test_*.py"]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUCKET = "abeja-distributed"
S3_CONN_ID = "abeja_s3"
SHARDED_DAG = "abeja_sharded_batch_inference"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout:.0f}s")
        time.sleep(interval)


class Group:
    """Processes started in their own sessions, stopped by process group (nothing outlives a test)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Any:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name, proc in reversed(self.procs.items()):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(name)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: `make test-distributed` installs it"
    folder = tmp_path_factory.mktemp("redis")
    group = Group(folder)
    port = free_port()
    group.start(
        "redis",
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        dict(os.environ),
        cwd=folder,
    )
    import redis

    wait_until(lambda: redis.Redis(port=port).ping(), 20, "redis PING")
    yield f"redis://127.0.0.1:{port}"
    group.stop_all()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode: a real HTTP S3 API on loopback, with one bucket."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def s3_connection_env(endpoint: str) -> dict[str, str]:
    """`AIRFLOW_CONN_ABEJA_S3`: an Amazon connection to the local store."""
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    return {f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(conn)}


@pytest.fixture
def s3_connection(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in s3_connection_env(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    return S3_CONN_ID


class Cluster:
    """Airflow 3 with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer, 2 workers."""

    def __init__(self, root: Path, env: dict[str, str], api_port: int) -> None:
        self.root = root
        self.env = env
        self.api = f"http://127.0.0.1:{api_port}/api/v2"
        self.group = Group(root / "logs")

    def airflow(self, *args: str) -> list[str]:
        return [str(BIN / "airflow"), *args]

    def start(self) -> None:
        subprocess.run(self.airflow("db", "migrate"), env=self.env, check=True, capture_output=True)
        self.group.start("api-server", self.airflow("api-server"), self.env)
        self.group.start("scheduler", self.airflow("scheduler"), self.env)
        self.group.start("dag-processor", self.airflow("dag-processor"), self.env)
        self.group.start("triggerer", self.airflow("triggerer", "--skip-serve-logs"), self.env)
        for n in (1, 2):
            self.start_worker(n)

    def start_worker(self, n: int) -> None:
        """A worker with its own working folder and temp dir, one task at a time."""
        folder = self.root / f"worker{n}"
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        env = {**self.env, "TMPDIR": str(folder / "tmp")}
        argv = self.airflow(
            "celery", "worker", "--concurrency", "1", "--skip-serve-logs",
            "--celery-hostname", f"worker{n}@%h",
        )  # fmt: skip
        self.group.start(f"worker{n}", argv, env, cwd=folder)

    def get(self, path: str) -> Any:
        import requests

        response = requests.get(self.api + path, timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        import requests

        response = requests.post(self.api + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def diagnostics(self) -> str:
        return "\n".join(f"--- {name}\n{self.group.tail(name)}" for name in self.group.procs)


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, s3_endpoint: str, abeja_emulator_process: Any
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    (root / "logs").mkdir()
    dags = root / "dags"
    # Only the DAG under test: a scheduled example would take worker slots and services meanwhile.
    shutil.copytree(REPO / "example_dags" / "data", dags / "data")
    shutil.copy(REPO / "example_dags" / f"{SHARDED_DAG}.py", dags)
    (root / "openlineage").mkdir()
    api_port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(root / "home"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}",
            "AIRFLOW__CELERY__BROKER_URL": f"{redis_url}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"{redis_url}/1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            # Every task's OpenLineage events, one file each (the provider is in the distributed extra).
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(root / "openlineage" / "event")}
            ),
            "ABEJA_EXAMPLE_CHECK_INTERVAL": "0.5",
            "ABEJA_EXAMPLE_RETRY_DELAY": "1",
            "ABEJA_EXAMPLE_OUTPUT_DIR": f"s3://{BUCKET}/sharded",
            "ABEJA_EXAMPLE_STORAGE_CONN_ID": S3_CONN_ID,
            **s3_connection_env(s3_endpoint),
            **abeja_emulator_process.handle.airflow_connection_env("abeja_default"),
        }
    )
    cluster = Cluster(root, env, api_port)
    try:
        cluster.start()
        wait_until(lambda: cluster.get("/monitor/health"), 120, "api-server health")
        yield cluster
    finally:
        cluster.group.stop_all()
