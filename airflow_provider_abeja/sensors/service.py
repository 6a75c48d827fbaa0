"""Wait for a service to reach a status: ``AbejaServiceStatusSensor``.

Poke and reschedule modes poll with the hook's sync client; deferrable mode hands the wait to
``AbejaServiceStatusTrigger`` with the sensor's timeout as a wall-clock deadline. Only the target
status is success; a failure status fails the task at once (no retries) with the service's latest
log lines; any other status keeps the sensor waiting. The wait itself is ``StatusSensor``'s,
shared with the training job sensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.links.abeja import AbejaServiceLink, push_service_url, service_console_url
from airflow_provider_abeja.sensors._base import WAIT_RETRIES, Ids, StatusSensor
from airflow_provider_abeja.status import ServiceStatus
from airflow_provider_abeja.wait_step import SERVICE

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger

__all__ = ["WAIT_RETRIES", "AbejaServiceStatusSensor"]


class AbejaServiceStatusSensor(StatusSensor):
    """Wait until an ABEJA Platform service reaches ``target_status``.

    :param deployment_id: deployment of the service (templated).
    :param service_id: the service to watch (templated).
    :param organization_id: organization (templated); defaults to the connection's
        ``organization_id`` extra.
    :param target_status: the only status that counts as success (templated).
    :param failure_statuses: statuses that fail the task at once, without retries (default
        ``FAILED`` and ``STOPPED``; the target is never a failure).

    ``abeja_conn_id``, ``deferrable``, ``transient_error_budget`` and the default retries are
    ``StatusSensor``'s, the same for every kind of resource.
    """

    kind = SERVICE
    id_fields = ("deployment_id", "service_id")
    template_fields: Sequence[str] = ("organization_id", "deployment_id", "service_id", "target_status")
    ui_color = "#e8f4ea"
    # The wait is the task a user watches for minutes: it links to the service's console page.
    operator_extra_links = (AbejaServiceLink(),)

    def __init__(
        self,
        *,
        deployment_id: str,
        service_id: str,
        target_status: str = ServiceStatus.READY.value,
        failure_statuses: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id
        self.service_id = service_id
        self._wait_for(target_status, failure_statuses)

    def _read(self, ids: Ids) -> Mapping[str, Any]:
        return self.hook.client.get_service(*ids)

    def _read_recent_logs(self, ids: Ids) -> Any:
        return self.hook.client.get_service_recent_logs(*ids)

    def _trigger(self, **kwargs: Any) -> BaseTrigger:
        from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

        failures = sorted(self._spec().failure_statuses)  # the target is never one
        return AbejaServiceStatusTrigger(
            **kwargs, target_status=self.target_status, failure_statuses=failures
        )

    def _push_link(self, context: Context) -> None:
        ti = context.get("ti")
        if ti is not None:  # always there in Airflow; a bare context (a direct call) has no link
            organization_id, deployment_id, service_id = self._ids()
            url = service_console_url(self.hook.console_url, organization_id, deployment_id, service_id)
            push_service_url(self, ti, url)
