"""What the service and training job triggers share: a status wait on the triggerer's event loop.

The trigger leases a pooled async client (``_shared``), drives the one wait engine
(``wait_step``) with what its watch observes, and yields exactly one event
(``wait_events.status_event``, keyed by its ``ResourceKind``). A subclass names its kind, its two
path ids, how it watches the resource and how it reads its log: everything else (arguments,
serialization, outcomes, messages, jitter, log lines) is the same for every kind.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_abeja.exceptions import is_fail_fast
from airflow_provider_abeja.wait_events import status_event
from airflow_provider_abeja.wait_step import (
    DEFAULT_TRANSIENT_ERROR_BUDGET,
    Outcome,
    ResourceKind,
    Step,
    WaitSpec,
    WaitState,
    emit,
    latest_log_lines,
    next_pause,
    step,
)

if TYPE_CHECKING:
    from airflow_provider_abeja.client import AsyncAPIClient
    from airflow_provider_abeja.triggers._shared import ClientLease

__all__ = ["LOG_FETCH_TIMEOUT", "POLL_JITTER", "DirectWatch", "StatusTrigger", "Watch"]

#: Seconds a trigger waits for recent logs before sending its event without them.
LOG_FETCH_TIMEOUT = 15.0
#: Each sleep between polls is the poll interval +- this fraction.
POLL_JITTER = 0.1


class Watch(Protocol):
    """How a wait reads its resource: entered for the whole wait, one ``observe()`` a poll."""

    def __enter__(self) -> Watch: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def observe(self) -> object:
        """The resource's JSON, or the error reading it (the engine's observation); never raises."""
        ...


class DirectWatch(AbstractContextManager["DirectWatch"]):
    """One GET a poll: ``read()``'s answer, or the error it raised."""

    def __init__(self, read: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
        self._read = read

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def observe(self) -> object:
        try:
            return await self._read()
        except Exception as exc:
            return exc


def _coerce_end_time(end_time: float | int | datetime.datetime | None) -> float | None:
    if end_time is None:
        return None
    if isinstance(end_time, datetime.datetime):
        if end_time.tzinfo is None:
            raise ValueError("end_time: a datetime must be timezone-aware")
        return end_time.timestamp()
    if isinstance(end_time, bool) or not isinstance(end_time, (int, float)):
        raise TypeError(f"end_time must be epoch seconds (a number) or None, not {type(end_time).__name__}")
    return float(end_time)


class StatusTrigger(BaseTrigger):
    """Poll one resource until its target status (``success``), a failure status (``failure``,
    with its latest log lines), ``end_time`` (``timeout``) or an error the wait cannot get past
    (``error``).

    :param organization_id: organization of the resource (already resolved: the triggerer does
        not fall back to the connection's organization).
    :param ids: the two path ids after the organization, stored under ``id_fields``.
    :param target_status: the only status that counts as success (None: the kind's).
    :param failure_statuses: statuses that end the wait with a ``failure`` event (None: the
        kind's; the target is never one of them). Any other status keeps the trigger waiting,
        with one warning per unknown status.
    :param poll_interval: seconds between polls (+- ``POLL_JITTER``).
    :param end_time: wall-clock deadline in epoch seconds (``None``: no deadline). It is part of
        the serialized kwargs, so a triggerer restart keeps the same deadline.
    :param abeja_conn_id: Airflow connection of the ABEJA Platform.
    :param transient_error_budget: how many transient errors in a row (transport failures,
        429, 5xx) are tolerated before an ``error`` event; a successful poll resets the count.
        Permanent errors (401, 403, 404, ...) give an ``error`` event at once.
    """

    #: What is watched: nouns, event keys, default target and failure statuses, failure error.
    kind: ClassVar[ResourceKind]
    #: The serialized names of the two path ids after the organization, outermost first.
    id_fields: ClassVar[tuple[str, str]]
    #: Whether ``target_status`` and ``failure_statuses`` are arguments (serialized) or the kind's.
    chooses_statuses: ClassVar[bool] = False

    def __init__(
        self,
        organization_id: str,
        ids: tuple[str, str],
        *,
        target_status: str | None = None,
        failure_statuses: Iterable[str] | None = None,
        poll_interval: float,
        end_time: float | datetime.datetime | None = None,
        abeja_conn_id: str = "abeja_default",
        transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
    ) -> None:
        super().__init__()
        if poll_interval is None or float(poll_interval) <= 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        # The engine's rules (the target is never a failure status, the budget >= 0), checked once.
        spec = WaitSpec.build(ids[1], target_status, failure_statuses, transient_error_budget, kind=self.kind)
        self.organization_id = str(organization_id)
        for name, value in zip(self.id_fields, ids, strict=True):
            setattr(self, name, str(value))
        self.target_status = spec.target_status
        self.failure_statuses: list[str] = sorted(spec.failure_statuses)
        self.poll_interval = float(poll_interval)
        self.end_time = _coerce_end_time(end_time)
        self.abeja_conn_id = str(abeja_conn_id)
        self.transient_error_budget = spec.transient_error_budget

    # -- what a subclass says -----------------------------------------------------------------

    def _watch(self, lease: ClientLease) -> Watch:
        """How this wait reads its resource on ``lease``."""
        raise NotImplementedError

    async def _read_recent_logs(self, client: AsyncAPIClient) -> Any:
        """The resource's ``recentlogs`` answer."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------

    @property
    def _ids(self) -> tuple[str, str, str]:
        outer, inner = (str(getattr(self, name)) for name in self.id_fields)
        return self.organization_id, outer, inner

    @property
    def _resource_id(self) -> str:
        return self._ids[2]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-only kwargs; the deadline travels as epoch seconds."""
        kwargs: dict[str, Any] = dict(zip(("organization_id", *self.id_fields), self._ids, strict=True))
        if self.chooses_statuses:
            kwargs.update(target_status=self.target_status, failure_statuses=list(self.failure_statuses))
        kwargs.update(
            poll_interval=self.poll_interval,
            end_time=self.end_time,
            abeja_conn_id=self.abeja_conn_id,
            transient_error_budget=self.transient_error_budget,
        )
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until an outcome, then yield one event. The client lease ends before the yield.

        The triggers of one event loop share clients per connection settings (one small pool
        per 8 waits instead of one per wait, see ``_shared``); a client's last trigger closes it.
        """
        from airflow_provider_abeja.triggers._shared import wait_with_lease

        try:
            event = await wait_with_lease(self.abeja_conn_id, self._wait, self._error_event)
        except asyncio.CancelledError:
            self.log.info("Stopped waiting for %s %s (cancelled)", self.kind.noun, self._resource_id)
            raise
        yield TriggerEvent(event)

    async def _wait(self, lease: ClientLease) -> dict[str, Any]:
        spec = WaitSpec.build(
            self._resource_id,
            self.target_status,
            self.failure_statuses,
            self.transient_error_budget,
            deadline=self.end_time,
            kind=self.kind,
        )
        state = WaitState()
        with self._watch(lease) as watch:
            while True:
                result = step(spec, state, await watch.observe(), time.time())
                state = result.state
                emit(result, self.log)
                if result.done:
                    break
                # +-10 %: triggers rebuilt together (a triggerer restart) drift apart instead of
                # polling the API in lockstep.
                delay = self.poll_interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)
                await asyncio.sleep(next_pause(spec, delay, time.time()))
        wants_logs = result.outcome in (Outcome.FAILED, Outcome.TIMED_OUT)
        lines = await self._log_lines(lease.client) if wants_logs else []
        return self._event(result, lines)

    async def _log_lines(self, client: AsyncAPIClient) -> list[str]:
        """The latest log lines, or none when they cannot be read in LOG_FETCH_TIMEOUT.

        The lines only decorate an outcome that is already known: a slow log API must not hold
        back a failure or push a timeout event far past its deadline.
        """
        noun, resource_id = self.kind.noun, self._resource_id
        try:
            logs = await asyncio.wait_for(self._read_recent_logs(client), timeout=LOG_FETCH_TIMEOUT)
        except asyncio.TimeoutError:
            self.log.warning("Recent logs of %s %s not read within %ss", noun, resource_id, LOG_FETCH_TIMEOUT)
            return []
        except Exception as exc:
            self.log.warning("Could not read recent logs of %s %s: %s", noun, resource_id, exc)
            return []
        return latest_log_lines(logs)

    def _error_event(self, exc: Exception) -> dict[str, Any]:
        message = f"could not watch {self.kind.noun} {self._resource_id}: {exc}"
        return self._event(Step(Outcome.ERROR, WaitState(), message, retryable=not is_fail_fast(exc)))

    def _event(self, result: Step, log_lines: list[str] | None = None) -> dict[str, Any]:
        """The one event of this trigger, from the engine's last step."""
        return status_event(self._resource_id, result, log_lines, self.kind)
