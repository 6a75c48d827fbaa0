"""One lock per service: create, stop, start, update, delete and forced changes of a service never interleave.

The emulator is one event loop, but stop and delete await the end of worker processes: before these
locks, a start arriving during a delete's wait launched processes nobody owned any more, two DELETEs
of one service both answered 200 (counted twice), and a stop finishing after a delete wrote the
service back to the state folder (it came back as STOPPED after a restart).
"""

from __future__ import annotations

import asyncio


class ServiceLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, service_id: str) -> asyncio.Lock:
        """The service's lock (created on first use). Hold it around every change of the service."""
        return self._locks.setdefault(service_id, asyncio.Lock())

    def forget(self, service_id: str) -> None:
        """After a delete: waiters keep their reference, find the service gone and answer 404."""
        self._locks.pop(service_id, None)

    def clear(self) -> None:
        self._locks.clear()
