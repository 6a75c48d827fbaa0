"""Triggers on one event loop share a few AsyncAPIClients per connection settings (8 waits
each); overlapping reads of the same service share one GET. Real hook and client; HTTP answers from respx.

Several waits on one deployment first ask for its listing (``wait.pool``, tested in
``test_pool_listing.py``); here the listing names no service, so each wait reads its own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_abeja.client import AsyncAPIClient
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger
from airflow_provider_abeja.wait.pool import WAITS_PER_CLIENT, shared_client_count

API = "http://abeja.test"
ORG = "1234567890123"
DEP = "9999999999999"
BASE = f"{API}/organizations/{ORG}/deployments/{DEP}/services"
CONN_ID = "abeja_shared"


def _set_connection(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    conn = {
        "conn_type": "abeja",
        "host": API,
        "extra": {"auth_token": token, "organization_id": ORG, "max_retry_count": 0},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_connection(monkeypatch, "token-one")


@pytest.fixture
def lifecycle(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[AsyncAPIClient]]:
    """Records every AsyncAPIClient built and closed (the originals still run)."""
    seen: dict[str, list[AsyncAPIClient]] = {"built": [], "closed": []}
    original_init, original_close = AsyncAPIClient.__init__, AsyncAPIClient.aclose

    def init(self: AsyncAPIClient, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        seen["built"].append(self)

    async def aclose(self: AsyncAPIClient) -> None:
        seen["closed"].append(self)
        await original_close(self)

    monkeypatch.setattr(AsyncAPIClient, "__init__", init)
    monkeypatch.setattr(AsyncAPIClient, "aclose", aclose)
    return seen


def _trigger(service_id: str, **overrides: Any) -> AbejaServiceStatusTrigger:
    kwargs: dict[str, Any] = {
        "organization_id": ORG,
        "deployment_id": DEP,
        "service_id": service_id,
        "poll_interval": 0.01,
        "abeja_conn_id": CONN_ID,
    }
    kwargs.update(overrides)
    return AbejaServiceStatusTrigger(**kwargs)


async def _events(trigger: AbejaServiceStatusTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def _ser(i: int) -> str:
    return f"ser-{i:016x}"


def _unlisted() -> None:
    """The deployment's listing names no service: every wait reads its own (the GETs tested here)."""
    respx.get(BASE).mock(return_value=httpx.Response(200, json={"entries": []}))


