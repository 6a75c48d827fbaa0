"""A small, fast HTTP/1.1 keep-alive server for the client benchmarks (run as its own process).

It answers every request with ``200 {"result":"ok"}`` after reading and discarding the body
(Content-Length or chunked), keeps connections open unless told to close, and counts the
connections it accepted. Running it in a separate process keeps it off the measured client's
GIL. Standard library only, so any interpreter (ours, the SDK's venv) can talk to it.

Usage: ``python bench/_http_server.py`` prints ``PORT <n>`` on stdout, then serves until stdin
closes. A line ``STATS`` on stdin prints ``STATS {"connections": n, "requests": m, "bytes": b}``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

BODY = b'{"result":"ok"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
STATS = {"connections": 0, "requests": 0, "bytes": 0}


class HttpProtocol(asyncio.Protocol):
    """Parses requests incrementally; body bytes are counted and dropped, never buffered."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.remaining = 0  # body bytes still expected (Content-Length mode)
        self.chunked = False
        self.close_after = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        STATS["connections"] += 1

    def data_received(self, data: bytes) -> None:
        if self.remaining and not self.buffer:
            take = min(self.remaining, len(data))
            self.remaining -= take
            STATS["bytes"] += take
            data = data[take:]
            if self.remaining:
                return
            self._respond()
        self.buffer += data
        self._process()

    def _process(self) -> None:
        while True:
            if self.remaining:
                take = min(self.remaining, len(self.buffer))
                del self.buffer[:take]
                self.remaining -= take
                STATS["bytes"] += take
                if self.remaining:
                    return
                self._respond()
                continue
            if self.chunked:
                if not self._drain_chunks():
                    return
                continue
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").lower()
            del self.buffer[: end + 4]
            length = 0
            self.close_after = False
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                value = value.strip()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    self.chunked = True
                elif name == "connection" and value == "close":
                    self.close_after = True
            if self.chunked:
                continue
            if length:
                self.remaining = length
                continue
            self._respond()

    def _drain_chunks(self) -> bool:
        """Consume chunks from the buffer; True once the last chunk was read."""
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return False
            size = int(bytes(self.buffer[:line_end]).split(b";")[0], 16)
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return False
                del self.buffer[: trailer_end + 4]
                self.chunked = False
                self._respond()
                return True
            if len(self.buffer) < line_end + 2 + size + 2:
                return False
            STATS["bytes"] += size
            del self.buffer[: line_end + 2 + size + 2]

    def _respond(self) -> None:
        STATS["requests"] += 1
        assert self.transport is not None
        self.transport.write(RESPONSE)
        if self.close_after:
            self.transport.close()


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        if line.strip() == b"STATS":
            print("STATS " + json.dumps(STATS), flush=True)
        elif line.strip() == b"RESET":
            STATS.update(connections=0, requests=0, bytes=0)
            print("RESET", flush=True)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
