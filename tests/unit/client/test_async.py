"""AsyncAPIClient: wire format, errors and the shared retry policy (respx), plus loopback streaming."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_abeja.client import AsyncAPIClient
from airflow_provider_abeja.exceptions import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    InternalServerError,
    InvalidArgumentError,
    InvalidResponseError,
    MethodNotAllowed,
    NotFound,
    TransportError,
    Unauthorized,
)

from .conftest import API, DEP, MGMT, ORG, SER, TOKEN
from .loopback import LoopbackServer


@pytest.fixture
async def aclient() -> AsyncIterator[tuple[AsyncAPIClient, list[float]]]:
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    client = AsyncAPIClient({"auth_token": TOKEN}, api_url=API)
    client._retry_policy.async_sleep = record
    yield client, sleeps
    await client.aclose()


# name -> (HTTP method, URL, call, answer): every call the async client has (all GETs).
CALLS: dict[str, tuple[str, str, Callable[[AsyncAPIClient], Any], Any]] = {
    "get_service": ("GET", f"{MGMT}/services/{SER}", lambda c: c.get_service(ORG, DEP, SER), {"a": 1}),
    "get_services": ("GET", f"{MGMT}/services", lambda c: c.get_services(ORG, DEP), [{"a": 1}]),
    "get_service_recent_logs": (
        "GET",
        f"{MGMT}/services/{SER}/recentlogs?next_forward_token=t",
        lambda c: c.get_service_recent_logs(ORG, DEP, SER, next_forward_token="t"),
        {"events": []},
    ),
    "get_training_job": (
        "GET",
        f"{API}/organizations/{ORG}/training/definitions/d/jobs/{SER}",
        lambda c: c.get_training_job(ORG, "d", SER),
        {"status": "Pending"},
    ),
    "get_training_job_recent_logs": (
        "GET",
        f"{API}/organizations/{ORG}/training/definitions/d/jobs/{SER}/recentlogs",
        lambda c: c.get_training_job_recent_logs(ORG, "d", SER),
        {"events": []},
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_wire_format(aclient: Any, respx_mock: respx.MockRouter, name: str) -> None:
    client, _ = aclient
    method, url, call, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(return_value=httpx.Response(200, json=answer))
    result = await call(client)
    assert route.call_count == 1
    sent = route.calls.last.request
    assert str(sent.url) == url
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"].startswith("airflow-provider-abeja/")
    assert sent.content == b""
    assert result == ({"entries": answer} if isinstance(answer, list) else answer)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (405, MethodNotAllowed),
        (409, Conflict),
        (500, InternalServerError),
        (418, HttpError),
    ],
)
async def test_status_maps_to_exception(
    aclient: Any, respx_mock: respx.MockRouter, status: int, cls: type
) -> None:
    client, _ = aclient
    respx_mock.get(f"{MGMT}/services/{SER}").mock(
        return_value=httpx.Response(
            status, json={"error": "e", "error_description": "d", "error_detail": {"k": 1}}
        )
    )
    with pytest.raises(cls) as info:
        await client.get_service(ORG, DEP, SER)
    assert type(info.value) is cls
    assert (info.value.status_code, info.value.error, info.value.error_description) == (status, "e", "d")
    assert info.value.error_detail == {"k": 1}
    assert info.value.url == f"{MGMT}/services/{SER}"


async def test_non_json_2xx(aclient: Any, respx_mock: respx.MockRouter) -> None:
    client, _ = aclient
    respx_mock.get(f"{MGMT}/services/{SER}").mock(return_value=httpx.Response(200, text="<html>"))
    with pytest.raises(InvalidResponseError):
        await client.get_service(ORG, DEP, SER)


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_idempotent_retry_on_status(
    aclient: Any, respx_mock: respx.MockRouter, name: str, status: int
) -> None:
    client, sleeps = aclient
    method, url, call, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(
        side_effect=[httpx.Response(status, json={}), httpx.Response(200, json=answer)]
    )
    await call(client)
    assert route.call_count == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize(
    "exc", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.PoolTimeout]
)
async def test_idempotent_retry_on_transport_errors(
    aclient: Any, respx_mock: respx.MockRouter, name: str, exc: type[Exception]
) -> None:
    client, _ = aclient
    method, url, call, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(side_effect=[exc("boom"), httpx.Response(200, json=answer)])
    await call(client)
    assert route.call_count == 2


async def test_retry_after_and_exhaustion(aclient: Any, respx_mock: respx.MockRouter) -> None:
    client, sleeps = aclient
    route = respx_mock.get(f"{MGMT}/services/{SER}").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "4"}, json={})
    )
    with pytest.raises(HttpError) as info:
        await client.get_service(ORG, DEP, SER)
    assert info.value.status_code == 503
    assert route.call_count == 6
    assert sleeps == [4.0] * 5


async def test_transport_error_after_retries(respx_mock: respx.MockRouter) -> None:
    async def no_sleep(_: float) -> None:
        return None

    async with AsyncAPIClient({"auth_token": TOKEN}, max_retry_count=2, api_url=API) as client:
        client._retry_policy.async_sleep = no_sleep
        respx_mock.get(f"{MGMT}/services/{SER}").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(TransportError) as info:
            await client.get_service(ORG, DEP, SER)
    assert info.value.attempts == 3


async def test_bad_ids_send_nothing(aclient: Any, respx_mock: respx.MockRouter) -> None:
    client, _ = aclient
    route = respx_mock.route().mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(InvalidArgumentError, match="organization_id"):
        await client.get_service("evil.example#", DEP, SER)
    with pytest.raises(InvalidArgumentError, match="service_id"):
        await client.get_service(ORG, DEP, "../x")
    assert route.call_count == 0


async def test_repr_and_errors_hold_no_secret(aclient: Any, respx_mock: respx.MockRouter) -> None:
    client, _ = aclient
    respx_mock.get(f"{MGMT}/services/{SER}").mock(
        return_value=httpx.Response(401, json={"error": "unauthorized", "error_description": f"bad {TOKEN}"})
    )
    with pytest.raises(Unauthorized) as info:
        await client.get_service(ORG, DEP, SER)
    for text in (str(info.value), repr(info.value), repr(client)):
        assert TOKEN not in text


# ----------------------------------------------------------------------- loopback


@pytest.fixture
def server() -> Any:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


async def test_loopback_reuse_and_logs(server: LoopbackServer, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG):
        async with AsyncAPIClient({"auth_token": TOKEN}, api_url=server.url, max_retry_count=0) as client:
            assert client.inference_addressing == "path"
            for _ in range(10):
                await client.get_service(ORG, DEP, "ser-0123456789abcdef")
            with pytest.raises(InternalServerError):
                await client.get_service(ORG, DEP, "ser-error")
    assert len({port for _, _, port, _ in server.requests}) == 1
    assert len(server.requests) == 11
    assert TOKEN not in caplog.text


async def test_credential_precedence_and_env(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_AUTH_TOKEN", "env-token")
    route = respx_mock.get(f"{MGMT}/services/{SER}").mock(return_value=httpx.Response(200, json={}))
    async with AsyncAPIClient(api_url=API) as client:
        await client.get_service(ORG, DEP, SER)
    credential = {"datasource_id": "2", "datasource_secret": "s"}
    async with AsyncAPIClient(credential, api_url=API) as client:
        await client.get_service(ORG, DEP, SER)
    assert credential == {"datasource_id": "2", "datasource_secret": "s"}
    first, second = (call.request.headers["Authorization"] for call in route.calls)
    assert first == "Bearer env-token"
    assert second.startswith("Basic ")


async def test_timeout_is_passed_to_httpx(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{MGMT}/services/{SER}").mock(return_value=httpx.Response(200, json={}))
    async with AsyncAPIClient({"auth_token": TOKEN}, timeout=(1.5, 9), api_url=API) as client:
        await client.get_service(ORG, DEP, SER)
    async with AsyncAPIClient({"auth_token": TOKEN}, timeout=0, api_url=API) as client:
        await client.get_service(ORG, DEP, SER)
    first, second = (call.request.extensions["timeout"] for call in route.calls)
    assert first == {"connect": 1.5, "read": 9.0, "write": 9.0, "pool": 1.5}
    assert second == {"connect": None, "read": None, "write": None, "pool": None}


async def test_certificate_failure_is_not_retried(aclient: Any, respx_mock: respx.MockRouter) -> None:
    client, _ = aclient
    route = respx_mock.get(f"{MGMT}/services/{SER}").mock(
        side_effect=[
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            httpx.Response(200, json={}),
        ]
    )
    with pytest.raises(TransportError):
        await client.get_service(ORG, DEP, SER)
    assert route.call_count == 1
