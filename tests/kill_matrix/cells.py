"""The kill matrix's cells and what each promises (docs/guarantees.md renders this table; the
matrix, tests/kill_matrix/test_kill_matrix.py, checks every cell against it)."""

from __future__ import annotations

from typing import NamedTuple

RESOURCES = ("service", "training", "run")
MODES = ("sync", "reschedule", "deferrable")


class Promise(NamedTuple):
    """How a cell ends: the task's state, what became of the resource, how many were made."""

    task: str
    resource: str
    created: int


#: action -> (DAG variant, promise). ``cancelled``: the service deleted, the job stopped;
#: ``kept``: left running; ``finished``: READY / Complete / SUCCEEDED, the same one throughout.
ACTIONS: dict[str, tuple[str, Promise]] = {
    "mark failed": ("plain", Promise("failed", "cancelled", 1)),
    "mark success": ("plain", Promise("success", "cancelled", 1)),
    "clear": ("plain", Promise("failed", "cancelled", 2)),
    "mark failed, keep flag": ("keep", Promise("failed", "kept", 1)),
    "execution_timeout": ("timeout", Promise("failed", "cancelled", 1)),
    "worker SIGKILL, retry": ("plain", Promise("success", "finished", 1)),
    "triggerer restart": ("plain", Promise("success", "finished", 1)),
}

#: Runs where they promise otherwise than ``ACTIONS``: the platform has no route to cancel a run, so
#: every kill and ``execution_timeout`` keep it running; the first try after a clear starts a new
#: run (the cleared one kept, said in the task log). Runs have no keep flag (no such cells).
RUNS: dict[str, Promise] = {
    "mark failed": Promise("failed", "kept", 1),
    "mark success": Promise("success", "kept", 1),
    "clear": Promise("failed", "kept", 2),
    "execution_timeout": Promise("failed", "kept", 1),
}
#: (action, resource) pairs with no cell
NO_CELL = {("mark failed, keep flag", "run")}

#: Airflow 2.11 where it promises otherwise: no trigger ``on_kill``, so a deferred task killed by a
#: user leaves its resource running (2.11 cannot tell the kill from a triggerer stopping); a clear's
#: rerun finds the first try's resource by its creation marker and waits for it again. A clear
#: reaches a running 2.11 try only through ``DAG.clear`` (the UI, the CLI, a run's clear; the matrix
#: clears the run): 2.11's ``clearTaskInstances`` never writes its ``restarting`` state.
AIRFLOW2: dict[tuple[str, str], Promise] = {
    ("mark failed", "deferrable"): Promise("failed", "kept", 1),
    ("mark success", "deferrable"): Promise("success", "kept", 1),
    ("clear", "deferrable"): Promise("failed", "kept", 1),
}
#: Runs on Airflow 2.11 where they promise otherwise than ``RUNS``: a clear of a try running in the
#: worker leaves ``max_tries`` as it was (2.11 raises it only for a try that no longer runs), so the
#: next try is a retry to the operator, which waits again for the cleared try's run (kept, 1 made).
AIRFLOW2_RUNS: dict[tuple[str, str], Promise] = {
    ("clear", "sync"): Promise("failed", "kept", 1),
}


#: Airflow 2.11's own races, each a second ending accepted on 2.11 (never a second resource):
#: - after a worker SIGKILL the scheduler queues a zombie callback for the killed try; when the DAG
#:   processor runs it after the retry has started (and reconnected to the one resource), it fails
#:   the retry: a running retry's ``on_kill`` cancels the resource, a deferred one keeps it, a
#:   rescheduled sensor's teardown cancels it;
#: - a deferred task whose trigger fired at its deadline (a little before ``execution_timeout``)
#:   but that the scheduler resumes only after ``execution_timeout`` is failed by 2.11 before the
#:   operator runs: nothing cancels the resource (the wait's own ``timeout`` has no such race).
AIRFLOW2_RACES: dict[tuple[str, str], tuple[str, Promise]] = {
    ("worker SIGKILL, retry", "sync"): ("zombie race", Promise("failed", "cancelled", 1)),
    ("worker SIGKILL, retry", "reschedule"): ("zombie race", Promise("failed", "cancelled", 1)),
    ("worker SIGKILL, retry", "deferrable"): ("zombie race", Promise("failed", "kept", 1)),
    ("execution_timeout", "deferrable"): ("late resume", Promise("failed", "kept", 1)),
}


