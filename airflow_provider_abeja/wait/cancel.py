"""Ending what a killed task started: one rule for the operators' ``on_kill`` (in the worker)
and the triggers' ``on_kill`` (in the triggerer, Airflow 3.3 and later).

A training job is stopped while it still runs; a service is deleted. What is already gone, or
already over, is left as it is. Nothing here raises: a kill must end the task whatever happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_abeja.exceptions import NotFound
from airflow_provider_abeja.wait.engine import ResourceKind


def _skip(kind: ResourceKind, ids: tuple[str, str, str], current: Mapping[str, Any]) -> str | None:
    """Why ``current`` needs no cancelling (it no longer runs), or None."""
    status = current.get("status")
    if kind.cancel_statuses and status not in kind.cancel_statuses:
        return f"{kind.noun} {ids[2]} is {status}: nothing to cancel"
    return None


def _failed(kind: ResourceKind, ids: tuple[str, str, str], exc: Exception) -> str:
    return f"could not cancel {kind.noun} {ids[2]} ({type(exc).__name__}: {exc}); it may still be running"


def cancel(client: Any, kind: ResourceKind, ids: tuple[str, str, str]) -> str:
    """End the resource at ``ids`` with the sync client; returns what happened, for the log."""
    try:
        if kind.cancel_statuses and (why := _skip(kind, ids, getattr(client, kind.read)(*ids))):
            return why
        getattr(client, kind.cancel)(*ids)
    except NotFound:
        return f"{kind.noun} {ids[2]} is already gone"
    except Exception as exc:
        return _failed(kind, ids, exc)
    return f"{kind.noun} {ids[2]} was {kind.cancelled}"


async def acancel(client: Any, kind: ResourceKind, ids: tuple[str, str, str]) -> str:
    """:func:`cancel` with the async client (a trigger's ``on_kill``)."""
    try:
        if kind.cancel_statuses and (why := _skip(kind, ids, await getattr(client, kind.read)(*ids))):
            return why
        await getattr(client, kind.cancel)(*ids)
    except NotFound:
        return f"{kind.noun} {ids[2]} is already gone"
    except Exception as exc:
        return _failed(kind, ids, exc)
    return f"{kind.noun} {ids[2]} was {kind.cancelled}"
