"""HTTP plumbing shared by the routes: JSON answers, body parsing, counting, faults, auth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .asgi import DROP_KEY
from .auth import Principal
from .core import Emulator
from .errors import ApiError, bad_request, error_code, not_found
from .faults import WHEN_AFTER, WHEN_BEFORE, Fault

MALFORMED_BODY = b'{"malformed": tru'
Handler = Callable[..., Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("request body must be a JSON object")
    return value


def fault_response(fault: Fault, request: Request) -> Response:
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
    if fault.drop_connection:
        request.scope[DROP_KEY] = True
        return Response(b"", status_code=500)
    if fault.malformed_body:
        return Response(
            MALFORMED_BODY, status_code=fault.status or 200, media_type="application/json", headers=headers
        )
    status = fault.status or 500
    body = (
        fault.body
        if fault.body is not None
        else {
            "error": error_code(status),
            "error_description": f"fault injected by the emulator ({fault.fault_id})",
        }
    )
    return json_response(body, status, headers)


def virtual_host_org(request: Request) -> str:
    """`{org}.<host>` in the Host header -> org; an IP literal or a bare host name carries none."""
    host = request.headers.get("host") or ""
    if not host.startswith("["):  # an IPv6 literal never names an organization
        host = host.rsplit(":", 1)[0]
        label, dot, rest = host.partition(".")
        if dot and rest and label and not host.replace(".", "").isdigit():
            return label
    raise not_found(
        "virtual-host inference needs a Host header {organization_id}.<host>; "
        "on loopback use /_inference/{organization_id}/deployments/..."
    )


def add_route(
    app: FastAPI,
    emulator: Emulator,
    path: str,
    methods: list[str],
    name: str,
    handler: Handler,
    *,
    virtual_host: bool = False,
    presigned: bool = False,
    org_of: Callable[[Emulator, dict[str, str]], str] | None = None,
) -> Endpoint:
    """Register a platform route: count it, apply faults, check credentials and org.

    A ``presigned`` route (a pre-signed URL) takes no credentials and names no organization; a
    route at the API root (Datalake files) takes its organization from ``org_of(emulator, path values)``."""

    async def endpoint(request: Request) -> Response:
        emulator.requests[name] += 1
        fault = emulator.faults.pick(name)
        if fault is not None:
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.when == WHEN_BEFORE and fault.replaces_response:
                return fault_response(fault, request)
        params = dict(request.path_params)
        try:
            if presigned:
                response = await handler(emulator, request, **params)
            else:
                principal: Principal = emulator.auth.authenticate(request.headers.get("authorization"))
                if org_of is not None:
                    org = org_of(emulator, params)
                else:
                    org = virtual_host_org(request) if virtual_host else params.pop("org")
                emulator.auth.authorize(principal, org)
                response = await handler(emulator, request, org, **params)
        except ApiError as exc:
            response = error_response(exc)
        if fault is not None and fault.when == WHEN_AFTER and fault.replaces_response:
            return fault_response(fault, request)
        return response

    endpoint.__name__ = name
    app.add_api_route(path, endpoint, methods=methods, name=name)
    return endpoint


class RouteTable:
    """Platform routes declared beside their handlers: ``@table.route("GET", PATH, ...)``, then
    ``table.register(app, emulator)`` adds them all (``add_route``'s options per route)."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, str, Handler, dict[str, Any]]] = []

    def route(self, method: str, *paths: str, **options: Any) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self._routes += [(path, method, handler, options) for path in paths]
            return handler

        return add

    def register(self, app: FastAPI, emulator: Emulator) -> None:
        for path, method, handler, options in self._routes:
            add_route(app, emulator, path, [method], handler.__name__, handler, **options)
