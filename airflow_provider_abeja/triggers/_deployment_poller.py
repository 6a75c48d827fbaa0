"""The waits on one deployment share one ``get_services`` listing per polling interval.

A triggerer holding 1,000 waits polled 1,000 services one GET each: 1,000 requests a second at
1 s polls. The waits of one deployment (same connection settings and organization, on one
event loop) are grouped here: a wait that is due for an observation takes the deployment's
latest listing when that is fresher than the group's smallest poll interval and new to this
wait; otherwise it asks for a new one, and every wait due meanwhile joins that same request
(``ClientLease.get_services``: single-flight, every page). So a deployment costs about one
listing per smallest interval, however many waits it has, and each wait still decides by its
own rules: the answer goes to ``wait_step.step`` exactly as its own read did.

- A wait alone on its deployment reads its service directly: a listing would cost as much.
- A service missing from the listing gets its own read (it may have been deleted; the read
  says so, with the same outcome as before).
- A listing that fails with a transient error is each joined wait's observation, counted once
  against each one's budget (a wait never sees the same listing twice). Any other listing
  error (refused, not found, ...) sends the wait to its own read, which decides as it always did.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import is_transient

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_provider_abeja.triggers._shared import ClientLease

__all__ = ["ServiceWatch", "deployment_group_count"]

GroupKey = tuple[str, str, str]


@dataclass(frozen=True, eq=False)
class _Listing:
    """One ``get_services`` answer (or the error it gave), numbered in its group's order."""

    number: int
    #: ``loop.time()`` when it was asked for: its age decides whether a wait may still use it.
    asked_at: float
    services: Mapping[str, Mapping[str, Any]]
    error: BaseException | None = None


def _by_id(answer: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The listed services by id; entries without a string ``service_id`` are left out."""
    found: dict[str, Mapping[str, Any]] = {}
    for entry in answer.get("entries") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("service_id"), str):
            found[entry["service_id"]] = entry
    return found


class _Group:
    """The waits on one deployment and its latest listing."""

    def __init__(self, key: GroupKey, organization_id: str, deployment_id: str) -> None:
        self.key = key
        self.organization_id = organization_id
        self.deployment_id = deployment_id
        self.intervals: dict[ServiceWatch, float] = {}
        #: The smallest poll interval among the waits: how old a listing may be and still serve.
        self.interval = 0.0
        self.latest: _Listing | None = None
        #: The listing being asked for; resolves to None when the wait that asked was cancelled.
        self.pending: asyncio.Future[_Listing | None] | None = None
        self._numbers = 0

    def join(self, watch: ServiceWatch, interval: float) -> None:
        self.intervals[watch] = interval
        self.interval = min(self.intervals.values())

    def leave(self, watch: ServiceWatch) -> None:
        self.intervals.pop(watch, None)
        self.interval = min(self.intervals.values(), default=0.0)

    async def listing(self, lease: ClientLease, seen: int) -> _Listing:
        """A listing this wait has not seen, at most ``interval`` old: the latest or a new one."""
        loop = asyncio.get_running_loop()
        while True:
            latest = self.latest
            if latest is not None and latest.number > seen and loop.time() - latest.asked_at < self.interval:
                return latest
            if self.pending is None:
                return await self._ask(lease, loop)
            # Shielded: a cancelled wait must not cancel the answer the other waits expect.
            joined = await asyncio.shield(self.pending)
            if joined is not None:
                return joined
            # The wait that asked was cancelled: ask again (the request itself still runs and
            # the new ask joins it).

    async def _ask(self, lease: ClientLease, loop: asyncio.AbstractEventLoop) -> _Listing:
        pending = self.pending = loop.create_future()
        self._numbers += 1
        number, asked_at = self._numbers, loop.time()
        listing: _Listing | None = None
        try:
            answer = await lease.get_services(self.organization_id, self.deployment_id)
            listing = _Listing(number, asked_at, _by_id(answer))
        except Exception as exc:
            listing = _Listing(number, asked_at, {}, exc)
        finally:
            # On cancellation ``listing`` is None: the joined waits ask again.
            if listing is not None:
                self.latest = listing
            self.pending = None
            pending.set_result(listing)
        return listing


#: loop -> (settings key, organization, deployment) -> group. Weak on the loop, like the clients.
_GROUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[GroupKey, _Group]] = (
    weakref.WeakKeyDictionary()
)


def deployment_group_count() -> int:
    """Deployments with waits on the running loop (for tests and diagnostics)."""
    return len(_GROUPS.get(asyncio.get_running_loop(), {}))


class ServiceWatch:
    """One wait's reads of its service, through its deployment's shared listing.

    A context manager: entering joins the deployment's group, leaving quits it (the last wait
    to leave drops the group).
    """

    def __init__(
        self, lease: ClientLease, organization_id: str, deployment_id: str, service_id: str, interval: float
    ) -> None:
        self._lease = lease
        self._ids = (organization_id, deployment_id, service_id)
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._key: GroupKey = (lease.settings_key, organization_id, deployment_id)
        self._group: _Group | None = None
        #: The number of the last listing this wait used: it never uses one twice.
        self._seen = 0

    def __enter__(self) -> ServiceWatch:
        groups = _GROUPS.setdefault(self._loop, {})
        group = groups.get(self._key)
        if group is None:
            group = groups[self._key] = _Group(self._key, *self._ids[:2])
        group.join(self, self._interval)
        self._group = group
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        group.leave(self)
        groups = _GROUPS.get(self._loop)
        if not group.intervals and groups is not None and groups.get(self._key) is group:
            del groups[self._key]

    async def observe(self) -> object:
        """The service's JSON, or the error reading it: the wait engine's observation. Never raises."""
        group = self._group
        if group is not None and len(group.intervals) > 1:
            listing = await group.listing(self._lease, self._seen)
            self._seen = listing.number
            if listing.error is None:
                service = listing.services.get(self._ids[2])
                if service is not None:
                    return service
            elif is_transient(listing.error):
                return listing.error
        try:
            return await self._lease.get_service(*self._ids)
        except Exception as exc:
            return exc
