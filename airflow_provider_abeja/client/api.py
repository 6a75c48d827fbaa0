"""The API surface, declared once: every call's name, method, path, idempotency, body and answer.

The request builder turns a declaration and a call's arguments into a request; both clients
read the answer the way ``answer`` says; a test checks the emulator serves every route. Adding
a call is a declaration here plus its signature in ``APIClient`` (``sync.declared_calls`` sends it):

    def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> JSON:
        '''GET .../services/{service_id}.'''

Path templates name the arguments that fill them (checked as ids, or by ``path_values``, so
errors name the argument); ``{x?}`` is a segment left out when ``x`` is None. Management paths
are relative to the API URL, inference paths to the deployment's inference address (path style
or virtual host); a pre-signed path is one argument, a URL found in an earlier answer, and is
sent without the credential. A call made of several requests is a client method that makes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_abeja.client import runs, training, validation
from airflow_provider_abeja.client.training import check_version_number
from airflow_provider_abeja.exceptions import InvalidArgumentError

#: The alias ``create_endpoint`` sends when none is given (as ABEJA's own SDK does).
DEFAULT_ENDPOINT_ALIAS = "default"
#: The instance type ``create_service`` asks for unless told otherwise.
DEFAULT_INSTANCE_TYPE = "cpu-0.25"

#: Turns an argument's value into a query parameter (or raises an error naming the argument).
QueryFormat = Callable[[Any, str], str]


def text(value: object, argument: str) -> str:
    return str(value)


def utc_time(value: object, argument: str) -> str:
    """A datetime, sent in UTC (a string is sent as it is)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dt.datetime):
        raise InvalidArgumentError(argument, "must be a datetime")
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def flag(value: object, argument: str) -> str:
    return "true" if value else "false"


def count(value: object, argument: str) -> str:
    """A ``limit`` / ``offset``: a whole number >= 0."""
    return str(validation.whole_number(value, argument, digits=False))


@dataclass(frozen=True)
class Operation:
    """One API call.

    :param payload: the body, built from the arguments (which it checks): a ``training.Upload``
        is sent as multipart, bytes as they are, anything else as JSON; None sends no body.
        An inference call sends its ``data`` / ``json`` / ``content_type``, streamed.
    :param payload_argument: the argument named when a JSON body cannot be encoded.
    :param answer: ``object`` (a JSON object), ``entries`` (a listing, always
        ``{"entries": [...]}``), ``bytes`` (the body) or ``response`` (the HTTP response).
    :param plane: ``management``, ``inference`` or ``presigned`` (no credential).
    :param streams: the body is the call's ``data`` (str, bytes, a binary file or an iterator of
        bytes) of type ``content_type``, streamed as an inference body is.
    :param headers: headers built from the arguments (which it checks).
    :param query: arguments sent as query parameters when not None, and how each is written.
    :param query_names: the parameter an argument is sent as, when it is not the argument's name.
    :param path_values: path arguments checked otherwise than as ids.
    :param internal: a step of other calls, not a client method.
    """

    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    answer: Literal["object", "entries", "bytes", "response"] = "object"
    plane: Literal["management", "inference", "presigned"] = "management"
    streams: bool = False
    headers: Callable[[validation.Arguments], Mapping[str, str]] | None = None
    payload: Callable[[validation.Arguments], Any] | None = None
    payload_argument: str = "payload"
    query: Mapping[str, QueryFormat] = field(default_factory=dict)
    query_names: Mapping[str, str] = field(default_factory=dict)
    path_values: Mapping[str, Callable[[Any, str], object]] = field(default_factory=dict)
    internal: bool = False

    @property
    def idempotent(self) -> bool:
        """Safe to re-send after an unknown outcome (see ``client.retry``): every method but POST."""
        return self.method != "POST"


_SIZING_OPTIONS = ("min_instance_number", "max_instance_number", "enable_autoscale")


def _create_service(args: validation.Arguments) -> dict[str, Any]:
    validation.check_path_id(args["version_id"], "version_id")
    validation.check_sizing(args)
    validation.check_environment(args["environment"])
    # The checks above refused a None version, type or instance count: only the options are left out.
    fields = ("version_id", "instance_type", "instance_number", *_SIZING_OPTIONS)
    payload = {name: args[name] for name in fields if args[name] is not None}
    if args["model_id"] is not None:
        payload["models"] = {"alias": validation.check_path_id(args["model_id"], "model_id")}
    if args["environment"] is not None:
        payload["environment"] = dict(args["environment"])
    return payload


def _update_service(args: validation.Arguments) -> dict[str, Any]:
    validation.check_update_payload(args["payload"])
    return dict(args["payload"] or {})


