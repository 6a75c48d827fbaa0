"""Training job statuses and the wait engine's kind for a training job, in the shape of
``status`` (no Airflow, no HTTP library)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_abeja.exceptions import TrainingJobFailedError
from airflow_provider_abeja.status import ResourceKind, StatusEnum
from airflow_provider_abeja.wait_step import DEFAULT_TRANSIENT_ERROR_BUDGET, WaitSpec

__all__ = [
    "FAILED_JOB_STATUSES",
    "KNOWN_JOB_STATUSES",
    "RUNNING_JOB_STATUSES",
    "TRAINING_JOB",
    "TrainingJobFailedError",
    "TrainingJobStatus",
    "job_status",
    "job_wait_spec",
]


class TrainingJobStatus(StatusEnum):
    """The statuses of ABEJA's SDK (``abeja.training.JobStatus``)."""

    PENDING = "Pending"
    ACTIVE = "Active"
    STOPPED = "Stopped"
    COMPLETE = "Complete"
    FAILED = "Failed"


#: Every status this provider knows; a wait warns once about any other and keeps waiting.
KNOWN_JOB_STATUSES = TrainingJobStatus.values()
#: A job in one of these still runs (or is about to).
RUNNING_JOB_STATUSES = TrainingJobStatus.values(TrainingJobStatus.PENDING, TrainingJobStatus.ACTIVE)
#: A wait for completion fails on these.
FAILED_JOB_STATUSES = TrainingJobStatus.values(TrainingJobStatus.FAILED, TrainingJobStatus.STOPPED)

#: What the one wait engine (``wait_step``) needs to wait for a training job.
TRAINING_JOB = ResourceKind(
    noun="training job",
    id_key="training_job_id",
    status_key="job_status",
    target_status=TrainingJobStatus.COMPLETE.value,
    failure_statuses=FAILED_JOB_STATUSES,
    known_statuses=KNOWN_JOB_STATUSES,
    failed_error=TrainingJobFailedError,
    detail_key="status_message",
)


def job_status(job: Mapping[str, Any]) -> str:
    return str(job.get("status", ""))


def job_wait_spec(
    job_id: str,
    *,
    transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
    deadline: float | None = None,
    wall_deadline: float | None = None,
) -> WaitSpec:
    """The engine's spec for a wait until the job is ``Complete`` (``Failed``/``Stopped`` fail)."""
    return WaitSpec.build(
        job_id,
        transient_error_budget=transient_error_budget,
        deadline=deadline,
        wall_deadline=wall_deadline,
        kind=TRAINING_JOB,
    )
