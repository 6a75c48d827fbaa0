"""Extra links: the service an operator created or touched, in the ABEJA console.

The operators push the URL to XCom (key ``service_url``) before they wait, so the link shows even
when the wait fails; the link only reads it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

DEFAULT_CONSOLE_URL = "https://console.abeja.io"

#: Path of a service page under the console base. The console's routes are not public: this
#: mirrors the management API's path and lives here only, so one edit fixes every link.
SERVICE_PATH = "/organizations/{organization_id}/deployments/{deployment_id}/services/{service_id}"


def service_console_url(
    console_url: str | None, organization_id: str, deployment_id: str, service_id: str
) -> str:
    """The console page of a service; every id is percent-encoded (an id cannot change the target)."""
    base = (console_url or DEFAULT_CONSOLE_URL).rstrip("/")
    return base + SERVICE_PATH.format(
        organization_id=quote(str(organization_id), safe=""),
        deployment_id=quote(str(deployment_id), safe=""),
        service_id=quote(str(service_id), safe=""),
    )


XCOM_KEY = "service_url"
#: Where a running operator keeps the URL it pushed (see ``push_service_url``).
_PUSHED = "_abeja_service_url"


def push_service_url(operator: Any, ti: Any, url: str) -> None:
    """Push the console URL to XCom and remember it on the running operator.

    Airflow computes the links in the worker when the task ends; remembering the URL spares that
    step an XCom look-up, which logs an error of its own when a task failed before any service
    existed.
    """
    ti.xcom_push(key=XCOM_KEY, value=url)
    operator.__dict__[_PUSHED] = url


def _is_running_provider_operator(operator: Any) -> bool:
    """A live operator of this provider (in the worker), not a deserialised copy (UI, API server)."""
    return any(cls.__module__.startswith("airflow_provider_abeja.") for cls in type(operator).__mro__)


class AbejaServiceLink(BaseOperatorLink):
    """ "ABEJA Service": the console page of the task's service, read from XCom ``service_url``."""

    name = "ABEJA Service"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if _is_running_provider_operator(operator):
            # In the worker: the operator pushed the URL itself, or there is none to show.
            pushed = vars(operator).get(_PUSHED)
            return pushed if isinstance(pushed, str) else ""
        value: Any = XCom.get_value(ti_key=ti_key, key=XCOM_KEY)
        return value if isinstance(value, str) else ""
