"""Wait for a training job someone else started: poke, reschedule or deferrable."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    conf,
)

from airflow_provider_abeja.training_status import TrainingJobFailedError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_abeja.hooks.abeja import AbejaHook

#: The trigger's own deadline comes first; the deferral's timeout is a safety net behind it.
_DEFER_TIMEOUT_MARGIN = 60.0


class AbejaTrainingJobSensor(BaseSensorOperator):
    """Succeed when the training job is ``Complete``; fail without retries when it ends
    ``Failed`` or ``Stopped`` (with its latest log lines).

    :param job_definition_name: the job definition.
    :param training_job_id: the job to watch.
    :param organization_id: defaults to the connection's ``organization_id`` extra.
    :param deferrable: wait in the triggerer (``timeout`` becomes the trigger's deadline).
    """

    template_fields: Sequence[str] = ("organization_id", "job_definition_name", "training_job_id")
    ui_color = "#fdf3e8"

    def __init__(
        self,
        *,
        job_definition_name: str,
        training_job_id: str,
        organization_id: str | None = None,
        abeja_conn_id: str = "abeja_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_definition_name = job_definition_name
        self.training_job_id = training_job_id
        self.organization_id = organization_id
        self.abeja_conn_id = abeja_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> AbejaHook:
        from airflow_provider_abeja.hooks.abeja import AbejaHook

        return AbejaHook(abeja_conn_id=self.abeja_conn_id)

    def _ids(self) -> tuple[str, str, str]:
        from airflow_provider_abeja.client.validation import check_path_id
        from airflow_provider_abeja.failfast import fail_fast as permanent_errors_fail_fast

        with permanent_errors_fail_fast():
            return (
                self.hook.get_organization_id(self.organization_id or None),
                check_path_id(self.job_definition_name, "job_definition_name"),
                check_path_id(self.training_job_id, "training_job_id"),
            )

    def poke(self, context: Context) -> bool:
        from airflow_provider_abeja.failfast import fail_fast as permanent_errors_fail_fast
        from airflow_provider_abeja.hooks.training import check_job

        organization_id, definition, job_id = self._ids()
        client = self.hook.client
        with permanent_errors_fail_fast():
            job = client.get_training_job(organization_id, definition, job_id)
        self.log.info("Training job %s is %s", job_id, job.get("status"))
        try:
            return check_job(client, organization_id, definition, job)
        except TrainingJobFailedError as exc:
            raise AirflowFailException(str(exc)) from exc

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from airflow_provider_abeja.triggers.training import AbejaTrainingJobTrigger

        organization_id, definition, job_id = self._ids()
        self.defer(
            trigger=AbejaTrainingJobTrigger(
                organization_id=organization_id,
                job_definition_name=definition,
                training_job_id=job_id,
                poll_interval=max(float(self.poke_interval), 0.1),
                end_time=time.time() + float(self.timeout),
                abeja_conn_id=self.abeja_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + _DEFER_TIMEOUT_MARGIN),
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        from airflow_provider_abeja.triggers.training import validate_training_event

        validate_training_event(event, str(self.training_job_id), timeout_exception=AirflowSensorTimeout)
        self.log.info("Training job %s completed", self.training_job_id)
