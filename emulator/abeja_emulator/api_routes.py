"""The platform's routes: deployments, versions, services, endpoints and inference (both styles)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .asgi import DROP_KEY
from .core import Emulator, InferenceAnswer
from .errors import bad_request
from .proxy_rules import DropConnection
from .routing import Endpoint, Handler, add_route, json_body, json_response
from .runtime import HandlerTimeout

ORG = "/organizations/{org}"
DEP = ORG + "/deployments/{dep}"
SER = DEP + "/services/{ser}"
PNT = DEP + "/endpoints/{endpoint}"
INFER_PATH = "/_inference/{org}/deployments/{dep}"


async def create_deployment(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.create_deployment(org, await json_body(request)))


async def get_deployments(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.list_deployments(org, dict(request.query_params)))


async def update_deployment(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.update_deployment(org, dep, await json_body(request)))


async def delete_deployment(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.delete_deployment(org, dep))


async def get_deployment(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.deployment_wire(emu.deployment(org, dep)))


async def create_deployment_version(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.create_version(org, dep, await json_body(request)))


async def get_deployment_versions(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.list_versions(org, dep, dict(request.query_params)))


async def get_deployment_version(emu: Emulator, request: Request, org: str, dep: str, ver: str) -> Response:
    return json_response(emu.version(org, dep, ver).wire())


async def delete_deployment_version(
    emu: Emulator, request: Request, org: str, dep: str, ver: str
) -> Response:
    return json_response(emu.delete_version(org, dep, ver))


async def download_deployment_version(
    emu: Emulator, request: Request, org: str, dep: str, ver: str
) -> Response:
    return json_response(emu.download_version(org, dep, ver))


async def create_service(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.create_service(org, dep, await json_body(request)))


async def get_services(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    offset = _query_int(request, "offset", 0) or 0
    return json_response(emu.list_services(org, dep, offset, _query_int(request, "limit", 1)))


def _query_int(request: Request, name: str, minimum: int) -> int | None:
    """A whole-number query parameter (paged lists' ``offset`` and ``limit``), None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < minimum:
        raise bad_request(f"{name} must be a whole number >= {minimum}")
    return int(raw)


async def get_service(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    return json_response(emu.service_wire(emu.service(org, dep, ser)))


async def update_service(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    return json_response(await emu.update_service(org, dep, ser, await json_body(request)))


async def delete_service(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    return json_response(await emu.delete_service(org, dep, ser))


async def start_service(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    return json_response(await emu.start_service(org, dep, ser))


async def stop_service(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    return json_response(await emu.stop_service(org, dep, ser))


async def get_service_recent_logs(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    emu.service(org, dep, ser)
    query = request.query_params
    page = emu.logs.page(
        ser,
        next_forward_token=query.get("next_forward_token"),
        next_backward_token=query.get("next_backward_token"),
        start_time=query.get("start_time"),
        end_time=query.get("end_time"),
        page_size=emu.config.log_page_size,
    )
    return json_response(page)


async def get_service_logs(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    """The logs route ABEJA's CLI reads (``model describe-service-logs``): oldest first, ``next_token``."""
    emu.service(org, dep, ser)
    query = request.query_params
    page = emu.logs.forward(
        ser,
        next_token=query.get("next_token"),
        start_time=query.get("start_time"),
        end_time=query.get("end_time"),
        page_size=emu.config.log_page_size,
    )
    return json_response(page)


async def create_endpoint(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.create_endpoint(org, dep, await json_body(request)))


async def get_endpoints(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.list_endpoints(org, dep))


async def get_endpoint(emu: Emulator, request: Request, org: str, dep: str, endpoint: str) -> Response:
    return json_response(emu.endpoint(org, dep, endpoint).wire())


async def update_endpoint(emu: Emulator, request: Request, org: str, dep: str, endpoint: str) -> Response:
    return json_response(emu.update_endpoint(org, dep, endpoint, await json_body(request)))


async def delete_endpoint(emu: Emulator, request: Request, org: str, dep: str, endpoint: str) -> Response:
    return json_response(emu.delete_endpoint(org, dep, endpoint))


async def _answer(emu: Emulator, request: Request, service_id: str, org: str, dep: str) -> Response:
    service = emu.service(org, dep, service_id)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    try:
        answer = await emu.infer(service, request.method, headers, request.url.query, await request.body())
    except (DropConnection, HandlerTimeout) as exc:
        emu.log_service(service_id, f"[emulator] connection closed without an answer: {exc}")
        request.scope[DROP_KEY] = True
        return Response(b"", status_code=500)
    return _response(answer)


def _response(answer: InferenceAnswer) -> Response:
    response = Response(answer.body, status_code=answer.status, media_type=answer.content_type)
    response.raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    return response


async def request_service(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    return await _answer(emu, request, ser, org, dep)


async def request_endpoint(
    emu: Emulator, request: Request, org: str, dep: str, alias: str = "default"
) -> Response:
    endpoint = emu.endpoint(org, dep, alias)
    return await _answer(emu, request, endpoint.service_id, org, dep)


async def service_health_check(emu: Emulator, request: Request, org: str, dep: str, ser: str) -> Response:
    return _response(emu.health_check(emu.service(org, dep, ser)))


INFERENCE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def register(app: FastAPI, emu: Emulator) -> list[tuple[str, list[str], Endpoint]]:
    """Add every platform route; answer the inference routes (served by the fast path too)."""
    inference: list[tuple[str, Handler, bool]] = [
        (INFER_PATH + "/services/{ser}", request_service, False),
        (INFER_PATH, request_endpoint, False),
        (INFER_PATH + "/{alias}", request_endpoint, False),
        ("/deployments/{dep}/services/{ser}", request_service, True),
        ("/deployments/{dep}", request_endpoint, True),
        ("/deployments/{dep}/{alias}", request_endpoint, True),
    ]
    inference += [
        (INFER_PATH + "/services/{ser}/health_check", service_health_check, False),
        ("/deployments/{dep}/services/{ser}/health_check", service_health_check, True),
    ]
    hot: list[tuple[str, list[str], Endpoint]] = []
    for path, handler, virtual_host in inference:
        endpoint = add_route(
            app, emu, path, INFERENCE_METHODS, handler.__name__, handler, virtual_host=virtual_host
        )
        hot.append((path, INFERENCE_METHODS, endpoint))
    routes: list[tuple[str, list[str], Handler]] = [
        (ORG + "/deployments", ["POST"], create_deployment),
        (ORG + "/deployments", ["GET"], get_deployments),
        (DEP, ["GET"], get_deployment),
        (DEP, ["PATCH"], update_deployment),
        (DEP, ["DELETE"], delete_deployment),
        (DEP + "/versions", ["POST"], create_deployment_version),
        (DEP + "/versions", ["GET"], get_deployment_versions),
        (DEP + "/versions/{ver}", ["GET"], get_deployment_version),
        (DEP + "/versions/{ver}", ["DELETE"], delete_deployment_version),
        (DEP + "/versions/{ver}/download", ["GET"], download_deployment_version),
        (DEP + "/services", ["POST"], create_service),
        (DEP + "/services", ["GET"], get_services),
        (SER, ["GET"], get_service),
        (SER, ["PATCH"], update_service),
        (SER, ["DELETE"], delete_service),
        (SER + "/start", ["POST"], start_service),
        (SER + "/stop", ["POST"], stop_service),
        (SER + "/recentlogs", ["GET"], get_service_recent_logs),
        (SER + "/logs", ["GET"], get_service_logs),
        (DEP + "/endpoints", ["POST"], create_endpoint),
        (DEP + "/endpoints", ["GET"], get_endpoints),
        (PNT, ["GET"], get_endpoint),
        (PNT, ["PATCH"], update_endpoint),
        (PNT, ["DELETE"], delete_endpoint),
    ]
    for path, methods, handler in routes:
        add_route(app, emu, path, methods, handler.__name__, handler)
    return hot
