"""Deferrable wait for a training job: ``AbejaTrainingJobTrigger``.

The wait, its arguments and its one event are ``StatusTrigger``'s, shared with the service
trigger: the one wait engine (``wait_step``, kind ``TRAINING_JOB``) on the triggerer's event loop,
the pooled clients (``_shared``), and the same rules, outcomes and messages as the job operator's
own wait and the sensor's poke; the event is keyed ``training_job_id`` / ``job_status``.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.training_status import TRAINING_JOB
from airflow_provider_abeja.triggers._base import DirectWatch, StatusTrigger
from airflow_provider_abeja.wait_events import validate_status_event
from airflow_provider_abeja.wait_step import DEFAULT_TRANSIENT_ERROR_BUDGET

if TYPE_CHECKING:
    from airflow_provider_abeja.client import AsyncAPIClient
    from airflow_provider_abeja.triggers._shared import ClientLease

__all__ = ["AbejaTrainingJobTrigger", "validate_training_event"]


class AbejaTrainingJobTrigger(StatusTrigger):
    """Poll ``training_job_id`` until it completes (``success``), fails or stops (``failure``,
    with its latest log lines), ``end_time`` passes (``timeout``) or an error repeats (``error``).

    ``poll_interval``, ``end_time`` (epoch seconds; None: no deadline), ``abeja_conn_id`` and
    ``transient_error_budget`` are ``StatusTrigger``'s, the same for every kind of resource.
    """

    kind = TRAINING_JOB
    id_fields = ("job_definition_name", "training_job_id")
    job_definition_name: str
    training_job_id: str

    def __init__(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        poll_interval: float = 30.0,
        end_time: float | datetime.datetime | None = None,
        abeja_conn_id: str = "abeja_default",
        transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
    ) -> None:
        super().__init__(
            organization_id,
            (job_definition_name, training_job_id),
            poll_interval=poll_interval,
            end_time=end_time,
            abeja_conn_id=abeja_conn_id,
            transient_error_budget=transient_error_budget,
        )

    def _watch(self, lease: ClientLease) -> DirectWatch:
        return DirectWatch(lambda: lease.client.get_training_job(*self._ids))

    async def _read_recent_logs(self, client: AsyncAPIClient) -> Any:
        return await client.get_training_job_recent_logs(*self._ids)


def validate_training_event(
    event: Any, training_job_id: str, *, timeout_exception: type[Exception] = AirflowException
) -> dict[str, Any]:
    """A ``success`` event, or the error it stands for, as ``wait_events.validate_status_event``
    reads a service's: a failed or stopped job fails without retries (``TrainingJobFailedError``),
    an ``error`` fails fast only when not ``retryable``, a ``timeout`` raises ``timeout_exception``."""
    return validate_status_event(
        event, training_job_id, timeout_exception=timeout_exception, kind=TRAINING_JOB
    )
