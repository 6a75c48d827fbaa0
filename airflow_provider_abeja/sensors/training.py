"""Wait for a training job someone else started: poke, reschedule or deferrable.

The wait is ``StatusSensor``'s, shared with the service sensor: each poke is one observation
through the one wait engine (``wait_step``, kind ``TRAINING_JOB``), as in the job operator's own
wait and the trigger: same budget, messages, retries and fail-fast rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.sensors._base import Ids, StatusSensor
from airflow_provider_abeja.training_status import TRAINING_JOB

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

__all__ = ["AbejaTrainingJobSensor"]


class AbejaTrainingJobSensor(StatusSensor):
    """Succeed when the training job is ``Complete``; fail without retries when it ends
    ``Failed`` or ``Stopped`` (with its latest log lines).

    :param job_definition_name: the job definition.
    :param training_job_id: the job to watch.
    :param organization_id: defaults to the connection's ``organization_id`` extra.

    ``abeja_conn_id``, ``deferrable`` (``timeout`` becomes the trigger's deadline),
    ``transient_error_budget`` and the default retries are ``StatusSensor``'s, the same for
    every kind of resource.
    """

    kind = TRAINING_JOB
    id_fields = ("job_definition_name", "training_job_id")
    template_fields: Sequence[str] = ("organization_id", "job_definition_name", "training_job_id")
    ui_color = "#fdf3e8"

    def __init__(self, *, job_definition_name: str, training_job_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_definition_name = job_definition_name
        self.training_job_id = training_job_id

    def _read(self, ids: Ids) -> Mapping[str, Any]:
        return self.hook.client.get_training_job(*ids)

    def _read_recent_logs(self, ids: Ids) -> Any:
        return self.hook.client.get_training_job_recent_logs(*ids)

    def _trigger(self, **kwargs: Any) -> BaseTrigger:
        from airflow_provider_abeja.triggers.training import AbejaTrainingJobTrigger

        return AbejaTrainingJobTrigger(**kwargs)
