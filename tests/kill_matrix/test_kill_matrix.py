"""The kill matrix under a real scheduler, LocalExecutor workers and triggerer, against the
emulator: every action of ``cells.ACTIONS`` x {sync, reschedule, deferrable} x {service create,
training job, run} (``cells.NO_CELL`` aside), all cells at once in one ``airflow standalone``. A
reschedule cell is the documented pattern (``dags/abeja_kill_matrix.py``): its action goes to the
sensor ``work`` while it is up for reschedule, and it ends once its teardown has (a run's: once
the sensor has).

Order: every run is started and reaches its wait (a SIGKILLed worker's retry too); the triggerer
is restarted (SIGTERM, a new one takes the triggers over) and no resource may change; then the
users' actions (mark failed, mark success, clear) are sent and the released cells finish. Each
cell must end as ``cells.ACTIONS`` promises; the emulator's counters must show no extra resource.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from abeja_emulator.sample import SAMPLE_DEPLOYMENT_ID
from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.operators.service import CREATED_BY_ENV
from tests.kill_matrix.cells import ACTIONS, MODES, NO_CELL, RESOURCES, Promise, kept_promise, promise, race
from tests.kill_matrix.dags.abeja_kill_matrix import POKE_INTERVAL
from tests.standalone.conftest import (
    StandaloneAirflow,
    StandaloneAirflow2,
    airflow_major,
    group_alive,
    stop_group,
)

AIRFLOW_2 = airflow_major() < 3
#: 2.11's tasks start slower: its matrix takes about twice as long on a loaded machine
pytestmark = [pytest.mark.standalone, pytest.mark.slow, pytest.mark.timeout(1800 if AIRFLOW_2 else 900)]

HERE = Path(__file__).parent
DEFINITION = "sentiment"
RUNNING = {
    "service": {"IN_PROGRESS", "READY"},
    "training": {"Pending", "Active"},
    "run": {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"},
}
FINISHED = {"service": {"READY"}, "training": {"Complete"}, "run": {"SUCCEEDED"}}
CANCELLED: dict[str, set[str]] = {"service": {"deleted"}, "training": {"Stopped"}, "run": set()}
#: The run cells' handler: it answers once the file its run's ``KILL_RELEASE`` names exists.
RUN_HANDLER = """
import os
import time


