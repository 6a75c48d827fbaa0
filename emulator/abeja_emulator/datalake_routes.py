"""HTTP routes of the Datalake: channel management under the organization, file routes at the API
root (as the SDK, the CLI and the batch proxy call them), and the pre-signed download / upload URLs."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .core import Emulator
from .datalake import DOWNLOAD_PATH, UPLOAD_PATH, check_channel_id, check_file_id, header_metadata
from .routing import Handler, add_route, json_body, json_response

CHANNELS = "/organizations/{org}/channels"
CHANNEL = CHANNELS + "/{channel_id}"
FILES = "/channels/{channel_id}"
FILE = FILES + "/{file_id}"


async def create_channel(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.datalake.create_channel(org, await json_body(request)))


async def list_channels(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.datalake.list_channels(org, request.query_params))


async def get_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.get_channel(org, channel_id))


async def patch_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.patch_channel(org, channel_id, await json_body(request)))


async def archive_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.set_archived(org, channel_id, True))


async def unarchive_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.set_archived(org, channel_id, False))


def _content_type(request: Request) -> str:
    return request.headers.get("content-type") or "application/octet-stream"


async def post_channel_file_upload(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    query = request.query_params
    data = await request.body()
    # on the event loop: the triggers it sets off start their runs there
    answer = emu.datalake.upload(
        channel_id,
        data,
        _content_type(request),
        header_metadata(request.headers.raw),
        lifetime=query.get("lifetime") or None,
        conflict_target=query.get("conflict_target") or None,
    )
    return json_response(answer)


async def get_channel_file_upload(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    metadata = header_metadata(request.headers.raw)
    return json_response(emu.datalake.start_upload(channel_id, _content_type(request), metadata))


async def list_channel_files(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.list_files(channel_id, request.query_params))


async def get_channel_file_download(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    return json_response(emu.datalake.get_file(channel_id, check_file_id(file_id)))


async def delete_channel_file(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    return json_response(emu.datalake.delete_file(channel_id, check_file_id(file_id)))


async def put_channel_file_metadata(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    body = await json_body(request)
    return json_response(emu.datalake.put_metadata(channel_id, check_file_id(file_id), body))


async def put_channel_file_lifetime(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    body = await json_body(request)
    return json_response(emu.datalake.put_lifetime(channel_id, check_file_id(file_id), body))


async def download_channel_file(emu: Emulator, request: Request, channel_id: str, file_id: str) -> Response:
    data, content_type = await asyncio.to_thread(
        emu.datalake.download, channel_id, file_id, request.query_params
    )
    return Response(data, media_type=content_type)


async def upload_channel_file_content(
    emu: Emulator, request: Request, channel_id: str, file_id: str
) -> Response:
    data = await request.body()
    return json_response(emu.datalake.finish_upload(channel_id, file_id, request.query_params, data))


def register(app: FastAPI, emu: Emulator) -> None:
    def org_of(params: dict[str, str]) -> str:
        return emu.datalake.channel_org(check_channel_id(params["channel_id"]))

    management: list[tuple[str, str, Handler]] = [
        (CHANNELS, "POST", create_channel),
        (CHANNELS, "GET", list_channels),
        (CHANNEL, "GET", get_channel),
        (CHANNEL, "PATCH", patch_channel),
        (CHANNEL + "/archive", "POST", archive_channel),
        (CHANNEL + "/unarchive", "POST", unarchive_channel),
    ]
    for path, method, handler in management:
        add_route(app, emu, path, [method], handler.__name__, handler)
    files: list[tuple[str, str, Handler]] = [
        (FILES + "/upload", "POST", post_channel_file_upload),
        (FILES, "POST", get_channel_file_upload),
        (FILES, "GET", list_channel_files),
        (FILE, "GET", get_channel_file_download),
        (FILE, "DELETE", delete_channel_file),
        (FILE + "/metadata", "PUT", put_channel_file_metadata),
        (FILE + "/lifetime", "PUT", put_channel_file_lifetime),
    ]
    for path, method, handler in files:
        add_route(app, emu, path, [method], handler.__name__, handler, org_of=org_of)
    # the SDK's docstrings write the list path with a trailing slash; its code sends none: accept both
    add_route(app, emu, FILES + "/", ["GET"], "list_channel_files", list_channel_files, org_of=org_of)
    for template, method, handler in (
        (DOWNLOAD_PATH, "GET", download_channel_file),
        (UPLOAD_PATH, "PUT", upload_channel_file_content),
    ):
        add_route(app, emu, template, [method], handler.__name__, handler, presigned=True)
