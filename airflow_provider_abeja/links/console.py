"""The console URL of a service. Imports no Airflow."""

from __future__ import annotations

from urllib.parse import quote

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
