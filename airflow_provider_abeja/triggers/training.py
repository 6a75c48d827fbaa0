"""Deferrable wait for a training job: poll until Complete, Failed/Stopped, or the deadline.

Shares the triggerer's pooled clients with the service trigger (``_shared.lease_client``) and
the same rules: transient errors (transport, 429, 5xx) are retried up to a budget, anything else
ends the wait with an ``error`` event at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_abeja.training_status import (
    FAILED_JOB_STATUSES,
    TrainingJobFailedError,
    TrainingJobStatus,
    latest_job_log_lines,
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
        transient_error_budget: int = 5,
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
        from airflow_provider_abeja.triggers._shared import lease_client

        lease = None
        try:
            lease = await lease_client(self.abeja_conn_id)
            event = await self._wait(lease.client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            event = self._event("error", None, f"could not watch training job {self.training_job_id}: {exc}")
        finally:
            if lease is not None:
                await asyncio.shield(lease.release())
        yield TriggerEvent(event)

    async def _wait(self, client: AsyncAPIClient) -> dict[str, Any]:
        from airflow_provider_abeja.triggers.service import is_transient_error

        errors, last = 0, None
        args = (self.organization_id, self.job_definition_name, self.training_job_id)
        while True:
            try:
                job = await client.get_training_job(*args)
            except Exception as exc:
                errors += 1
                if not is_transient_error(exc) or errors > self.transient_error_budget:
                    return self._event(
                        "error", last, f"cannot get training job {self.training_job_id}: {exc}"
                    )
                self.log.warning(
                    "Transient error %d polling training job %s: %s", errors, self.training_job_id, exc
                )
            else:
                errors = 0
                status = str(job.get("status"))
                if status != last:
                    self.log.info("Training job %s is %s", self.training_job_id, status)
                last = status
                if status == TrainingJobStatus.COMPLETE.value:
                    return self._event("success", status, f"training job {self.training_job_id} completed")
                if status in FAILED_JOB_STATUSES:
                    detail = str(job.get("status_message") or "")
                    message = f"training job {self.training_job_id} is {status}" + (
                        f": {detail}" if detail else ""
                    )
                    return self._event("failure", status, message, await self._log_lines(client))
            now = time.time()
            if self.end_time is not None and now >= self.end_time:
                return self._event(
                    "timeout", last, f"training job {self.training_job_id} still {last} at the deadline"
                )
            delay = (
                self.poll_interval if self.end_time is None else min(self.poll_interval, self.end_time - now)
            )
            await asyncio.sleep(max(delay, 0.0))

    async def _log_lines(self, client: AsyncAPIClient) -> list[str]:
        args = (self.organization_id, self.job_definition_name, self.training_job_id)
        try:
            logs = await asyncio.wait_for(client.get_training_job_recent_logs(*args), LOG_FETCH_TIMEOUT)
        except Exception as exc:
            self.log.warning("Could not read the log of training job %s: %s", self.training_job_id, exc)
            return []
        return latest_job_log_lines(logs)

    def _event(
        self, status: str, job_status: str | None, message: str, lines: list[str] | None = None
    ) -> dict[str, Any]:
        return {
            "status": status,
            "training_job_id": self.training_job_id,
            "job_status": job_status,
            "message": message,
            "log_lines": list(lines or []),
        }


def validate_training_event(
    event: Any, training_job_id: str, *, timeout_exception: type[Exception] = AirflowException
) -> dict[str, Any]:
    """A ``success`` event, or the error it stands for: a failed or stopped job fails the task
    without retries (``AirflowFailException`` from ``TrainingJobFailedError``), an ``error`` lets
    the task's retries apply, a ``timeout`` raises ``timeout_exception``."""
    if not isinstance(event, Mapping) or event.get("training_job_id") != training_job_id:
        raise AirflowException(f"unexpected trigger event for training job {training_job_id}: {event!r}")
    status = event.get("status")
    if status == "success":
        return dict(event)
    message = str(event.get("message") or status)
    lines = [str(line) for line in event.get("log_lines") or []]
    if status == "failure":
        error = TrainingJobFailedError(training_job_id, str(event.get("job_status")), lines)
        raise AirflowFailException(f"{message}\n" + "\n".join(lines) if lines else message) from error
    if status == "timeout":
        raise timeout_exception(message)
    raise AirflowException(message)
