"""The async path: same settings as the sync client, connection fetched off the event loop thread."""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest

from airflow_provider_abeja.client import AsyncAPIClient
from airflow_provider_abeja.exceptions import MissingCredentialsError
from airflow_provider_abeja.hooks._settings import ConnectionFieldError
from airflow_provider_abeja.hooks.abeja import AbejaHook

API = "http://abeja.test:8765"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
PAT = "pat-async-secret-0001"


@pytest.fixture
def user_conn(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT",
        json.dumps(
            {
                "conn_type": "abeja",
                "host": API,
                "login": "1111111111111",
                "password": PAT,
                "extra": {"organization_id": ORG, "timeout": 4, "max_retry_count": 2},
            }
        ),
    )


async def test_async_client_uses_the_connection(user_conn, respx_mock):
    route = respx_mock.get(f"{API}/organizations/{ORG}/deployments/{DEP}/services/{SER}").mock(
        return_value=httpx.Response(200, json={"service_id": SER, "status": "READY"})
    )
    hook = AbejaHook()
    client = await hook.get_async_client()
    try:
        assert isinstance(client, AsyncAPIClient)
        assert client.api_url == API
        assert client.max_retry_count == 2
        assert (await client.get_service(ORG, DEP, SER))["status"] == "READY"
    finally:
        await client.aclose()
    expected = "Basic " + base64.b64encode(f"user-1111111111111:{PAT}".encode()).decode()
    assert route.calls.last.request.headers["Authorization"] == expected


async def test_async_and_sync_settings_come_from_one_function(user_conn):
    hook = AbejaHook(timeout=9)
    assert await hook.aget_settings() == hook.settings
    assert (await hook.aget_settings()).timeout == 9.0


async def test_each_call_builds_its_own_client(user_conn):
    hook = AbejaHook()
    first, second = await hook.get_async_client(), await hook.get_async_client()
    try:
        assert first is not second
    finally:
        await first.aclose()
        await second.aclose()


async def test_connection_is_not_fetched_on_the_event_loop_thread(user_conn):
    loop_thread = threading.get_ident()
    calls: list[int] = []

    class Recording(AbejaHook):
        @classmethod
        def get_connection(cls, conn_id):
            calls.append(threading.get_ident())
            return super().get_connection(conn_id)

    hook = Recording()
    client = await hook.get_async_client()
    await client.aclose()
    # Values derived from the connection are then available without another (blocking) lookup.
    assert hook.get_organization_id() == ORG
    assert hook.console_url == "https://console.abeja.io"
    # Airflow 3.3 awaits aget_connection (no sync call at all); older versions run the sync
    # lookup in a worker thread. Either way the loop's thread never blocks on it.
    assert loop_thread not in calls


async def test_async_errors_name_connection_and_field(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_BAD",
        json.dumps(
            {"conn_type": "abeja", "host": API, "extra": {"auth_token": "t0ken-async", "verify": "x"}}
        ),
    )
    with pytest.raises(ConnectionFieldError) as info:
        await AbejaHook("abeja_bad").get_async_client()
    assert (info.value.argument, info.value.conn_id) == ("verify", "abeja_bad")
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_NONE", json.dumps({"conn_type": "abeja", "host": API}))
    with pytest.raises(MissingCredentialsError, match="abeja_none"):
        await AbejaHook("abeja_none").get_async_client()


async def test_async_path_registers_secrets_with_the_masker(monkeypatch):
    from airflow.providers.common.compat.sdk import redact

    secret = "pat-only-seen-by-the-async-path-4d1c"  # registered by no other test
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_ASYNC_MASK",
        json.dumps({"conn_type": "abeja", "host": API, "login": "1111111111111", "password": secret}),
    )
    header = base64.b64encode(f"user-1111111111111:{secret}".encode()).decode()
    assert header in redact(f"Authorization: Basic {header}")
    client = await AbejaHook("abeja_async_mask").get_async_client()
    await client.aclose()
    # Airflow masks the raw password itself; the encoded header value only the hook knows.
    assert header not in redact(f"Authorization: Basic {header}")
    assert secret not in redact(f"leaked {secret}")