def handler(request, context):
    deadline = time.monotonic() + 900
    while not os.path.exists(os.environ["KILL_RELEASE"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    return {"content_type": "text/plain", "content": "released"}
"""
PHASE_TIMEOUT = 480.0
#: ``ABEJA_KILL_MATRIX_MODES=deferrable`` runs one column
SELECTED_MODES = os.environ.get("ABEJA_KILL_MATRIX_MODES", ",".join(MODES)).split(",")
#: ``ABEJA_KILL_MATRIX_ACTIONS=clear`` runs one action's cells, to reproduce them (``;`` between
#: actions: their names have commas)
SELECTED_ACTIONS = os.environ.get("ABEJA_KILL_MATRIX_ACTIONS", ";".join(ACTIONS)).split(";")
#: ``ABEJA_KILL_MATRIX_RESOURCES=run`` runs one resource's cells
SELECTED_RESOURCES = os.environ.get("ABEJA_KILL_MATRIX_RESOURCES", ",".join(RESOURCES)).split(",")
#: the reschedule pattern's task that ends what the run made (none in the ``keep`` variant)
TEARDOWN = "teardown"


@dataclass
class Cell:
    action: str
    resource: str
    mode: str
    release: Path
    run_id: str = ""
    step: str = "start"
    #: every resource id seen for this run, and its last status ("deleted" once a service is gone)
    seen: dict[str, str] = field(default_factory=dict)
    killed_pid: int | None = None
    released: bool = False

    @property
    def dag_id(self) -> str:
        return f"kill_{self.resource}_{self.mode}_{ACTIONS[self.action][0]}"

    @property
    def marker(self) -> str:
        creator = "create" if self.mode == "reschedule" else "work"
        return f"{self.dag_id}/{creator}/{self.run_id}"

    @property
    def has_teardown(self) -> bool:
        """The reschedule pattern's teardown (none for the keep flag; none for a run: nothing ends it)."""
        return self.mode == "reschedule" and ACTIONS[self.action][0] != "keep" and self.resource != "run"

    @property
    def has_race(self) -> bool:
        return race(self.action, self.mode, AIRFLOW_2, self.resource) is not None

    @property
    def promise(self) -> Promise:
        return promise(self.action, self.mode, AIRFLOW_2, self.resource)

    @property
    def name(self) -> str:
        return f"{self.action} / {self.mode} / {self.resource}"


class Matrix:
    def __init__(self, airflow: StandaloneAirflow, emulator: Any, cells: list[Cell]) -> None:
        self.airflow, self.emulator, self.cells = airflow, emulator, cells
        self.client = APIClient(emulator.credential, api_url=emulator.url)
        self.tis: dict[tuple[str, str], dict[str, Any]] = {}
        self.teardowns: dict[tuple[str, str], dict[str, Any]] = {}
        #: set once the users' actions are due: a waiting cell is then acted on (a reschedule
        #: cell only while its sensor is up for reschedule)
        self.acting = False

    # -- reading --------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        """The REST API, asked again when the loaded api-server is slow to answer."""
        for attempt in range(10):
            try:
                return self.airflow._request(method, path, body)
            except (TimeoutError, urllib.error.URLError) as exc:
                # SQLite under load: a 500 ("database is locked") or no answer in time
                code = exc.code if isinstance(exc, urllib.error.HTTPError) else None
                if method == "POST" and code == 409 and attempt:
                    return None  # the first try was done after all
                if code not in (None, 500) or attempt == 9:
                    raise
                time.sleep(3)
        raise AssertionError("unreachable")

    def refresh(self) -> None:
        """Every cell's task instance, in one request (the api-server also serves the workers)."""
        root = self.airflow.api_root
        answer = self.api("GET", f"{root}/dags/~/dagRuns/~/taskInstances?limit=100")
        tis = answer["task_instances"]
        self.tis = {(t["dag_id"], t["dag_run_id"]): t for t in tis if t["task_id"] == "work"}
        self.teardowns = {(t["dag_id"], t["dag_run_id"]): t for t in tis if t["task_id"] == TEARDOWN}

    def ended(self, cell: Cell) -> bool:
        """Its task ended, and the teardown after it (reschedule)."""
        done = {"success", "failed"}
        teardown = self.teardowns.get((cell.dag_id, cell.run_id), {})
        return self.ti(cell)["state"] in done and (not cell.has_teardown or teardown.get("state") in done)

    def ti(self, cell: Cell) -> dict[str, Any]:
        return dict(self.tis[(cell.dag_id, cell.run_id)])

    def observe(self) -> None:
        """Record every resource of every cell (by its creation marker) and its status."""
        by_marker: dict[str, dict[str, str]] = {}
        for service in self.emulator.state()["services"]:
            marker = (service.get("user_env_vars") or {}).get(CREATED_BY_ENV)
            by_marker.setdefault(marker, {})[service["service_id"]] = service["status"]
        jobs = self.client.get_training_jobs(self.emulator.organization_id, DEFINITION).get("entries") or []
        for job in jobs:
            marker = (job.get("environment") or {}).get(CREATED_BY_ENV)
            by_marker.setdefault(marker, {})[str(job["training_job_id"])] = job["status"]
        if any(c.resource == "run" for c in self.cells):
            for run in self.runs():
                marker = (run.get("user_env_vars") or {}).get(CREATED_BY_ENV)
                by_marker.setdefault(marker, {})[str(run["run_id"])] = run["status"]
        for cell in self.cells:
            now = by_marker.get(cell.marker, {})
            for rid in cell.seen:
                if rid not in now and cell.resource == "service":
                    cell.seen[rid] = "deleted"
            cell.seen.update(now)

    def runs(self) -> list[dict[str, Any]]:
        """Every run of the sample deployment (all pages)."""
        runs, token = [], None
        while True:
            page = self.client.get_runs(
                self.emulator.organization_id, SAMPLE_DEPLOYMENT_ID, next_page_token=token
            )
            runs.extend(page.get("entries") or [])
            token = page.get("next_page_token")
            if not token:
                return runs

    def started(self, cell: Cell) -> bool:
        """Whether this try made or found its resource (its id is in XCom: a new try clears it)."""
        root = self.airflow.api_root
        path = f"{root}/dags/{cell.dag_id}/dagRuns/{cell.run_id}/taskInstances/work/xcomEntries"
        entries = self.api("GET", path).get("xcom_entries") or []
        return any(e.get("key") == f"{cell.resource}_id" for e in entries)

    def live(self, cell: Cell) -> list[str]:
        return [rid for rid, status in cell.seen.items() if status in RUNNING[cell.resource]]

    def waiting(self, cell: Cell, ti: dict[str, Any], try_number: int = 1) -> bool:
        state = {"sync": "running", "reschedule": "up_for_reschedule"}.get(cell.mode, "deferred")
        waits = ti["state"] == state and ti["try_number"] >= try_number and bool(self.live(cell))
        return waits and (cell.mode != "deferrable" or self.trigger_runs(cell, ti))

    def trigger_runs(self, cell: Cell, ti: dict[str, Any]) -> bool:
        """A deferred try's trigger runs in a triggerer (its log there says it started): a kill sent
        before that is a case guarantee 10 does not cover (Airflow deletes the trigger row and
        nothing awaits its ``on_kill``). 2.11 promises no cancel for a deferred task's kill."""
        triggerer = (ti.get("trigger") or {}).get("triggerer_id")
        if AIRFLOW_2:
            return True
        if triggerer is None:
            return False
        run = self.airflow.home / "logs" / f"dag_id={cell.dag_id}" / f"run_id={cell.run_id}"
        log = run / "task_id=work" / f"attempt={ti['try_number']}.log.trigger.{triggerer}.log"
        return log.is_file() and " starting" in log.read_text(errors="replace")

    # -- acting ---------------------------------------------------------------------------------
    def worker_pid(self, cell: Cell, ti: dict[str, Any]) -> int | None:
        """The task's own process, None until it runs: on Airflow 3 ``airflow worker -- <ti id>``
        (its supervisor's title has ``LocalExecutor:`` before the id), on 2.11 ``airflow task
        runner: <dag> <task> <run> <job>``."""
        if AIRFLOW_2:
            wanted = f"airflow task runner: {cell.dag_id} work {cell.run_id} "
        else:
            wanted = f"airflow worker -- {ti['id']} "
        out = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True).stdout
        for line in out.splitlines():
            pid, _, args = line.strip().partition(" ")
            if (args.strip() + " ").startswith(wanted):
                return int(pid)
        return None

    def sigkill_worker(self, cell: Cell, ti: dict[str, Any], wait: float = 0.0) -> bool:
        """SIGKILL the task's process, looking for it up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while (pid := self.worker_pid(cell, ti)) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        cell.killed_pid = pid
        return True

    def set_state(self, cell: Cell, state: str) -> None:
        path = f"{self.airflow.api_root}/dags/{cell.dag_id}/dagRuns/{cell.run_id}/taskInstances/work"
        self.api("PATCH", path, self.airflow.state_body(state))

    def clear(self, cell: Cell) -> None:
        """Clear the task ``work``. On 2.11 a running one by clearing its run (``work`` is the run's
        one task outside the reschedule column, whose sensor is cleared up for reschedule): 2.11's
        ``clearTaskInstances`` marks a running task ``restarting`` on instances its dry run loaded in
        another session and never writes that state, so the first try is never told to stop; the
        run's clear calls ``DAG.clear`` as the UI's Clear button does, which writes it."""
        if AIRFLOW_2 and cell.mode != "reschedule":
            path = f"{self.airflow.api_root}/dags/{cell.dag_id}/dagRuns/{cell.run_id}/clear"
            self.api("POST", path, {"dry_run": False})
            return
        body = {"dry_run": False, "dag_run_id": cell.run_id, "task_ids": ["work"], "only_failed": False}
        self.api("POST", f"{self.airflow.api_root}/dags/{cell.dag_id}/clearTaskInstances", body)

    def between_pokes(self, cell: Cell, ti: dict[str, Any]) -> bool:
        """Whether a user's action may go now: on 2.11 a rescheduled sensor's only in the first half
        of its poke interval. 2.11 loses an action that meets a poke: the poke's end writes
        ``up_for_reschedule`` over a mark, and ``clearTaskInstances`` skips a running try (``clear``)."""
        if not (AIRFLOW_2 and cell.mode == "reschedule" and ti.get("end_date")):
            return True
        poked = datetime.fromisoformat(ti["end_date"]).timestamp()
        return time.time() - poked < POKE_INTERVAL / 2

    def release(self, cell: Cell) -> None:
        cell.released = True
        if cell.resource in ("training", "run"):
            cell.release.touch()
            return
        for rid in self.live(cell):
            self.emulator.set_service_status(rid, "READY")

    def run_until(self, done: Any, what: str, timeout: float = PHASE_TIMEOUT) -> None:
        """Observe and advance every cell until ``done()``."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                steps = {c.name: (c.step, c.seen) for c in self.cells}
                raise AssertionError(
                    f"{what}: not reached in {timeout}s: {steps}\n{self.airflow.output_tail()}"
                )
            self.refresh()
            self.observe()
            for cell in self.cells:
                self.advance(cell)
            time.sleep(2.0)

    def act(self, cell: Cell) -> None:
        """The user's action of a waiting cell (or its release, for the cells that finish)."""
        if cell.action in ("mark failed", "mark failed, keep flag"):
            self.set_state(cell, "failed")
            cell.step = "acted"
        elif cell.action == "mark success":
            self.set_state(cell, "success")
            cell.step = "acted"
        elif cell.action == "clear":
            self.clear(cell)
            cell.step = "cleared"
        else:
            self.release(cell)
            cell.step = "released"

    def advance(self, cell: Cell) -> None:
        """One step of the cell's own story (the actions on the user's side wait for ``acting``)."""
        if cell.step == "waiting" and self.acting:
            ti = self.ti(cell)
            if ti["state"] in ("success", "failed"):
                cell.step = "timing"  # ended on its own (one of 2.11's races); judged at the end
            elif cell.mode == "sync" or (self.waiting(cell, ti) and self.between_pokes(cell, ti)):
                self.act(cell)
            return
        ti = self.ti(cell)
        first_try = ti["try_number"] == 1
        lost = cell.step in ("acted", "cleared") and first_try and ti["state"] == "up_for_reschedule"
        if lost and self.between_pokes(cell, ti):
            self.act(cell)  # 2.11 lost it: it met a poke (see ``between_pokes``)
            return
        if cell.step in ("waiting", "acted", "timing", "released"):
            return
        if ti["state"] in ("success", "failed") and cell.step in ("start", "killed", "cleared"):
            cell.step = "timing"  # ended on its own (execution_timeout); judged at the end
            return
        if cell.step == "start":
            if cell.action == "worker SIGKILL, retry" and cell.mode == "reschedule":
                # its worker dies during a poke (between pokes no process of it runs), looked for
                # while the poke is due: a loaded machine's loop can miss a short one in between
                poking = ti["state"] in ("queued", "running") and first_try and bool(self.live(cell))
                if poking and self.sigkill_worker(cell, ti, wait=20.0):
                    cell.step = "killed"
            elif cell.action == "worker SIGKILL, retry" and cell.mode == "deferrable":
                # its worker dies at the first step caught: creating, deferring, or resuming
                # after the release (a deferred wait has no worker: it is released to get one)
                if ti["state"] == "running" and first_try and self.sigkill_worker(cell, ti):
                    cell.step = "killed"
                elif self.waiting(cell, ti) and not cell.released:
                    self.release(cell)
            elif self.waiting(cell, ti):
                if cell.action == "worker SIGKILL, retry":
                    cell.step = "killed" if self.sigkill_worker(cell, ti) else "start"
                else:
                    cell.step = "timing" if cell.action == "execution_timeout" else "waiting"
        elif cell.step == "killed" and first_try and ti["state"] in ("deferred", "up_for_reschedule"):
            cell.step = "start"  # the kill came as the process left on its own: try again
        elif cell.step == "killed" and not first_try:
            if cell.released:
                cell.step = "released"
            elif self.waiting(cell, ti, try_number=2):
                cell.step = "waiting"
        elif (
            cell.step == "cleared"
            and self.waiting(cell, ti, try_number=2)
            and (len(cell.seen) == cell.promise.created or (cell.has_race and self.started(cell)))
        ):
            self.set_state(cell, "failed")  # end the rerun the clear started
            cell.step = "acted"

    # -- the triggerer ----------------------------------------------------------------------------
    def restart_triggerer(self, home: Path) -> subprocess.Popen[bytes]:
        """SIGTERM the standalone's triggerer and start another with the same environment."""
        assert self.airflow.proc is not None
        out = subprocess.run(["ps", "-eww", "-o", "pid=,pgid=,args="], capture_output=True, text=True).stdout
        pids = [
            int(line.split()[0])
            for line in out.splitlines()
            if line.split()[1] == str(self.airflow.proc.pid) and " triggerer" in line and "airflow" in line
        ]
        assert pids, f"no triggerer in the standalone's group:\n{out}"
        # the environment standalone gave it (Airflow 3 adds its own settings); on 2.11 the process
        # title overwrote it (setproctitle), so the one standalone was started with
        environ = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
        if "AIRFLOW_HOME" not in env:
            env = dict(self.airflow.env)
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        log = (home / "triggerer-2.log").open("wb")
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "triggerer"],
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def outcome(matrix: Matrix, cell: Cell) -> Promise:
    statuses = set(cell.seen.values())
    resource = "?"
    for name, wanted in (("cancelled", CANCELLED), ("kept", RUNNING), ("finished", FINISHED)):
        if statuses and statuses <= wanted[cell.resource]:
            resource = name
    return Promise(str(matrix.ti(cell)["state"]), resource if statuses else "none", len(cell.seen))


def ended_as_promised(result: Promise, cell: Cell) -> bool:
    return kept_promise(result, cell.action, cell.mode, AIRFLOW_2, cell.resource)


@pytest.fixture
def matrix_airflow(abeja_emulator_process: Any, airflow_postgres: dict[str, str], tmp_path: Path) -> Any:
    env = {
        **airflow_postgres,
        **abeja_emulator_process.handle.airflow_connection_env("abeja_default"),
        "AIRFLOW__CORE__PARALLELISM": "48",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "32",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        "AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        # one api-server serves every worker at once on 2 cores: slow answers must not kill tasks
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
    }
    kind = StandaloneAirflow2 if AIRFLOW_2 else StandaloneAirflow
    airflow = kind(tmp_path / "home", [HERE / "dags" / "abeja_kill_matrix.py"], env)
    try:
        airflow.start(timeout=240)
        yield airflow
    finally:
        airflow.stop()


def test_kill_matrix(abeja_emulator: Any, matrix_airflow: StandaloneAirflow, tmp_path: Path) -> None:
    emulator, airflow = abeja_emulator, matrix_airflow
    # services stay IN_PROGRESS until a cell releases them; every run gets a runtime at once
    emulator.configure(ready_delay=900, max_concurrent_runs=64, run_step_delay=0.1)
    from abeja_emulator.sample import SAMPLE_HANDLER_DIR

    code = tmp_path / "run-handler"
    code.mkdir()
    (code / "main.py").write_text(RUN_HANDLER)
    run_version = emulator.create_version(SAMPLE_DEPLOYMENT_ID, "9.0.0-kill", code_dir=str(code))[
        "version_id"
    ]
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.create_training_job_definition(emulator.organization_id, DEFINITION)
        client.create_training_job_definition_version(
            emulator.organization_id, DEFINITION, SAMPLE_HANDLER_DIR, "train:handler"
        )
    cells = [
        Cell(action, resource, mode, tmp_path / f"release-{n}")
        for n, (action, resource, mode) in enumerate(
            (a, r, m)
            for a in ACTIONS
            for r in RESOURCES
            for m in MODES
            if m in SELECTED_MODES
            and a in SELECTED_ACTIONS
            and r in SELECTED_RESOURCES
            and (a, r) not in NO_CELL
        )
    ]
    matrix = Matrix(airflow, emulator, cells)
    for dag_id in sorted({c.dag_id for c in cells}):
        airflow.wait_for_dag(dag_id, timeout=180)
    for n, cell in enumerate(cells):
        cell.run_id = f"kill_{n}"
        conf = {"release": str(cell.release), "run_version": run_version}
        body = airflow.run_body(conf, dag_run_id=cell.run_id)
        matrix.api("POST", f"{airflow.api_root}/dags/{cell.dag_id}/dagRuns", body)

    # 1. every cell waits (a killed worker's retry too)
    matrix.run_until(
        lambda: all(c.step in ("waiting", "timing", "released") for c in cells), "every cell waiting"
    )
    airflow.mark("all waiting")

    # 2. the triggerer restarts: the deferred waits move to a new triggerer, nothing is cancelled
    # (nor anything of the rescheduled waits, which have no trigger)
    deferred = [c for c in cells if c.mode == "deferrable" and c.step == "waiting"]
    watched = deferred + [c for c in cells if c.mode == "reschedule" and c.step == "waiting"]
    before = {c.name: dict(c.seen) for c in watched}
    matrix.refresh()
    old_jobs = {c.name: (matrix.ti(c).get("triggerer_job") or {}).get("id") for c in deferred}
    new_triggerer = matrix.restart_triggerer(tmp_path)
    try:

        def moved() -> bool:
            matrix.refresh()
            jobs = {c.name: (matrix.ti(c).get("triggerer_job") or {}).get("id") for c in deferred}
            return all(jobs[n] is not None and jobs[n] != old_jobs[n] for n in jobs)

        matrix.run_until(moved, "the deferred waits taken over by the new triggerer")
        airflow.mark("triggerer restarted")
        matrix.observe()
        after = {c.name: dict(c.seen) for c in watched}
        assert after == before, "a triggerer restart changed a resource"

        # 3. the users' actions, and the cells that finish are released
        matrix.acting = True
        matrix.run_until(
            lambda: all(c.step not in ("waiting", "cleared") for c in cells),
            "every action sent, every cleared cell's rerun waiting",
        )

        # 4. every run ends; the cancellations land
        def ended() -> bool:
            matrix.refresh()
            return all(matrix.ended(c) for c in cells)

        matrix.run_until(ended, "every task ended")
        airflow.mark("all ended")
        results = {}
        deadline = time.monotonic() + 30
        while True:
            matrix.refresh()
            matrix.observe()
            results = {c.name: outcome(matrix, c) for c in cells}
            wrong = {
                c.name: (results[c.name], c.promise)
                for c in cells
                if not ended_as_promised(results[c.name], c)
            }
            if not wrong or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        stop_group(new_triggerer)
        assert not group_alive(new_triggerer.pid)
        for cell in cells:
            cell.release.touch()
    print(f"kill matrix timings (s): {airflow.marks}")
    for name, result in results.items():
        print(f"{name}: {result}")
    assert not wrong, f"cells that did not end as promised: {wrong}"
    counters = emulator.counters()
    # each cell's own count (its promise's, or its race's): every creation is some cell's
    expected = {r: sum(results[c.name].created for c in cells if c.resource == r) for r in RESOURCES}
    assert counters["services_created"] == expected["service"], counters
    assert counters["training_jobs_created"] == expected["training"], counters
    assert counters["runs_created"] == expected["run"], counters
