"""Builds the ASGI application: FastAPI routes wrapped by the connection-dropping middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import (
    api_routes,
    console_routes,
    console_runs,
    control_routes,
    datalake_routes,
    runs_routes,
    training_routes,
)
from .asgi import DropConnectionMiddleware
from .core import Emulator
from .errors import error_code
from .fastpath import FastPath
from .host_policy import HostPolicy
from .local_guard import LocalGuard
from .routing import json_response


def create_fastapi(emulator: Emulator) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await emulator.startup()
        try:
            yield
        finally:
            await emulator.shutdown()

    app = FastAPI(
        title="ABEJA Platform emulator",
        lifespan=lifespan,
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        redoc_url=None,
    )
    app.state.emulator = emulator

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        return json_response(
            {"error": error_code(status), "error_description": str(getattr(exc, "detail", exc))}, status
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.state.hot_routes = api_routes.register(app, emulator)
    control_routes.register(app, emulator)
    training_routes.register(app, emulator)
    datalake_routes.register(app, emulator)
    runs_routes.register(app, emulator)
    console_routes.register(app, emulator)
    console_runs.register(app, emulator)
    return app


def create_app(emulator: Emulator, hosts: HostPolicy | None = None) -> LocalGuard:
    """The ASGI callable uvicorn serves: local guard (Host, Origin, body size; loopback names unless
    `hosts` says more), drop-connection wrapper, inference fast path, FastAPI."""
    app = create_fastapi(emulator)
    inner = DropConnectionMiddleware(FastPath(app, app.state.hot_routes))  # type: ignore[arg-type]
    return LocalGuard(inner, hosts or HostPolicy(), emulator.limits.max_upload_bytes)
