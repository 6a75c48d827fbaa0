"""The kill matrix's cells and what each promises (docs/guarantees.md renders this table; the
matrix, tests/kill_matrix/test_kill_matrix.py, checks every cell against it)."""

from __future__ import annotations

from typing import NamedTuple

RESOURCES = ("service", "training")
MODES = ("sync", "deferrable")


class Promise(NamedTuple):
    """How a cell ends: the task's state, what became of the resource, how many were made."""

    task: str
    resource: str
    created: int


#: action -> (DAG variant, promise). ``cancelled``: the service deleted, the job stopped;
#: ``kept``: left running; ``finished``: READY / Complete, the same one throughout.
ACTIONS: dict[str, tuple[str, Promise]] = {
    "mark failed": ("plain", Promise("failed", "cancelled", 1)),
    "mark success": ("plain", Promise("success", "cancelled", 1)),
    "clear": ("plain", Promise("failed", "cancelled", 2)),
    "mark failed, keep flag": ("keep", Promise("failed", "kept", 1)),
    "execution_timeout": ("timeout", Promise("failed", "cancelled", 1)),
    "worker SIGKILL, retry": ("plain", Promise("success", "finished", 1)),
    "triggerer restart": ("plain", Promise("success", "finished", 1)),
}

#: Airflow 2.11 where it promises otherwise: no trigger ``on_kill``, so a deferred task killed by a
#: user leaves its resource running (2.11 cannot tell the kill from a triggerer stopping); a clear's
#: rerun finds the first try's resource by its creation marker and waits for it again.
AIRFLOW2: dict[tuple[str, str], Promise] = {
    ("mark failed", "deferrable"): Promise("failed", "kept", 1),
    ("mark success", "deferrable"): Promise("success", "kept", 1),
    ("clear", "deferrable"): Promise("failed", "kept", 1),
}


#: Airflow 2.11's own race after a worker SIGKILL: the scheduler queues a zombie callback for the
#: killed try, and the DAG processor may run it after the retry has started (and reconnected to
#: the one resource): it fails the retry. A running retry's ``on_kill`` then cancels the resource;
#: a deferred one's has no ``on_kill`` on 2.11 and keeps it. Never a second resource.
AIRFLOW2_ZOMBIE_RACE: dict[tuple[str, str], Promise] = {
    ("worker SIGKILL, retry", "sync"): Promise("failed", "cancelled", 1),
    ("worker SIGKILL, retry", "deferrable"): Promise("failed", "kept", 1),
}


def promise(action: str, mode: str, airflow2: bool = False) -> Promise:
    """What the cell promises on the installed Airflow."""
    return (AIRFLOW2.get((action, mode)) if airflow2 else None) or ACTIONS[action][1]


def kept_promise(result: Promise, action: str, mode: str, airflow2: bool = False) -> bool:
    """Whether a cell ended as promised (on 2.11, the zombie race's end is accepted too)."""
    return result == promise(action, mode, airflow2) or (
        airflow2 and result == AIRFLOW2_ZOMBIE_RACE.get((action, mode))
    )


RESOURCE_NAMES = {"service": "service create", "training": "training job"}
COLUMNS = ("sync", "reschedule", "deferrable", "2.11 sync", "2.11 deferrable")


def cell_text(promise: Promise, race: Promise | None = None) -> str:
    made = "1 made" if promise.created == 1 else f"{promise.created} made (one per try)"
    text = f"task {promise.task}; {promise.resource}; {made}"
    return text if race is None else f"{text}, or (zombie race) task {race.task}; {race.resource}"


def table() -> str:
    """The Markdown table of docs/guarantees.md, section 10."""
    lines = [
        "| action | resource | " + " | ".join(COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for action in ACTIONS:
        for resource in RESOURCES:
            row = [
                cell_text(promise(action, "sync")),
                "no such mode (pattern below)",
                cell_text(promise(action, "deferrable")),
                cell_text(promise(action, "sync", airflow2=True), AIRFLOW2_ZOMBIE_RACE.get((action, "sync"))),
                cell_text(
                    promise(action, "deferrable", airflow2=True),
                    AIRFLOW2_ZOMBIE_RACE.get((action, "deferrable")),
                ),
            ]
            lines.append(f"| {action} | {RESOURCE_NAMES[resource]} | " + " | ".join(row) + " |")
    return "\n".join(lines)
