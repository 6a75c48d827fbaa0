"""The one fail-fast rule, as Airflow sees it: which errors end a task without its retries.

The rule itself (``exceptions.is_fail_fast``) is plain Python; this module maps it onto
Airflow's exceptions for every operator, the sensor and the trigger's ``execute_complete``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.exceptions import AbejaError, WaitTimeoutError, is_fail_fast

__all__ = ["airflow_error", "fail_fast"]


def airflow_error(exc: BaseException, *, timeout_exception: type[Exception] = AirflowException) -> Exception:
    """The Airflow exception a task raises for ``exc`` (raise it ``from exc``).

    Fail-fast errors give ``AirflowFailException`` (no retry), a wait's timeout gives
    ``timeout_exception`` (sensors pass ``AirflowSensorTimeout``), anything else
    ``AirflowException`` (the task's retries apply). The message is the error's own.
    """
    if isinstance(exc, WaitTimeoutError):
        return timeout_exception(str(exc))
    if is_fail_fast(exc):
        return AirflowFailException(str(exc))
    return AirflowException(str(exc))


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Raise ``AirflowFailException`` (chained) for a fail-fast error; let every other error through."""
    try:
        yield
    except AbejaError as exc:
        if is_fail_fast(exc):
            raise AirflowFailException(str(exc)) from exc
        raise
