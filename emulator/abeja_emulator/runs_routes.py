"""HTTP routes of Runs and Triggers, under a deployment (no route cancels, stops or deletes a run).

The SDK's docstrings write the list paths with a trailing slash, its code sends none: both are served.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .core import Emulator
from .routing import RouteTable, json_body, json_response

DEP = "/organizations/{org}/deployments/{dep}"
RUNS = DEP + "/runs"
RUN = RUNS + "/{run_id}"
TRIGGERS = DEP + "/triggers"
TRIGGER = TRIGGERS + "/{trigger_id}"
routes = RouteTable()


@routes.route("POST", RUNS, RUNS + "/")
async def create_run(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.create_run(org, dep, await json_body(request)))


@routes.route("GET", RUNS, RUNS + "/")
async def get_runs(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.list_runs(org, dep, request.query_params))


@routes.route("GET", RUN)
async def get_run(emu: Emulator, request: Request, org: str, dep: str, run_id: str) -> Response:
    return json_response(emu.runs.run(org, dep, run_id).wire())


@routes.route("GET", RUN + "/logs")
async def get_run_logs(emu: Emulator, request: Request, org: str, dep: str, run_id: str) -> Response:
    return json_response(emu.runs.logs(org, dep, run_id, request.query_params))


@routes.route("GET", RUN + "/recentlogs")
async def get_run_recent_logs(emu: Emulator, request: Request, org: str, dep: str, run_id: str) -> Response:
    return json_response(emu.runs.recent_logs(org, dep, run_id, request.query_params))


@routes.route("POST", TRIGGERS, TRIGGERS + "/")
async def create_trigger(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.create_trigger(org, dep, await json_body(request)))


@routes.route("GET", TRIGGERS, TRIGGERS + "/")
async def get_triggers(emu: Emulator, request: Request, org: str, dep: str) -> Response:
    return json_response(emu.runs.list_triggers(org, dep))


@routes.route("GET", TRIGGER)
async def get_trigger(emu: Emulator, request: Request, org: str, dep: str, trigger_id: str) -> Response:
    return json_response(emu.runs.trigger(org, dep, trigger_id).wire())


@routes.route("DELETE", TRIGGER)
async def delete_trigger(emu: Emulator, request: Request, org: str, dep: str, trigger_id: str) -> Response:
    return json_response(emu.runs.delete_trigger(org, dep, trigger_id))


@routes.route("GET", TRIGGER + "/runs")
async def get_trigger_runs(emu: Emulator, request: Request, org: str, dep: str, trigger_id: str) -> Response:
    return json_response(emu.runs.trigger_runs(org, dep, trigger_id, request.query_params))


def register(app: FastAPI, emu: Emulator) -> None:
    routes.register(app, emu)
