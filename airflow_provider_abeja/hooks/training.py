"""Waiting for a training job from a worker: the job operator's own wait.

The client does the HTTP and the one wait engine (``wait_step``, kind ``TRAINING_JOB``) decides,
through the same blocking driver as a service wait (``hooks/_wait.run_wait``): the same
transient-error budget, timeout message and fail-fast rule. The deferrable twin is
:class:`airflow_provider_abeja.triggers.training.AbejaTrainingJobTrigger`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import AbejaError
from airflow_provider_abeja.hooks._wait import check_wait_times, run_wait
from airflow_provider_abeja.training_status import job_wait_spec
from airflow_provider_abeja.wait_step import DEFAULT_TRANSIENT_ERROR_BUDGET, Outcome, Step, latest_log_lines

if TYPE_CHECKING:
    from airflow_provider_abeja.client import APIClient

_LOG = logging.getLogger(__name__)


def job_log_lines(client: APIClient, organization_id: str, definition: str, job_id: str) -> list[str]:
    """The job's latest log lines; none when they cannot be read (they only decorate an outcome)."""
    try:
        return latest_log_lines(client.get_training_job_recent_logs(organization_id, definition, job_id))
    except AbejaError:
        return []


def wait_for_training_job(
    client: APIClient,
    organization_id: str,
    definition: str,
    job_id: str,
    *,
    check_interval: float,
    timeout: float | None,
    stop_event: threading.Event | None = None,
    logger: Any = None,
    transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
) -> dict[str, Any]:
    """Poll until the job is Complete (returns it); raises what the engine decides:
    ``TrainingJobFailedError`` (with the job's latest log lines) when it ends Failed or Stopped,
    ``WaitTimeoutError`` after ``timeout`` seconds, ``WaitGaveUpError`` on a permanent error or
    too many transient ones, ``WaitStoppedError`` when ``stop_event`` is set."""
    check_wait_times(check_interval, timeout)
    spec = job_wait_spec(
        job_id,
        transient_error_budget=transient_error_budget,
        deadline=None if timeout is None else time.monotonic() + timeout,
        wall_deadline=None if timeout is None else time.time() + timeout,
    )

    def failure_lines(result: Step) -> list[str]:
        if result.outcome is Outcome.ERROR:
            return []
        return job_log_lines(client, organization_id, definition, job_id)

    return run_wait(
        spec,
        lambda: client.get_training_job(organization_id, definition, job_id),
        logger=logger or _LOG,
        check_interval=check_interval,
        timeout=timeout,
        stop_event=stop_event,
        failure_lines=failure_lines,
    )
