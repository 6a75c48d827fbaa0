"""How the triggers on one event loop read their resources: shared clients and shared listings.

A triggerer runs every deferred task's trigger on one event loop, so a client per wait would
mean a connection pool and a socket per wait. Instead a trigger leases a client per (loop,
connection settings), reference-counted, each client serving at most ``WAITS_PER_CLIENT``
triggers with as many pooled connections: a trigger never queues for a connection and a pool
stays small. A client is closed when its last lease ends, after the GETs that other waits are
joined to; a changed connection gives new settings, so new leases get new clients.

Overlapping reads of the same service, or of a deployment's listing, share one GET
(single-flight). The waits on one deployment share one ``get_services`` listing per smallest
poll interval (:class:`Watch`); each answer still goes to ``engine.step`` exactly as the
wait's own read would:

- a wait alone on its deployment reads its service directly (a listing would cost as much);
- a service missing from the listing gets its own read (it may have been deleted);
- a listing that fails with a transient error is each joined wait's observation, counted once
  against each one's budget (a wait never sees the same listing twice); any other listing
  error sends the wait to its own read, which decides as it always did.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import random
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import is_transient
from airflow_provider_abeja.wait.engine import SERVICE, Ids, ResourceKind

if TYPE_CHECKING:
    from airflow_provider_abeja.client import AsyncAPIClient

#: Triggers served by one client, and its pool size: each trigger has at most one request in
#: flight, so none waits for a connection (bench/trigger_scale.py, "Clients per pool").
WAITS_PER_CLIENT = 8

#: Each sleep between polls is the poll interval +- this fraction.
POLL_JITTER = 0.1

#: What a request in flight reads: the client method and its arguments.
FlightKey = tuple[Any, ...]


@dataclass(eq=False)
class _Flight:
    """A GET in flight: the client it runs on and how many waits are joined to it."""

    task: asyncio.Task[dict[str, Any]]
    owner: AsyncAPIClient
    waiters: int = 0


@dataclass(eq=False)
class _Shared:
    """The clients of one connection settings on one loop, each with how many leases use it."""

    clients: collections.Counter[AsyncAPIClient] = field(default_factory=collections.Counter)
    in_flight: dict[FlightKey, _Flight] = field(default_factory=dict)


#: loop -> settings key -> shared clients. Weak on the loop: a finished loop drops its entries.
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = (
    weakref.WeakKeyDictionary()
)
#: Tasks nobody awaits (closes put off, cancellations), held until they end: the loop keeps only
#: weak references.
_BACKGROUND: set[asyncio.Future[Any]] = set()


def background(awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
    """``awaitable`` as a task of its own, held until it ends."""
    task = asyncio.ensure_future(awaitable)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task


def poll_interval(value: Any) -> float:
    """``value`` as a trigger's poll interval, refused unless a positive number of seconds."""
    if value is None or float(value) <= 0:
        raise ValueError("poll_interval must be a positive number of seconds")
    return float(value)


def jittered(interval: float) -> float:
    """``interval`` +- ``POLL_JITTER``: triggers rebuilt together (a triggerer restart) drift apart
    instead of polling the API in lockstep."""
    return interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)


def shared_client_count() -> int:
    """Shared clients open on the running loop (for tests and diagnostics)."""
    entries = _REGISTRY.get(asyncio.get_running_loop(), {})
    return sum(len(shared.clients) for shared in entries.values())


@dataclass(eq=False)
class ClientLease:
    """A trigger's use of a shared client; :meth:`release` exactly once when done."""

    shared: _Shared
    client: AsyncAPIClient
    #: Names the connection settings this lease's client uses (a dict key: never show it).
    settings_key: str

    async def read(self, method: str, *args: str | None) -> dict[str, Any]:
        """``client.<method>(*args)`` (a GET), joining an identical request already in flight."""
        in_flight, key = self.shared.in_flight, (method, *args)
        flight = in_flight.get(key)
        if flight is None:
            task = asyncio.ensure_future(getattr(self.client, method)(*args))
            flight = in_flight[key] = _Flight(task, self.client)
            task.add_done_callback(lambda done: _forget(in_flight, key, done))
        flight.waiters += 1
        try:
            # Shielded: a cancelled wait must not cancel the GET that other waits are joined to.
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1

    async def release(self) -> None:
        """Drop this lease; the last one of a client closes it (after GETs others are joined to)."""
        shared, client = self.shared, self.client
        shared.clients[client] -= 1
        if shared.clients[client] > 0:
            return
        # A client leaves its shared entry once (no lease takes it after), and the entry leaves the
        # registry with its last client, in the same step: nothing else can have removed either.
        del shared.clients[client]
        if not shared.clients:
            del _REGISTRY[asyncio.get_running_loop()][self.settings_key]
        mine = [flight for flight in shared.in_flight.values() if flight.owner is client]
        joined = [flight.task for flight in mine if flight.waiters]
        for flight in (flight for flight in mine if not flight.waiters):
            flight.task.cancel()
        if joined:
            background(_close_after(joined, client))  # the caller does not wait for the joined GETs
        else:
            await client.aclose()


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
    # Holds the credential, like the client itself; used only as a dict key, never shown.
    key = json.dumps(kwargs, sort_keys=True, default=str)
    shared = _REGISTRY.setdefault(asyncio.get_running_loop(), {}).setdefault(key, _Shared())
    # No await from here on: two triggers cannot both take the last place or build one client.
    client = next((client for client, users in shared.clients.items() if users < WAITS_PER_CLIENT), None)
    if client is None:
        client = AsyncAPIClient(**kwargs, pool_maxsize=WAITS_PER_CLIENT)
    shared.clients[client] += 1
    return ClientLease(shared, client, key)


