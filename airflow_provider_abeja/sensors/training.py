"""Wait for a training job someone else started: poke, reschedule or deferrable.

Each poke is one observation through the one wait engine (``wait_step``, kind ``TRAINING_JOB``),
as in the job operator's own wait and the trigger: same budget, messages and fail-fast rule.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseSensorOperator, conf

from airflow_provider_abeja.exceptions import AbejaError, WaitTimeoutError, with_log_lines
from airflow_provider_abeja.failfast import airflow_error, fail_fast
from airflow_provider_abeja.wait_step import (
    DEFAULT_TRANSIENT_ERROR_BUDGET,
    Outcome,
    WaitSpec,
    WaitState,
    emit,
    step,
    step_error,
    timeout_message,
)

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
    :param transient_error_budget: transient errors in a row tolerated (after the client's retries).
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
        transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_definition_name = job_definition_name
        self.training_job_id = training_job_id
        self.organization_id = organization_id
        self.abeja_conn_id = abeja_conn_id
        self.deferrable = deferrable
        self.transient_error_budget = transient_error_budget
        self._wait_state = WaitState()

    @cached_property
    def hook(self) -> AbejaHook:
        from airflow_provider_abeja.hooks.abeja import AbejaHook

        return AbejaHook(abeja_conn_id=self.abeja_conn_id)

    def _ids(self) -> tuple[str, str, str]:
        from airflow_provider_abeja.client.validation import check_path_id

        with fail_fast():
            return (
                self.hook.get_organization_id(self.organization_id or None),
                check_path_id(self.job_definition_name, "job_definition_name"),
                check_path_id(self.training_job_id, "training_job_id"),
            )

    def _spec(self, wall_deadline: float | None = None) -> WaitSpec:
        """No deadline in poke mode: Airflow keeps the sensor's time."""
        from airflow_provider_abeja.training_status import job_wait_spec

        budget = self.transient_error_budget
        return job_wait_spec(
            str(self.training_job_id), transient_error_budget=budget, wall_deadline=wall_deadline
        )

    def _log_lines(self) -> list[str]:
        from airflow_provider_abeja.hooks.training import job_log_lines

        return job_log_lines(self.hook.client, *self._ids())

    def poke(self, context: Context) -> bool:
        organization_id, definition, job_id = self._ids()
        spec = self._spec()
        observation: object
        try:
            observation = self.hook.client.get_training_job(organization_id, definition, job_id)
        except AbejaError as exc:
            observation = exc
        result = step(spec, self._wait_state, observation, time.monotonic())
        self._wait_state = result.state
        emit(result, self.log)
        if result.outcome is Outcome.SUCCEEDED:
            return True
        if not result.done:
            return False
        error = step_error(spec, result, self._log_lines() if result.outcome is Outcome.FAILED else [])
        raise airflow_error(error, timeout_exception=AirflowSensorTimeout) from error

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            started = time.time()
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                # Airflow's poke-mode timeout, told as the engine tells it in every other mode.
                spec = self._spec(time.time() if self.reschedule else started + float(self.timeout))
                last = self._wait_state.last_status
                message = with_log_lines(timeout_message(spec, last), self._log_lines(), spec.kind.noun)
                error = WaitTimeoutError(spec.resource_id, last, float(self.timeout), message)
                raise airflow_error(error, timeout_exception=AirflowSensorTimeout) from error
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
                transient_error_budget=self.transient_error_budget,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + _DEFER_TIMEOUT_MARGIN),
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        from airflow_provider_abeja.triggers.training import validate_training_event

        validate_training_event(event, str(self.training_job_id), timeout_exception=AirflowSensorTimeout)
        self.log.info("Training job %s completed", self.training_job_id)
