"""Waiting for a training job from a worker (operators in poke mode, the sensor's helpers).

The client does the HTTP; this module only decides: still running, done, or failed (with the
job's latest log lines). The deferrable twin is :mod:`airflow_provider_abeja.triggers.training`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import HttpError, NotFound, WaitStoppedError, WaitTimeoutError
from airflow_provider_abeja.training_status import (
    FAILED_JOB_STATUSES,
    TrainingJobFailedError,
    TrainingJobStatus,
    job_status,
    latest_job_log_lines,
)

if TYPE_CHECKING:
    from airflow_provider_abeja.client import APIClient


def job_log_lines(client: APIClient, organization_id: str, definition: str, job_id: str) -> list[str]:
    """The job's latest log lines; none when the platform has no logs route for it."""
    try:
        return latest_job_log_lines(client.get_training_job_recent_logs(organization_id, definition, job_id))
    except (NotFound, HttpError):
        return []


def check_job(client: APIClient, organization_id: str, definition: str, job: dict[str, Any]) -> bool:
    """True when the job completed; raises ``TrainingJobFailedError`` when it failed or stopped."""
    status = job_status(job)
    if status == TrainingJobStatus.COMPLETE.value:
        return True
    if status in FAILED_JOB_STATUSES:
        job_id = str(job.get("training_job_id"))
        lines = job_log_lines(client, organization_id, definition, job_id)
        raise TrainingJobFailedError(job_id, status, lines, str(job.get("status_message") or ""))
    return False


def wait_for_training_job(
    client: APIClient,
    organization_id: str,
    definition: str,
    job_id: str,
    *,
    check_interval: float,
    timeout: float | None,
    stop_event: threading.Event | None = None,
) -> dict[str, Any]:
    """Poll until the job is Complete (returns it), Failed/Stopped (raises), ``timeout`` seconds
    passed (``WaitTimeoutError``) or ``stop_event`` is set (``WaitStoppedError``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    stop_event = stop_event or threading.Event()
    while True:
        job = client.get_training_job(organization_id, definition, job_id)
        if check_job(client, organization_id, definition, job):
            return job
        if deadline is not None and time.monotonic() >= deadline:
            status = job_status(job)
            raise WaitTimeoutError(
                job_id, status, timeout, f"training job {job_id} is still {status} after {timeout:g} s"
            )
        wait = (
            check_interval if deadline is None else max(0.0, min(check_interval, deadline - time.monotonic()))
        )
        if stop_event.wait(wait):
            raise WaitStoppedError(job_id, job_status(job), f"stopped waiting for training job {job_id}")
