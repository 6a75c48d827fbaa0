"""A process-wide guard that fails a test on any attempt to resolve a name or open a connection.

Used by the hostile-input tests to prove that a refused argument never reached the network:
not the emulator, not a DNS server, not a host an injected id points at. The guard patches the
socket module's entry points that requests (urllib3), httpx (httpcore) and asyncio all go
through: ``getaddrinfo``, ``create_connection`` and ``socket.connect`` / ``connect_ex``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class NetworkAttempt(AssertionError):
    """Raised inside the code under test when it tries to reach the network."""


@contextmanager
def no_network() -> Iterator[list[str]]:
    """Within the block every name lookup and connect raises and is recorded in the yielded list."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(kind: str, target: Any) -> NetworkAttempt:
        attempts.append(f"{kind} {target!r}")
        return NetworkAttempt(f"network {kind} attempted to {target!r}")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise refuse("getaddrinfo", host)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        raise refuse("create_connection", address)

    def connect(self: socket.socket, address: Any) -> None:
        raise refuse("connect", address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        raise refuse("connect_ex", address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.create_connection = create_connection  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign, assignment]
    try:
        yield attempts
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.create_connection = real_create_connection
        socket.socket.connect = real_connect  # type: ignore[method-assign, assignment]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign, assignment]
