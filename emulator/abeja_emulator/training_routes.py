"""HTTP routes of the Training API and of the pre-signed download URLs.

The Training API routes are the platform's (counted, fault-injectable, authenticated like every
other route). The artifact URLs (a job's result, a model, a deployment version's code) stand for
pre-signed storage URLs: no credential, signed and expiring (``presign``), counted and
fault-injectable too (route name ``download_training_result``).
"""

from __future__ import annotations

import asyncio
from email.parser import BytesParser
from email.policy import HTTP

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .core import Emulator
from .errors import bad_request
from .presign import PREFIX
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
    return json_response(emu.training.list_definitions(org, request.query_params))


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
    return json_response(emu.training.list_versions(org, name, request.query_params))


async def get_training_job_definition_version(
    emu: Emulator, request: Request, org: str, name: str, ver: str
) -> Response:
    return json_response(emu.training.get_version(org, name, ver))


async def create_training_job(emu: Emulator, request: Request, org: str, name: str, ver: str) -> Response:
    return json_response(emu.training.create_job(org, name, ver, await json_body(request)))


async def get_training_jobs(emu: Emulator, request: Request, org: str, name: str) -> Response:
    return json_response(emu.training.list_jobs(org, name, request.query_params))


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
    return json_response(emu.training.list_models(org, name, request.query_params))


async def get_training_model(emu: Emulator, request: Request, org: str, name: str, model: str) -> Response:
    return json_response(emu.training.model(org, name, model))


async def update_training_job_definition_version(
    emu: Emulator, request: Request, org: str, name: str, ver: str
) -> Response:
    return json_response(emu.training.update_version(org, name, ver, await json_body(request)))


async def update_training_model(emu: Emulator, request: Request, org: str, name: str, model: str) -> Response:
    return json_response(emu.training.update_model(org, name, model, await json_body(request)))


async def download_training_model(
    emu: Emulator, request: Request, org: str, name: str, model: str
) -> Response:
    return json_response(emu.training.download_model(org, name, model))


async def delete_training_job_definition(emu: Emulator, request: Request, org: str, name: str) -> Response:
    return json_response(emu.training.delete_definition(org, name))


async def delete_training_job_definition_version(
    emu: Emulator, request: Request, org: str, name: str, ver: str
) -> Response:
    return json_response(emu.training.delete_version(org, name, ver))


def archiver(setter: str, archived: bool) -> Handler:
    """An ``archive`` / ``unarchive`` route: ``TrainingPlatform.<setter>`` with the path's ids."""

    async def handler(emu: Emulator, request: Request, org: str, **ids: str) -> Response:
        return json_response(getattr(emu.training, setter)(org, *ids.values(), archived))

    return handler


async def download_artifact(emu: Emulator, request: Request, token: str, filename: str) -> Response:
    artifact = emu.presigner.open(token, filename, request.query_params)
    return Response(await asyncio.to_thread(artifact.read), media_type=artifact.media_type)


def register(app: FastAPI, emu: Emulator) -> None:
    routes: list[tuple[str, str, Handler]] = [
        (DEFS, "POST", create_training_job_definition),
        (DEFS, "GET", get_training_job_definitions),
        (DEF, "GET", get_training_job_definition),
        (DEF, "DELETE", delete_training_job_definition),
        (DEF + "/versions", "POST", create_training_job_definition_version),
        (DEF + "/versions", "GET", get_training_job_definition_versions),
        (DEF + "/versions/{ver}", "GET", get_training_job_definition_version),
        (DEF + "/versions/{ver}", "DELETE", delete_training_job_definition_version),
        (DEF + "/versions/{ver}", "PATCH", update_training_job_definition_version),
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
        (DEF + "/models/{model}", "PATCH", update_training_model),
        (DEF + "/models/{model}/download", "GET", download_training_model),
    ]
    for path, method, handler in routes:
        add_route(app, emu, path, [method], handler.__name__, handler)
    archivable = [
        (DEF, "training_job_definition", "set_definition_archived"),
        (DEF + "/versions/{ver}", "training_job_definition_version", "set_version_archived"),
        (JOB, "training_job", "set_job_archived"),
        (DEF + "/models/{model}", "training_model", "set_model_archived"),
    ]
    for path, kind, setter in archivable:
        for action in ("archive", "unarchive"):
            add_route(
                app,
                emu,
                f"{path}/{action}",
                ["POST"],
                f"{action}_{kind}",
                archiver(setter, action == "archive"),
            )
    path = PREFIX + "/{token}/{filename}"
    add_route(app, emu, path, ["GET"], "download_training_result", download_artifact, presigned=True)
