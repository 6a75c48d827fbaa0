"""Wait for a service status in the triggerer: ``AbejaServiceStatusTrigger``.

The trigger polls the service with the async client on the triggerer's event loop, so one
triggerer can watch many services for the cost of a coroutine each, and the waits on one
deployment share one listing per poll interval (``_deployment_poller``); what each answer means
is decided by the one wait engine (``wait_step``), as in the operators' own wait and the sensor.
It yields exactly one event (``wait_events``; see ``docs/architecture.md``, "Waiting"), which
``wait_events.validate_status_event`` turns back into a result or a clear task failure for the
operators' and the sensor's ``execute_complete``.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_abeja.exceptions import is_fail_fast, is_transient
from airflow_provider_abeja.status import ServiceStatus
from airflow_provider_abeja.triggers._deployment_poller import ServiceWatch
from airflow_provider_abeja.wait_events import EVENT_STATUSES, status_event, validate_status_event
from airflow_provider_abeja.wait_step import (
    MAX_LOG_LINES,
    Outcome,
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

__all__ = [
    "EVENT_STATUSES",
    "MAX_LOG_LINES",
    "AbejaServiceStatusTrigger",
    "is_transient_error",
    "latest_log_lines",
    "validate_status_event",
]

#: Seconds the trigger waits for recent logs before sending its event without them.
LOG_FETCH_TIMEOUT = 15.0
#: Each sleep between polls is the poll interval +- this fraction.
POLL_JITTER = 0.1
#: Kept under the names this module has always exported.
is_transient_error = is_transient


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


class AbejaServiceStatusTrigger(BaseTrigger):
    """Poll a service until it reaches ``target_status``, a failure status, or ``end_time``.

    :param organization_id: organization of the service (already resolved: the triggerer does
        not fall back to the connection's organization).
    :param deployment_id: deployment of the service.
    :param service_id: the service to watch.
    :param target_status: the only status that counts as success.
    :param failure_statuses: statuses that end the wait with a ``failure`` event (the target is
        never one of them). Any other status keeps the trigger waiting, with one warning per
        unknown status.
    :param poll_interval: seconds between polls.
    :param end_time: wall-clock deadline in epoch seconds (``None``: no deadline). It is part of
        the serialized kwargs, so a triggerer restart keeps the same deadline.
    :param abeja_conn_id: Airflow connection of the ABEJA Platform.
    :param transient_error_budget: how many transient errors in a row (transport failures,
        429, 5xx) are tolerated before an ``error`` event; a successful poll resets the count.
        Permanent errors (401, 403, 404, ...) give an ``error`` event at once.
    """

    def __init__(
        self,
        organization_id: str,
        deployment_id: str,
        service_id: str,
        target_status: str = ServiceStatus.READY.value,
        failure_statuses: Iterable[str] | None = None,
        poll_interval: float = 10.0,
        end_time: float | None = None,
        abeja_conn_id: str = "abeja_default",
        transient_error_budget: int = 5,
    ) -> None:
        super().__init__()
        if poll_interval is None or float(poll_interval) <= 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        # The engine's rules (the target is never a failure status, the budget >= 0), checked once.
        spec = WaitSpec.build(service_id, target_status, failure_statuses, transient_error_budget)
        self.organization_id = str(organization_id)
        self.deployment_id = str(deployment_id)
        self.service_id = spec.resource_id
        self.target_status = spec.target_status
        self.failure_statuses: list[str] = sorted(spec.failure_statuses)
        self.poll_interval = float(poll_interval)
        self.end_time = _coerce_end_time(end_time)
        self.abeja_conn_id = str(abeja_conn_id)
        self.transient_error_budget = spec.transient_error_budget

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-only kwargs; the deadline travels as epoch seconds."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "organization_id": self.organization_id,
                "deployment_id": self.deployment_id,
                "service_id": self.service_id,
                "target_status": self.target_status,
                "failure_statuses": list(self.failure_statuses),
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "abeja_conn_id": self.abeja_conn_id,
                "transient_error_budget": self.transient_error_budget,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until an outcome, then yield one event. The client lease ends before the yield.

        The triggers of one event loop share clients per connection settings (one small pool
        per 8 waits instead of one per wait, see ``_shared``); a client's last trigger closes it.
        """
        from airflow_provider_abeja.triggers._shared import wait_with_lease

        try:
            event = await wait_with_lease(self.abeja_conn_id, self._wait, self._error_event)
        except asyncio.CancelledError:
            self.log.info("Stopped waiting for service %s (cancelled)", self.service_id)
            raise
        yield TriggerEvent(event)

    @property
    def _ids(self) -> tuple[str, str, str]:
        return self.organization_id, self.deployment_id, self.service_id

    async def _wait(self, lease: ClientLease) -> dict[str, Any]:
        spec = WaitSpec.build(
            self.service_id,
            self.target_status,
            self.failure_statuses,
            self.transient_error_budget,
            deadline=self.end_time,
        )
        state = WaitState()
        # The waits on one deployment share one listing per poll interval (_deployment_poller).
        with ServiceWatch(lease, *self._ids, self.poll_interval) as watch:
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
        """The service's latest log lines, or none when they cannot be read in LOG_FETCH_TIMEOUT.

        The lines only decorate an outcome that is already known: a slow log API must not hold
        back a failure or push a timeout event far past its deadline.
        """
        try:
            logs = await asyncio.wait_for(
                client.get_service_recent_logs(self.organization_id, self.deployment_id, self.service_id),
                timeout=LOG_FETCH_TIMEOUT,
            )
        except asyncio.TimeoutError:
            self.log.warning(
                "Recent logs of service %s not read within %ss", self.service_id, LOG_FETCH_TIMEOUT
            )
            return []
        except Exception as exc:
            self.log.warning("Could not read recent logs of service %s: %s", self.service_id, exc)
            return []
        return latest_log_lines(logs)

    def _error_event(self, exc: Exception) -> dict[str, Any]:
        message = f"could not watch service {self.service_id}: {exc}"
        return self._event(Step(Outcome.ERROR, WaitState(), message, retryable=not is_fail_fast(exc)))

    def _event(self, result: Step, log_lines: list[str] | None = None) -> dict[str, Any]:
        """The one event of this trigger, from the engine's last step."""
        return status_event(self.service_id, result, log_lines)
