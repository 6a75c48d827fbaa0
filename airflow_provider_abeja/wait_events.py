"""The one event a status trigger yields, and how a resumed task reads it back.

The triggers (``triggers/service.py``, ``triggers/training.py``) build the event from the wait
engine's last step, keyed by the watched resource's kind (``wait_step.ResourceKind``); the
operators' and the sensor's ``execute_complete`` read it with :func:`validate_status_event`,
which raises the same exceptions, with the same messages, as a wait in the worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.exceptions import (
    AbejaError,
    WaitGaveUpError,
    WaitTimeoutError,
    with_log_lines,
)
from airflow_provider_abeja.failfast import airflow_error
from airflow_provider_abeja.wait_step import SERVICE, Outcome, ResourceKind, Step

__all__ = ["EVENT_STATUSES", "status_event", "validate_status_event"]

#: The ``status`` values an event may carry: the engine's outcomes that end a wait.
EVENT_STATUSES: frozenset[str] = frozenset(o.value for o in Outcome if o is not Outcome.WAITING)


def status_event(
    resource_id: str, result: Step, log_lines: list[str] | None = None, kind: ResourceKind = SERVICE
) -> dict[str, Any]:
    """The event for a wait that ended with ``result`` (JSON only: it is stored in the database)."""
    event: dict[str, Any] = {
        "status": result.outcome.value,
        kind.id_key: resource_id,
        kind.status_key: result.state.last_status,
        "message": result.message,
    }
    if result.outcome is not Outcome.SUCCEEDED:
        event["log_lines"] = list(log_lines or [])
    if result.outcome is Outcome.ERROR:
        event["retryable"] = result.retryable
    return event


def validate_status_event(
    event: Any,
    expected_service_id: str,
    *,
    timeout_exception: type[Exception] = AirflowException,
    kind: ResourceKind = SERVICE,
) -> dict[str, Any]:
    """Return a well-formed ``success`` event; raise a clear error for anything else.

    - no event, not a dict, an unknown ``status`` or another service's event: ``AirflowException``
      (something is wrong with the deferral itself);
    - ``failure``: ``AirflowFailException`` (a failed service stays failed: retries would only burn
      time), chained from the kind's failure error (``ServiceFailedError``, ...) with the latest
      log lines;
    - ``timeout``: ``timeout_exception`` (sensors pass ``AirflowSensorTimeout``), chained from
      ``WaitTimeoutError``;
    - ``error``: chained from ``WaitGaveUpError``; ``AirflowFailException`` when the event says
      the error is not ``retryable`` (the fail-fast rule), else ``AirflowException``.

    The exceptions and messages are those of the operators' own wait and the sensor's poke.
    """
    noun, expected = kind.noun, expected_service_id
    if event is None:
        raise AirflowException(f"no trigger event received while waiting for {noun} {expected}")
    if not isinstance(event, Mapping):
        raise AirflowException(
            f"unexpected trigger event for {noun} {expected}: {type(event).__name__} instead of a dict"
        )
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise AirflowException(f"unexpected trigger event status {status!r} for {noun} {expected}")
    resource_id = event.get(kind.id_key)
    if resource_id != expected:
        raise AirflowException(f"trigger event is for {noun} {resource_id!r}, expected {expected!r}")
    if status == "success":
        return dict(event)
    message = str(event.get("message") or f"{noun} {resource_id}: {status}")
    raw_lines = event.get("log_lines") or []
    lines = [str(line) for line in raw_lines] if isinstance(raw_lines, list) else []
    raw_status = event.get(kind.status_key)
    last_status = None if raw_status is None else str(raw_status)
    error: AbejaError
    if status == "failure":
        error = kind.failed_error(str(resource_id), str(last_status), lines, message)
    elif status == "timeout":
        text = with_log_lines(message, lines, noun)
        error = WaitTimeoutError(str(resource_id), last_status, None, message=text)
    else:
        retryable = event.get("retryable") is not False
        error = WaitGaveUpError(str(resource_id), with_log_lines(message, lines, noun), retryable)
    raise airflow_error(error, timeout_exception=timeout_exception) from error
