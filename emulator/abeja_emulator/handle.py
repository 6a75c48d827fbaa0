"""EmulatorHandle: steer and inspect a running emulator from tests and scripts (plain `requests`)."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from .config import DEFAULT_ORGANIZATION_ID, DEFAULT_PERSONAL_ACCESS_TOKEN, DEFAULT_USER_ID


class EmulatorHandle:
    """A base URL plus the credentials the emulator accepts; every helper is one HTTP call."""

    def __init__(
        self,
        url: str,
        organization_id: str = DEFAULT_ORGANIZATION_ID,
        user_id: str = DEFAULT_USER_ID,
        personal_access_token: str = DEFAULT_PERSONAL_ACCESS_TOKEN,
        timeout: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.organization_id = organization_id
        self.user_id = user_id
        self._token = personal_access_token
        self.timeout = timeout
        self.verify = verify
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"EmulatorHandle(url={self.url!r}, organization_id={self.organization_id!r})"

    # ----- credentials and connections ---------------------------------------------------------------

    @property
    def credential(self) -> dict[str, str]:
        """The credential dict for `APIClient(credential=...)`."""
        return {"user_id": self.user_id, "personal_access_token": self._token}

    @property
    def auth(self) -> tuple[str, str]:
        """HTTP Basic pair for raw `requests` calls."""
        return (f"user-{self.user_id}", self._token)

    def airflow_connection(self, conn_id: str = "abeja_default", **extra: Any) -> dict[str, Any]:
        """A connection in Airflow's JSON form (for `AIRFLOW_CONN_<ID>`)."""
        return {
            "conn_type": "abeja",
            "host": self.url,
            "login": self.user_id,
            "password": self._token,
            "extra": {"organization_id": self.organization_id, **self._verify_extra(), **extra},
        }

    def _verify_extra(self) -> dict[str, Any]:
        if self.verify is True:
            return {}
        return {"verify": self.verify if isinstance(self.verify, str) else "false"}

    def airflow_connection_env(self, conn_id: str = "abeja_default", **extra: Any) -> dict[str, str]:
        """`{"AIRFLOW_CONN_ABEJA_DEFAULT": "<json>"}`, ready for `os.environ.update` / monkeypatch."""
        name = "AIRFLOW_CONN_" + conn_id.upper()
        return {name: json.dumps(self.airflow_connection(conn_id, **extra))}

    def api_url(self, path: str) -> str:
        return f"{self.url}/organizations/{self.organization_id}/{path.lstrip('/')}"

    def inference_url(
        self, deployment_id: str, service_id: str | None = None, alias: str | None = None
    ) -> str:
        """Path-style inference URL of a service, or of an endpoint (default or alias)."""
        base = f"{self.url}/_inference/{self.organization_id}/deployments/{deployment_id}"
        if service_id:
            return f"{base}/services/{service_id}"
        return f"{base}/{alias}" if alias else base

    # ----- control API -------------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # the control API takes only JSON for a change (a cross-site form cannot reach it): always send it
        if body is None and method != "GET":
            body = {}
        response = self._session.request(
            method, f"{self.url}/_emulator/{path}", json=body, timeout=self.timeout, verify=self.verify
        )
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._control("GET", "health")  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Back to the start: sample deployment only, no faults, zero counters, startup config."""
        self._control("POST", "reset")

    def counters(self) -> dict[str, Any]:
        return self._control("GET", "counters")  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        return self._control("GET", "state")  # type: ignore[no-any-return]

    def inject_fault(self, route: str = "*", **options: Any) -> str:
        """Add a fault rule (status, retry_after, latency, drop_connection, malformed_body, times,
        probability, when, body); returns its id."""
        return str(self._control("POST", "faults", {"route": route, **options})["fault_id"])

    def faults(self) -> list[dict[str, Any]]:
        return self._control("GET", "faults")["entries"]  # type: ignore[no-any-return]

    def remove_fault(self, fault_id: str) -> None:
        self._control("DELETE", f"faults/{fault_id}")

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Patch settings (ready_delay, users, bearer_tokens, datasources, extra_organizations, ...)."""
        return self._control("POST", "config", settings)  # type: ignore[no-any-return]

    def set_service_status(self, service_id: str, status: str, message: str | None = None) -> dict[str, Any]:
        """Force a status; it stays until the service is started, stopped, updated or forced again."""
        body: dict[str, Any] = {"status": status}
        if message is not None:
            body["message"] = message
        return self._control("POST", f"services/{service_id}/status", body)  # type: ignore[no-any-return]

    def add_log(self, service_id: str, *messages: str) -> None:
        self._control("POST", f"services/{service_id}/logs", {"messages": list(messages)})

    def log_messages(self, service_id: str) -> list[str]:
        """Every recent-log message of a service, oldest first."""
        return self._control("GET", f"services/{service_id}/logs")["messages"]  # type: ignore[no-any-return]

    def metrics(self, service_id: str) -> dict[str, Any]:
        """Instances, in-flight and served requests of a service."""
        return self._control("GET", f"services/{service_id}/metrics")  # type: ignore[no-any-return]

    # ----- platform API helpers (authenticated) --------------------------------------------------------

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session.request(
            method, self.api_url(path), json=body, auth=self.auth, timeout=self.timeout, verify=self.verify
        )
        response.raise_for_status()
        return response.json()

    def create_deployment(self, name: str = "deployment", **fields: Any) -> dict[str, Any]:
        """POST /organizations/{org}/deployments; fields: default_environment, deployment_id."""
        return self._api("POST", "deployments", {"name": name, **fields})  # type: ignore[no-any-return]

    def create_version(
        self,
        deployment_id: str,
        version: str = "1.0.0",
        handler: str = "main:handler",
        code_dir: str | None = None,
        user_env_vars: dict[str, str] | None = None,
        *,
        image: str | None = None,
        user_parameters: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A deployment version (the answer holds its `upload_url`). Its code: `code_dir`, or a
        tarball PUT to `upload_url`, else the sample handler. `user_env_vars` is an older name of
        `user_parameters`."""
        body: dict[str, Any] = {
            "version": version,
            "handler": handler,
            "user_parameters": {**(user_env_vars or {}), **(user_parameters or {})},
        }
        if code_dir is not None:
            body["code_dir"] = code_dir
        if image is not None:
            body["image"] = image
        return self._api("POST", f"deployments/{deployment_id}/versions", body)  # type: ignore[no-any-return]

    def create_service(self, deployment_id: str, version_id: str, **payload: Any) -> dict[str, Any]:
        return self._api(  # type: ignore[no-any-return]
            "POST", f"deployments/{deployment_id}/services", {"version_id": version_id, **payload}
        )

    def get_service(self, deployment_id: str, service_id: str) -> dict[str, Any]:
        return self._api("GET", f"deployments/{deployment_id}/services/{service_id}")  # type: ignore[no-any-return]

    def wait_for_status(
        self, deployment_id: str, service_id: str, status: str = "READY", timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll until the service has `status`; AssertionError on timeout or on an unexpected FAILED."""
        deadline = time.monotonic() + timeout
        while True:
            service = self.get_service(deployment_id, service_id)
            if service["status"] == status:
                return service
            if service["status"] == "FAILED":
                raise AssertionError(f"{service_id} is FAILED (wanted {status})")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{service_id} still {service['status']} after {timeout}s (wanted {status})"
                )
            time.sleep(0.05)

    def create_channel(self, name: str = "channel", description: str = "") -> dict[str, Any]:
        """A Datalake channel (`channel_id`, `name`, ...), to upload test files into."""
        answer = self._api("POST", "channels", {"name": name, "description": description})
        return answer["channel"]  # type: ignore[no-any-return]

    def upload_file(
        self,
        channel_id: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A file into a channel, as ABEJA's SDK uploads it (each metadata key gets the
        `x-abeja-meta-` prefix); the answer holds its `file_id`. Triggers on the channel fire."""
        headers = {"Content-Type": content_type}
        headers.update({f"x-abeja-meta-{key}": value for key, value in (metadata or {}).items()})
        response = self._session.post(
            f"{self.url}/channels/{channel_id}/upload",
            data=data,
            headers=headers,
            auth=self.auth,
            timeout=self.timeout,
            verify=self.verify,
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._session.close()
