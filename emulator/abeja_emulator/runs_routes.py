"""HTTP routes of Runs and Triggers, under a deployment (no route cancels, stops or deletes a run)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .core import Emulator
from .routing import Handler, add_route, json_body, json_response

DEP = "/organizations/{org}/deployments/{dep}"
RUNS = DEP + "/runs"
RUN = RUNS + "/{run_id}"
TRIGGERS = DEP + "/triggers"
TRIGGER = TRIGGERS + "/{trigger_id}"


async def create_run(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.create_run(org, dep, await json_body(request)))


async def get_runs(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.list_runs(org, dep, request.query_params))


async def get_run(emu: Emulator, request: Request, org: str, dep: str, run_id: str) -> Response:
    return json_response(emu.runs.run(org, dep, run_id).wire())


async def get_run_logs(emu: Emulator, request: Request, org: str, dep: str, run_id: str) -> Response:
    return json_response(emu.runs.logs(org, dep, run_id, request.query_params))


async def get_run_recent_logs(emu: Emulator, request: Request, org: str, dep: str, run_id: str) -> Response:
    return json_response(emu.runs.recent_logs(org, dep, run_id, request.query_params))


async def create_trigger(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.create_trigger(org, dep, await json_body(request)))


async def get_triggers(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.list_triggers(org, dep))


async def get_trigger(emu: Emulator, request: Request, org: str, dep: str, trigger_id: str) -> Response:
    return json_response(emu.runs.trigger(org, dep, trigger_id).wire())


async def delete_trigger(emu: Emulator, request: Request, org: str, dep: str, trigger_id: str) -> Response:
    return json_response(emu.runs.delete_trigger(org, dep, trigger_id))


async def get_trigger_runs(emu: Emulator, request: Request, org: str, dep: str, trigger_id: str) -> Response:
    return json_response(emu.runs.trigger_runs(org, dep, trigger_id, request.query_params))


def register(app: FastAPI, emu: Emulator) -> None:
    routes: list[tuple[str, str, Handler]] = [
        (RUNS, "POST", create_run),
        (RUNS, "GET", get_runs),
        (RUN, "GET", get_run),
        (RUN + "/logs", "GET", get_run_logs),
        (RUN + "/recentlogs", "GET", get_run_recent_logs),
        (TRIGGERS, "POST", create_trigger),
        (TRIGGERS, "GET", get_triggers),
        (TRIGGER, "GET", get_trigger),
        (TRIGGER, "DELETE", delete_trigger),
        (TRIGGER + "/runs", "GET", get_trigger_runs),
    ]
    for path, method, handler in routes:
        add_route(app, emu, path, [method], handler.__name__, handler)
    # the SDK's docstrings write list paths with a trailing slash; its code sends none: accept both
    for path, method, handler in routes:
        if path in (RUNS, TRIGGERS):
            add_route(app, emu, path + "/", [method], handler.__name__, handler)
