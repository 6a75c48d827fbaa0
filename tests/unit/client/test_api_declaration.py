"""One declaration of the API surface (``client.api``): the clients follow it, the emulator serves it."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.client.api import OPERATIONS

#: Public client members that are not one declared call (an alias, a call made of two others).
NOT_CALLS = {"close", "aclose", "list_services", "create_training_model_from_job", "download_channel_file"}
#: The declared calls the clients offer (the others are steps of them).
PUBLIC = {name for name, op in OPERATIONS.items() if not op.internal}
#: What triggers await: the whole of the async client.
AWAITED = {
    "get_service",
    "get_services",
    "get_service_recent_logs",
    "get_training_job",
    "get_training_job_recent_logs",
    "get_run",
    "get_run_recent_logs",
    "list_channel_files",
    # a trigger's on_kill
    "delete_service",
    "stop_training_job",
}


def calls(client_class: type) -> dict[str, Any]:
    """Every public call of the client, inherited ones (mixins) included."""
    return {
        name: getattr(client_class, name)
        for name in dir(client_class)
        if not name.startswith("_") and callable(getattr(client_class, name)) and name not in NOT_CALLS
    }


@pytest.mark.parametrize(("client_class", "expected"), [(APIClient, PUBLIC), (AsyncAPIClient, AWAITED)])
def test_every_client_method_is_a_declared_call(client_class: type, expected: set[str]) -> None:
    assert set(calls(client_class)) == expected


def test_both_clients_have_the_same_signatures() -> None:
    sync, aio = calls(APIClient), calls(AsyncAPIClient)
    for name in AWAITED:
        sync_params = inspect.signature(sync[name]).parameters
        aio_params = inspect.signature(aio[name]).parameters
        assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
            (p.name, p.kind, p.default) for p in aio_params.values()
        ], name
        assert inspect.iscoroutinefunction(aio[name]), name


def test_every_path_argument_is_a_method_argument_or_a_step_argument() -> None:
    """A template names the arguments that fill it (so an id error names the argument); a
    pre-signed URL is one argument, which the client method takes from an earlier answer."""
    for name, op in OPERATIONS.items():
        arguments = re.findall(r"\{(\w+)\??\}", op.path)
        if op.plane == "presigned":
            assert op.path == f"{{{arguments[0]}}}", name
            assert arguments[0] in op.path_values, name
        elif not op.internal:
            assert set(arguments) <= set(inspect.signature(calls(APIClient)[name]).parameters), name


def test_only_get_put_patch_and_delete_are_idempotent() -> None:
    assert {name for name, op in OPERATIONS.items() if op.idempotent} == {
        name for name, op in OPERATIONS.items() if op.method in ("GET", "PUT", "PATCH", "DELETE")
    }


#: The emulator route serving a declared call that it names otherwise.
SERVED_AS = {
    "upload_deployment_code": "emulator_upload_source",
    "get_channels": "list_channels",
    "upload_channel_file": "post_channel_file_upload",
    "get_channel_file": "get_channel_file_download",
    "download_channel_file_content": "download_channel_file",
}
#: Where the emulator hands out pre-signed URLs (the platform's point to another host).
PRESIGNED = {
    "download_training_result": "/_emulator/artifacts/{}/{}",
    "upload_deployment_code": "/_emulator/uploads/{}/{}",
    "download_channel_file_content": "/_emulator/datalake/files/{}/{}",
}


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def emulator_routes() -> set[tuple[str, str, str]]:
    pytest.importorskip("fastapi")
    from fastapi.routing import APIRoute

    from abeja_emulator.app import create_fastapi
    from abeja_emulator.config import EmulatorConfig
    from abeja_emulator.core import Emulator

    app = create_fastapi(Emulator(EmulatorConfig()))
    return {
        (route.name, method, _normalise(route.path))
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


def declared_routes(op: Any) -> set[tuple[str, str, str]]:
    """The path-style routes of a declared call (an optional segment gives two)."""
    name = SERVED_AS.get(op.name, op.name)
    if op.plane == "presigned":
        return {(name, op.method, PRESIGNED[op.name])}
    prefix = "/_inference/{}/deployments/{}" if op.plane == "inference" else ""
    full = _normalise(prefix + op.path.replace("?", ""))
    paths = {full}
    if "?}" in op.path:
        paths.add(_normalise(prefix + re.sub(r"/\{\w+\?\}", "", op.path)))
    return {(name, op.method, path) for path in paths}


def test_the_emulator_serves_every_declared_call() -> None:
    served = emulator_routes()
    missing = [route for op in OPERATIONS.values() for route in declared_routes(op) if route not in served]
    assert missing == []
