"""Training job statuses, the failure error and its log lines (no Airflow, no HTTP library)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from airflow_provider_abeja.exceptions import AbejaError

#: How many of a failed job's latest log lines go into the error.
MAX_LOG_LINES = 20


class TrainingJobStatus(str, Enum):
    """The statuses of ABEJA's SDK (``abeja.training.JobStatus``)."""

    PENDING = "Pending"
    ACTIVE = "Active"
    STOPPED = "Stopped"
    COMPLETE = "Complete"
    FAILED = "Failed"

    def __str__(self) -> str:
        return self.value


#: A job in one of these still runs (or is about to).
RUNNING_JOB_STATUSES: frozenset[str] = frozenset(
    {TrainingJobStatus.PENDING.value, TrainingJobStatus.ACTIVE.value}
)
#: A wait for completion fails on these.
FAILED_JOB_STATUSES: frozenset[str] = frozenset(
    {TrainingJobStatus.FAILED.value, TrainingJobStatus.STOPPED.value}
)


class TrainingJobFailedError(AbejaError):
    """The job ended Failed or Stopped; ``log_lines`` are its latest log lines, oldest first."""

    def __init__(self, training_job_id: str, status: str, log_lines: list[str], detail: str = "") -> None:
        self.training_job_id = training_job_id
        self.status = status
        self.log_lines = list(log_lines)
        message = f"training job {training_job_id} is {status}"
        if detail:
            message += f": {detail}"
        if log_lines:
            message += "\nlatest log lines:\n" + "\n".join(f"  {line}" for line in log_lines)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.training_job_id, self.status, self.log_lines))


def latest_job_log_lines(recent_logs: Mapping[str, Any] | None, limit: int = MAX_LOG_LINES) -> list[str]:
    """The newest ``limit`` messages of a recentlogs page (events come newest first), oldest first."""
    events = (recent_logs or {}).get("events") or []
    lines = [str(e.get("message", "")) for e in events if isinstance(e, Mapping)]
    return list(reversed(lines[:limit]))


def job_status(job: Mapping[str, Any]) -> str:
    return str(job.get("status", ""))
