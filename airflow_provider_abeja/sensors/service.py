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
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
)

from airflow_provider_abeja.exceptions import InvalidArgumentError, ServiceFailedError
from airflow_provider_abeja.links.abeja import AbejaServiceLink, push_service_url, service_console_url
from airflow_provider_abeja.status import DEFAULT_FAILURE_STATUSES, ServiceStatus

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_abeja.hooks.abeja import AbejaHook

__all__ = ["AbejaServiceStatusSensor"]

_KNOWN_STATUSES = frozenset(status.value for status in ServiceStatus)
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
    """

    template_fields: Sequence[str] = ("organization_id", "deployment_id", "service_id", "target_status")
    ui_color = "#e8f4ea"
    # The wait is the task a user watches for minutes: it links to the service's console page.
    operator_extra_links = (AbejaServiceLink(),)

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
        transient_error_budget: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(failure_statuses, str):
            raise TypeError("failure_statuses must be a collection of statuses, not a string")
        if transient_error_budget < 0:
            raise ValueError("transient_error_budget must be >= 0")
        self.organization_id = organization_id
        self.deployment_id = deployment_id
        self.service_id = service_id
        self.target_status = target_status
        self.failure_statuses: list[str] = sorted(
            DEFAULT_FAILURE_STATUSES if failure_statuses is None else {str(s) for s in failure_statuses}
        )
        self.abeja_conn_id = abeja_conn_id
        self.deferrable = deferrable
        self.transient_error_budget = transient_error_budget
        self._errors_in_a_row = 0
        self._warned_statuses: set[str] = set()
        self._last_status: str | None = None

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

    def _failure_set(self) -> set[str]:
        return set(self.failure_statuses) - {self.target_status}

    def poke(self, context: Context) -> bool:
        from airflow_provider_abeja.triggers.service import is_transient_error

        organization_id = self._organization_id()
        try:
            service = self.hook.client.get_service(organization_id, self.deployment_id, self.service_id)
        except Exception as exc:
            if not is_transient_error(exc):
                # 401/403/404 and bad ids do not heal by waiting.
                raise AirflowFailException(f"cannot get service {self.service_id}: {exc}") from exc
            self._errors_in_a_row += 1
            if self._errors_in_a_row > self.transient_error_budget:
                raise AirflowException(
                    f"giving up on service {self.service_id} after {self._errors_in_a_row} transient "
                    f"errors in a row: {exc}"
                ) from exc
            self.log.warning(
                "Transient error %d/%d polling service %s: %s",
                self._errors_in_a_row,
                self.transient_error_budget,
                self.service_id,
                exc,
            )
            return False
        self._errors_in_a_row = 0
        raw_status = service.get("status") if isinstance(service, dict) else None
        status = None if raw_status is None else str(raw_status)
        if status != self._last_status:
            self.log.info("Service %s is %s (waiting for %s)", self.service_id, status, self.target_status)
            self._last_status = status
        if status == self.target_status:
            return True
        if status in self._failure_set():
            lines = self._latest_log_lines(organization_id)
            error = ServiceFailedError(
                self.service_id,
                status,
                lines,
                message=f"service {self.service_id} reached failure status {status} "
                f"while waiting for {self.target_status}",
            )
            raise AirflowFailException(str(error)) from error
        if status not in _KNOWN_STATUSES and str(status) not in self._warned_statuses:
            self._warned_statuses.add(str(status))
            self.log.warning(
                "Service %s reports unknown status %r: still waiting for %s",
                self.service_id,
                status,
                self.target_status,
            )
        return False

    def _latest_log_lines(self, organization_id: str) -> list[str]:
        from airflow_provider_abeja.triggers.service import latest_log_lines

        try:
            logs = self.hook.client.get_service_recent_logs(
                organization_id, self.deployment_id, self.service_id
            )
        except Exception as exc:
            self.log.warning("Could not read recent logs of service %s: %s", self.service_id, exc)
            return []
        return latest_log_lines(logs)

    def _push_link(self, context: Context) -> None:
        ti = context.get("ti")
        if ti is not None:  # always there in Airflow; a bare context (a direct call) has no link
            org = self._organization_id()
            push_service_url(
                self, ti, service_console_url(self.hook.console_url, org, self.deployment_id, self.service_id)
            )

    def execute(self, context: Context) -> None:
        self._push_link(context)
        if not self.deferrable:
            super().execute(context)
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
                failure_statuses=sorted(self._failure_set()),
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
        from airflow_provider_abeja.triggers.service import validate_status_event

        self._push_link(context)
        checked = validate_status_event(event, self.service_id, timeout_exception=AirflowSensorTimeout)
        self.log.info("Service %s reached %s", self.service_id, checked.get("service_status"))