def _create_endpoint(args: validation.Arguments) -> dict[str, Any]:
    alias = DEFAULT_ENDPOINT_ALIAS if args["custom_alias"] is None else args["custom_alias"]
    return {
        "service_id": validation.check_path_id(args["service_id"], "service_id"),
        "custom_alias": validation.check_path_id(alias, "custom_alias"),
    }


def _update_endpoint(args: validation.Arguments) -> dict[str, Any]:
    return {"service_id": validation.check_path_id(args["service_id"], "service_id")}


_DEPLOYMENT = "/organizations/{organization_id}/deployments/{deployment_id}"
_SERVICE = _DEPLOYMENT + "/services/{service_id}"
_ENDPOINT = _DEPLOYMENT + "/endpoints/{endpoint}"
_DEFINITIONS = "/organizations/{organization_id}/training/definitions"
_DEFINITION = _DEFINITIONS + "/{job_definition_name}"
_VERSIONS = _DEFINITION + "/versions"
#: A job definition's version: the Training API numbers them.
_VERSION = _VERSIONS + "/{version_id}"
_JOB = _DEFINITION + "/jobs/{training_job_id}"
_RUN = _DEPLOYMENT + "/runs/{run_id}"
_TRIGGER = _DEPLOYMENT + "/triggers/{trigger_id}"
_CHANNELS = "/organizations/{organization_id}/channels"
#: Datalake file routes sit at the API root, not under the organization.
_FILE = "/channels/{channel_id}/{file_id}"
#: A page of a service's recent logs: the tokens of the pages around it, or a time window.
_LOG_PAGE = {
    "next_forward_token": text,
    "next_backward_token": text,
    "start_time": utc_time,
    "end_time": utc_time,
}
#: A page of a run's logs (oldest first).
_RUN_LOG_PAGE = {"next_token": text, "start_time": utc_time, "end_time": utc_time}
#: A page of a token-paged listing (runs): the token is sent alone.
_TOKEN_PAGE = {"next_page_token": text, "scan_forward": flag}
#: A page of a channel's files; ``next_page_token`` is sent alone (see ``APIClient.list_channel_files``).
_FILE_PAGE = {"start": runs.date_text, "end": runs.date_text, "timezone": text, "items_per_page": count}
_FILE_PAGE |= {"sort": text, "query": text, "next_page_token": text}
#: A page of an offset-paged listing.
_PAGE = {"limit": count, "offset": count}


def _numbered(name: str, method: Literal["GET", "POST", "DELETE"], path: str, **more: Any) -> Operation:
    """A call on a job definition's version, whose ``version_id`` is a number."""
    return Operation(name, method, path, path_values={"version_id": check_version_number}, **more)


def _presigned(name: str, method: Literal["GET", "PUT"], argument: str, what: str, **more: Any) -> Operation:
    """A call to the pre-signed URL ``argument`` found in an earlier answer (about ``what``): sent
    without the credential, answered with bytes."""
    check = training.presigned_url(what)
    return Operation(
        name, method, f"{{{argument}}}", "bytes", "presigned", path_values={argument: check}, **more
    )


OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        Operation("get_deployments", "GET", "/organizations/{organization_id}/deployments", "entries"),
        Operation("get_services", "GET", _DEPLOYMENT + "/services", "entries"),
        Operation("create_service", "POST", _DEPLOYMENT + "/services", payload=_create_service),
        Operation("get_service", "GET", _SERVICE),
        Operation("update_service", "PATCH", _SERVICE, payload=_update_service),
        Operation("delete_service", "DELETE", _SERVICE),
        Operation("start_service", "POST", _SERVICE + "/start"),
        Operation("stop_service", "POST", _SERVICE + "/stop"),
        Operation("get_service_recent_logs", "GET", _SERVICE + "/recentlogs", query=_LOG_PAGE),
        Operation("request_service", "POST", "/services/{service_id}", "response", "inference"),
        Operation("get_endpoints", "GET", _DEPLOYMENT + "/endpoints", "entries"),
        Operation("create_endpoint", "POST", _DEPLOYMENT + "/endpoints", payload=_create_endpoint),
        Operation("get_endpoint", "GET", _ENDPOINT),
        Operation("update_endpoint", "PATCH", _ENDPOINT, payload=_update_endpoint),
        Operation("delete_endpoint", "DELETE", _ENDPOINT),
        Operation("request_endpoint", "POST", "/{custom_alias?}", "response", "inference"),
        # -- deployment versions
        Operation("get_deployment_versions", "GET", _DEPLOYMENT + "/versions", "entries"),
        Operation(
            "create_deployment_version",
            "POST",
            _DEPLOYMENT + "/versions",
            payload=training.deployment_version_body,
        ),
        _presigned(
            "upload_deployment_code",
            "PUT",
            "upload_url",
            "the version",
            payload=lambda args: args["code"],
            internal=True,
        ),
        Operation("get_deployment_version", "GET", _DEPLOYMENT + "/versions/{version_id}"),
        Operation("delete_deployment_version", "DELETE", _DEPLOYMENT + "/versions/{version_id}"),
        # -- training job definitions and their versions
        Operation("create_training_job_definition", "POST", _DEFINITIONS, payload=training.definition_body),
        Operation("get_training_job_definitions", "GET", _DEFINITIONS, "entries"),
        Operation("get_training_job_definition", "GET", _DEFINITION, query={"include_jobs": flag}),
        Operation("delete_training_job_definition", "DELETE", _DEFINITION),
        Operation("archive_training_job_definition", "POST", _DEFINITION + "/archive"),
        Operation(
            "create_training_job_definition_version",
            "POST",
            _VERSIONS,
            payload=training.definition_version_body,
        ),
        Operation("get_training_job_definition_versions", "GET", _VERSIONS, "entries"),
        _numbered("get_training_job_definition_version", "GET", _VERSION),
        _numbered("delete_training_job_definition_version", "DELETE", _VERSION),
        _numbered("archive_training_job_definition_version", "POST", _VERSION + "/archive"),
        # -- training jobs
        _numbered("create_training_job", "POST", _VERSION + "/jobs", payload=training.job_body),
        Operation("get_training_jobs", "GET", _DEFINITION + "/jobs", "entries", query=_PAGE),
        Operation("get_training_job", "GET", _JOB),
        Operation("stop_training_job", "POST", _JOB + "/stop"),
        Operation("archive_training_job", "POST", _JOB + "/archive"),
        Operation("get_training_result", "GET", _JOB + "/result"),
        Operation(
            "update_training_statistics",
            "POST",
            _JOB + "/statistics",
            payload=training.statistics_body,
            payload_argument="statistics",
        ),
        Operation("get_training_job_recent_logs", "GET", _JOB + "/recentlogs"),
        _presigned("download_training_result", "GET", "uri", "the training result"),
        # -- trained models
        Operation("create_training_model", "POST", _DEFINITION + "/models", payload=training.model_body),
        Operation("get_training_models", "GET", _DEFINITION + "/models", "entries"),
        Operation("get_training_model", "GET", _DEFINITION + "/models/{model_id}"),
        Operation("archive_training_model", "POST", _DEFINITION + "/models/{model_id}/archive"),
        # -- runs: one execution of a version over one Datalake file (no public cancel)
        Operation("create_run", "POST", _DEPLOYMENT + "/runs", payload=runs.run_body),
        Operation("get_runs", "GET", _DEPLOYMENT + "/runs", query=_TOKEN_PAGE),
        Operation("get_run", "GET", _RUN),
        Operation("get_run_logs", "GET", _RUN + "/logs", query=_RUN_LOG_PAGE),
        Operation("get_run_recent_logs", "GET", _RUN + "/recentlogs", query=_LOG_PAGE),
        # -- triggers: a run for each new file of a channel
        Operation("create_trigger", "POST", _DEPLOYMENT + "/triggers", payload=runs.trigger_body),
        Operation("get_triggers", "GET", _DEPLOYMENT + "/triggers", "entries"),
        Operation("get_trigger", "GET", _TRIGGER),
        Operation("delete_trigger", "DELETE", _TRIGGER),
        Operation("get_trigger_runs", "GET", _TRIGGER + "/runs", query=_TOKEN_PAGE),
        # -- Datalake channels and files
        Operation("create_channel", "POST", _CHANNELS, payload=runs.channel_body),
        Operation("get_channels", "GET", _CHANNELS, query=_PAGE | {"filter_archived": text}),
        Operation("get_channel", "GET", _CHANNELS + "/{channel_id}"),
        Operation(
            "upload_channel_file",
            "POST",
            "/channels/{channel_id}/upload",
            streams=True,
            headers=runs.metadata_headers,
            query={"lifetime": runs.check_lifetime, "conflict_target": text},
        ),
        Operation(
            "list_channel_files",
            "GET",
            "/channels/{channel_id}",
            query=_FILE_PAGE,
            query_names={"query": "q"},
        ),
        Operation("get_channel_file", "GET", _FILE),
        _presigned(
            "download_channel_file_content", "GET", "download_uri", "the Datalake file", internal=True
        ),
        Operation("delete_channel_file", "DELETE", _FILE),
    )
}
