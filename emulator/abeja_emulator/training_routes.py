"""HTTP routes of the Training API and of the pre-signed-style download URL of results.

The Training API routes are the platform's (counted, fault-injectable, authenticated like every
other route). The artifact URL of a job's result stands for a pre-signed storage URL: no
credential, but counted and fault-injectable too (route name ``download_training_result``).
"""

from __future__ import annotations

import asyncio
from email.parser import BytesParser
from email.policy import HTTP

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .core import Emulator
from .errors import bad_request
from .routing import Handler, add_route, json_body, json_response

DEFS = "/organizations/{org}/training/definitions"
DEF = DEFS + "/{name}"
JOB = DEF + "/jobs/{job}"


async def multipart_parts(request: Request) -> dict[str, tuple[str, bytes]]:
    """``{form name: (content type, data)}`` of a ``multipart/form-data`` body."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise bad_request("expected a multipart/form-data body")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + await request.body())
    parts: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = (part.get_content_type(), payload)
    return parts


async def create_training_job_definition(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.training.create_definition(org, await json_body(request)))


async def get_training_job_definitions(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.training.list_definitions(org))


async def get_training_job_definition(emu: Emulator, request: Request, org: str, name: str) -> Response:
    include = request.query_params.get("include_jobs", "true").lower() != "false"
    return json_response(emu.training.get_definition(org, name, include))


async def create_training_job_definition_version(
    emu: Emulator, request: Request, org: str, name: str
) -> Response:
    parts = await multipart_parts(request)
    created = await asyncio.to_thread(emu.training.create_version, org, name, parts)
    return json_response(created)


async def get_training_job_definition_versions(
    emu: Emulator, request: Request, org: str, name: str
) -> Response:
    return json_response({"entries": emu.training.definition(org, name).wire()["versions"]})


async def get_training_job_definition_version(
    emu: Emulator, request: Request, org: str, name: str, ver: str
) -> Response:
    return json_response(emu.training.get_version(org, name, ver))


async def create_training_job(emu: Emulator, request: Request, org: str, name: str, ver: str) -> Response:
    return json_response(emu.training.create_job(org, name, ver, await json_body(request)))


async def get_training_jobs(emu: Emulator, request: Request, org: str, name: str) -> Response:
    query = request.query_params
    try:
        limit = int(query["limit"]) if "limit" in query else None
        offset = int(query.get("offset", "0"))
    except ValueError:
        raise bad_request("limit and offset must be whole numbers") from None
    return json_response(emu.training.list_jobs(org, name, limit, offset))


async def get_training_job(emu: Emulator, request: Request, org: str, name: str, job: str) -> Response:
    return json_response(emu.training.job(org, name, job).wire)


async def stop_training_job(emu: Emulator, request: Request, org: str, name: str, job: str) -> Response:
    return json_response(await emu.training.stop_job(org, name, job))


async def get_training_result(emu: Emulator, request: Request, org: str, name: str, job: str) -> Response:
    return json_response(emu.training.result(org, name, job))


async def update_training_statistics(
    emu: Emulator, request: Request, org: str, name: str, job: str
) -> Response:
    return json_response(emu.training.update_statistics(org, name, job, await json_body(request)))


async def get_training_job_recent_logs(
    emu: Emulator, request: Request, org: str, name: str, job: str
) -> Response:
    return json_response(emu.training.recent_logs(org, name, job, dict(request.query_params)))


async def create_training_model(emu: Emulator, request: Request, org: str, name: str) -> Response:
    parts = await multipart_parts(request)
    return json_response(await asyncio.to_thread(emu.training.create_model, org, name, parts))


async def get_training_models(emu: Emulator, request: Request, org: str, name: str) -> Response:
    return json_response(emu.training.list_models(org, name))


async def get_training_model(emu: Emulator, request: Request, org: str, name: str, model: str) -> Response:
    return json_response(emu.training.model(org, name, model))


async def download_artifact(emu: Emulator, request: Request, token: str) -> Response:
    return Response(emu.training.artifact(token), media_type="application/zip")


def register(app: FastAPI, emu: Emulator) -> None:
    routes: list[tuple[str, str, Handler]] = [
        (DEFS, "POST", create_training_job_definition),
        (DEFS, "GET", get_training_job_definitions),
        (DEF, "GET", get_training_job_definition),
        (DEF + "/versions", "POST", create_training_job_definition_version),
        (DEF + "/versions", "GET", get_training_job_definition_versions),
        (DEF + "/versions/{ver}", "GET", get_training_job_definition_version),
        (DEF + "/versions/{ver}/jobs", "POST", create_training_job),
        (DEF + "/jobs", "GET", get_training_jobs),
        (JOB, "GET", get_training_job),
        (JOB + "/stop", "POST", stop_training_job),
        (JOB + "/result", "GET", get_training_result),
        (JOB + "/statistics", "POST", update_training_statistics),
        (JOB + "/recentlogs", "GET", get_training_job_recent_logs),
        (DEF + "/models", "POST", create_training_model),
        (DEF + "/models", "GET", get_training_models),
        (DEF + "/models/{model}", "GET", get_training_model),
    ]
    for path, method, handler in routes:
        add_route(app, emu, path, [method], handler.__name__, handler)
    path = "/_emulator/artifacts/{token}"
    add_route(app, emu, path, ["GET"], "download_training_result", download_artifact, presigned=True)
