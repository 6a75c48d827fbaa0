"""The sync client's one deadline per request, over its headers and its body.

A socket timeout bounds each receive, not the request: a server dripping one header line a second
would hold a call for ever. One shared timer thread shuts down the socket of a request whose
deadline passed; the blocked read then ends and the request fails with the caller's timeout error.
urllib3's ``Timeout(total=...)`` does not help: it too is applied per receive.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from requests.adapters import HTTPAdapter
from requests.exceptions import ReadTimeout
from urllib3 import HTTPConnectionPool, PoolManager

_ACTIVE, _DONE, _EXPIRED = range(3)


@dataclass(slots=True, eq=False)
class _Watch:
    """One request's deadline and the sockets it reads from."""

    when: float
    sockets: list[socket.socket] = field(default_factory=list)
    state: int = _ACTIVE

    def expire(self) -> None:
        """Called with the watchdog's lock held."""
        if self.state == _ACTIVE:
            self.state = _EXPIRED
            for sock in self.sockets:
                _shut(sock)


def _shut(sock: Any) -> None:
    # socket.socket's own shutdown, also under a TLS socket: the blocked read sees the end of the
    # stream, and the TLS object is left to the reading thread.
    while not isinstance(sock, socket.socket) and hasattr(sock, "socket"):
        sock = sock.socket  # urllib3's TLS-in-TLS transport
    with contextlib.suppress(OSError, TypeError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every client of the process, waking at the earliest deadline."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, watch: _Watch) -> None:
        with self.lock:
            while self._heap and self._heap[0][2].state != _ACTIVE:
                heapq.heappop(self._heap)  # finished calls: the heap holds those in flight
            heapq.heappush(self._heap, (watch.when, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._run, name="abeja-client-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watch:
                self.lock.notify()

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][0] <= now or self._heap[0][2].state != _ACTIVE):
                    heapq.heappop(self._heap)[2].expire()
                self.lock.wait(self._heap[0][0] - now if self._heap else None)


_watchdog = _Watchdog()
_current = threading.local()


def _after_fork() -> None:
    global _watchdog
    _watchdog = _Watchdog()  # the parent's lock may have been held by a thread the child lacks


os.register_at_fork(after_in_child=_after_fork)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[_Watch | None]:
    """``with deadline(seconds):`` the sockets read inside are shut down when ``seconds`` pass, and
    requests' ``ReadTimeout`` naming the deadline is raised (instead of whatever the read saw, or
    of a body that looked whole because it was cut). ``None``: no deadline. Gives the watch."""
    if seconds is None:
        yield None
        return
    watch = _current.watch = _Watch(time.monotonic() + seconds)
    _watchdog.arm(watch)
    try:
        yield watch
    finally:
        _current.watch = None
        with _watchdog.lock:
            expired, watch.state = watch.state == _EXPIRED, _DONE
        if expired:
            raise ReadTimeout(f"no whole answer within {seconds:g}s") from None


class _Watched:
    """A urllib3 connection whose socket the current deadline may shut down."""

    sock: Any

    def getresponse(self) -> Any:
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            with _watchdog.lock:
                watch.sockets.append(self.sock)
                if watch.state == _EXPIRED:
                    _shut(self.sock)
        return super().getresponse()  # type: ignore[misc]


@functools.cache
def _watched(pool_class: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    connection_class = pool_class.ConnectionCls
    if issubclass(connection_class, _Watched):
        return pool_class
    watched = type(connection_class.__name__, (_Watched, connection_class), {})
    return type(pool_class.__name__, (pool_class,), {"ConnectionCls": watched})


def _watch_pools(manager: PoolManager) -> PoolManager:
    manager.pool_classes_by_scheme = {
        scheme: _watched(cls) for scheme, cls in manager.pool_classes_by_scheme.items()
    }
    return manager


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections (direct, through a proxy) answer to :class:`deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _watch_pools(super().proxy_manager_for(proxy, **proxy_kwargs))
