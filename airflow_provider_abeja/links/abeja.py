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


class AbejaServiceLink(BaseOperatorLink):
    """ "ABEJA Service": the console page of the task's service, read from XCom ``service_url``."""

    name = "ABEJA Service"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value: Any = XCom.get_value(ti_key=ti_key, key="service_url")
        return value if isinstance(value, str) else ""
