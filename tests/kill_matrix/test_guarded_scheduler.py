"""The guarded promotion under a real scheduler, triggerer and LocalExecutor, against the emulator.

Three runs side by side, each on its own endpoint of the sample deployment (dags/abeja_guarded_scheduler.py):

- rejected: a human answers ``Reject`` through Airflow's REST API (the standard provider's HITL
  route, ``PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails``);
- timed out: nobody answers; the scheduler's sweep applies the default, ``Reject``;
- killed: the bake's worker (its process group) is SIGKILLed once the endpoint routes to green;
  Airflow retries the task.

Each ends with its endpoint read back on a live, READY service (blue after the first two, green
after the kill) and no other service of its release left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient
from tests.integration.operators._support import SAMPLE_DEPLOYMENT, ready_service
from tests.standalone.conftest import StandaloneAirflow

pytestmark = [pytest.mark.standalone, pytest.mark.slow, pytest.mark.timeout(400)]

HERE = Path(__file__).parent
GROUP = "guarded_promotion"
SCENARIOS = ("reject", "timeout", "kill")
APPROVALS = ("reject", "timeout")


@pytest.fixture
def guarded_airflow(abeja_emulator_process: Any, tmp_path: Path) -> Any:
    # SQLite serves every component: wait for its lock instead of failing after 5 s
    (tmp_path / "guarded_sqlite.py").write_text('CONNECT_ARGS = {"timeout": 120}\n')
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "guarded_sqlite.CONNECT_ARGS",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": "guarded_sqlite.CONNECT_ARGS",
        **abeja_emulator_process.handle.airflow_connection_env("abeja_default"),
        "ABEJA_EXAMPLE_OUTPUT_DIR": str(tmp_path / "out"),
        # the approval's timeout is swept by the scheduler every this many seconds
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "1",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
    }
    airflow = StandaloneAirflow(tmp_path / "home", [HERE / "dags" / "abeja_guarded_scheduler.py"], env)
    try:
        airflow.start(timeout=240)
        yield airflow
    finally:
        airflow.stop()


class Rest:
    """Airflow's public REST API, with the standalone's token (all users are admins)."""

    def __init__(self, base: str) -> None:
        self.base = base
        with urllib.request.urlopen(f"{base}/auth/token", timeout=20) as resp:
            self.token = json.load(resp)["access_token"]

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        """The answer, asked again while SQLite under load answers 500 ("database is locked") or
        nothing in time; a PATCH whose first try landed answers 409 the second time."""
        for attempt in range(8):
            request = urllib.request.Request(
                self.base + path,
                data=None if body is None else json.dumps(body).encode(),
                method=method,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    return json.load(resp)
            except (TimeoutError, urllib.error.URLError) as exc:
                code = exc.code if isinstance(exc, urllib.error.HTTPError) else None
                if method == "PATCH" and code == 409 and attempt:
                    return None
                if code not in (None, 500) or attempt == 7:
                    raise
                time.sleep(2)
        raise AssertionError("unreachable")


def worker_pid(ti_id: str) -> int | None:
    """The task's own process (``airflow worker -- <ti id>``), None until it runs."""
    out = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.strip() == f"airflow worker -- {ti_id}":
            return int(pid)
    return None


