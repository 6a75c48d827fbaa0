"""The per-request hot path: one request for a first-try success, cheap id checks, proxies
read once per environment state, and no reference cycles left behind by a plain call."""

from __future__ import annotations

import gc
import string
from collections.abc import Iterator

import pytest

from airflow_provider_abeja.client import APIClient, AsyncAPIClient, validation
from airflow_provider_abeja.exceptions import InvalidArgumentError, TransportError

from .conftest import DEP, ORG, SER, TOKEN
from .loopback import LoopbackServer, free_port

CRED = {"auth_token": TOKEN}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


def _slow_path_check(value: str) -> bool:
    """The documented rule, spelled out: what check_path_id must accept."""
    return (
        0 < len(value) <= validation.MAX_PATH_ID_LENGTH
        and ".." not in value
        and value not in (".", "None", "null")
        and all(0x20 < ord(c) < 0x7F and c not in "/?#%@\\" for c in value)
    )


CANDIDATES = [
    *(f"a{chr(code)}b" for code in range(0, 0x180)),
    *(chr(code) for code in (0x85, 0xA0, 0x2028, 0x3000, 0xFEFF, 0x1F600)),
    "ser-0123456789abcdef",
    "a.b",
    ".",
    "..",
    "a..",
    "None",
    "null",
    "Nonesuch",
    "x" * 255,
    "x" * 256,
    "",
    string.punctuation,
]


@pytest.mark.parametrize("value", CANDIDATES, ids=repr)
def test_path_id_fast_check_matches_the_rule(value: str) -> None:
    if _slow_path_check(value):
        assert validation.check_path_id(value, "service_id") == value
    else:
        with pytest.raises(InvalidArgumentError) as info:
            validation.check_path_id(value, "service_id")
        assert info.value.argument == "service_id"


def test_str_subclass_ids_still_checked() -> None:
    class Sneaky(str):
        pass

    assert validation.check_path_id(Sneaky("ser-1"), "service_id") == "ser-1"
    with pytest.raises(InvalidArgumentError):
        validation.check_path_id(Sneaky("a/b"), "service_id")


def test_sync_success_is_one_request_and_a_retry_still_happens(server: LoopbackServer) -> None:
    with APIClient(CRED, api_url=server.url, max_retry_count=2) as client:
        assert client.get_service(ORG, DEP, SER)["method"] == "GET"
        assert len(server.requests) == 1
        client._retry_policy.sleep = lambda _s: None
        with pytest.raises(Exception, match="unexpected error"):
            client.update_service(ORG, DEP, "ser-error", {})  # PATCH 500: retried, then raised
    assert [path.rsplit("/", 1)[-1] for _m, path, *_ in server.requests] == [SER] + ["ser-error"] * 3


async def test_async_success_is_one_request_and_a_retry_still_happens(server: LoopbackServer) -> None:
    async def no_sleep(_s: float) -> None:
        return None

    async with AsyncAPIClient(CRED, api_url=server.url, max_retry_count=2) as client:
        assert (await client.get_service(ORG, DEP, SER))["method"] == "GET"
        assert len(server.requests) == 1
        client._retry_policy.async_sleep = no_sleep
        with pytest.raises(Exception, match="unexpected error"):
            await client.get_service(ORG, DEP, "ser-error")  # GET 500: retried, then raised
    assert [path.rsplit("/", 1)[-1] for _m, path, *_ in server.requests] == [SER] + ["ser-error"] * 3


async def test_async_refused_connection_replays_first_failure_into_the_retry_count() -> None:
    async def no_sleep(_s: float) -> None:
        return None

    async with AsyncAPIClient(CRED, api_url=f"http://127.0.0.1:{free_port()}", max_retry_count=2) as client:
        client._retry_policy.async_sleep = no_sleep
        with pytest.raises(TransportError) as info:
            await client.get_service(ORG, DEP, SER)
    assert info.value.attempts == 3


@pytest.fixture
def gc_paused() -> Iterator[None]:
    """No automatic collection, and everything older than the test frozen: the test's own
    ``gc.collect()`` then counts only what its calls left, without walking the whole worker's
    heap (seconds each, late in a long run)."""
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


async def test_async_calls_leave_no_cyclic_garbage(server: LoopbackServer, gc_paused: None) -> None:
    async with AsyncAPIClient(CRED, api_url=server.url) as client:
        for _ in range(3):  # warm up: connection, lazy imports
            await client.get_service(ORG, DEP, SER)
        gc.collect()
        for _ in range(20):
            await client.get_service(ORG, DEP, SER)
        # A few stray objects may come from the event loop; httpx's cycle was ~40 per call.
        assert gc.collect() < 20


def test_sync_calls_leave_no_cyclic_garbage(server: LoopbackServer, gc_paused: None) -> None:
    with APIClient(CRED, api_url=server.url) as client:
        for _ in range(3):
            client.get_service(ORG, DEP, SER)
        gc.collect()
        for _ in range(20):
            client.get_service(ORG, DEP, SER)
        assert gc.collect() < 20


async def test_async_proxy_from_environment_is_honoured(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api = "http://api.proxied.invalid"
    async with AsyncAPIClient(CRED, api_url=api, max_retry_count=0) as client:
        answer = await client.get_service(ORG, DEP, SER)
    # The loopback server acted as the proxy: it got the absolute URL.
    assert answer["path"] == f"{api}/organizations/{ORG}/deployments/{DEP}/services/{SER}"

    monkeypatch.setenv("NO_PROXY", "api.proxied.invalid")  # a new environment state is read
    async with AsyncAPIClient(CRED, api_url=api, max_retry_count=0) as client:
        with pytest.raises(TransportError):
            await client.get_service(ORG, DEP, SER)  # direct: the name does not resolve
    assert len(server.requests) == 1


async def test_async_client_keeps_no_cookies() -> None:
    import httpx
    import respx

    with respx.mock:
        route = respx.get(url__startswith="https://api.example.test/").mock(
            return_value=httpx.Response(200, json={}, headers={"Set-Cookie": "session=abc; Path=/"})
        )
        async with AsyncAPIClient(CRED, api_url="https://api.example.test") as client:
            await client.get_service(ORG, DEP, SER)
            await client.get_service(ORG, DEP, SER)
    assert route.call_count == 2
    assert "cookie" not in route.calls.last.request.headers


async def test_async_repeated_calls_keep_their_own_query_params(server: LoopbackServer) -> None:
    async with AsyncAPIClient(CRED, api_url=server.url) as client:
        await client.get_service_recent_logs(ORG, DEP, SER, next_forward_token="t1")
        await client.get_service_recent_logs(ORG, DEP, SER, next_forward_token="t2")
    paths = [path for _m, path, *_ in server.requests]
    assert paths[0].endswith("/recentlogs?next_forward_token=t1")
    assert paths[1].endswith("/recentlogs?next_forward_token=t2")
