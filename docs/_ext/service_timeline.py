"""The service status timeline of a real deploy -> wait -> invoke -> teardown run, as SVG.

``python service_timeline.py OUT.json`` runs the example DAG ``abeja_deploy_invoke_teardown`` with
``dag.test()`` against a freshly started emulator, in a throw-away Airflow home, while a thread polls
the emulator for the service's status; it writes the task intervals and the status changes it saw.
``render_svg`` draws them. The docs build runs the first in a child process (Airflow configures
itself from the environment on import) and the second in Sphinx.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from html import escape
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "abeja_deploy_invoke_teardown"
READY_DELAY = 2.0  # seconds the emulated service stays IN_PROGRESS (the platform takes minutes)


def poll_statuses(handle: Any, stop: threading.Event, seen: list[tuple[float, str, str]]) -> None:
    """Append (time, service id, status) whenever a service's status changes; "deleted" when it goes."""
    last: dict[str, str] = {}
    while True:
        finished = stop.is_set()
        with contextlib.suppress(Exception):
            now = time.time()
            current = {s["service_id"]: s["status"] for s in handle.state()["services"]}
            for sid, status in [*current.items(), *((s, "deleted") for s in last if s not in current)]:
                if last.get(sid) != status:
                    seen.append((now, sid, status))
                    last[sid] = status
        if finished:
            return
        stop.wait(0.1)


def record(out: Path) -> None:
    """Run the DAG once on the emulator and write what happened to ``out`` (JSON)."""
    home = Path(tempfile.mkdtemp(prefix="abeja-docs-timeline-"))
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(REPO / "example_dags" / f"{DAG_ID}.py", dags)
    for name in [n for n in os.environ if n.startswith("AIRFLOW")]:
        del os.environ[name]
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        ABEJA_EXAMPLE_CHECK_INTERVAL="0.5",
    )
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from abeja_emulator import EmulatorProcess

    seen: list[tuple[float, str, str]] = []
    stop = threading.Event()
    try:
        with EmulatorProcess(ready_delay=READY_DELAY) as emulator:
            os.environ.update(emulator.handle.airflow_connection_env("abeja_default"))
            db.initdb()
            dag = DagBag(str(dags)).get_dag(DAG_ID)
            watcher = threading.Thread(target=poll_statuses, args=(emulator.handle, stop, seen))
            watcher.start()
            try:
                run = dag.test()
            finally:
                stop.set()
                watcher.join()
            tasks = [
                {
                    "task_id": ti.task_id,
                    "state": str(ti.state),
                    "start": ti.start_date.timestamp(),
                    "end": ti.end_date.timestamp(),
                }
                for ti in sorted(run.get_task_instances(), key=lambda ti: ti.start_date)
            ]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if str(run.state) != "success":
        raise SystemExit(f"{DAG_ID} did not succeed on the emulator: {tasks}")
    service = next(sid for _, sid, _ in seen)
    statuses = [{"at": at, "status": status} for at, sid, status in seen if sid == service]
    out.write_text(json.dumps({"dag_id": DAG_ID, "tasks": tasks, "statuses": statuses}, indent=1))


COLOURS = {"IN_PROGRESS": "#f0ad4e", "READY": "#43a047", "STOPPED": "#9e9e9e", "FAILED": "#e53935"}
LABEL_W, ROW_H, BAR_H, PAD, PLOT_W = 150, 30, 18, 16, 640


def render_svg(run: dict[str, Any]) -> str:
    """Tasks as bars over time, and under them the service's status from creation to deletion.

    Time 0 is the service's creation: what came before it is Airflow starting its first task, whose
    length depends on the machine, so the first task's bar is cut there and says how long it ran.
    """
    tasks, statuses = run["tasks"], run["statuses"]
    t0 = statuses[0]["at"] - 0.5 if statuses else min(t["start"] for t in tasks)
    t1 = max([t["end"] for t in tasks] + [s["at"] for s in statuses])
    span = max(t1 - t0, 1e-3)
    rows = len(tasks) + 1
    width, height = LABEL_W + PLOT_W + 2 * PAD + 60, PAD * 2 + rows * ROW_H + 34  # 60: "deleted"

    def x(t: float) -> float:
        return LABEL_W + PAD + (t - t0) / span * PLOT_W

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="service status timeline of {run["dag_id"]}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">'
    ]
    for i, t in enumerate(tasks):
        y = PAD + i * ROW_H
        colour = "#3f51b5" if t["state"] == "success" else "#c62828"
        out.append(f'<text x="{PAD}" y="{y + 14}" fill="#222">{escape(t["task_id"])}</text>')
        start = max(t["start"], t0)
        out.append(
            f'<rect x="{x(start):.1f}" y="{y + 2}" width="{max(x(t["end"]) - x(start), 2):.1f}" '
            f'height="{BAR_H}" rx="3" fill="{colour}"><title>{escape(t["task_id"])}: {t["state"]}, '
            f"{t['end'] - t['start']:.1f} s</title></rect>"
        )
        if start > t["start"]:  # cut: say how long it really ran, Airflow's start-up included
            out.append(
                f'<text x="{x(t["end"]) + 6:.1f}" y="{y + 15}" fill="#555" font-size="10">'
                f"{t['end'] - t['start']:.1f} s in all, most of it Airflow starting up</text>"
            )
    y = PAD + len(tasks) * ROW_H
    out.append(f'<text x="{PAD}" y="{y + 14}" fill="#222" font-weight="bold">service status</text>')
    for here, after in zip(statuses, [*statuses[1:], None], strict=True):
        if here["status"] == "deleted":
            out.append(f'<text x="{x(here["at"]) + 4:.1f}" y="{y + 15}" fill="#555">deleted</text>')
            continue
        end = after["at"] if after else t1
        colour = COLOURS.get(here["status"], "#607d8b")
        out.append(
            f'<rect x="{x(here["at"]):.1f}" y="{y + 2}" width="{max(x(end) - x(here["at"]), 2):.1f}" '
            f'height="{BAR_H}" fill="{colour}"><title>{here["status"]}</title></rect>'
        )
        if x(end) - x(here["at"]) > len(here["status"]) * 7 + 8:  # the label fits in its bar
            out.append(
                f'<text x="{x(here["at"]) + 4:.1f}" y="{y + 15}" fill="#fff" font-size="11">'
                f"{here['status']}</text>"
            )
    axis = y + ROW_H + 6
    out.append(f'<line x1="{x(t0)}" y1="{axis}" x2="{x(t1)}" y2="{axis}" stroke="#777"/>')
    step = next(s for s in (0.5, 1, 2, 5, 10, 30, 60, 120) if span / s <= 12)
    created = statuses[0]["at"] if statuses else t0  # ticks count from the service's creation
    tick = 0.0
    while created + tick <= t1 + 1e-9:
        at = x(created + tick)
        out.append(
            f'<line x1="{at:.1f}" y1="{axis}" x2="{at:.1f}" y2="{axis + 4}" stroke="#777"/>'
            f'<text x="{at:.1f}" y="{axis + 16}" text-anchor="middle" fill="#555" font-size="10">'
            f"{tick:g} s</text>"
        )
        tick += step
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    record(Path(sys.argv[1]))
