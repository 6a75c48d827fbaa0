"""Ending what a killed task started: one rule for the operators' ``on_kill`` (in the worker)
and the triggers' ``on_kill`` (in the triggerer, Airflow 3.3 and later).

A training job is stopped while it still runs; a service is deleted. What is already gone, or
already over, is left as it is. Nothing here raises: a kill must end the task whatever happens.
"""

from __future__ import annotations

import inspect
from typing import Any

from airflow_provider_abeja.exceptions import NotFound
from airflow_provider_abeja.wait.engine import Ids, ResourceKind


async def _answer(call: Any) -> Any:
    """What a call of either client answers (the async client's is awaited)."""
    return await call if inspect.isawaitable(call) else call


async def acancel(client: Any, kind: ResourceKind, ids: Ids) -> str:
    """End the resource at ``ids`` with either client; returns what happened, for the log."""
    try:
        if kind.cancel_statuses:
            status = (await _answer(getattr(client, kind.read)(*ids))).get("status")
            if status not in kind.cancel_statuses:
                return f"{kind.noun} {ids[2]} is {status}: nothing to cancel"
        await _answer(getattr(client, kind.cancel)(*ids))
    except NotFound:
        return f"{kind.noun} {ids[2]} is already gone"
    except Exception as exc:
        return f"could not cancel {kind.noun} {ids[2]} ({type(exc).__name__}: {exc}); it may still be running"
    return f"{kind.noun} {ids[2]} was {kind.cancelled}"


def cancel(client: Any, kind: ResourceKind, ids: Ids) -> str:
    """:func:`acancel` with the sync client, here in the calling thread: with nothing to await it
    runs to its end in one step, event loop or not."""
    try:
        acancel(client, kind, ids).send(None)
    except StopIteration as done:
        return str(done.value)
    raise RuntimeError("cancel: the sync client's calls cannot suspend")
