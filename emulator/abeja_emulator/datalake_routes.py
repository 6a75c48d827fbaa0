"""HTTP routes of the Datalake: channel management under the organization, file routes at the API
root (as the SDK, the CLI and the batch proxy call them; the channel names the organization), and
the pre-signed download / upload URLs (no credential)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .core import Emulator
from .datalake import DOWNLOAD_PATH, UPLOAD_PATH, check_channel_id, header_metadata
from .routing import RouteTable, json_body, json_response

CHANNELS = "/organizations/{org}/channels"
CHANNEL = CHANNELS + "/{channel_id}"
FILES = "/channels/{channel_id}"
FILE = FILES + "/{file_id}"
routes = RouteTable()


def channel_org(emu: Emulator, params: dict[str, str]) -> str:
    """The organization a file route acts for: its channel's (400 for a malformed id, 404 if unknown)."""
    return emu.datalake.channel_org(check_channel_id(params["channel_id"]))


@routes.route("POST", CHANNELS)
async def create_channel(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.datalake.create_channel(org, await json_body(request)))


@routes.route("GET", CHANNELS)
async def list_channels(emu: Emulator, request: Request, org: str) -> Response:
    return json_response(emu.datalake.list_channels(org, request.query_params))


@routes.route("GET", CHANNEL)
async def get_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.get_channel(org, channel_id))


@routes.route("PATCH", CHANNEL)
async def patch_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.patch_channel(org, channel_id, await json_body(request)))


@routes.route("POST", CHANNEL + "/archive")
async def archive_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.set_archived(org, channel_id, True))


@routes.route("POST", CHANNEL + "/unarchive")
async def unarchive_channel(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.set_archived(org, channel_id, False))


def _content_type(request: Request) -> str:
    return request.headers.get("content-type") or "application/octet-stream"


@routes.route("POST", FILES + "/upload", org_of=channel_org)
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


@routes.route("POST", FILES, org_of=channel_org)
async def get_channel_file_upload(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    metadata = header_metadata(request.headers.raw)
    return json_response(emu.datalake.start_upload(channel_id, _content_type(request), metadata))


@routes.route("GET", FILES, FILES + "/", org_of=channel_org)
async def list_channel_files(emu: Emulator, request: Request, org: str, channel_id: str) -> Response:
    return json_response(emu.datalake.list_files(channel_id, request.query_params))


@routes.route("GET", FILE, org_of=channel_org)
async def get_channel_file_download(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    return json_response(emu.datalake.get_file(channel_id, file_id))


@routes.route("DELETE", FILE, org_of=channel_org)
async def delete_channel_file(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    return json_response(emu.datalake.delete_file(channel_id, file_id))


@routes.route("PUT", FILE + "/metadata", org_of=channel_org)
async def put_channel_file_metadata(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    return json_response(emu.datalake.put_metadata(channel_id, file_id, await json_body(request)))


@routes.route("PUT", FILE + "/lifetime", org_of=channel_org)
async def put_channel_file_lifetime(
    emu: Emulator, request: Request, org: str, channel_id: str, file_id: str
) -> Response:
    return json_response(emu.datalake.put_lifetime(channel_id, file_id, await json_body(request)))


@routes.route("GET", DOWNLOAD_PATH, presigned=True)
async def download_channel_file(emu: Emulator, request: Request, channel_id: str, file_id: str) -> Response:
    data, content_type = emu.datalake.download(channel_id, file_id, request.query_params)
    return Response(data, media_type=content_type)


@routes.route("PUT", UPLOAD_PATH, presigned=True)
async def upload_channel_file_content(
    emu: Emulator, request: Request, channel_id: str, file_id: str
) -> Response:
    data = await request.body()
    return json_response(emu.datalake.finish_upload(channel_id, file_id, request.query_params, data))


def register(app: FastAPI, emu: Emulator) -> None:
    routes.register(app, emu)
