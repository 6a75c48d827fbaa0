"""The control API under /_emulator/ (no auth): reset, counters, faults, config, state, forcing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from . import __version__
from .core import Emulator
from .errors import ApiError, bad_request, not_found
from .faults import build_fault
from .routing import error_response, json_body, json_response

PREFIX = "/_emulator"


def register(app: FastAPI, emu: Emulator) -> None:
    def route(path: str, methods: list[str]) -> Any:
        def decorate(fn: Any) -> Any:
            async def endpoint(request: Request) -> Response:
                try:
                    return json_response(await fn(request, **request.path_params))
                except ApiError as exc:
                    return error_response(exc)

            endpoint.__name__ = "emulator_" + fn.__name__
            app.add_api_route(PREFIX + path, endpoint, methods=methods, name=endpoint.__name__)
            return fn

        return decorate

    @route("/health", ["GET"])
    async def health(request: Request) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "organization_id": emu.config.organization_id,
            "persistent": emu.store.path is not None,
        }

    @route("/reset", ["POST"])
    async def reset(request: Request) -> dict[str, Any]:
        await emu.reset()
        return {"message": "emulator reset"}

    @route("/counters", ["GET"])
    async def counters(request: Request) -> dict[str, Any]:
        return emu.counters_dict()

    @route("/faults", ["POST"])
    async def add_fault(request: Request) -> dict[str, Any]:
        fault = emu.faults.add(build_fault(await json_body(request)))
        return {"fault_id": fault.fault_id, "fault": fault.to_dict()}

    @route("/faults", ["GET"])
    async def list_faults(request: Request) -> dict[str, Any]:
        return {"entries": emu.faults.list()}

    @route("/faults", ["DELETE"])
    async def clear_faults(request: Request) -> dict[str, Any]:
        emu.faults.clear()
        return {"message": "faults cleared"}

    @route("/faults/{fault_id}", ["DELETE"])
    async def delete_fault(request: Request, fault_id: str) -> dict[str, Any]:
        if not emu.faults.remove(fault_id):
            raise not_found(f"fault {fault_id} not found")
        return {"message": f"{fault_id} deleted"}

    @route("/config", ["GET"])
    async def get_config(request: Request) -> dict[str, Any]:
        return emu.config.public_dict()

    @route("/config", ["POST"])
    async def set_config(request: Request) -> dict[str, Any]:
        emu.configure(await json_body(request))
        return emu.config.public_dict()

    @route("/state", ["GET"])
    async def state(request: Request) -> dict[str, Any]:
        return emu.state_dict()

    @route("/services/{ser}/status", ["POST"])
    async def force_status(request: Request, ser: str) -> dict[str, Any]:
        body = await json_body(request)
        status = body.get("status")
        message = body.get("message")
        if not isinstance(status, str) or (message is not None and not isinstance(message, str)):
            raise bad_request("body must be {'status': ..., 'message': optional string}")
        return await emu.force_status(ser, status, message)

    @route("/services/{ser}/logs", ["POST"])
    async def add_logs(request: Request, ser: str) -> dict[str, Any]:
        body = await json_body(request)
        messages = body.get("messages", [body["message"]] if "message" in body else [])
        if ser not in emu.services:
            raise not_found(f"service {ser} not found")
        if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
            raise bad_request("body must be {'message': str} or {'messages': [str, ...]}")
        for message in messages:
            emu.logs.append(ser, message)
        return {"appended": len(messages)}

    @route("/services/{ser}/logs", ["GET"])
    async def all_logs(request: Request, ser: str) -> dict[str, Any]:
        if ser not in emu.services:
            raise not_found(f"service {ser} not found")
        return {"messages": emu.logs.messages(ser)}

    @route("/services/{ser}/metrics", ["GET"])
    async def metrics(request: Request, ser: str) -> dict[str, Any]:
        return emu.metrics(ser)

    @route("/uploads/{ver}/{token}", ["PUT", "POST"])
    async def upload_source(request: Request, ver: str, token: str) -> dict[str, Any]:
        """A version's `upload_url`: the code archive, unpacked for the runtime to start in."""
        return await emu.upload_source(ver, token, await request.body())
