"""The one retry policy, applied by both clients (and the batch sender).

Which outcomes are retried depends on whether the server may have acted on the request:

* idempotent calls (GET, PATCH, DELETE) are retried on any transport failure (connect error,
  connect or read timeout, connection dropped) and on 429, 500, 502, 503 and 504;
* non-idempotent POSTs (create, start, stop, inference, create_endpoint) are re-sent only when
  the server surely did not act: the connection was never made (refused, DNS, connect timeout,
  no pooled connection free) or the answer was 429. Never after a 5xx, a read timeout or a
  dropped connection;
* a body that is a stream which cannot be rewound is never re-sent.

Waits grow exponentially with jitter and are capped by ``wait_max``; a ``Retry-After`` header
(seconds or an HTTP date) is honoured, capped by ``wait_max`` too.

The clients call :meth:`RetryPolicy.call` / :meth:`RetryPolicy.acall`, a plain loop around
one attempt: a first-try success costs nothing more than the attempt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

from airflow_provider_abeja.client._core import RequestSpec

logger = logging.getLogger("airflow_provider_abeja.client")

R = TypeVar("R")

IDEMPOTENT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NON_IDEMPOTENT_RETRY_STATUSES = frozenset({429})
WAIT_INITIAL = 0.5


class Failure(enum.Enum):
    """How far a failed request got, as far as the transport can tell."""

    #: nothing reached the server: refused, DNS, connect timeout, no pooled connection.
    NOT_SENT = "not-sent"
    #: the request was (maybe) sent and no answer came in time.
    READ_TIMEOUT = "read-timeout"
    #: the connection broke after the request may have been sent.
    BROKEN = "broken"


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or HTTP date); None if absent or bad."""
    text = (value or "").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds())


@dataclass
class TransportAdapter(Generic[R]):
    """How one HTTP library exposes what the policy needs to know."""

    classify: Callable[[BaseException], Failure | None]
    status_of: Callable[[R], int]
    header_of: Callable[[R, str], str | None]
    close: Callable[[R], Any]


@dataclass
class RetryPolicy:
    """Decides what is retried and how long to wait, and runs the attempts of both clients."""

    max_retry_count: int
    wait_max: float = 30.0
    wait_initial: float = WAIT_INITIAL
    sleep: Callable[[float], None] = field(default=time.sleep)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def retries_status(self, spec: RequestSpec, status_code: int) -> bool:
        allowed = IDEMPOTENT_RETRY_STATUSES if spec.idempotent else NON_IDEMPOTENT_RETRY_STATUSES
        return status_code in allowed

    def retries_failure(self, spec: RequestSpec, failure: Failure | None) -> bool:
        if failure is None:
            return False
        return spec.idempotent or failure is Failure.NOT_SENT

    def backoff(self, attempt_number: int) -> float:
        """Exponential (initial * 2**(n-1)) plus up to ``wait_initial`` of jitter, capped at wait_max."""
        try:
            base = self.wait_initial * 2 ** (attempt_number - 1)
        except OverflowError:
            base = self.wait_max
        return min(self.wait_max, base + random.uniform(0, self.wait_initial))

    def attempts_for(self, spec: RequestSpec) -> int:
        return self.max_retry_count + 1 if spec.replayable else 1

    def _wait_before_retry(
        self,
        spec: RequestSpec,
        adapter: TransportAdapter[R],
        number: int,
        exc: BaseException | None,
        result: Any,
    ) -> float | None:
        """Seconds to wait before trying again after attempt ``number`` (``exc`` or ``result``),
        or None when that outcome is the call's. A retried answer is closed here."""
        attempts = self.attempts_for(spec)
        if number >= attempts:
            return None
        if exc is not None:
            if not self.retries_failure(spec, adapter.classify(exc)):
                return None
            delay, reason = self.backoff(number), spec.shown(f"{type(exc).__name__}: {exc}")
        else:
            status = adapter.status_of(result)
            if not self.retries_status(spec, status):
                return None
            retry_after = retry_after_seconds(adapter.header_of(result, "Retry-After"))
            delay = self.backoff(number) if retry_after is None else min(retry_after, self.wait_max)
            reason = f"HTTP {status}"
            adapter.close(result)
        logger.warning(
            "Retrying %s %s in %.2fs (attempt %d of %d) after %s",
            spec.method,
            spec.shown_url,
            delay,
            number + 1,
            attempts,
            reason,
        )
        spec.rewind()
        return delay

    def call(self, spec: RequestSpec, adapter: TransportAdapter[R], attempt: Callable[[], R]) -> R:
        """``attempt()`` under the policy: the last answer is returned, the last error raised."""
        number = 0
        while True:
            number += 1
            try:
                result, exc = attempt(), None
            except Exception as error:
                result, exc = None, error
            delay = self._wait_before_retry(spec, adapter, number, exc, result)
            if delay is None:
                return _outcome(exc, result)
            self.sleep(delay)

    async def acall(
        self, spec: RequestSpec, adapter: TransportAdapter[R], attempt: Callable[[], Awaitable[R]]
    ) -> R:
        """The coroutine twin of :meth:`call`."""
        number = 0
        while True:
            number += 1
            try:
                result, exc = await attempt(), None
            except Exception as error:
                result, exc = None, error
            delay = self._wait_before_retry(spec, adapter, number, exc, result)
            if delay is None:
                return _outcome(exc, result)
            await self.async_sleep(delay)


def _outcome(exc: BaseException | None, result: R | None) -> R:
    if exc is not None:
        raise exc
    return result  # type: ignore[return-value]