@respx.mock
@pytest.mark.parametrize("waits", [30, 70])
async def test_many_waits_share_few_clients_closed_by_their_last(
    lifecycle: dict[str, list[AsyncAPIClient]], waits: int
) -> None:
    _unlisted()
    polls: dict[str, int] = {}
    all_asked = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        ser = request.url.path.rsplit("/", 1)[-1]
        polls[ser] = polls.get(ser, 0) + 1
        if len(polls) == waits:
            all_asked.set()
        await all_asked.wait()  # no wait ends (and releases) before every wait holds a lease
        status = "READY" if polls[ser] >= 1 + int(ser[-2:], 16) % 4 else "IN_PROGRESS"
        return httpx.Response(200, json={"service_id": ser, "status": status})

    respx.get(url__startswith=BASE).mock(side_effect=answer)
    results = await asyncio.gather(*(_events(_trigger(_ser(i))) for i in range(waits)))
    assert [event["status"] for (event,) in results] == ["success"] * waits
    assert [event["service_id"] for (event,) in results] == [_ser(i) for i in range(waits)]
    assert len(lifecycle["built"]) == -(-waits // WAITS_PER_CLIENT)
    assert all(client._settings.pool_maxsize == WAITS_PER_CLIENT for client in lifecycle["built"])
    assert sorted(map(id, lifecycle["closed"])) == sorted(map(id, lifecycle["built"]))
    assert shared_client_count() == 0


@respx.mock
async def test_overlapping_reads_of_one_service_share_one_get(
    lifecycle: dict[str, list[AsyncAPIClient]],
) -> None:
    _unlisted()
    release = asyncio.Event()
    asked: list[httpx.Request] = []

    async def slow_ready(request: httpx.Request) -> httpx.Response:
        asked.append(request)  # respx counts a call only once it is answered
        await release.wait()
        return httpx.Response(200, json={"service_id": _ser(1), "status": "READY"})

    route = respx.get(f"{BASE}/{_ser(1)}").mock(side_effect=slow_ready)
    waits = [asyncio.ensure_future(_events(_trigger(_ser(1)))) for _ in range(20)]
    while not asked:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # every wait has joined the GET in flight
    release.set()
    results = await asyncio.gather(*waits)
    assert [event["status"] for (event,) in results] == ["success"] * 20
    assert route.call_count == len(asked) == 1  # joined across the clients of the settings
    assert len(lifecycle["built"]) == -(-20 // WAITS_PER_CLIENT)
    assert sorted(map(id, lifecycle["closed"])) == sorted(map(id, lifecycle["built"]))


@respx.mock
async def test_a_cancelled_wait_does_not_cancel_a_joined_get(
    lifecycle: dict[str, list[AsyncAPIClient]],
) -> None:
    _unlisted()
    release = asyncio.Event()
    asked: list[httpx.Request] = []

    async def slow_ready(request: httpx.Request) -> httpx.Response:
        asked.append(request)  # respx counts a call only once it is answered
        await release.wait()
        return httpx.Response(200, json={"service_id": _ser(2), "status": "READY"})

    route = respx.get(f"{BASE}/{_ser(2)}").mock(side_effect=slow_ready)
    first = asyncio.ensure_future(_events(_trigger(_ser(2))))
    while not asked:
        await asyncio.sleep(0.005)
    second = asyncio.ensure_future(_events(_trigger(_ser(2))))
    await asyncio.sleep(0.05)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert lifecycle["closed"] == []  # the second wait still uses the client
    release.set()
    ((event,),) = [await second]
    assert event["status"] == "success"
    assert route.call_count == len(asked) == 1
    assert lifecycle["closed"] == lifecycle["built"]


@respx.mock
async def test_an_edited_connection_gets_a_new_client(
    monkeypatch: pytest.MonkeyPatch, lifecycle: dict[str, list[AsyncAPIClient]]
) -> None:
    ready = asyncio.Event()
    seen_tokens: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen_tokens.append(request.headers["Authorization"])
        status = "READY" if ready.is_set() else "IN_PROGRESS"
        return httpx.Response(200, json={"service_id": _ser(3), "status": status})

    respx.get(f"{BASE}/{_ser(3)}").mock(side_effect=answer)
    old = asyncio.ensure_future(_events(_trigger(_ser(3))))
    while not seen_tokens:
        await asyncio.sleep(0.005)
    _set_connection(monkeypatch, "token-two")
    new = asyncio.ensure_future(_events(_trigger(_ser(3))))
    while "Bearer token-two" not in seen_tokens:
        await asyncio.sleep(0.005)
    assert len(lifecycle["built"]) == 2
    ready.set()
    await asyncio.gather(old, new)
    assert set(seen_tokens) == {"Bearer token-one", "Bearer token-two"}
    assert sorted(map(id, lifecycle["closed"])) == sorted(map(id, lifecycle["built"]))
    assert shared_client_count() == 0


@respx.mock
async def test_an_error_ending_one_wait_leaves_the_others_running(
    lifecycle: dict[str, list[AsyncAPIClient]],
) -> None:
    _unlisted()
    respx.get(f"{BASE}/{_ser(4)}").mock(return_value=httpx.Response(404, json={"error": "not_found"}))
    ready = asyncio.Event()
    polled: list[httpx.Request] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        polled.append(request)
        return httpx.Response(200, json={"status": "READY" if ready.is_set() else "IN_PROGRESS"})

    respx.get(f"{BASE}/{_ser(5)}").mock(side_effect=answer)
    running = asyncio.ensure_future(_events(_trigger(_ser(5))))
    while not polled:  # the running wait holds its lease before the other one starts
        await asyncio.sleep(0.005)
    (gone,) = await _events(_trigger(_ser(4)))
    assert gone["status"] == "error"
    assert lifecycle["closed"] == []
    ready.set()
    (event,) = await running
    assert event["status"] == "success"
    assert lifecycle["closed"] == lifecycle["built"]


@respx.mock
async def test_a_client_closing_lets_a_get_joined_from_another_client_finish(
    lifecycle: dict[str, list[AsyncAPIClient]],
) -> None:
    _unlisted()
    release = asyncio.Event()
    asked: list[httpx.Request] = []

    async def slow_ready(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        await release.wait()
        return httpx.Response(200, json={"status": "READY"})

    shared_route = respx.get(f"{BASE}/{_ser(0)}").mock(side_effect=slow_ready)
    respx.get(url__startswith=BASE).mock(return_value=httpx.Response(200, json={"status": "IN_PROGRESS"}))
    first_client = [asyncio.ensure_future(_events(_trigger(_ser(0))))]
    while not asked:  # the GET of service 0 runs on the first client
        await asyncio.sleep(0.005)
    first_client += [asyncio.ensure_future(_events(_trigger(_ser(i)))) for i in range(1, WAITS_PER_CLIENT)]
    while shared_client_count() < 1 or len(lifecycle["built"]) < 1:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # the first client is full
    joined = asyncio.ensure_future(_events(_trigger(_ser(0))))  # on a second client, joins the GET
    while len(lifecycle["built"]) < 2:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    for wait in first_client:  # the first client loses every lease while its GET runs
        wait.cancel()
    await asyncio.gather(*first_client, return_exceptions=True)
    release.set()
    (event,) = await asyncio.wait_for(joined, timeout=10)
    assert event["status"] == "success"
    assert shared_route.call_count == 1
    await asyncio.sleep(0.05)
    assert sorted(map(id, lifecycle["closed"])) == sorted(map(id, lifecycle["built"]))
    assert shared_client_count() == 0
