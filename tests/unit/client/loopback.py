"""A tiny HTTP/1.1 keep-alive server on loopback for the client's real-socket tests.

Routes (any organization / deployment):
  POST .../services/ser-echo      -> {"bytes": n, "sha256": ..., "chunked": bool, "content_type": ...}
  POST .../services/ser-big       -> ``BIG`` bytes of a repeating pattern
  POST .../services/ser-slow      -> answers after ``SLOW`` seconds
  POST .../services/ser-error     -> 500 {"status": "unexpected error occurred"}
  anything else                   -> 200 {"path": ..., "method": ...}
Every request is recorded with its client port (to count TCP connections).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BIG = 8 * 1024 * 1024 + 123
PATTERN = bytes(range(256)) * 4096  # 1 MiB
SLOW = 1.0


def big_body() -> bytes:
    whole, rest = divmod(BIG, len(PATTERN))
    return PATTERN * whole + PATTERN[:rest]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> tuple[int, str, bool]:
        digest = hashlib.sha256()
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return total, digest.hexdigest(), True
                remaining = size
                while remaining:
                    block = self.rfile.read(min(remaining, 65536))
                    digest.update(block)
                    total += len(block)
                    remaining -= len(block)
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            block = self.rfile.read(min(remaining, 65536))
            if not block:
                break
            digest.update(block)
            total += len(block)
            remaining -= len(block)
        return total, digest.hexdigest(), False

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.wfile.write(body)

    def _handle(self) -> None:
        size, digest, chunked = self._read_body()
        self.server.record(self.command, self.path, self.client_address[1], dict(self.headers))
        if self.path.endswith("/services/ser-echo"):
            answer = {
                "bytes": size,
                "sha256": digest,
                "chunked": chunked,
                "content_type": self.headers.get("Content-Type"),
            }
            self._send(200, json.dumps(answer).encode())
        elif self.path.endswith("/services/ser-big"):
            self._send(200, big_body(), "application/octet-stream")
        elif self.path.endswith("/services/ser-slow"):
            time.sleep(SLOW)
            self._send(200, b"{}")
        elif self.path.endswith("/services/ser-error"):
            self._send(500, b'{"status": "unexpected error occurred"}')
        else:
            self._send(200, json.dumps({"path": self.path, "method": self.command}).encode())

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, method: str, path: str, port: int, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, port, headers))

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def free_port() -> int:
    """A port with nothing listening on it (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
