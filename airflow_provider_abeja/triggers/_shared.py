"""A few ``AsyncAPIClient``s per event loop and connection settings, shared by the triggers on it.

A triggerer runs every deferred task's trigger on one event loop. With a client each, 1,000
status waits meant 1,000 connection pools and sockets. Here triggers lease a client per
(loop, connection settings), reference-counted, each client serving at most
``WAITS_PER_CLIENT`` triggers with as many pooled connections: a trigger never queues for a
connection, and a pool stays small. (httpcore's pool upkeep on every request is linear in its
connections plus quadratic in its idle ones: one pool for 1,000 waits grows costly exactly
when the loop falls behind and requests pile up.) A client is closed when its last lease ends.
A changed connection (new token, new URL) gives new settings, so new leases get new clients
while the old ones live until their last users end.

Status reads of the same service that overlap share one GET (single-flight): a wait that asks
while an identical GET is in flight (on any client of the same settings) gets that answer, at
most one request old, instead of sending another. A deployment's listing (``get_services``,
which ``_deployment_poller`` shares among the waits on that deployment) is single-flight too.
A client whose last lease ends lets the GETs running on it finish before it closes, for the
waits joined to them.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_abeja.client import AsyncAPIClient

__all__ = ["SHARED_POOL_SIZE", "ClientLease", "lease_client", "shared_client_count", "wait_with_lease"]

#: Triggers served by one client, and its pool size: each trigger has at most one request in
#: flight, so none waits for a connection. 1,000 waits share 125 clients instead of 1,000; why
#: 8 (and not one pool, 32, or one client each): bench/trigger_scale.py, "Clients per pool".
WAITS_PER_CLIENT = 8
SHARED_POOL_SIZE = WAITS_PER_CLIENT

#: What a request in flight reads: ("service", org, dep, ser) or ("services", org, dep).
FlightKey = tuple[str, ...]
Call = Callable[["AsyncAPIClient"], Coroutine[Any, Any, dict[str, Any]]]


@dataclass(eq=False)
class _Client:
    """One client and how many leases use it."""

    client: AsyncAPIClient
    users: int = 0


@dataclass(eq=False)
class _Flight:
    """A GET in flight: the client it runs on and how many waits are joined to it."""

    task: asyncio.Task[dict[str, Any]]
    owner: _Client
    waiters: int = 0


@dataclass(eq=False)
class _Shared:
    """The clients of one connection settings on one loop."""

    key: str
    clients: list[_Client] = field(default_factory=list)
    in_flight: dict[FlightKey, _Flight] = field(default_factory=dict)

    def slot_with_room(self) -> _Client | None:
        for slot in self.clients:
            if slot.users < WAITS_PER_CLIENT:
                return slot
        return None


#: loop -> settings key -> shared clients. Weak on the loop: a finished loop drops its entries.
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = (
    weakref.WeakKeyDictionary()
)


#: Closes put off until GETs that other waits are joined to end (strong references).
_CLOSING: set[asyncio.Task[None]] = set()


def _settings_key(kwargs: dict[str, Any]) -> str:
    # Holds the credential, like the client itself; used only as a dict key, never shown.
    return json.dumps(kwargs, sort_keys=True, default=str)


def shared_client_count() -> int:
    """Shared clients open on the running loop (for tests and diagnostics)."""
    entries = _REGISTRY.get(asyncio.get_running_loop(), {})
    return sum(len(shared.clients) for shared in entries.values())


class ClientLease:
    """A trigger's use of a shared client; :meth:`release` exactly once when done."""

    def __init__(self, shared: _Shared, slot: _Client, loop: asyncio.AbstractEventLoop) -> None:
        self._shared = shared
        self._slot = slot
        self._loop = loop
        self._released = False

    @property
    def client(self) -> AsyncAPIClient:
        return self._slot.client

    @property
    def settings_key(self) -> str:
        """Names the connection settings this lease's client uses (a dict key: never show it)."""
        return self._shared.key

    async def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> dict[str, Any]:
        """``client.get_service``, joining an identical request already in flight."""
        key = ("service", organization_id, deployment_id, service_id)
        return await self._single_flight(
            key, lambda c: c.get_service(organization_id, deployment_id, service_id)
        )

    async def get_services(self, organization_id: str, deployment_id: str) -> dict[str, Any]:
        """``client.get_services`` (every page), joining an identical listing already in flight."""
        key = ("services", organization_id, deployment_id)
        return await self._single_flight(key, lambda c: c.get_services(organization_id, deployment_id))

    async def _single_flight(self, key: FlightKey, call: Call) -> dict[str, Any]:
        in_flight = self._shared.in_flight
        flight = in_flight.get(key)
        if flight is None:
            task = self._loop.create_task(call(self._slot.client))
            flight = in_flight[key] = _Flight(task, self._slot)
            task.add_done_callback(lambda done: _forget(in_flight, key, done))
        flight.waiters += 1
        try:
            # Shielded: a cancelled wait must not cancel the GET that other waits are joined to.
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1

    async def release(self) -> None:
        """Drop this lease; the last one of a client closes it (see below for joined GETs)."""
        if self._released:
            return
        self._released = True
        shared, slot = self._shared, self._slot
        slot.users -= 1
        if slot.users > 0:
            return
        if slot in shared.clients:
            shared.clients.remove(slot)
        entries = _REGISTRY.get(self._loop)
        if not shared.clients and entries is not None and entries.get(shared.key) is shared:
            del entries[shared.key]
        # A GET running on this client that waits on other clients are joined to must end
        # first: the close is then put off to a background task (the caller does not wait).
        joined = []
        for flight in [f for f in shared.in_flight.values() if f.owner is slot]:
            if flight.waiters:
                joined.append(flight.task)
            else:
                flight.task.cancel()
        if not joined:
            await slot.client.aclose()
            return
        closing = self._loop.create_task(_close_after(joined, slot.client))
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)


