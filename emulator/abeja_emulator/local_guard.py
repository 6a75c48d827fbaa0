"""ASGI guard in front of everything: the emulator answers only its own laptop's callers.

- `Host` must be a name the `HostPolicy` accepts (a DNS-rebinding page is refused with 403);
- the control API (`/_emulator/...`, no authentication) refuses a foreign `Origin` and, for a
  request that changes something, any body that is not `application/json`: a cross-site form
  (`text/plain`, urlencoded, multipart) cannot reach it, and the browser only sends JSON cross-site
  after a preflight the emulator never approves;
- a request body is bounded (`--max-upload-mb`): 413 as soon as the size is known to be too big.
The pre-signed URLs under /_emulator (code uploads, artifact downloads) hold their own token and take
any content type, as storage URLs do.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .asgi import ASGIApp, Message, Receive, Scope, Send
from .host_policy import HostPolicy, split_host

CONTROL_PREFIX = "/_emulator/"
PRESIGNED_PREFIXES = ("/_emulator/uploads/", "/_emulator/artifacts/", "/_emulator/datalake/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def foreign_origin(origin: str | None, host: str | None) -> bool:
    """An `Origin` that is not this server's own (`null`, another site) is foreign."""
    if origin is None:
        return False
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return True
    return split_host(parts.netloc) != split_host(host or "") or _port(parts.netloc) != _port(host or "")


def _port(netloc: str) -> str:
    tail = netloc.rsplit("]", 1)[-1]
    return tail.rsplit(":", 1)[1] if ":" in tail else ""


def refusal(scope: Scope, policy: HostPolicy) -> tuple[int, str, str] | None:
    """(status, error code, description) when the request must not reach the emulator, else None."""
    host = _header(scope, b"host")
    if not policy.allows(host):
        return (
            403,
            "forbidden",
            f"Host {host!r} is not one this emulator answers ({policy.describe()}); "
            "start it with --allowed-host NAME to accept another name",
        )
    path = scope.get("path", "")
    if not path.startswith(CONTROL_PREFIX):
        return None
    if foreign_origin(_header(scope, b"origin"), host):
        return 403, "forbidden", "the control API refuses requests from another origin"
    if scope.get("method") in SAFE_METHODS or path.startswith(PRESIGNED_PREFIXES):
        return None
    media = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        return 415, "unsupported_media_type", "the control API takes application/json bodies only"
    return None


async def _answer(send: Send, status: int, error: str, description: str) -> None:
    body = json.dumps({"error": error, "error_description": description}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LocalGuard:
    def __init__(self, app: ASGIApp, policy: HostPolicy, max_body_bytes: int) -> None:
        self.app = app
        self.policy = policy
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = refusal(scope, self.policy)
        if refused is None and self._declared_size(scope) > self.max_body_bytes:
            refused = (413, "payload_too_large", self._too_large())
        if refused is not None:
            await _answer(send, *refused)
            return
        await self._bounded(scope, receive, send)

    def _declared_size(self, scope: Scope) -> int:
        length = _header(scope, b"content-length")
        return int(length) if length and length.strip().isdigit() else 0

    def _too_large(self) -> str:
        return f"the request body exceeds {self.max_body_bytes // (1024 * 1024)} MiB (--max-upload-mb)"

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body without a length (chunked) is read here first, up to the limit, then replayed."""
        if _header(scope, b"content-length") is not None or _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # the server holds a body to its Content-Length
            return
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                await _answer(send, 413, "payload_too_large", self._too_large())
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
