"""Wait for a service to reach a status: ``AbejaServiceStatusSensor``.

Poke and reschedule modes poll with the hook's sync client; deferrable mode hands the wait to
``AbejaServiceStatusTrigger`` with the sensor's timeout as a wall-clock deadline. Only the target
status is success; a failure status fails the task at once (no retries) with the service's latest
log lines; any other status keeps the sensor waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
)

from airflow_provider_abeja.exceptions import (
    AbejaError,
    InvalidArgumentError,
    WaitTimeoutError,
    with_log_lines,
)
from airflow_provider_abeja.failfast import airflow_error
from airflow_provider_abeja.status import DEFAULT_FAILURE_STATUSES, ServiceStatus
from airflow_provider_abeja.wait_step import (
    DEFAULT_TRANSIENT_ERROR_BUDGET,
    Outcome,
    WaitSpec,
    WaitState,
    emit,
    latest_log_lines,
    step,
    step_error,
    timeout_message,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_abeja.hooks.abeja import AbejaHook

__all__ = ["AbejaServiceStatusSensor"]

#: Airflow retries a sensor gets unless the DAG sets ``retries``: waiting is idempotent, and
#: Airflow 3.3.2 can fail a deferred task that already succeeded (apache/airflow#67287).
#: Fail-fast errors and timeouts still end the task at once.
WAIT_RETRIES = 2
#: Extra time the task-level deferral timeout leaves the trigger to report its own timeout event.
_DEFER_TIMEOUT_MARGIN = 60.0


class AbejaServiceStatusSensor(BaseSensorOperator):
    """Wait until an ABEJA Platform service reaches ``target_status``.

    :param deployment_id: deployment of the service (templated).
    :param service_id: the service to watch (templated).
    :param organization_id: organization (templated); defaults to the connection's
        ``organization_id`` extra.
    :param target_status: the only status that counts as success (templated).
    :param failure_statuses: statuses that fail the task at once, without retries (default
        ``FAILED`` and ``STOPPED``; the target is never a failure).
    :param abeja_conn_id: Airflow connection of the ABEJA Platform.
    :param deferrable: wait in the triggerer instead of a worker slot (default: the
        ``[operators] default_deferrable`` option). The sensor's ``timeout`` becomes the trigger's
        wall-clock deadline and ``poke_interval`` its poll interval.
    :param transient_error_budget: transient API errors in a row (transport, 429, 5xx) tolerated
        before the task fails; the client's own retries come first. In reschedule mode each poke
        is a new task run, so the count starts again at every poke.

    Unless the DAG sets ``retries`` (argument or ``default_args``), the sensor has
    ``WAIT_RETRIES``: a wait can safely run again, and Airflow 3.3.2 may fail a deferred task
    whose trigger fired quickly. Errors no retry can fix (the fail-fast rule) and timeouts do
    not use them. Outcomes and messages are the wait engine's, the same in every mode.
    """

    template_fields: Sequence[str] = ("organization_id", "deployment_id", "service_id", "target_status")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        deployment_id: str,
        service_id: str,
        organization_id: str | None = None,
        target_status: str = ServiceStatus.READY.value,
        failure_statuses: Iterable[str] | None = None,
        abeja_conn_id: str = "abeja_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
        **kwargs: Any,
    ) -> None:
        if "retries" not in kwargs and "retries" not in (kwargs.get("default_args") or {}):
            kwargs["retries"] = WAIT_RETRIES
        super().__init__(**kwargs)
        if isinstance(failure_statuses, str):
            raise TypeError("failure_statuses must be a collection of statuses, not a string")
        failures = None if failure_statuses is None else [str(s) for s in failure_statuses]
        # The engine's rules, checked where the DAG is parsed (the ids are templates until run).
        WaitSpec.build(service_id, target_status, failures, transient_error_budget)
        self.organization_id = organization_id
        self.deployment_id = deployment_id
        self.service_id = service_id
        self.target_status = target_status
        self.failure_statuses: list[str] = sorted(
            DEFAULT_FAILURE_STATUSES if failures is None else set(failures)
        )
        self.abeja_conn_id = abeja_conn_id
        self.deferrable = deferrable
        self.transient_error_budget = transient_error_budget
        self._wait_state = WaitState()

    @cached_property
    def hook(self) -> AbejaHook:
        from airflow_provider_abeja.hooks.abeja import AbejaHook

        return AbejaHook(abeja_conn_id=self.abeja_conn_id)

    def _organization_id(self) -> str:
        """The explicit organization, else the connection's; a bad or missing one fails without retries."""
        try:
            return self.hook.get_organization_id(self.organization_id)
        except InvalidArgumentError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _spec(self, wall_deadline: float | None = None) -> WaitSpec:
        """What this sensor waits for (no deadline in poke mode: Airflow keeps the sensor's time)."""
        return WaitSpec.build(
            self.service_id,
            self.target_status,
            self.failure_statuses,
            self.transient_error_budget,
            wall_deadline=wall_deadline,
        )

    def poke(self, context: Context) -> bool:
        """One observation through the wait engine (``wait_step``), as the operators and the trigger do."""
        organization_id = self._organization_id()
        spec = self._spec()
        observation: object
        try:
            observation = self.hook.client.get_service(organization_id, self.deployment_id, self.service_id)
        except AbejaError as exc:
            observation = exc
        result = step(spec, self._wait_state, observation, time.monotonic())
        self._wait_state = result.state
        emit(result, self.log)
        if result.outcome is Outcome.SUCCEEDED:
            return True
        if not result.done:
            return False
        lines = self._latest_log_lines(organization_id) if result.outcome is Outcome.FAILED else []
        error = step_error(spec, result, lines)
        raise airflow_error(error, timeout_exception=AirflowSensorTimeout) from error

    def _latest_log_lines(self, organization_id: str) -> list[str]:
        try:
            logs = self.hook.client.get_service_recent_logs(
                organization_id, self.deployment_id, self.service_id
            )
        except Exception as exc:
            self.log.warning("Could not read recent logs of service %s: %s", self.service_id, exc)
            return []
        return latest_log_lines(logs)

    def _timeout_error(self, started: float) -> WaitTimeoutError:
        """Airflow's poke-mode timeout, told as the engine tells it in every other mode.

        In reschedule mode Airflow counts from the first try, which this run does not know:
        the deadline shown is then the moment Airflow declared the timeout.
        """
        spec = self._spec(time.time() if self.reschedule else started + float(self.timeout))
        last = self._wait_state.last_status
        lines = self._latest_log_lines(self._organization_id())
        message = with_log_lines(timeout_message(spec, last), lines)
        return WaitTimeoutError(self.service_id, last, float(self.timeout), message)

    def execute(self, context: Context) -> None:
        if not self.deferrable:
            started = time.time()
            try:
                super().execute(context)
            except AirflowSensorTimeout:
                error = self._timeout_error(started)
                raise airflow_error(error, timeout_exception=AirflowSensorTimeout) from error
            return
        # One poke first: a service that is already there needs no triggerer round trip.
        try:
            done = self.poke(context)
        except AirflowFailException as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'})"
                ) from exc
            raise
        if done:
            self.log.info("Success criteria met. Exiting.")
            return
        from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

        self.defer(
            trigger=AbejaServiceStatusTrigger(
                organization_id=self._organization_id(),
                deployment_id=self.deployment_id,
                service_id=self.service_id,
                target_status=self.target_status,
                failure_statuses=sorted(self._spec().failure_statuses),
                poll_interval=max(float(self.poke_interval), 0.1),
                end_time=time.time() + float(self.timeout),
                abeja_conn_id=self.abeja_conn_id,
                transient_error_budget=self.transient_error_budget,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + _DEFER_TIMEOUT_MARGIN),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger: success returns, anything else fails with the trigger's reason."""
        from airflow_provider_abeja.wait_events import validate_status_event

        checked = validate_status_event(event, self.service_id, timeout_exception=AirflowSensorTimeout)
        self.log.info("Service %s reached %s", self.service_id, checked.get("service_status"))