# -- listings shared by the watchers of one thing ---------------------------------------------------


@dataclass(frozen=True, eq=False)
class Listing:
    """One shared listing (what ``ask`` gave, or the error it raised)."""

    #: ``loop.time()`` when it was asked for: its age decides whether a watcher may still use it.
    asked_at: float
    entries: Any = None
    error: BaseException | None = None


#: ``ask(lease, needs)``: one listing, where ``needs`` holds what each watcher still needs of it.
Ask = Callable[[ClientLease, list[Any]], Awaitable[Any]]


class ListingGroup:
    """The watchers of one thing on one loop (a deployment's services, a channel's files) and their
    latest listing: each watcher gets one it has not seen, no older than the smallest poll interval
    among them, asked for once at a time in a task of its own (a cancelled watcher does not cancel it)."""

    def __init__(self, ask: Ask) -> None:
        self._ask = ask
        #: watcher -> (poll interval, what it needs of a listing)
        self.watchers: dict[object, tuple[float, Any]] = {}
        self.latest: Listing | None = None
        self.pending: asyncio.Task[Listing] | None = None

    async def listing(self, lease: ClientLease, seen: Listing | None) -> Listing:
        """The latest listing unless the watcher has ``seen`` it or it is too old, else a new one."""
        loop = asyncio.get_running_loop()
        latest, interval = self.latest, min((i for i, _ in self.watchers.values()), default=0.0)
        if latest is not None and latest is not seen and loop.time() - latest.asked_at < interval:
            return latest
        if self.pending is None:
            needs = [need for _, need in self.watchers.values()]
            self.pending = loop.create_task(self._listed(lease, loop.time(), needs))
        return await asyncio.shield(self.pending)

    async def _listed(self, lease: ClientLease, asked_at: float, needs: list[Any]) -> Listing:
        try:
            self.latest = Listing(asked_at, await self._ask(lease, needs))
        except Exception as exc:
            self.latest = Listing(asked_at, error=exc)
        finally:
            self.pending = None
        return self.latest


#: loop -> (settings key, what is listed, its ids...) -> group. Weak on the loop, like the clients.
_GROUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], ListingGroup]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.contextmanager
def joined(
    lease: ClientLease, key: tuple[str, ...], watcher: object, interval: float, ask: Ask
) -> Iterator[ListingGroup]:
    """``watcher`` in the group of ``key`` (the listing call and its ids) on the running loop and
    the lease's settings while the block runs; the last watcher to leave drops the group."""
    groups, full_key = _GROUPS.setdefault(asyncio.get_running_loop(), {}), (lease.settings_key, *key)
    group = groups.setdefault(full_key, ListingGroup(ask))
    group.watchers[watcher] = (interval, None)
    try:
        yield group
    finally:
        group.watchers.pop(watcher, None)
        if not group.watchers and groups.get(full_key) is group:
            del groups[full_key]


def group_count(listing_call: str) -> int:
    """Groups listing with ``listing_call`` on the running loop (for tests and diagnostics)."""
    return sum(key[1] == listing_call for key in _GROUPS.get(asyncio.get_running_loop(), {}))


async def _services(organization_id: str, deployment_id: str, lease: ClientLease, _needs: list[Any]) -> Any:
    answer = await lease.read("get_services", organization_id, deployment_id)
    entries = [e for e in answer.get("entries") or () if isinstance(e, Mapping)]
    return {e["service_id"]: e for e in entries if isinstance(e.get("service_id"), str)}


# -- reading one resource a poll ------------------------------------------------------------------


class Watch(contextlib.ExitStack):
    """How a trigger reads its resource, entered for the whole wait (leaving it closes what the
    wait joined): one GET a poll (the kind's read, joined with an identical GET in flight).

    A service's wait also joins its deployment's group while entered, and reads through the
    shared listing while other waits share it (the last wait to leave drops the group).
    """

    def __init__(self, lease: ClientLease, kind: ResourceKind, ids: Ids, interval: float) -> None:
        super().__init__()
        self._lease, self._kind, self._ids, self._interval = lease, kind, ids, interval
        self._group: ListingGroup | None = None
        #: The last listing this wait used: it never uses one twice.
        self._seen: Listing | None = None

    def __enter__(self) -> Watch:
        if self._kind is SERVICE:
            key, ask = ("get_services", *self._ids[:2]), functools.partial(_services, *self._ids[:2])
            self._group = self.enter_context(joined(self._lease, key, self, self._interval, ask))
        return self

    async def observe(self) -> object:
        """The resource's JSON, or the error reading it: the engine's observation. Never raises."""
        group = self._group
        if group is not None and len(group.watchers) > 1:
            listing = await group.listing(self._lease, self._seen)
            self._seen = listing
            if listing.error is None:
                service = listing.entries.get(self._ids[2])
                if service is not None:
                    return service
            elif is_transient(listing.error):
                return listing.error
        try:
            return await self._lease.read(self._kind.read, *self._ids)
        except Exception as exc:
            return exc
