"""A misbehaving HTTP server on loopback: each deployment id names what it does to the client.

Requests go to ``/organizations/<org>/deployments/<scenario>/...``; the server reads the request
head (and a ``Content-Length`` body), records it, then hands the socket to the scenario, which
writes whatever bytes it likes (a drip, an endless body, a malformed status line) and returns.
Every connection is closed after one answer. A scenario stops writing once the client hangs up.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

#: Writes bytes to the client; raises OSError once the client has gone.
Write = Callable[[bytes], None]
Scenario = Callable[[Write], None]
#: The longest any scenario keeps a connection open (endless ones stop here).
MAX_SCENARIO_SECONDS = 10.0


def answer(
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    reason: str = "Whatever",
) -> Scenario:
    """A whole answer with a ``Content-Length``."""
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    data = head.encode("utf-8") + b"\r\n" + body
    return lambda write: write(data)


def raw(data: bytes) -> Scenario:
    """Exactly these bytes, then the connection closes."""
    return lambda write: write(data)


def drip(
    head: bytes, piece: bytes = b" ", every: float = 0.02, seconds: float = MAX_SCENARIO_SECONDS
) -> Scenario:
    """``head`` then ``piece`` every ``every`` seconds until the client hangs up (or ``seconds``)."""

    def run(write: Write) -> None:
        write(head)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            time.sleep(every)
            write(piece)

    return run


def endless(head: bytes, piece: bytes) -> Scenario:
    """``head`` then ``piece`` as fast as the client reads, until it hangs up."""

    def run(write: Write) -> None:
        write(head)
        stop = time.monotonic() + MAX_SCENARIO_SECONDS
        while time.monotonic() < stop:
            write(piece)

    return run


class _Handler(socketserver.StreamRequestHandler):
    server: HostileServer

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            head += chunk
        header_text, _, rest = head.partition(b"\r\n\r\n")
        lines = header_text.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length") or 0)
        while len(rest) < length:
            chunk = self.request.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.server.record(method, path, headers)
        parts = path.split("?")[0].split("/")
        name = parts[parts.index("deployments") + 1] if "deployments" in parts[:-1] else ""
        scenario = self.server.scenarios.get(name, answer(404, b'{"error": "no such scenario"}'))
        with contextlib.suppress(OSError):  # the client hung up: what it should do here
            scenario(self.request.sendall)


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, scenarios: Mapping[str, Scenario]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenarios = dict(scenarios)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, headers))


@contextmanager
def serving(scenarios: Mapping[str, Scenario]) -> Iterator[HostileServer]:
    server = HostileServer(scenarios)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def silent_listener() -> socket.socket:
    """A socket that accepts connections (in its backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock
