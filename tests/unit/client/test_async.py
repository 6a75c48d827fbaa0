"""AsyncAPIClient: wire format, errors and the shared retry policy (respx), plus loopback streaming."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
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

from .conftest import API, DEP, INFER, MGMT, ORG, PNT, SER, TOKEN, VER
from .loopback import BIG, LoopbackServer, big_body, free_port


@pytest.fixture
async def aclient() -> AsyncIterator[tuple[AsyncAPIClient, list[float]]]:
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    client = AsyncAPIClient({"auth_token": TOKEN}, api_url=API)
    client._retry_policy.async_sleep = record
    yield client, sleeps
    await client.aclose()


# name -> (HTTP method, URL, call, expected JSON body or None, answer)
CALLS: dict[str, tuple[str, str, Callable[[AsyncAPIClient], Any], Any, Any]] = {
    "create_service": (
        "POST",
        f"{MGMT}/services",
        lambda c: c.create_service(ORG, DEP, VER, 2, model_id="3333333333333"),
        {
            "version_id": VER,
            "instance_type": "cpu-0.25",
            "instance_number": 2,
            "models": {"alias": "3333333333333"},
        },
        {"service_id": SER},
    ),
    "get_service": ("GET", f"{MGMT}/services/{SER}", lambda c: c.get_service(ORG, DEP, SER), None, {"a": 1}),
    "get_services": ("GET", f"{MGMT}/services", lambda c: c.get_services(ORG, DEP), None, [{"a": 1}]),
    "list_services": ("GET", f"{MGMT}/services", lambda c: c.list_services(ORG, DEP), None, {"entries": []}),
    "delete_service": (
        "DELETE",
        f"{MGMT}/services/{SER}",
        lambda c: c.delete_service(ORG, DEP, SER),
        None,
        {},
    ),
    "update_service": (
        "PATCH",
        f"{MGMT}/services/{SER}",
        lambda c: c.update_service(ORG, DEP, SER, {"instance_number": 3}),
        {"instance_number": 3},
        {},
    ),
    "start_service": (
        "POST",
        f"{MGMT}/services/{SER}/start",
        lambda c: c.start_service(ORG, DEP, SER),
        None,
        {},
    ),
    "stop_service": (
        "POST",
        f"{MGMT}/services/{SER}/stop",
        lambda c: c.stop_service(ORG, DEP, SER),
        None,
        {},
    ),
    "get_service_recent_logs": (
        "GET",
        f"{MGMT}/services/{SER}/recentlogs?next_forward_token=t",
        lambda c: c.get_service_recent_logs(ORG, DEP, SER, next_forward_token="t"),
        None,
        {"events": []},
    ),
    "request_service": (
        "POST",
        f"{INFER}/services/{SER}",
        lambda c: c.request_service(ORG, DEP, SER, json={"q": 1}),
        {"q": 1},
        {"r": 2},
    ),
    "create_endpoint": (
        "POST",
        f"{MGMT}/endpoints",
        lambda c: c.create_endpoint(ORG, DEP, SER, "blue"),
        {"service_id": SER, "custom_alias": "blue"},
        {"endpoint_id": PNT},
    ),
    "get_endpoints": ("GET", f"{MGMT}/endpoints", lambda c: c.get_endpoints(ORG, DEP), None, []),
    "get_endpoint": ("GET", f"{MGMT}/endpoints/{PNT}", lambda c: c.get_endpoint(ORG, DEP, PNT), None, {}),
    "update_endpoint": (
        "PATCH",
        f"{MGMT}/endpoints/{PNT}",
        lambda c: c.update_endpoint(ORG, DEP, PNT, SER),
        {"service_id": SER},
        {},
    ),
    "delete_endpoint": (
        "DELETE",
        f"{MGMT}/endpoints/{PNT}",
        lambda c: c.delete_endpoint(ORG, DEP, PNT),
        None,
        {},
    ),
    "request_endpoint": (
        "POST",
        f"{INFER}/green",
        lambda c: c.request_endpoint(ORG, DEP, "green", json=[1]),
        [1],
        {},
    ),
}
IDEMPOTENT = [
    "get_service",
    "get_services",
    "delete_service",
    "update_service",
    "get_endpoint",
    "update_endpoint",
]
NON_IDEMPOTENT = ["create_service", "start_service", "stop_service", "request_service", "create_endpoint"]


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_wire_format(aclient: Any, respx_mock: respx.MockRouter, name: str) -> None:
    client, _ = aclient
    method, url, call, body, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(return_value=httpx.Response(200, json=answer))
    result = await call(client)
    assert route.call_count == 1
    sent = route.calls.last.request
    assert str(sent.url) == url
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"].startswith("airflow-provider-abeja/")
    if body is None:
        assert sent.content == b""
    else:
        assert sent.headers["Content-Type"] == "application/json"
        assert json.loads(sent.content) == body
    if isinstance(result, httpx.Response):
        assert result.json() == answer
    elif name in ("get_services", "list_services", "get_endpoints"):
        assert result == {"entries": answer if isinstance(answer, list) else answer["entries"]}
    else:
        assert result == answer


async def test_request_service_content_types(aclient: Any, respx_mock: respx.MockRouter) -> None:
    client, _ = aclient
    route = respx_mock.post(f"{INFER}/services/{SER}").mock(return_value=httpx.Response(200, content=b"ok"))
    await client.request_service(ORG, DEP, SER, data=b"\x89PNG", content_type="image/png")
    await client.request_service(ORG, DEP, SER, data="text")
    first, second = (call.request for call in route.calls)
    assert (first.headers["Content-Type"], first.content) == ("image/png", b"\x89PNG")
    assert (second.headers["Content-Type"], second.content) == ("application/octet-stream", b"text")


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
    respx_mock.post(f"{MGMT}/services/{SER}/start").mock(
        return_value=httpx.Response(
            status, json={"error": "e", "error_description": "d", "error_detail": {"k": 1}}
        )
    )
    with pytest.raises(cls) as info:
        await client.start_service(ORG, DEP, SER)
    assert type(info.value) is cls
    assert (info.value.status_code, info.value.error, info.value.error_description) == (status, "e", "d")
    assert info.value.error_detail == {"k": 1}
    assert info.value.url == f"{MGMT}/services/{SER}/start"


async def test_non_json_2xx(aclient: Any, respx_mock: respx.MockRouter) -> None:
    client, _ = aclient
    respx_mock.get(f"{MGMT}/services/{SER}").mock(return_value=httpx.Response(200, text="<html>"))
    with pytest.raises(InvalidResponseError):
        await client.get_service(ORG, DEP, SER)


@pytest.mark.parametrize("name", IDEMPOTENT)
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_idempotent_retry_on_status(
    aclient: Any, respx_mock: respx.MockRouter, name: str, status: int
) -> None:
    client, sleeps = aclient
    method, url, call, _, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(
        side_effect=[httpx.Response(status, json={}), httpx.Response(200, json=answer)]
    )
    await call(client)
    assert route.call_count == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("name", IDEMPOTENT)
@pytest.mark.parametrize(
    "exc", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.PoolTimeout]
)
async def test_idempotent_retry_on_transport_errors(
    aclient: Any, respx_mock: respx.MockRouter, name: str, exc: type[Exception]
) -> None:
    client, _ = aclient
    method, url, call, _, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(side_effect=[exc("boom"), httpx.Response(200, json=answer)])
    await call(client)
    assert route.call_count == 2


@pytest.mark.parametrize("name", NON_IDEMPOTENT)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_post_not_resent_after_5xx(
    aclient: Any, respx_mock: respx.MockRouter, name: str, status: int
) -> None:
    client, _ = aclient
    method, url, call, _, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(
        side_effect=[httpx.Response(status, json={}), httpx.Response(200, json=answer)]
    )
    with pytest.raises(HttpError):
        await call(client)
    assert route.call_count == 1


@pytest.mark.parametrize("name", NON_IDEMPOTENT)
@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.WriteTimeout, httpx.ReadError]
)
async def test_post_not_resent_when_server_may_have_acted(
    aclient: Any, respx_mock: respx.MockRouter, name: str, exc: type[Exception]
) -> None:
    client, _ = aclient
    method, url, call, _, answer = CALLS[name]
    route = respx_mock.request(method, url).mock(side_effect=[exc("boom"), httpx.Response(200, json=answer)])
    with pytest.raises(TransportError) as info:
        await call(client)
    assert info.value.attempts == 1
    assert route.call_count == 1


@pytest.mark.parametrize("name", NON_IDEMPOTENT)
@pytest.mark.parametrize("first", ["connect", "connect_timeout", "429"])
async def test_post_resent_when_server_surely_did_not_act(
    aclient: Any, respx_mock: respx.MockRouter, name: str, first: str
) -> None:
    client, _ = aclient
    method, url, call, _, answer = CALLS[name]
    initial: Any = {
        "connect": httpx.ConnectError("refused"),
        "connect_timeout": httpx.ConnectTimeout("slow"),
        "429": httpx.Response(429, json={}),
    }[first]
    route = respx_mock.request(method, url).mock(side_effect=[initial, httpx.Response(200, json=answer)])
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
        await client.request_service("evil.example#", DEP, SER, json={})
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


async def test_loopback_streaming_and_reuse(server: LoopbackServer, tmp_path: Path, caplog: Any) -> None:
    data = big_body()
    upload = tmp_path / "in.bin"
    upload.write_bytes(data)
    target = tmp_path / "out.bin"
    with caplog.at_level(logging.DEBUG):
        async with AsyncAPIClient({"auth_token": TOKEN}, api_url=server.url) as client:
            assert client.inference_addressing == "path"
            with upload.open("rb") as handle:
                answer = (await client.request_service(ORG, DEP, "ser-echo", data=handle)).json()
            chunked = (await client.request_service(ORG, DEP, "ser-echo", data=iter([b"ab", b"cd"]))).json()
            await client.request_service(ORG, DEP, "ser-big", json={}, stream_to=target)
            for _ in range(10):
                await client.get_service(ORG, DEP, "ser-0123456789abcdef")
            with pytest.raises(InternalServerError):
                await client.request_service(ORG, DEP, "ser-error", json={})
    assert answer == {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunked": False,
        "content_type": "application/octet-stream",
    }
    assert (chunked["bytes"], chunked["chunked"]) == (4, True)
    assert target.stat().st_size == BIG
    assert len({port for _, _, port, _ in server.requests}) == 1
    assert len(server.requests) == 14
    assert TOKEN not in caplog.text


async def test_loopback_refused_post_is_resent() -> None:
    async with AsyncAPIClient(
        {"auth_token": TOKEN},
        max_retry_count=2,
        retry_wait_max=0.01,
        api_url=f"http://127.0.0.1:{free_port()}",
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.create_service(ORG, DEP, VER)
    assert info.value.attempts == 3


async def test_seekable_body_rewound_and_stream_not_resent(
    aclient: Any, respx_mock: respx.MockRouter
) -> None:
    import io

    client, _ = aclient
    route = respx_mock.post(f"{INFER}/services/{SER}").mock(
        side_effect=[httpx.Response(429), httpx.Response(200, json={})]
    )
    body = io.BytesIO(b"skip-PAYLOAD")
    body.seek(5)
    await client.request_service(ORG, DEP, SER, data=body)
    assert [call.request.content for call in route.calls] == [b"PAYLOAD", b"PAYLOAD"]

    route.side_effect = [httpx.Response(429), httpx.Response(200, json={})]
    route.calls.clear()
    with pytest.raises(HttpError) as info:
        await client.request_service(ORG, DEP, SER, data=iter([b"a", b"b"]))
    assert info.value.status_code == 429
    assert route.call_count == 1


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
