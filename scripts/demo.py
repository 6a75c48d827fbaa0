"""`make demo`: run the deploy / invoke / teardown pipeline against a local ABEJA Platform emulator.

Nothing to set up by hand and nothing left behind: the script starts the emulator (with its sample
deployment), gives Airflow a throw-away home and database, runs the example DAG
`abeja_deploy_invoke_teardown` end to end with `dag.test()` (the deferrable wait runs its trigger
inline), prints what happened, and stops every process it started, also on Ctrl-C.
Exit status 0 only when the run succeeded and the service was deleted.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "abeja_deploy_invoke_teardown"
DAG_FILE = REPO / "example_dags" / f"{DAG_ID}.py"
DEPLOYMENT_ID = "9999999999999"
TEXT = "Airflow and ABEJA: a great, reliable pair"
READY_DELAY = 3.0  # seconds the emulated service takes to start (the platform takes minutes)


@dataclass
class ServiceWatch:
    """Status changes of every service, seen by polling the emulator while the DAG runs."""

    started: float = field(default_factory=time.monotonic)
    timeline: list[tuple[float, str, str]] = field(default_factory=list)
    last_status: dict[str, str] = field(default_factory=dict)
    messages: dict[str, list[str]] = field(default_factory=dict)

    def poll(self, handle: Any) -> None:
        seen = {s["service_id"]: s["status"] for s in handle.state()["services"]}
        now = time.monotonic() - self.started
        for service_id, status in seen.items():
            if self.last_status.get(service_id) != status:
                self.timeline.append((now, service_id, status))
                self.last_status[service_id] = status
            with contextlib.suppress(Exception):  # deleted between the two calls
                self.messages[service_id] = handle.log_messages(service_id)
        for service_id, status in list(self.last_status.items()):
            if service_id not in seen and status != "deleted":
                self.timeline.append((now, service_id, "deleted"))
                self.last_status[service_id] = "deleted"


def watch_services(handle: Any, stop: threading.Event, watch: ServiceWatch) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            watch.poll(handle)
        stop.wait(0.2)
    with contextlib.suppress(Exception):
        watch.poll(handle)


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to `path` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def say(text: str = "") -> None:
    print(text, flush=True)


def prepare_airflow_home(workdir: Path) -> Path:
    """A private AIRFLOW_HOME holding only DAG 1; set before Airflow is first imported."""
    home = workdir / "airflow-home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    # A world of its own: none of the user's Airflow settings (their database!) or connections.
    for name in [n for n in os.environ if n.startswith("AIRFLOW")]:
        del os.environ[name]
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "ABEJA_EXAMPLE_CHECK_INTERVAL": "1",
        }
    )
    return dags


def run_dag(dags: Path) -> tuple[str, dict[str, tuple[str | None, float | None]], dict[str, Any]]:
    """Migrate the database, run DAG 1 once; returns (run state, task states/durations, XComs)."""
    from airflow.utils import db

    db.initdb()
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(str(dags))
    dag = bag.get_dag(DAG_ID)
    if dag is None:
        raise RuntimeError(f"{DAG_ID} did not load: {bag.import_errors}")
    dag_run = dag.test(run_conf={"text": TEXT})
    tasks: dict[str, tuple[str | None, float | None]] = {}
    xcoms: dict[str, Any] = {}
    for ti in dag_run.get_task_instances():
        tasks[ti.task_id] = (None if ti.state is None else str(ti.state), ti.duration)
        xcoms[ti.task_id] = read_xcom(ti, "return_value")
        xcoms[f"{ti.task_id}.service_id"] = read_xcom(ti, "service_id")
        xcoms[f"{ti.task_id}.service_url"] = read_xcom(ti, "service_url")
    return str(dag_run.state), tasks, xcoms


def read_xcom(ti: Any, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    query = XComModel.get_many(
        run_id=ti.run_id, key=key, dag_ids=ti.dag_id, task_ids=ti.task_id, map_indexes=ti.map_index
    )
    with create_session() as session:
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def summary(
    state: str,
    tasks: dict[str, tuple[str | None, float | None]],
    xcoms: dict[str, Any],
    watch: ServiceWatch,
    counters: dict[str, Any],
    remaining: list[dict[str, Any]],
) -> bool:
    """Print what happened; True when the run succeeded and nothing was left running."""
    service_id = xcoms.get("create_service.service_id") or "?"
    say()
    say(f"DAG {DAG_ID}: {state.upper()}")
    say("  tasks:")
    for task_id in ("create_service", "wait_until_ready", "invoke", "delete_service"):
        task_state, duration = tasks.get(task_id, (None, None))
        took = f"{duration:5.1f}s" if duration is not None else "     "
        note = "  (includes Airflow's start-up)" if task_id == "create_service" else ""
        say(f"    {task_id:<18} {task_state or '-':<16} {took}{note}")
    say(f"  service: {service_id}")
    # The task's "ABEJA Service" link; it opens the emulator's console while the emulator runs.
    say(f"  console link: {xcoms.get('create_service.service_url') or '-'}")
    say("  status timeline (seen on the emulator, from creation):")
    changes = [(at, status) for at, sid, status in watch.timeline if sid == service_id]
    for at, status in changes:
        say(f"    +{at - changes[0][0]:5.1f}s  {status}")
    lines = watch.messages.get(service_id, [])
    if lines:
        say("  service log (recent logs):")
        for line in lines[-6:]:
            say(f"    | {line}")
    answer = xcoms.get("invoke")
    say(f"  inference: {{'text': {TEXT!r}}}")
    say(f"         ->  {answer!r}" if answer is not None else "         ->  no answer (invoke failed)")
    deleted = watch.last_status.get(service_id) == "deleted" and not remaining
    say(f"  teardown: service {'deleted' if deleted else 'NOT deleted'}")
    say(
        f"  emulator counters: services created {counters.get('services_created')}, "
        f"deleted {counters.get('services_deleted')}, inference requests "
        f"{counters.get('inference_requests')}; services left: {len(remaining)}"
    )
    return state == "success" and deleted and isinstance(answer, dict)


INTERRUPTED = threading.Event()
#: Set once the demo has started stopping the emulator: signals no longer interrupt that.
STOPPING = threading.Event()
#: If Airflow caught the first interrupt inside a task and keeps the run going (a task with
#: retries waits for its retry), a second one this much later leaves `dag.test()`.
SECOND_INTERRUPT_AFTER = 2.0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C / SIGTERM: unwind to the cleanup, and make sure the run really stops.

    Airflow may catch the KeyboardInterrupt inside a task: the task then fails (the teardown still
    deletes the service) or, if it has retries, waits for its retry. INTERRUPTED remembers the
    signal, so the demo still ends as interrupted, and a timer interrupts again if the run goes on.
    """
    if STOPPING.is_set():
        return
    if not INTERRUPTED.is_set():
        INTERRUPTED.set()
        timer = threading.Timer(SECOND_INTERRUPT_AFTER, _thread.interrupt_main)
        timer.daemon = True
        timer.start()
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="abeja-demo-"))
    log_path = workdir / "demo.log"
    dags = prepare_airflow_home(workdir)

    from abeja_emulator import EmulatorProcess

    # Extra emulator arguments, e.g. a fault rule to see a failing run: ABEJA_DEMO_EMULATOR_ARGS=
    # "--fault route=request_service,status=500" (the teardown still deletes the service; exit 1).
    extra = shlex.split(os.environ.get("ABEJA_DEMO_EMULATOR_ARGS", ""))
    emulator = EmulatorProcess(ready_delay=READY_DELAY, extra_args=extra)
    stop = threading.Event()
    ok = False
    try:
        say("[1/3] starting the ABEJA Platform emulator (sample deployment 9999999999999)")
        handle = emulator.start().handle
        say(f"      listening on {handle.url} (pid {emulator.pid})")
        # The task links open the emulator's own read-only console, not the real one.
        os.environ.update(handle.airflow_connection_env("abeja_default", console_url=f"{handle.url}/console"))

        say(f"[2/3] running DAG {DAG_ID} with dag.test() (Airflow output: {log_path})")
        watch = ServiceWatch()
        watcher = threading.Thread(target=watch_services, args=(handle, stop, watch), daemon=True)
        watcher.start()
        with output_to(log_path):
            state, tasks, xcoms = run_dag(dags)
        stop.set()
        watcher.join(timeout=5)

        say("[3/3] result")
        ok = summary(state, tasks, xcoms, watch, handle.counters(), handle.state()["services"])
        if INTERRUPTED.is_set():
            say("\ninterrupted: stopping the emulator")
            return 130
    except KeyboardInterrupt:
        say("\ninterrupted: stopping the emulator")
        return 130
    except Exception as exc:
        say(f"demo failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        STOPPING.set()
        stop.set()
        emulator.stop()
        if ok and not os.environ.get("ABEJA_DEMO_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    say()
    if ok:
        say(f"demo succeeded in {time.monotonic() - began:.1f}s; emulator stopped, temporary files removed.")
        say("next: the pipelines in example_dags/; docs/pipelines.md says how to run them on the platform")
        return 0
    say(f"demo FAILED; Airflow's output is in {log_path}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
