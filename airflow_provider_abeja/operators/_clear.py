"""The first try after a user's clear: end what the cleared try was waiting for, start afresh.

A clear of a deferred task deletes its trigger; the triggerer notices later and only then awaits
the trigger's ``on_kill`` (stop the job, delete the service). The scheduler may start the next
try first: reading the task state store, it would reconnect to a resource about to be cancelled,
fail when it turns ``Stopped`` and leave its own retry to start another. So that try sends the
cancel itself (the same one: whichever lands second finds nothing to do) before it starts the
new one, and never reconnects to the old. A retry after a crash or a failure is not such a try,
and what reached its target (a task that succeeded, then was cleared) is still reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import HttpError, NotFound

if TYPE_CHECKING:
    from airflow_provider_abeja.operators._base import AbejaWaitingOperator


def first_try_after_clear(context: Mapping[str, Any], retries: int) -> bool:
    """Whether this try is the first after a clear: a clear sets ``max_tries`` to the cleared try
    plus ``retries`` (a retry leaves it), so this try is ``max_tries - retries + 1`` (Airflow's
    own ``get_first_reschedule_date`` counts the same way); never the task's very first try."""
    ti = context.get("ti")
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    if not isinstance(try_number, int) or not isinstance(max_tries, int):
        return False
    return try_number > 1 and try_number == max_tries - retries + 1


def ended_after_clear(op: AbejaWaitingOperator, context: Mapping[str, Any], organization_id: str) -> bool:
    """On the first try after a clear, cancel the stored resource the cleared try was still
    waiting for (``cancels_on_kill``); True when this try must start afresh."""
    store = context.get("task_state_store")
    if store is None or not op.store_key or not op.wait_for_completion or not op.cancels_on_kill():
        return False
    if not first_try_after_clear(context, op.retries or 0):
        return False
    resource_id = store.get(op.store_key)
    if not isinstance(resource_id, str) or not resource_id:
        return False
    kind, ids = op.kind, op.ids(organization_id, resource_id)
    status = _status(op, ids)
    if status is None or status in kind.failure_statuses or status == kind.target_status:
        return False  # already ended, or finished: the usual reuse rules apply
    op.log.warning("Cleared while it waited for %s %s (%s): ending it", kind.noun, resource_id, status)
    try:
        getattr(op.client, kind.cancel)(*ids)
    except HttpError:  # refused as already ended (the cleared try's on_kill landed first)?
        status = _status(op, ids)
        if status is not None and status not in kind.failure_statuses:
            raise  # still running: this try fails, and a retry reconnects to it (never a second)
    return True


def _status(op: AbejaWaitingOperator, ids: tuple[str, str, str]) -> str | None:
    """The resource's status, None when it is gone."""
    try:
        return str(getattr(op.client, op.kind.read)(*ids).get("status"))
    except NotFound:
        return None
