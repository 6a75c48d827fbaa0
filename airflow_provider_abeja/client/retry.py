"""The one retry policy, applied by both clients through tenacity.

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

The clients call :meth:`RetryPolicy.call` / :meth:`RetryPolicy.acall`: the first attempt runs
bare, and only an outcome the policy retries enters a tenacity loop, which replays it as its
attempt 1 (most calls succeed at once and need no retrier).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import operator
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from airflow_provider_abeja.client._core import RequestSpec
from airflow_provider_abeja.client.credentials import scrub

logger = logging.getLogger("airflow_provider_abeja.client")

R = TypeVar("R")

IDEMPOTENT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NON_IDEMPOTENT_RETRY_STATUSES = frozenset({429})


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
    if text.isascii() and text.isdigit():  # str.isdigit also takes "²", which float() refuses
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds())


@dataclass
class TransportAdapter(Generic[R]):
    """How one HTTP library exposes what the policy needs to know (by default a response's
    ``status_code``, ``headers`` and ``close()``, as requests and ``_core.Answer`` have them)."""

    classify: Callable[[BaseException], Failure | None]
    status_of: Callable[[R], int] = operator.attrgetter("status_code")
    header_of: Callable[[R, str], str | None] = lambda response, name: response.headers.get(name)  # type: ignore[attr-defined]
    close: Callable[[R], Any] = operator.methodcaller("close")


@dataclass
class RetryPolicy:
    """Decides what is retried and how long to wait; builds tenacity retriers for both clients."""

    max_retry_count: int
    wait_max: float = 30.0
    wait_initial: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep)
    #: The credential's secrets, scrubbed from the reasons the retry warnings show.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def retries_status(self, spec: RequestSpec, status_code: int) -> bool:
        allowed = IDEMPOTENT_RETRY_STATUSES if spec.idempotent else NON_IDEMPOTENT_RETRY_STATUSES
        return status_code in allowed

    def retries_failure(self, spec: RequestSpec, failure: Failure | None) -> bool:
        return failure is not None and (spec.idempotent or failure is Failure.NOT_SENT)

    def attempts_for(self, spec: RequestSpec) -> int:
        return self.max_retry_count + 1 if spec.replayable else 1

    def retries_outcome(
        self, spec: RequestSpec, adapter: TransportAdapter[R], exc: BaseException | None, result: Any
    ) -> bool:
        """Whether the policy would try again after this first outcome (``exc`` or ``result``)."""
        if self.attempts_for(spec) < 2:
            return False
        if exc is not None:
            return self.retries_failure(spec, adapter.classify(exc))
        return self.retries_status(spec, adapter.status_of(result))

    def call(self, spec: RequestSpec, adapter: TransportAdapter[R], attempt: Callable[[], R]) -> R:
        """``attempt()`` under the policy; tenacity is entered only when the first outcome is retried."""
        try:
            result, exc = attempt(), None
        except Exception as error:
            result, exc = None, error
        if not self.retries_outcome(spec, adapter, exc, result):
            return _outcome(exc, result)
        steps = iter([lambda: _outcome(exc, result)])  # tenacity's attempt 1: the one seen
        return self.retrying(spec, adapter)(lambda: next(steps, attempt)())  # type: ignore[no-any-return]

    async def acall(
        self, spec: RequestSpec, adapter: TransportAdapter[R], attempt: Callable[[], Awaitable[R]]
    ) -> R:
        """The coroutine twin of :meth:`call`."""
        try:
            result, exc = await attempt(), None
        except Exception as error:
            result, exc = None, error
        if not self.retries_outcome(spec, adapter, exc, result):
            return _outcome(exc, result)
        steps = iter([lambda: _outcome(exc, result)])  # tenacity's attempt 1: the one seen

        async def replay() -> R:  # tenacity awaits only a coroutine function
            step = next(steps, None)
            return step() if step is not None else await attempt()

        retrying = AsyncRetrying(sleep=self.async_sleep, **self._kwargs(spec, adapter))  # type: ignore[arg-type]
        return await retrying(replay)  # type: ignore[no-any-return]

    def retrying(self, spec: RequestSpec, adapter: TransportAdapter[R]) -> Retrying:
        return Retrying(sleep=self.sleep, **self._kwargs(spec, adapter))

    def _kwargs(self, spec: RequestSpec, adapter: TransportAdapter[R]) -> dict[str, Any]:
        attempts = self.attempts_for(spec)
        # Exponential (initial * 2**(n-1)) plus up to ``wait_initial`` of jitter, capped at wait_max.
        backoff = wait_exponential(self.wait_initial, self.wait_max) + wait_random(0, self.wait_initial)

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            if outcome is not None and not outcome.failed:
                delay = retry_after_seconds(adapter.header_of(outcome.result(), "Retry-After"))
                if delay is not None:
                    return min(delay, self.wait_max)
            return min(self.wait_max, backoff(state))

        def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            assert outcome is not None  # tenacity sleeps only after an attempt's outcome
            if outcome.failed:
                exc = outcome.exception()
                reason = scrub(spec.shown(f"{type(exc).__name__}: {exc}"), self.secrets)
            else:
                response = outcome.result()
                reason = f"HTTP {adapter.status_of(response)}"
                adapter.close(response)
            delay = state.next_action.sleep if state.next_action else 0.0
            attempt = f"attempt {state.attempt_number + 1} of {attempts}"
            logger.warning(
                "Retrying %s %s in %.2fs (%s) after %s", spec.method, spec.shown_url, delay, attempt, reason
            )
            spec.rewind()

        return {
            "stop": stop_after_attempt(attempts),
            "wait": wait,
            "retry": retry_if_exception(lambda exc: self.retries_failure(spec, adapter.classify(exc)))
            | retry_if_result(lambda response: self.retries_status(spec, adapter.status_of(response))),
            "before_sleep": before_sleep,
            # Out of attempts: the last response (mapped to an error by the caller), or re-raise.
            "retry_error_callback": lambda state: state.outcome.result(),
            "reraise": True,
        }


def _outcome(exc: BaseException | None, result: R | None) -> R:
    if exc is not None:
        raise exc
    return result  # type: ignore[return-value]
