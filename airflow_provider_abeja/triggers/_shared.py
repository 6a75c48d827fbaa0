"""One ``AsyncAPIClient`` per event loop and connection settings, shared by the triggers on it.

A triggerer runs every deferred task's trigger on one event loop. With a client each, 1,000
status waits meant 1,000 connection pools and sockets; here they lease one client per
(loop, connection settings), reference-counted and closed when the last lease is released.
A changed connection (new token, new URL) gives new settings, so new leases get a new client
while the old one lives until its last user ends.

Status reads of the same service that overlap share one GET (single-flight): a wait that asks
while an identical GET is in flight gets that answer, at most one request old, instead of
sending another.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_abeja.client import AsyncAPIClient

__all__ = ["SHARED_POOL_SIZE", "ClientLease", "lease_client", "shared_client_count"]

#: Connections of a shared client's pool: enough that a slow answer or two do not queue every
#: other wait behind them, far fewer sockets than one client per trigger.
SHARED_POOL_SIZE = 100

ServiceKey = tuple[str, str, str]


@dataclass(eq=False)
class _Shared:
    """A client and its users on one loop."""

    key: str
    client: AsyncAPIClient
    users: int = 0
    in_flight: dict[ServiceKey, asyncio.Task[dict[str, Any]]] = field(default_factory=dict)


#: loop -> settings key -> shared client. Weak on the loop: a finished loop drops its entries.
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = (
    weakref.WeakKeyDictionary()
)


def _settings_key(kwargs: dict[str, Any]) -> str:
    # Holds the credential, like the client itself; used only as a dict key, never shown.
    return json.dumps(kwargs, sort_keys=True, default=str)


def shared_client_count() -> int:
    """Shared clients open on the running loop (for tests and diagnostics)."""
    return len(_REGISTRY.get(asyncio.get_running_loop(), {}))


class ClientLease:
    """A trigger's use of a shared client; :meth:`release` exactly once when done."""

    def __init__(self, shared: _Shared, loop: asyncio.AbstractEventLoop) -> None:
        self._shared = shared
        self._loop = loop
        self._released = False

    @property
    def client(self) -> AsyncAPIClient:
        return self._shared.client

    async def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> dict[str, Any]:
        """``client.get_service``, joining an identical request already in flight."""
        key = (organization_id, deployment_id, service_id)
        in_flight = self._shared.in_flight
        task = in_flight.get(key)
        if task is None:
            task = self._loop.create_task(self._shared.client.get_service(*key))
            in_flight[key] = task
            task.add_done_callback(lambda done: _forget(in_flight, key, done))
        # Shielded: a cancelled wait must not cancel the GET that other waits are joined to.
        return await asyncio.shield(task)

    async def release(self) -> None:
        """Drop this lease; the last one closes the client (after its in-flight GETs)."""
        if self._released:
            return
        self._released = True
        shared = self._shared
        shared.users -= 1
        if shared.users > 0:
            return
        entries = _REGISTRY.get(self._loop)
        if entries is not None and entries.get(shared.key) is shared:
            del entries[shared.key]
        for task in list(shared.in_flight.values()):
            task.cancel()
        await shared.client.aclose()


def _forget(in_flight: dict[ServiceKey, asyncio.Task[Any]], key: ServiceKey, done: asyncio.Task[Any]) -> None:
    if in_flight.get(key) is done:
        del in_flight[key]
    if not done.cancelled():
        done.exception()  # retrieved: joined waits may all have been cancelled


async def lease_client(abeja_conn_id: str) -> ClientLease:
    """A lease on the shared client for the connection's current settings on the running loop.

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
    shared = entries.get(key)
    if shared is None:
        # No await between the lookup and the insert: two triggers cannot both build one.
        shared = _Shared(key, AsyncAPIClient(**kwargs, pool_maxsize=SHARED_POOL_SIZE))
        entries[key] = shared
    shared.users += 1
    return ClientLease(shared, loop)
