"""Raw ASGI wrapper that can close a connection without any answer (the "drop" fault).

A route marks its scope with DROP_KEY; when the answer starts, this wrapper aborts the socket
instead. The transport is reached through uvicorn's `send` (a bound method of its request cycle);
without it the wrapper raises, and the client sees a 500 instead of a drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

DROP_KEY = "abeja_emulator.drop_connection"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DropConnectionError(RuntimeError):
    """The server could not reach the socket to drop it."""


def _transport(send: Send) -> Any:
    cycle = getattr(send, "__self__", None)
    return getattr(cycle, "transport", None)


class DropConnectionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def guarded_send(message: Message) -> None:
            if not scope.get(DROP_KEY):
                await send(message)
                return
            if message["type"] == "http.response.start":
                transport = _transport(send)
                if transport is None:
                    raise DropConnectionError("cannot reach the connection to drop it")
                transport.abort()

        await self.app(scope, receive, guarded_send)
        if scope.get(DROP_KEY):
            # let the server notice the closed connection before it checks for a missing answer
            for _ in range(3):
                await asyncio.sleep(0)
