"""The provider's preset for Airflow 3.3's task retry policies (``retry_policy=``).

``AbejaRetryPolicy`` reads the error a task failed with (and the errors it was raised from):
the client's permanent errors (``exceptions.is_fail_fast``: bad arguments, credentials, 4xx,
a failed service or job) fail the task at once; its transient ones (``exceptions.is_transient``:
transport errors, 408/425/429, 5xx, a wait that gave up on them) are retried after a delay that
doubles each try; anything else follows the task's own ``retries`` and ``retry_delay``. The
policy never adds tries: Airflow still stops at ``retries``.

The ABEJA operators use it unless a DAG gives its own ``retry_policy`` (on Airflow versions
with retry policies; ``DEFAULT_RETRY_POLICY`` is None on the others).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import WaitGaveUpError, is_fail_fast, is_transient

if TYPE_CHECKING:
    from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
else:
    try:
        from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
    except ImportError:  # Airflow before 3.3: no retry policies
        RetryDecision = RetryPolicy = None

__all__ = ["DEFAULT_RETRY_POLICY", "HAS_RETRY_POLICIES", "AbejaRetryPolicy"]

HAS_RETRY_POLICIES = RetryPolicy is not None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from (the operators raise Airflow errors from the client's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class AbejaRetryPolicy(RetryPolicy if HAS_RETRY_POLICIES else object):  # type: ignore[misc]
    """Fail at once on the client's permanent errors; retry transient ones with a doubling delay.

    :param base_delay: the delay before the first retry of a transient error.
    :param max_delay: the longest delay.
    """

    def __init__(
        self, base_delay: timedelta = timedelta(seconds=30), max_delay: timedelta = timedelta(minutes=10)
    ) -> None:
        if base_delay <= timedelta(0) or max_delay < base_delay:
            raise ValueError("base_delay must be above zero and max_delay at least base_delay")
        self.base_delay = base_delay
        self.max_delay = max_delay

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        errors = list(_chain(exception))
        permanent = next((e for e in errors if is_fail_fast(e)), None)
        if permanent is not None:
            return RetryDecision.fail(f"ABEJA: no retry can fix {type(permanent).__name__}: {permanent}")
        transient = next(
            (e for e in errors if is_transient(e) or (isinstance(e, WaitGaveUpError) and e.retryable)), None
        )
        if transient is None:
            return RetryDecision.default()
        delay = min(self.max_delay, self.base_delay * 2 ** max(0, try_number - 1))
        return RetryDecision.retry(delay, f"ABEJA: transient {type(transient).__name__}, retrying in {delay}")

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": "AbejaRetryPolicy",
            "base_delay": self.base_delay.total_seconds(),
            "max_delay": self.max_delay.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> AbejaRetryPolicy:
        return cls(timedelta(seconds=data["base_delay"]), timedelta(seconds=data["max_delay"]))


#: What the operators use when a DAG sets no ``retry_policy`` (None without retry policies).
DEFAULT_RETRY_POLICY: AbejaRetryPolicy | None = AbejaRetryPolicy() if HAS_RETRY_POLICIES else None
