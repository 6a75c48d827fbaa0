"""The one fail-fast rule, as Airflow sees it: which errors end a task without its retries.

The rule itself (``exceptions.is_fail_fast``) is plain Python; this module maps it onto
Airflow's exceptions for every operator, the sensor and the trigger's ``execute_complete``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.exceptions import AbejaError, WaitTimeoutError, is_fail_fast

__all__ = ["FailFastMixin", "airflow_error", "fail_fast", "failing_fast"]

P = ParamSpec("P")
R = TypeVar("R")


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
    """Raise ``AirflowFailException`` for a fail-fast error; let every other error through.

    Also catches a plain ``AirflowException`` raised ``from`` a fail-fast error (an operator
    that words the error its own way): the rule, not the wording, decides about retries.
    """
    try:
        yield
    except AbejaError as exc:
        if is_fail_fast(exc):
            raise AirflowFailException(str(exc)) from exc
        raise
    except AirflowException as exc:
        cause = exc.__cause__
        if type(exc) is AirflowException and cause is not None and is_fail_fast(cause):
            raise AirflowFailException(str(exc)) from cause
        raise


def failing_fast(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` run under :func:`fail_fast` (the base operator wraps every ``execute*`` with it)."""
    if getattr(method, "__abeja_fail_fast__", False):
        return method

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with fail_fast():
            return method(*args, **kwargs)

    wrapper.__abeja_fail_fast__ = True  # type: ignore[attr-defined]
    return wrapper


class FailFastMixin:
    """Mixed into every operator of this provider: ``execute`` and ``execute_complete`` run
    under :func:`fail_fast`, whatever the operator's own code catches or words."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("execute", "execute_complete"):
            method = cls.__dict__.get(name)
            if callable(method):
                setattr(cls, name, failing_fast(method))
