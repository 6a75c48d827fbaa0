"""The API surface, declared once: every call's name, method, path, idempotency, body and answer.

The request builder turns a declaration and a call's arguments into a request; both clients
read the answer the way ``answer`` says; a test checks the emulator serves every route. Adding
a call is a declaration here plus a thin method in each client that passes its arguments on:

    def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> dict:
        return self._call("get_service", locals())

Path templates name the arguments that fill them (checked as ids, so errors name the
argument); ``{x?}`` is a segment left out when ``x`` is None. Management paths are relative to
the API URL, inference paths to the deployment's inference address (path style or virtual host).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_abeja.client.validation import (
    check_create_arguments,
    check_environment,
    check_path_id,
    check_update_payload,
)

__all__ = ["DEFAULT_ENDPOINT_ALIAS", "OPERATIONS", "Operation"]

#: The alias ``create_endpoint`` sends when none is given (as ABEJA's own SDK does).
DEFAULT_ENDPOINT_ALIAS = "default"

Arguments = Mapping[str, Any]


@dataclass(frozen=True)
class Operation:
    """One API call.

    :param idempotent: safe to re-send after an unknown outcome (see ``client.retry``).
    :param body: ``none``, ``json`` (built by ``payload`` from the arguments, which it checks)
        or ``inference`` (the call's ``data`` / ``json`` / ``content_type``, streamed).
    :param answer: ``object`` (a JSON object), ``entries`` (a listing, always
        ``{"entries": [...]}``) or ``response`` (the HTTP response, for inference).
    :param query: arguments sent as query parameters when not None.
    """

    name: str
    method: Literal["GET", "POST", "PATCH", "DELETE"]
    path: str
    idempotent: bool
    answer: Literal["object", "entries", "response"] = "object"
    body: Literal["none", "json", "inference"] = "none"
    plane: Literal["management", "inference"] = "management"
    payload: Callable[[Arguments], Any] | None = None
    payload_argument: str = "payload"
    query: tuple[str, ...] = ()


def _create_service(args: Arguments) -> dict[str, Any]:
    check_path_id(args["version_id"], "version_id")
    check_create_arguments(
        args["instance_number"],
        args["min_instance_number"],
        args["max_instance_number"],
        args["enable_autoscale"],
        args["instance_type"],
    )
    check_environment(args["environment"])
    payload: dict[str, Any] = {
        "version_id": args["version_id"],
        "instance_type": args["instance_type"],
        "instance_number": args["instance_number"],
    }
    for name in ("min_instance_number", "max_instance_number", "enable_autoscale"):
        if args[name] is not None:
            payload[name] = args[name]
    if args["model_id"] is not None:
        payload["models"] = {"alias": check_path_id(args["model_id"], "model_id")}
    if args["environment"] is not None:
        payload["environment"] = dict(args["environment"])
    return payload


def _update_service(args: Arguments) -> dict[str, Any]:
    check_update_payload(args["payload"])
    return dict(args["payload"] or {})


def _create_endpoint(args: Arguments) -> dict[str, Any]:
    alias = DEFAULT_ENDPOINT_ALIAS if args["custom_alias"] is None else args["custom_alias"]
    return {
        "service_id": check_path_id(args["service_id"], "service_id"),
        "custom_alias": check_path_id(alias, "custom_alias"),
    }


def _update_endpoint(args: Arguments) -> dict[str, Any]:
    return {"service_id": check_path_id(args["service_id"], "service_id")}


_DEPLOYMENT = "/organizations/{organization_id}/deployments/{deployment_id}"
_SERVICE = _DEPLOYMENT + "/services/{service_id}"
_ENDPOINT = _DEPLOYMENT + "/endpoints/{endpoint}"

OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        Operation("get_deployments", "GET", "/organizations/{organization_id}/deployments", True, "entries"),
        Operation("get_services", "GET", _DEPLOYMENT + "/services", True, "entries"),
        Operation(
            "create_service",
            "POST",
            _DEPLOYMENT + "/services",
            False,
            body="json",
            payload=_create_service,
            payload_argument="environment",
        ),
        Operation("get_service", "GET", _SERVICE, True),
        Operation("update_service", "PATCH", _SERVICE, True, body="json", payload=_update_service),
        Operation("delete_service", "DELETE", _SERVICE, True),
        Operation("start_service", "POST", _SERVICE + "/start", False),
        Operation("stop_service", "POST", _SERVICE + "/stop", False),
        Operation(
            "get_service_recent_logs",
            "GET",
            _SERVICE + "/recentlogs",
            True,
            query=("next_forward_token", "next_backward_token", "start_time", "end_time"),
        ),
        Operation(
            "request_service",
            "POST",
            "/services/{service_id}",
            False,
            "response",
            body="inference",
            plane="inference",
        ),
        Operation("get_endpoints", "GET", _DEPLOYMENT + "/endpoints", True, "entries"),
        Operation(
            "create_endpoint",
            "POST",
            _DEPLOYMENT + "/endpoints",
            False,
            body="json",
            payload=_create_endpoint,
        ),
        Operation("get_endpoint", "GET", _ENDPOINT, True),
        Operation("update_endpoint", "PATCH", _ENDPOINT, True, body="json", payload=_update_endpoint),
        Operation("delete_endpoint", "DELETE", _ENDPOINT, True),
        Operation(
            "request_endpoint",
            "POST",
            "/{custom_alias?}",
            False,
            "response",
            body="inference",
            plane="inference",
        ),
    )
}
