"""Docs snippet (connection page): the hook from Python, sync and async, against the emulator."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from unittest import mock


def run(emulator: Any, workdir: Any) -> None:
    with mock.patch.dict(os.environ, emulator.airflow_connection_env("abeja_default")):
        service_id = emulator.create_service("9999999999999", "ver-5a3d1e0000000001")["service_id"]
        status = hook_usage(service_id)
        assert status == "READY"
        assert asyncio.run(async_hook_usage(service_id)) == "READY"


def hook_usage(service_id: str) -> str:
    # [START hook_usage]
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    hook = AbejaHook()  # or AbejaHook("my_conn", timeout=60, max_retry_count=0)
    client = hook.client  # one APIClient per hook, built on first use
    org = hook.get_organization_id()  # the connection's organization_id (or pass one explicitly)
    service = hook.wait_for_service_status(org, "9999999999999", service_id, check_interval=1, timeout=900)
    # [END hook_usage]
    assert client.get_service(org, "9999999999999", service_id)["status"] == service["status"]
    return str(service["status"])


async def async_hook_usage(service_id: str) -> str:
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    hook = AbejaHook()
    org = hook.get_organization_id()
    # [START async_hook_usage]
    # in a trigger (no blocking call on the event loop); the caller closes it
    client = await hook.get_async_client()
    try:
        service = await client.get_service(org, "9999999999999", service_id)
    finally:
        await client.aclose()
    # [END async_hook_usage]
    return str(service["status"])
