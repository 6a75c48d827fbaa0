"""An ``https://`` URL to a plain-HTTP server fails at once, with the fix in the message (loopback)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import TLSMismatchError, is_fail_fast

from .loopback import LoopbackServer

ORG, DEP = "1234567890123", "9999999999999"
CREDENTIAL = {"auth_token": "loopback-token"}


class CountingServer(LoopbackServer):
    """The plain-HTTP loopback server, counting the TCP connections it accepts."""

    accepted = 0

    def process_request(self, request: socket.socket | Any, client_address: Any) -> None:
        type(self).accepted += 1
        super().process_request(request, client_address)


@pytest.fixture
def https_to_plain_http() -> Iterator[str]:
    CountingServer.accepted = 0
    server = CountingServer().start()
    try:
        yield server.url.replace("http://", "https://")
    finally:
        server.stop()


def test_sync_client_fails_at_once_with_the_hint(https_to_plain_http: str) -> None:
    client = APIClient(CREDENTIAL, api_url=https_to_plain_http, max_retry_count=5, retry_wait_max=0.01)
    with client, pytest.raises(TLSMismatchError, match=r"plain HTTP.*use an http:// URL") as info:
        client.get_services(ORG, DEP)
    assert info.value.attempts == 1
    assert CountingServer.accepted == 1
    assert is_fail_fast(info.value)


def test_async_client_fails_at_once_with_the_hint(https_to_plain_http: str) -> None:
    async def call() -> None:
        async with AsyncAPIClient(
            CREDENTIAL, api_url=https_to_plain_http, max_retry_count=5, retry_wait_max=0.01
        ) as client:
            await client.get_services(ORG, DEP)

    with pytest.raises(TLSMismatchError, match=r"plain HTTP.*use an http:// URL") as info:
        asyncio.run(call())
    assert info.value.attempts == 1
    assert CountingServer.accepted == 1
