"""The API surface's declarations: each call's method, path, idempotency, body and answer.

A call is declared on its ``APIClient`` method, whose signature and docstring are the call's
public contract (``aio.AsyncAPIClient`` wraps the few that triggers await):

    @declared("GET", api.SERVICE)
    def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> JSON:
        '''GET .../services/{service_id}.'''

``declared`` files the call in ``OPERATIONS``, where the request builder, both clients and a test
that checks the emulator serves every route read it, and makes the method send it. Path templates
name the arguments that fill them (checked as ids, or by ``path_values``, so errors name the
argument); ``{x?}`` is a segment left out when ``x`` is None. Management paths are relative to the
API URL, inference paths to the deployment's inference address (path style or virtual host); a
pre-signed path is one argument, a URL found in an earlier answer, and is sent without the
credential. A call made of several requests is a client method that makes them.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from airflow_provider_abeja.client import runs, training, validation
from airflow_provider_abeja.exceptions import InvalidArgumentError

#: The alias ``create_endpoint`` sends when none is given (as ABEJA's own SDK does).
DEFAULT_ENDPOINT_ALIAS = "default"
#: The instance type ``create_service`` asks for unless told otherwise.
DEFAULT_INSTANCE_TYPE = "cpu-0.25"

#: Turns an argument's value into a query parameter (or raises an error naming the argument).
QueryFormat = Callable[[Any, str], str]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


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
    method: HttpMethod
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


def create_service_body(args: validation.Arguments) -> dict[str, Any]:
    validation.check_path_id(args["version_id"], "version_id")
    validation.check_sizing(args)
    environment = validation.given(args, {"environment": validation.check_environment})
    # The checks above refused a None version, type or instance count: only the options are left out.
    fields = ("version_id", "instance_type", "instance_number", *_SIZING_OPTIONS)
    payload = {name: args[name] for name in fields if args[name] is not None}
    if args["model_id"] is not None:
        payload["models"] = {"alias": validation.check_path_id(args["model_id"], "model_id")}
    return payload | environment


def update_service_body(args: validation.Arguments) -> dict[str, Any]:
    validation.check_update_payload(args["payload"])
    return dict(args["payload"] or {})


def update_endpoint_body(args: validation.Arguments) -> dict[str, Any]:
    """What an endpoint points at: its service."""
    return {"service_id": validation.check_path_id(args["service_id"], "service_id")}


def create_endpoint_body(args: validation.Arguments) -> dict[str, Any]:
    alias = DEFAULT_ENDPOINT_ALIAS if args["custom_alias"] is None else args["custom_alias"]
    return update_endpoint_body(args) | {"custom_alias": validation.check_path_id(alias, "custom_alias")}


DEPLOYMENT = "/organizations/{organization_id}/deployments/{deployment_id}"
SERVICE = DEPLOYMENT + "/services/{service_id}"
ENDPOINT = DEPLOYMENT + "/endpoints/{endpoint}"
DEFINITIONS = "/organizations/{organization_id}/training/definitions"
DEFINITION = DEFINITIONS + "/{job_definition_name}"
VERSIONS = DEFINITION + "/versions"
#: A job definition's version: the Training API numbers them (``path_values=NUMBERED``).
VERSION = VERSIONS + "/{version_id}"
NUMBERED = {"version_id": training.check_version_number}
JOB = DEFINITION + "/jobs/{training_job_id}"
RUN = DEPLOYMENT + "/runs/{run_id}"
TRIGGER = DEPLOYMENT + "/triggers/{trigger_id}"
CHANNELS = "/organizations/{organization_id}/channels"
#: Datalake file routes sit at the API root, not under the organization.
FILE = "/channels/{channel_id}/{file_id}"
#: Log events between two times.
TIME_WINDOW = {"start_time": utc_time, "end_time": utc_time}
#: A page of a service's recent logs: the tokens of the pages around it, or a time window.
LOG_PAGE = {"next_forward_token": text, "next_backward_token": text} | TIME_WINDOW
#: A page of a run's logs (oldest first).
RUN_LOG_PAGE = {"next_token": text} | TIME_WINDOW
#: A page of a token-paged listing (runs): the token is sent alone.
TOKEN_PAGE = {"next_page_token": text, "scan_forward": flag}
#: A page of a channel's files; ``next_page_token`` is sent alone (see ``APIClient.list_channel_files``).
FILE_PAGE = {"start": runs.date_text, "end": runs.date_text, "timezone": text, "items_per_page": count}
FILE_PAGE |= {"sort": text, "query": text, "next_page_token": text}
#: How long an uploaded file is kept, and the metadata another file must not share (else 409).
UPLOAD = {"lifetime": runs.check_lifetime, "conflict_target": text}
#: A page of an offset-paged listing.
PAGE = {"limit": count, "offset": count}


def presigned(argument: str, what: str) -> dict[str, Any]:
    """The declaration of a call to the pre-signed URL ``argument`` found in an earlier answer
    (about ``what``): sent without the credential, answered with bytes."""
    check = training.presigned_url(what)
    return dict(path=f"{{{argument}}}", answer="bytes", plane="presigned", path_values={argument: check})


#: Every declared call by name: the steps of other calls below, and each ``APIClient`` method's
#: (``declared`` files it when ``client.sync`` is imported, as both clients do).
OPERATIONS: dict[str, Operation] = {}


def _step(name: str, method: HttpMethod, argument: str, what: str, **options: Any) -> None:
    """Declare ``name``, a step of other calls: a request to a pre-signed URL, as ``presigned``."""
    OPERATIONS[name] = Operation(name, method, **presigned(argument, what), **options, internal=True)


_step("upload_deployment_code", "PUT", "upload_url", "the version", payload=lambda args: args["code"])
_step("download_channel_file_content", "GET", "download_uri", "the Datalake file")

_Method = TypeVar("_Method", bound=Callable[..., Any])


def declared(method: HttpMethod, *fields: Any, **options: Any) -> Callable[[_Method], _Method]:
    """Declare the call named after the decorated client method (``Operation``'s fields after its
    name) and make the method send it: its body runs first, and a result it returns (a call made
    of several requests) is the call's; else ``self._call`` sends the declaration with the
    method's arguments."""

    def declare(function: _Method) -> _Method:
        name = function.__name__
        OPERATIONS[name] = Operation(name, method, *fields, **options)
        signature = inspect.signature(function)

        @functools.wraps(function)
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            if (result := function(self, *args, **kwargs)) is not None:
                return result
            arguments = signature.bind(self, *args, **kwargs)
            arguments.apply_defaults()
            return self._call(name, arguments.arguments)

        return cast(_Method, send)

    return declare
