"""Helpers of the Datalake, runs and triggers tests: raw `requests` calls at the API root."""

from __future__ import annotations

from typing import Any

import requests

from abeja_emulator import SAMPLE_DEPLOYMENT_ID, EmulatorHandle

from ._util import api, poll

DEP = SAMPLE_DEPLOYMENT_ID
TERMINAL = ("SUCCEEDED", "FAILED")


def root(handle: EmulatorHandle, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A call at the API root (`/channels/...`), with the handle's credential unless given."""
    kwargs.setdefault("auth", handle.auth)
    kwargs.setdefault("timeout", 30)
    return requests.request(method, f"{handle.url}/{path.lstrip('/')}", **kwargs)


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def new_channel(handle: EmulatorHandle, name: str = "channel") -> str:
    return str(handle.create_channel(name)["channel_id"])


def upload(
    handle: EmulatorHandle,
    channel_id: str,
    data: bytes = b'{"text": "hello"}',
    content_type: str = "application/json",
    metadata: dict[str, str] | None = None,
    **params: str,
) -> dict[str, Any]:
    if not params:
        return handle.upload_file(channel_id, data, content_type, metadata)
    headers = {"Content-Type": content_type}
    headers.update({f"x-abeja-meta-{k}": v for k, v in (metadata or {}).items()})
    answer = root(handle, "POST", f"channels/{channel_id}/upload", data=data, headers=headers, params=params)
    return ok(answer)  # type: ignore[no-any-return]


def create_run(handle: EmulatorHandle, version_id: str, **body: Any) -> dict[str, Any]:
    return ok(api(handle, "POST", f"deployments/{DEP}/runs", json={"version_id": version_id, **body}))  # type: ignore[no-any-return]


def wait_run(handle: EmulatorHandle, run_id: str, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run = ok(api(handle, "GET", f"deployments/{DEP}/runs/{run_id}"))
        return run if run["status"] in TERMINAL else None

    return poll(finished, timeout)  # type: ignore[no-any-return]


def run_log(handle: EmulatorHandle, run_id: str, dep: str = DEP) -> list[str]:
    messages: list[str] = []
    params: dict[str, str] = {}
    while True:
        page = ok(api(handle, "GET", f"deployments/{dep}/runs/{run_id}/logs", params=params))
        messages += [e["message"] for e in page["events"]]
        if "next_token" not in page:
            return messages
        params = {"next_token": page["next_token"]}


def files(handle: EmulatorHandle, channel_id: str, **params: Any) -> list[dict[str, Any]]:
    return ok(root(handle, "GET", f"channels/{channel_id}", params=params))["files"]  # type: ignore[no-any-return]
