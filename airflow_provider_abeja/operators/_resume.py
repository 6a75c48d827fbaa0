"""What a submitting operator started, kept where its next try finds it, and when its wait ends.

On Airflow 3.3 and later the id of what a try started goes to the task state store before the
try waits: a retry after a crash (a worker SIGKILLed, a lost node) reads it back and reconnects
to the resource (running), returns it (finished) or starts afresh (failed, stopped, gone). The
creation marker (``AIRFLOW_ABEJA_CREATED_BY``) stays the net under it, and the only mechanism on
earlier versions: it also covers a crash between the create call and the store.

The deadline of a wait is the sooner of the operator's ``timeout`` and its ``execution_timeout``
(minus a margin, so the wait ends first and handles the resource the same way in every mode,
with the engine's one timeout message, before Airflow's own timeout strikes).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

#: Seconds before ``execution_timeout`` at which a wait ends (at most this fraction of it).
EXECUTION_TIMEOUT_MARGIN = 5.0
EXECUTION_TIMEOUT_MARGIN_SHARE = 0.1


def remember(context: Mapping[str, Any], key: str, value: str) -> None:
    """Store ``value`` under ``key`` for every later try of this task instance (3.3 and later)."""
    store = context.get("task_state_store")
    if store is None:
        return
    from airflow.sdk.execution_time.context import NEVER_EXPIRE

    store.set(key, value, retention=NEVER_EXPIRE)


def recall(context: Mapping[str, Any], key: str) -> str | None:
    """What an earlier try of this task instance stored under ``key`` (None: nothing, or < 3.3)."""
    store = context.get("task_state_store")
    value = None if store is None else store.get(key)
    return value if isinstance(value, str) and value else None


def wait_deadline(
    context: Mapping[str, Any], timeout: float | None, execution_timeout: timedelta | None
) -> float | None:
    """The wait's deadline in epoch seconds (None: none): ``timeout`` from now, or the task
    instance's ``start_date`` plus ``execution_timeout`` less the margin, whichever comes first
    (Airflow times a deferred task from that same ``start_date``)."""
    now = time.time()
    deadlines = [] if timeout is None else [now + timeout]
    if execution_timeout is not None:
        started = getattr(context.get("ti"), "start_date", None)
        start = started.timestamp() if isinstance(started, datetime) else now
        limit = execution_timeout.total_seconds()
        margin = min(EXECUTION_TIMEOUT_MARGIN, limit * EXECUTION_TIMEOUT_MARGIN_SHARE)
        deadlines.append(start + limit - margin)
    return min(deadlines, default=None)
