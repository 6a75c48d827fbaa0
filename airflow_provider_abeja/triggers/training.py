"""Deferrable wait for a training job: the one wait engine (``wait_step``, kind ``TRAINING_JOB``)
driven on the triggerer's event loop, as ``AbejaServiceStatusTrigger`` drives it for a service.

Shares the triggerer's pooled clients with the service trigger (``_shared.lease_client``) and the
same rules, outcomes and messages as the job operator's own wait and the sensor's poke; its one
event is ``wait_events.status_event`` keyed ``training_job_id`` / ``job_status``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_abeja.exceptions import is_fail_fast
from airflow_provider_abeja.training_status import TRAINING_JOB, job_wait_spec
from airflow_provider_abeja.wait_events import status_event, validate_status_event
from airflow_provider_abeja.wait_step import (
    DEFAULT_TRANSIENT_ERROR_BUDGET,
    Outcome,
    Step,
    WaitState,
    emit,
    latest_log_lines,
    next_pause,
    step,
)

if TYPE_CHECKING:
    from airflow_provider_abeja.client import AsyncAPIClient

#: Seconds the log lines of a failed job may take to read before the event goes without them.
LOG_FETCH_TIMEOUT = 10.0


class AbejaTrainingJobTrigger(BaseTrigger):
    """Poll ``training_job_id`` until it completes (``success``), fails or stops (``failure``,
    with its latest log lines), ``end_time`` passes (``timeout``) or an error repeats (``error``).

    :param end_time: wall-clock deadline in epoch seconds (None: no deadline).
    :param transient_error_budget: transient errors in a row tolerated before an ``error`` event.
    """

    def __init__(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        abeja_conn_id: str = "abeja_default",
        transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
    ) -> None:
        super().__init__()
        if float(poll_interval) <= 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        self.organization_id = str(organization_id)
        self.job_definition_name = str(job_definition_name)
        self.training_job_id = str(training_job_id)
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.abeja_conn_id = str(abeja_conn_id)
        self.transient_error_budget = int(transient_error_budget)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "organization_id": self.organization_id,
                "job_definition_name": self.job_definition_name,
                "training_job_id": self.training_job_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "abeja_conn_id": self.abeja_conn_id,
                "transient_error_budget": self.transient_error_budget,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_abeja.triggers._shared import wait_with_lease

        event = await wait_with_lease(
            self.abeja_conn_id, lambda lease: self._wait(lease.client), self._error_event
        )
        yield TriggerEvent(event)

    async def _wait(self, client: AsyncAPIClient) -> dict[str, Any]:
        spec = job_wait_spec(
            self.training_job_id, transient_error_budget=self.transient_error_budget, deadline=self.end_time
        )
        state = WaitState()
        args = (self.organization_id, self.job_definition_name, self.training_job_id)
        while True:
            observation: object
            try:
                observation = await client.get_training_job(*args)
            except Exception as exc:
                observation = exc
            result = step(spec, state, observation, time.time())
            state = result.state
            emit(result, self.log)
            if result.done:
                wants_logs = result.outcome in (Outcome.FAILED, Outcome.TIMED_OUT)
                return self._event(result, await self._log_lines(client) if wants_logs else [])
            await asyncio.sleep(next_pause(spec, self.poll_interval, time.time()))

    async def _log_lines(self, client: AsyncAPIClient) -> list[str]:
        args = (self.organization_id, self.job_definition_name, self.training_job_id)
        try:
            logs = await asyncio.wait_for(client.get_training_job_recent_logs(*args), LOG_FETCH_TIMEOUT)
        except Exception as exc:
            self.log.warning("Could not read the log of training job %s: %s", self.training_job_id, exc)
            return []
        return latest_log_lines(logs)

    def _error_event(self, exc: Exception) -> dict[str, Any]:
        message = f"could not watch training job {self.training_job_id}: {exc}"
        return self._event(Step(Outcome.ERROR, WaitState(), message, retryable=not is_fail_fast(exc)))

    def _event(self, result: Step, log_lines: list[str] | None = None) -> dict[str, Any]:
        return status_event(self.training_job_id, result, log_lines, TRAINING_JOB)


def validate_training_event(
    event: Any, training_job_id: str, *, timeout_exception: type[Exception] = AirflowException
) -> dict[str, Any]:
    """A ``success`` event, or the error it stands for, as ``wait_events.validate_status_event``
    reads a service's: a failed or stopped job fails without retries (``TrainingJobFailedError``),
    an ``error`` fails fast only when not ``retryable``, a ``timeout`` raises ``timeout_exception``."""
    return validate_status_event(
        event, training_job_id, timeout_exception=timeout_exception, kind=TRAINING_JOB
    )