async def _close_after(tasks: list[asyncio.Task[dict[str, Any]]], client: AsyncAPIClient) -> None:
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await client.aclose()


def _forget(in_flight: dict[FlightKey, _Flight], key: FlightKey, done: asyncio.Task[Any]) -> None:
    flight = in_flight.get(key)
    if flight is not None and flight.task is done:
        del in_flight[key]
    if not done.cancelled():
        done.exception()  # retrieved: joined waits may all have been cancelled


async def lease_client(abeja_conn_id: str) -> ClientLease:
    """A lease on a shared client for the connection's current settings on the running loop.

    The connection is read on every call (without blocking the loop), so an edited connection
    takes effect for new waits.
    """
    from airflow_provider_abeja.client import AsyncAPIClient
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    settings = await AbejaHook(abeja_conn_id=abeja_conn_id).aget_settings()
    kwargs = settings.client_kwargs()
    key = _settings_key(kwargs)
    loop = asyncio.get_running_loop()
    entries = _REGISTRY.setdefault(loop, {})
    shared = entries.setdefault(key, _Shared(key))
    # No await from here on: two triggers cannot both take the last place or build one client.
    slot = shared.slot_with_room()
    if slot is None:
        slot = _Client(AsyncAPIClient(**kwargs, pool_maxsize=SHARED_POOL_SIZE))
        shared.clients.append(slot)
    slot.users += 1
    return ClientLease(shared, slot, loop)


async def wait_with_lease(
    abeja_conn_id: str,
    wait: Callable[[ClientLease], Awaitable[dict[str, Any]]],
    failed: Callable[[Exception], dict[str, Any]],
) -> dict[str, Any]:
    """A trigger's one event: ``wait`` run on a leased shared client, or ``failed(exc)`` when
    leasing or waiting raised (connection lookup, credentials, ids: nothing a later poll would
    fix). The lease ends before the event is returned, shielded from a cancellation."""
    lease: ClientLease | None = None
    try:
        lease = await lease_client(abeja_conn_id)
        return await wait(lease)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return failed(exc)
    finally:
        if lease is not None:
            await asyncio.shield(lease.release())
