"""Wait for a service status in the triggerer: ``AbejaServiceStatusTrigger``.

The trigger polls the service with the async client on the triggerer's event loop, so one
triggerer can watch many services for the cost of a coroutine each, and the waits on one
deployment share one listing per poll interval (``_deployment_poller``); what each answer means
is decided by the one wait engine (``wait_step``), as in the operators' own wait and the sensor.
The wait, its arguments and its one event (``wait_events``; see ``docs/architecture.md``,
"Waiting") are ``StatusTrigger``'s, shared with the training job trigger;
``wait_events.validate_status_event`` turns the event back into a result or a clear task failure
for the operators' and the sensor's ``execute_complete``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import is_transient
from airflow_provider_abeja.status import ServiceStatus
from airflow_provider_abeja.triggers._base import StatusTrigger
from airflow_provider_abeja.triggers._deployment_poller import ServiceWatch
from airflow_provider_abeja.wait_events import EVENT_STATUSES, validate_status_event
from airflow_provider_abeja.wait_step import (
    DEFAULT_TRANSIENT_ERROR_BUDGET,
    MAX_LOG_LINES,
    SERVICE,
    latest_log_lines,
)

if TYPE_CHECKING:
    from airflow_provider_abeja.client import AsyncAPIClient
    from airflow_provider_abeja.triggers._shared import ClientLease

__all__ = [
    "EVENT_STATUSES",
    "MAX_LOG_LINES",
    "AbejaServiceStatusTrigger",
    "is_transient_error",
    "latest_log_lines",
    "validate_status_event",
]

#: Kept under the names this module has always exported.
is_transient_error = is_transient


class AbejaServiceStatusTrigger(StatusTrigger):
    """Poll a service until it reaches ``target_status``, a failure status, or ``end_time``.

    :param organization_id: organization of the service (already resolved: the triggerer does
        not fall back to the connection's organization).
    :param deployment_id: deployment of the service.
    :param service_id: the service to watch.
    :param target_status: the only status that counts as success.
    :param failure_statuses: statuses that end the wait with a ``failure`` event (default
        ``FAILED`` and ``STOPPED``; the target is never one of them).

    ``poll_interval``, ``end_time``, ``abeja_conn_id`` and ``transient_error_budget`` are
    ``StatusTrigger``'s, the same for every kind of resource.
    """

    kind = SERVICE
    id_fields = ("deployment_id", "service_id")
    chooses_statuses = True
    deployment_id: str
    service_id: str

    def __init__(
        self,
        organization_id: str,
        deployment_id: str,
        service_id: str,
        target_status: str = ServiceStatus.READY.value,
        failure_statuses: Iterable[str] | None = None,
        poll_interval: float = 10.0,
        end_time: float | datetime.datetime | None = None,
        abeja_conn_id: str = "abeja_default",
        transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
    ) -> None:
        super().__init__(
            organization_id,
            (deployment_id, service_id),
            target_status=target_status,
            failure_statuses=failure_statuses,
            poll_interval=poll_interval,
            end_time=end_time,
            abeja_conn_id=abeja_conn_id,
            transient_error_budget=transient_error_budget,
        )

    def _watch(self, lease: ClientLease) -> ServiceWatch:
        # The waits on one deployment share one listing per poll interval (_deployment_poller).
        return ServiceWatch(lease, *self._ids, self.poll_interval)

    async def _read_recent_logs(self, client: AsyncAPIClient) -> Any:
        return await client.get_service_recent_logs(*self._ids)
