"""Inference skips FastAPI's router and middleware: the hot path goes straight to its endpoint.

The endpoints are the same functions FastAPI serves (counting, faults, auth and errors included); only
the dispatch differs. Anything that does not match, or matches with another method, goes on to FastAPI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.requests import Request

from .asgi import ASGIApp, Receive, Scope, Send
from .routing import Endpoint, json_response

_PREFIXES = ("/_inference/", "/deployments/")


def compile_path(template: str) -> re.Pattern[str]:
    """`/a/{x}/b` -> a regex with named groups; a parameter is one path segment, like Starlette's."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(pattern)


class FastPath:
    def __init__(self, app: ASGIApp, routes: Sequence[tuple[str, Sequence[str], Endpoint]]) -> None:
        self.app = app
        self.routes = [
            (compile_path(path), frozenset(methods), endpoint) for path, methods, endpoint in routes
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_PREFIXES):
            path, method = scope["path"], scope["method"]
            for pattern, methods, endpoint in self.routes:
                match = pattern.fullmatch(path)
                if match is not None and method in methods:
                    scope["path_params"] = match.groupdict()
                    try:
                        response = await endpoint(Request(scope, receive))
                    except Exception as exc:  # the same answer FastAPI's error middleware would give
                        response = json_response(
                            {"error": "internal_server_error", "error_description": type(exc).__name__}, 500
                        )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