def until(check: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not after {timeout}s")


@pytest.fixture
def client(abeja_emulator: Any) -> Iterator[APIClient]:
    with APIClient(abeja_emulator.credential, api_url=abeja_emulator.url) as api:
        yield api


def test_rejected_timed_out_and_killed_promotions_end_verified(
    abeja_emulator: Any, guarded_airflow: StandaloneAirflow, client: APIClient
) -> None:
    emulator, airflow = abeja_emulator, guarded_airflow
    org = emulator.organization_id
    release: dict[str, tuple[str, str]] = {}
    for name in SCENARIOS:
        blue = ready_service(emulator)
        client.create_endpoint(org, SAMPLE_DEPLOYMENT, blue, name)
        release[name] = (blue, ready_service(emulator))
    for name in SCENARIOS:
        airflow.wait_for_dag(f"guarded_sched_{name}", timeout=180)
    runs = {
        name: airflow.trigger(f"guarded_sched_{name}", {"green": release[name][1], "endpoint": name})
        for name in SCENARIOS
    }
    rest = Rest(airflow.base)

    def run_path(name: str) -> str:
        return f"/api/v2/dags/guarded_sched_{name}/dagRuns/{runs[name]}"

    def ti(name: str, task: str) -> dict[str, Any]:
        return dict(rest("GET", f"{run_path(name)}/taskInstances/{GROUP}.{task}"))

    def serving(name: str) -> str:
        return str(client.get_endpoint(org, SAMPLE_DEPLOYMENT, name)["service_id"])

    # (c) killed: once the endpoint routes to green and the bake probes it, SIGKILL the worker
    blue, green = release["kill"]
    until(lambda: ti("kill", "swap_and_bake")["state"] == "running" and serving("kill") == green, "baking")
    pid = until(lambda: worker_pid(ti("kill", "swap_and_bake")["id"]), "the bake's worker")
    pgid = os.getpgid(pid)
    assert pgid == pid  # the task's own process group, not the standalone's
    assert pgid != airflow.proc.pid  # type: ignore[union-attr]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    airflow.mark("bake worker killed")

    # (a) rejected through the REST API, after the approval shows the comparison
    airflow.wait_for_task_state("guarded_sched_reject", runs["reject"], f"{GROUP}.approve", "awaiting_input")
    hitl = f"{run_path('reject')}/taskInstances/{GROUP}.approve/-1/hitlDetails"
    assert "| agrees with blue |" in rest("GET", hitl)["body"]
    answer = rest("PATCH", hitl, {"chosen_options": ["Reject"]})
    assert answer is None or answer["chosen_options"] == ["Reject"]

    states = {
        name: airflow.wait_for_run(f"guarded_sched_{name}", runs[name], timeout=240) for name in SCENARIOS
    }
    print(f"guarded scheduler timings (s): {airflow.marks}")
    tasks = {name: airflow.task_states(f"guarded_sched_{name}", runs[name]) for name in SCENARIOS}
    print(f"task states: {tasks}")

    assert states == {"reject": "failed", "timeout": "failed", "kill": "success"}, tasks
    for name in APPROVALS:
        assert tasks[name][f"{GROUP}.approve"] == "failed"
        assert tasks[name][f"{GROUP}.swap_and_bake"] == "upstream_failed"
        assert tasks[name][f"{GROUP}.settle"] == "success"
    assert ti("kill", "swap_and_bake")["try_number"] == 2  # the kill's retry promoted green
    first, retry = (
        path.read_text(errors="replace")
        for path in airflow.task_log_files("guarded_sched_kill", runs["kill"], f"{GROUP}.swap_and_bake")
    )
    assert f"Baking green {green}" in first  # killed during the bake, before it passed
    assert "Bake passed" not in first
    assert "an earlier try): baking again" in retry  # the retry found the endpoint on green
    answers = {
        n: rest("GET", f"{run_path(n)}/taskInstances/{GROUP}.approve/-1/hitlDetails") for n in APPROVALS
    }
    assert answers["reject"]["chosen_options"] == ["Reject"]
    assert answers["reject"]["responded_by_user"] is not None  # a human (the REST API's user)
    assert answers["timeout"]["chosen_options"] == ["Reject"]  # the default, applied at the timeout
    assert answers["timeout"]["responded_by_user"] is None

    left = {s["service_id"]: s["status"] for s in emulator.state()["services"]}
    for name in SCENARIOS:
        blue, green = release[name]
        expected = green if name == "kill" else blue
        found = serving(name)  # read back through the API
        print(f"{name}: endpoint on {found} ({'green' if found == green else 'blue'})")
        assert found == expected
        assert client.get_service(org, SAMPLE_DEPLOYMENT, found)["status"] == "READY"
        assert {s for s in (blue, green) if s in left} == {expected}
    assert len(left) == len(SCENARIOS)
