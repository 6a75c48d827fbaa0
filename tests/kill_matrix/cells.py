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

RESOURCE_NAMES = {"service": "service create", "training": "training job"}
COLUMNS = ("sync", "reschedule", "deferrable")


def cell_text(promise: Promise) -> str:
    made = "1 made" if promise.created == 1 else f"{promise.created} made (one per try)"
    return f"task {promise.task}; {promise.resource}; {made}"


def table() -> str:
    """The Markdown table of docs/guarantees.md, section 10."""
    lines = [
        "| action | resource | " + " | ".join(COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for action, (_, promise) in ACTIONS.items():
        for resource in RESOURCES:
            text = cell_text(promise)
            row = [text, "n/a (no such mode)", text]
            lines.append(f"| {action} | {RESOURCE_NAMES[resource]} | " + " | ".join(row) + " |")
    return "\n".join(lines)
