"""Small helpers for the emulator's own tests: raw `requests` calls against a handle."""

from __future__ import annotations

import time
from typing import Any

import requests

from abeja_emulator import SAMPLE_DEPLOYMENT_ID, EmulatorHandle

DEP = SAMPLE_DEPLOYMENT_ID


def api(handle: EmulatorHandle, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", handle.auth)
    kwargs.setdefault("timeout", 30)
    return requests.request(method, handle.api_url(path), **kwargs)


def create_service(handle: EmulatorHandle, version_id: str, **payload: Any) -> dict[str, Any]:
    response = api(handle, "POST", f"deployments/{DEP}/services", json={"version_id": version_id, **payload})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_status(handle: EmulatorHandle, service_id: str, status: str, dep: str = DEP) -> dict[str, Any]:
    return handle.wait_for_status(dep, service_id, status, timeout=30)


def ready_service(handle: EmulatorHandle, version_id: str, **payload: Any) -> str:
    service_id = create_service(handle, version_id, **payload)["service_id"]
    wait_status(handle, service_id, "READY")
    return str(service_id)


def infer(handle: EmulatorHandle, service_id: str, dep: str = DEP, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", handle.auth)
    kwargs.setdefault("timeout", 30)
    return requests.post(handle.inference_url(dep, service_id), **kwargs)


def poll(predicate: Any, timeout: float = 30.0) -> Any:
    """Wait until predicate() is truthy (no timing assertion: the deadline only stops a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.05)