#: Airflow 3.3's own race, a second ending accepted (never a second run beyond the clear's): a clear
#: of a running try tells the next one (``max_tries``) only when the killed worker's process ends
#: cleanly; when it ends abnormally (a loaded machine) Airflow counts the next try as a retry, which
#: reconnects to the run (kept, the one made).
RACES: dict[tuple[str, str, str], tuple[str, Promise]] = {
    ("clear", "sync", "run"): ("unclean exit", Promise("failed", "kept", 1)),
}

#: The reschedule column: the pattern (create without waiting, sensor ``mode="reschedule"``, a
#: run-scoped teardown) where it promises otherwise than ``ACTIONS``. The action goes to the
#: sensor, up for reschedule; the teardown runs however it ended and deletes the run's services,
#: stops its jobs that still run (``keep``: no teardown; a run has none: nothing can end it). A
#: clear re-pokes the same resource (the create is not cleared); no trigger, so a triggerer restart
#: changes nothing. Airflow 2.11 promises the same: no trigger is involved, so 2.11's lack of a
#: trigger ``on_kill`` does not matter.
RESCHEDULE: dict[tuple[str, str], Promise] = {
    ("clear", "service"): Promise("failed", "cancelled", 1),
    ("clear", "training"): Promise("failed", "cancelled", 1),
    ("worker SIGKILL, retry", "service"): Promise("success", "cancelled", 1),
    ("triggerer restart", "service"): Promise("success", "cancelled", 1),
    ("clear", "run"): Promise("failed", "kept", 1),
}


def promise(action: str, mode: str, airflow2: bool = False, resource: str = "") -> Promise:
    """What the cell promises on the installed Airflow (runs have 2.11 promises of their own:
    the others are about cancelling, which runs never are)."""
    base = (RUNS.get(action) if resource == "run" else None) or ACTIONS[action][1]
    if mode == "reschedule":
        return RESCHEDULE.get((action, resource)) or base
    if not airflow2:
        return base
    return (AIRFLOW2_RUNS if resource == "run" else AIRFLOW2).get((action, mode)) or base


def race(action: str, mode: str, airflow2: bool = False, resource: str = "") -> tuple[str, Promise] | None:
    """The ending a race may give instead (on 2.11 a run is kept whatever ends its task)."""
    if not airflow2:
        return RACES.get((action, mode, resource))
    found = AIRFLOW2_RACES.get((action, mode))
    if found is None or resource != "run":
        return found
    kept = found[1]._replace(resource="kept")
    return None if kept == promise(action, mode, airflow2, resource) else (found[0], kept)


def kept_promise(result: Promise, action: str, mode: str, airflow2: bool = False, resource: str = "") -> bool:
    """Whether a cell ended as promised (or as its race may end it)."""
    other = race(action, mode, airflow2, resource)
    return result == promise(action, mode, airflow2, resource) or (other is not None and result == other[1])


RESOURCE_NAMES = {"service": "service create", "training": "training job", "run": "run"}
#: the table's columns: (heading, mode, on Airflow 2.11)
COLUMNS = [(mode, mode, False) for mode in MODES] + [(f"2.11 {mode}", mode, True) for mode in MODES]


def cell_text(promise: Promise, race: tuple[str, Promise] | None = None) -> str:
    made = "1 made" if promise.created == 1 else f"{promise.created} made (one per try)"
    text = f"task {promise.task}; {promise.resource}; {made}"
    if race is None:
        return text
    other = race[1]
    made = "" if other.created == promise.created else f"; {other.created} made"
    return f"{text}, or ({race[0]}) task {other.task}; {other.resource}{made}"


def table() -> str:
    """The Markdown table of docs/guarantees.md, section 10."""
    lines = [
        "| action | resource | " + " | ".join(heading for heading, _, _ in COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for action in ACTIONS:
        for resource in RESOURCES:
            if (action, resource) in NO_CELL:
                continue
            row = [
                cell_text(promise(action, mode, airflow2, resource), race(action, mode, airflow2, resource))
                for _, mode, airflow2 in COLUMNS
            ]
            lines.append(f"| {action} | {RESOURCE_NAMES[resource]} | " + " | ".join(row) + " |")
    return "\n".join(lines)
