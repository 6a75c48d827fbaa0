"""APIClient: the synchronous Service API client on one pooled ``requests.Session``, and the
settings, credential and repr it shares with ``aio.AsyncAPIClient`` (``ClientBase``).

A call's method is its public signature and docstring; ``@declared`` above it declares its request
(``client.api``).
"""

# A declared call's method has no body of its own: ``api.declared`` gives it one.
# mypy: disable-error-code="empty-body"

from __future__ import annotations

import datetime as dt
import functools
import operator
import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from typing import IO, Any, Final, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from airflow_provider_abeja.client import _core, _deadline, api, runs, training
from airflow_provider_abeja.client._core import RequestBuilder, RequestSpec
from airflow_provider_abeja.client.api import DEFAULT_INSTANCE_TYPE, OPERATIONS, declared
from airflow_provider_abeja.client.credentials import Credential, resolve_credential
from airflow_provider_abeja.client.retry import Failure, RetryPolicy, TransportAdapter
from airflow_provider_abeja.client.validation import (
    DEFAULT_API_URL,
    Timeout,
    check_addressing,
    parse_api_url,
    parse_timeout,
    whole_number,
)
from airflow_provider_abeja.exceptions import AbejaError, InvalidArgumentError

#: (connect, read) seconds. Connecting is quick or hopeless; a model may take a while to answer.
DEFAULT_TIMEOUT: Timeout = (10.0, 60.0)  # typed as any timeout: None is "off"


@dataclass(frozen=True)
class Settings:
    """How a client's transport was configured, after arguments and environment were merged (the
    API URL is its request builder's, the retries its retry policy's)."""

    timeout: Timeout
    verify: bool | str
    pool_maxsize: int
    max_answer_bytes: int

    @property
    def deadline(self) -> float | None:
        """Seconds one request may take in all (connect, headers, body): connect + read timeout."""
        return None if self.timeout is None else self.timeout[0] + self.timeout[1]


_T = TypeVar("_T")


def _read_only(path: str) -> Any:
    """A read-only client property: the setting at ``path`` (``_settings.timeout``) as the client
    resolved it."""
    return property(operator.attrgetter(path))


def _setting(
    value: object, argument: str, variable: str, parse: Callable[[object, str], _T], default: _T
) -> _T:
    """The argument when given, else the environment variable when set (read when the client is
    built, not at import), else the default; errors name whichever was read."""
    if value is not None:
        return parse(value, argument)
    if os.environ.get(variable, "").strip():
        return parse(os.environ[variable], variable)
    return default


class ClientBase:
    """Settings resolved once when the client is built (arguments, else environment, else defaults)."""

    def __init__(
        self,
        credential: Mapping[str, Any] | None = None,
        timeout: float | tuple[float, float] | None = None,
        max_retry_count: int | None = None,
        *,
        api_url: str | None = None,
        verify: bool | str = True,
        inference_addressing: str = "auto",
        retry_wait_max: float = 30.0,
        pool_maxsize: int = 10,
        max_answer_bytes: int | None = None,
        auth_hint: str = "",
    ) -> None:
        url = _setting(api_url, "api_url", "ABEJA_API_URL", parse_api_url, DEFAULT_API_URL)
        timeouts = _setting(timeout, "timeout", "ABEJA_API_TIMEOUT", parse_timeout, DEFAULT_TIMEOUT)
        # Five retries unless the argument or the environment says otherwise.
        retries = _setting(max_retry_count, "max_retry_count", "ABEJA_API_MAX_RETRY_COUNT", whole_number, 5)
        if not isinstance(verify, bool | str):
            raise InvalidArgumentError("verify", "must be True, False or a path to a CA bundle")
        if verify is False:
            # httpx (the async client) warns nowhere and users often silence urllib3's warning.
            _core.logger.warning(
                "TLS certificate verification is off (verify=False) for %s: anyone on the path can "
                "read the credential; give a CA bundle path instead",
                url,
            )
        if type(retry_wait_max) is bool or not isinstance(retry_wait_max, int | float) or retry_wait_max < 0:
            raise InvalidArgumentError("retry_wait_max", "must be a number of seconds >= 0")
        whole_number(pool_maxsize, "pool_maxsize", 1, digits=False)
        limit = _core.DEFAULT_MAX_ANSWER_BYTES if max_answer_bytes is None else max_answer_bytes
        limit = whole_number(limit, "max_answer_bytes", 1, digits=False)
        self._settings = Settings(timeouts, verify, pool_maxsize, limit)
        self._builder = RequestBuilder(url, check_addressing(inference_addressing))
        self._credential: Credential = resolve_credential(credential, os.environ)
        #: Added to the message of a 401 or 403: where the credential came from, what to check.
        self._auth_hint = auth_hint
        self._retry_policy = RetryPolicy(retries, float(retry_wait_max), secrets=self._credential.secrets)
        self._open_transport()

    #: Builds the pooled HTTP transport from ``self._settings`` and ``self._credential`` (each
    #: client its own).
    _open_transport: Callable[[], None]

    # Read-only: a property at run time; Final makes type checkers refuse an assignment too.
    api_url: Final[str] = _read_only("_builder.api_url")
    #: (connect, read) seconds, or None when timeouts are off.
    timeout: Final[Timeout] = _read_only("_settings.timeout")
    max_retry_count: Final[int] = _read_only("_retry_policy.max_retry_count")
    #: The longest answer read into memory; answers streamed to a file are not limited.
    max_answer_bytes: Final[int] = _read_only("_settings.max_answer_bytes")
    #: The longest wait between two tries, in seconds (for callers applying the same policy).
    retry_wait_max: Final[float] = _read_only("_retry_policy.wait_max")

    @property
    def inference_addressing(self) -> str:
        """``path`` or ``virtual-host``: what ``auto`` resolved to for this API URL."""
        return "path" if self._builder.path_style else "virtual-host"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(api_url={self.api_url!r}, credential={self._credential!r}, "
            f"timeout={self.timeout!r}, max_retry_count={self.max_retry_count!r})"
        )


StreamTarget = str | os.PathLike[str] | IO[bytes]
#: A JSON object, as the API answers.
JSON = dict[str, Any]


def classify_requests_error(exc: BaseException) -> Failure | None:
    """Map a requests exception to how far the request got."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure.NOT_SENT
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return Failure.READ_TIMEOUT
    if isinstance(exc, requests.exceptions.SSLError) and _core.is_permanent_tls_failure(exc):
        return None
    not_sent = urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    if isinstance(exc, requests.exceptions.ConnectionError) and isinstance(_core.underlying(exc), not_sent):
        return Failure.NOT_SENT  # refused, unreachable, DNS failure (NameResolutionError)
    broken = requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    if isinstance(exc, requests.exceptions.ConnectionError | broken):
        return Failure.BROKEN  # a TLS failure too: it may come after the request went out
    return None


TRANSPORT_ADAPTER: TransportAdapter[requests.Response] = TransportAdapter(classify_requests_error)


def _as_requests_error(exc: urllib3.exceptions.HTTPError) -> requests.exceptions.RequestException:
    """What requests itself raises for urllib3's error while reading a body (undecoded: no
    ``DecodeError``; ``_core.Body`` decodes)."""
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(exc)
    return requests.exceptions.ChunkedEncodingError(exc)


class APIClient(ClientBase, AbstractContextManager["APIClient"]):
    """A low-level client for the ABEJA Platform Service and Training APIs.

    One pooled session serves every call and may be shared by threads. Safe retries (see
    :mod:`.retry`), ids checked before anything is sent, credentials never in messages.
    """

    # ------------------------------------------------------------------ what triggers await too

    @declared("GET", api.SERVICE)
    def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> JSON:
        """GET .../services/{service_id}."""

    @declared("GET", api.SERVICE + "/recentlogs", query=api.LOG_PAGE)
    def get_service_recent_logs(
        self,
        organization_id: str,
        deployment_id: str,
        service_id: str,
        next_forward_token: str | None = None,
        next_backward_token: str | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> JSON:
        """GET .../services/{service_id}/recentlogs (aware datetimes are sent in UTC)."""

    @declared("GET", api.DEPLOYMENT + "/services", "entries")
    def get_services(self, organization_id: str, deployment_id: str) -> JSON:
        """GET .../services; always ``{"entries": [...]}``."""

    @declared("GET", api.JOB)
    def get_training_job(self, organization_id: str, job_definition_name: str, training_job_id: str) -> JSON:
        """GET .../jobs/{training_job_id} (``status``, ``statistics``, ...)."""

    @declared("GET", api.JOB + "/recentlogs")
    def get_training_job_recent_logs(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> JSON:
        """GET .../jobs/{training_job_id}/recentlogs (not a public route: see the module doc)."""

    @declared("GET", api.RUN)
    def get_run(self, organization_id: str, deployment_id: str, run_id: str) -> JSON:
        """GET .../runs/{run_id} (``status``: one of ``client.runs.RUN_STATUSES``)."""

    @declared("GET", api.RUN + "/recentlogs", query=api.LOG_PAGE)
    def get_run_recent_logs(
        self,
        organization_id: str,
        deployment_id: str,
        run_id: str,
        next_forward_token: str | None = None,
        next_backward_token: str | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> JSON:
        """GET .../runs/{run_id}/recentlogs: events newest first, as for services."""

    @declared("GET", "/channels/{channel_id}", query=api.FILE_PAGE, query_names={"query": "q"})
    def list_channel_files(
        self,
        channel_id: str,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        timezone: str | None = None,
        items_per_page: int | None = None,
        sort: str | None = None,
        query: str | None = None,
        next_page_token: str | None = None,
    ) -> JSON:
        """GET /channels/{channel_id}: one page ``{"files": [...], "next_page_token": ...}``.

        ``start`` / ``end`` (upload dates, ``YYYYMMDD`` in ``timezone``), ``sort`` (e.g.
        ``-uploaded_at``; default ``uploaded_at`` ascending), ``query`` (sent as ``q``, e.g.
        ``x-abeja-meta-filename:a.csv``). The platform takes ``next_page_token`` alone: the next
        page keeps the first one's filters.
        """
        filters = (start, end, timezone, items_per_page, sort, query)
        if next_page_token is not None and any(value is not None for value in filters):
            raise InvalidArgumentError("next_page_token", "is sent alone: the next page keeps the filters")
        return self._call("list_channel_files", locals())

    def _open_transport(self) -> None:
        #: The environment's proxies for a ``scheme://host``, read once per host.
        self._proxies = functools.cache(requests.utils.get_environ_proxies)
        self._session = session = requests.Session()
        # requests' adapter keeps its default of no retries: what is retried is client.retry's call.
        adapter = _deadline.DeadlineAdapter(pool_connections=4, pool_maxsize=self._settings.pool_maxsize)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(_core.HEADERS)
        # The environment (proxies, CA bundle) is read when the client is built and once per
        # host, not on every request as requests' trust_env does (~0.1 ms a request).
        session.trust_env = False
        session.verify = self._settings.verify
        if session.verify is True:  # what requests would use: a CA bundle from the environment
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    # ------------------------------------------------------------------ plumbing

    @property
    def session(self) -> requests.Session:
        return self._session

    def close(self) -> None:
        self._session.close()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, spec: RequestSpec, *, stream: bool = False) -> requests.Response:
        """The answer to ``spec``, read whole within the limits (``stream``: the body left unread,
        for a copy to a file). Redirects are never followed: the API does not redirect."""
        parts = urlsplit(spec.url)
        proxies = self._proxies(f"{parts.scheme}://{parts.netloc}")
        starts: list[float] = []  # when each attempt started

        def attempt() -> requests.Response:
            starts.append(time.perf_counter())
            with _deadline.deadline(self._settings.deadline):
                response = self._session.request(
                    spec.method,
                    spec.url,
                    params=spec.params,
                    data=spec.body,
                    headers=spec.headers,
                    timeout=self._settings.timeout,
                    stream=True,
                    allow_redirects=False,
                    proxies=proxies,
                    auth=self._credential if spec.credential else None,  # a pre-signed URL goes without
                )
                if not stream or not 200 <= response.status_code < 300:
                    self._read(spec, response)
            _core.log_answer(spec, response.url, response.status_code, starts[-1])
            return response

        try:
            return self._retry_policy.call(spec, TRANSPORT_ADAPTER, attempt)
        except requests.exceptions.RequestException as exc:
            _core.raise_transport_error(spec, len(starts), exc, self._credential.secrets)

    def _read(self, spec: RequestSpec, response: requests.Response) -> None:
        """Read the body into ``response.content`` within its limits (``_core.Body``: decoded as it
        arrives, whatever urllib3's version) and the request's deadline (``_deadline``)."""
        # read1 returns what one receive brought: a server dripping bytes cannot hold a read.
        read = getattr(response.raw, "read1", response.raw.read)
        try:
            body = _core.Body(spec, response.status_code, response.headers, self._settings.max_answer_bytes)
            while chunk := read(_core.CHUNK_SIZE, decode_content=False):
                if not body.add(chunk):
                    response.close()  # an error's head is read: the rest goes with the connection
                    break
        except (AbejaError, urllib3.exceptions.HTTPError) as exc:
            response.close()
            if isinstance(exc, AbejaError):
                raise
            raise _as_requests_error(exc) from exc
        response._content = body.content
        response._content_consumed = True  # type: ignore[attr-defined]

    def _inference(self, spec: RequestSpec, stream_to: StreamTarget | None) -> requests.Response:
        """The inference answer; with ``stream_to`` its body is copied there in chunks (not
        limited in size; each receive within the read timeout)."""
        if not isinstance(stream_to, str | os.PathLike | None) and not hasattr(stream_to, "write"):
            raise InvalidArgumentError("stream_to", "must be a path or a binary file object")
        with closing(self._send(spec, stream=stream_to is not None)) as response:
            _core.raise_for_status(spec, response, self._credential.secrets, self._auth_hint)
            if stream_to is None:
                return response
            try:
                with (
                    open(stream_to, "wb")
                    if isinstance(stream_to, str | os.PathLike)
                    else nullcontext(stream_to) as target
                ):
                    for chunk in response.iter_content(_core.CHUNK_SIZE):
                        target.write(chunk)
            except requests.exceptions.RequestException as exc:
                secrets = self._credential.secrets
                _core.raise_transport_error(spec, 1, exc, secrets, "reading the answer failed: ")
        return response

    def _call(self, name: str, args: Mapping[str, Any]) -> Any:
        """Send the declared call ``name`` (``client.api``) with the calling method's arguments."""
        if OPERATIONS[name].answer == "response":
            return self._inference(self._builder.build(name, args), args.get("stream_to"))
        plan = _core.Plan(self._builder, name, args)
        for spec in plan:
            plan.answer = _core.read_answer(spec, self._send(spec), self._credential.secrets, self._auth_hint)
        return plan.answer

    # ------------------------------------------------------------------ services

    @declared("POST", api.DEPLOYMENT + "/services", payload=api.create_service_body)
    def create_service(
        self,
        organization_id: str,
        deployment_id: str,
        version_id: str,
        instance_number: int = 1,
        min_instance_number: int | None = None,
        max_instance_number: int | None = None,
        enable_autoscale: bool | None = None,
        instance_type: str = DEFAULT_INSTANCE_TYPE,
        environment: dict[str, str] | None = None,
        model_id: str | None = None,
    ) -> JSON:
        """POST .../services: create a service (never re-sent after a 5xx or a read timeout)."""

    @declared("DELETE", api.SERVICE)
    def delete_service(self, organization_id: str, deployment_id: str, service_id: str) -> JSON:
        """DELETE .../services/{service_id}."""

    @declared("GET", "/organizations/{organization_id}/deployments", "entries")
    def get_deployments(self, organization_id: str) -> JSON:
        """GET /organizations/{organization_id}/deployments; always ``{"entries": [...]}``."""

    list_services = get_services

    @declared("POST", "/services/{service_id}", "response", "inference")
    def request_service(
        self,
        organization_id: str,
        deployment_id: str,
        service_id: str,
        data: str | bytes | IO[bytes] | Any | None = None,
        json: Any | None = None,
        content_type: str | None = None,
        *,
        stream_to: StreamTarget | None = None,
    ) -> requests.Response:
        """POST to the service's inference route; returns the ``requests.Response``.

        ``data`` (str, bytes, binary file or iterator of bytes) is streamed; ``stream_to`` (a path
        or a binary file) receives the answer in chunks instead of keeping it in memory.
        """

    @declared("POST", api.SERVICE + "/start")
    def start_service(self, organization_id: str, deployment_id: str, service_id: str) -> JSON:
        """POST .../services/{service_id}/start."""

    @declared("POST", api.SERVICE + "/stop")
    def stop_service(self, organization_id: str, deployment_id: str, service_id: str) -> JSON:
        """POST .../services/{service_id}/stop."""

    @declared("PATCH", api.SERVICE, payload=api.update_service_body)
    def update_service(
        self, organization_id: str, deployment_id: str, service_id: str, payload: dict[str, Any] | None = None
    ) -> JSON:
        """PATCH .../services/{service_id} with ``payload`` as the body."""

    # ------------------------------------------------------------------ endpoints

    @declared("POST", api.DEPLOYMENT + "/endpoints", payload=api.create_endpoint_body)
    def create_endpoint(
        self, organization_id: str, deployment_id: str, service_id: str, custom_alias: str | None = None
    ) -> JSON:
        """POST .../endpoints (the platform names the alias ``default`` when none is given)."""

    @declared("GET", api.ENDPOINT)
    def get_endpoint(self, organization_id: str, deployment_id: str, endpoint: str) -> JSON:
        """GET .../endpoints/{endpoint id or custom alias}."""

    @declared("GET", api.DEPLOYMENT + "/endpoints", "entries")
    def get_endpoints(self, organization_id: str, deployment_id: str) -> JSON:
        """GET .../endpoints; always ``{"entries": [...]}``."""

    @declared("PATCH", api.ENDPOINT, payload=api.update_endpoint_body)
    def update_endpoint(
        self, organization_id: str, deployment_id: str, endpoint: str, service_id: str
    ) -> JSON:
        """PATCH .../endpoints/{endpoint}: point it at ``service_id``."""

    @declared("DELETE", api.ENDPOINT)
    def delete_endpoint(self, organization_id: str, deployment_id: str, endpoint: str) -> JSON:
        """DELETE .../endpoints/{endpoint}."""

    @declared("POST", "/{custom_alias?}", "response", "inference")
    def request_endpoint(
        self,
        organization_id: str,
        deployment_id: str,
        custom_alias: str | None = None,
        data: str | bytes | IO[bytes] | Any | None = None,
        json: Any | None = None,
        content_type: str | None = None,
        *,
        stream_to: StreamTarget | None = None,
    ) -> requests.Response:
        """POST to an endpoint (the default one when ``custom_alias`` is None)."""

    # ------------------------------------------------------------------ training and deployment versions

    @declared("POST", api.DEFINITIONS, payload=training.definition_body)
    def create_training_job_definition(self, organization_id: str, job_definition_name: str) -> JSON:
        """POST .../training/definitions: a new job definition named ``job_definition_name``."""

    @declared("GET", api.DEFINITIONS, "entries")
    def get_training_job_definitions(self, organization_id: str) -> JSON:
        """GET .../training/definitions; always ``{"entries": [...]}``."""

    @declared("GET", api.DEFINITION, query={"include_jobs": api.flag})
    def get_training_job_definition(
        self, organization_id: str, job_definition_name: str, include_jobs: bool | None = None
    ) -> JSON:
        """GET .../training/definitions/{name}."""

    @declared("DELETE", api.DEFINITION)
    def delete_training_job_definition(self, organization_id: str, job_definition_name: str) -> JSON:
        """DELETE .../definitions/{job_definition_name}: only an empty definition (409 otherwise)."""

    @declared("POST", api.DEFINITION + "/archive")
    def archive_training_job_definition(self, organization_id: str, job_definition_name: str) -> JSON:
        """POST .../definitions/{job_definition_name}/archive."""

    @declared("POST", api.VERSIONS, payload=training.definition_version_body)
    def create_training_job_definition_version(
        self,
        organization_id: str,
        job_definition_name: str,
        source: training.Archive,
        handler: str,
        image: str | None = None,
        environment: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> JSON:
        """POST .../versions (multipart): ``source`` is a folder (zipped here), a zip or .tar.gz."""

    @declared("GET", api.VERSIONS, "entries")
    def get_training_job_definition_versions(self, organization_id: str, job_definition_name: str) -> JSON:
        """GET .../versions; always ``{"entries": [...]}``."""

    @declared("GET", api.VERSION, path_values=api.NUMBERED)
    def get_training_job_definition_version(
        self, organization_id: str, job_definition_name: str, version_id: int
    ) -> JSON:
        """GET .../versions/{version_id} (a number)."""

    @declared("DELETE", api.VERSION, path_values=api.NUMBERED)
    def delete_training_job_definition_version(
        self, organization_id: str, job_definition_name: str, version_id: int
    ) -> JSON:
        """DELETE .../versions/{version_id}: only a version no job ran (409 otherwise; archive it)."""

    @declared("POST", api.VERSION + "/archive", path_values=api.NUMBERED)
    def archive_training_job_definition_version(
        self, organization_id: str, job_definition_name: str, version_id: int
    ) -> JSON:
        """POST .../versions/{version_id}/archive."""

    @declared("POST", api.VERSION + "/jobs", payload=training.job_body, path_values=api.NUMBERED)
    def create_training_job(
        self,
        organization_id: str,
        job_definition_name: str,
        version_id: int,
        environment: Mapping[str, str] | None = None,
        datasets: Mapping[str, str] | None = None,
        instance_type: str | None = None,
        description: str | None = None,
        export_log: bool | None = None,
    ) -> JSON:
        """POST .../versions/{version_id}/jobs: start a job (never re-sent after a 5xx or read timeout)."""

    @declared("GET", api.DEFINITION + "/jobs", "entries", query=api.PAGE)
    def get_training_jobs(
        self,
        organization_id: str,
        job_definition_name: str,
        limit: int | None = None,
        offset: int | None = None,
    ) -> JSON:
        """GET .../jobs; always ``{"entries": [...]}``."""

    @declared("POST", api.JOB + "/stop")
    def stop_training_job(self, organization_id: str, job_definition_name: str, training_job_id: str) -> JSON:
        """POST .../jobs/{training_job_id}/stop."""

    @declared("POST", api.JOB + "/archive")
    def archive_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> JSON:
        """POST .../jobs/{training_job_id}/archive (jobs are archived, never deleted)."""

    @declared("GET", api.JOB + "/result")
    def get_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> JSON:
        """GET .../jobs/{training_job_id}/result: ``{"artifacts": {"complete": {"uri": ...}}}``."""

    @declared(
        "POST", api.JOB + "/statistics", payload=training.statistics_body, payload_argument="statistics"
    )
    def update_training_statistics(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        statistics: Mapping[str, Any],
    ) -> JSON:
        """POST .../jobs/{training_job_id}/statistics (what a training handler reports)."""

    @declared("GET", **api.presigned("uri", "the training result"))
    def download_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> bytes:
        """The job's result archive (zip) from its pre-signed URI (sent without the credential)."""
        result = self.get_training_result(organization_id, job_definition_name, training_job_id)
        return self._call("download_training_result", {"uri": training.artifact_uri(result)})

    @declared("POST", api.DEFINITION + "/models", payload=training.model_body)
    def create_training_model(
        self,
        organization_id: str,
        job_definition_name: str,
        model_data: training.Archive,
        training_job_id: str | None = None,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> JSON:
        """POST .../models (multipart): ``model_data`` is a zip or a folder (zipped here)."""

    def create_training_model_from_job(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> JSON:
        """Register what a finished job wrote to ``ABEJA_TRAINING_RESULT_DIR`` as a trained model."""
        model_data = self.download_training_result(organization_id, job_definition_name, training_job_id)
        return self._call("create_training_model", locals())

    @declared("GET", api.DEFINITION + "/models", "entries")
    def get_training_models(self, organization_id: str, job_definition_name: str) -> JSON:
        """GET .../models; always ``{"entries": [...]}``."""

    @declared("GET", api.DEFINITION + "/models/{model_id}")
    def get_training_model(self, organization_id: str, job_definition_name: str, model_id: str) -> JSON:
        """GET .../models/{model_id}."""

    @declared("POST", api.DEFINITION + "/models/{model_id}/archive")
    def archive_training_model(self, organization_id: str, job_definition_name: str, model_id: str) -> JSON:
        """POST .../models/{model_id}/archive (models are archived, never deleted)."""

    @declared("POST", api.DEPLOYMENT + "/versions", payload=training.deployment_version_body)
    def create_deployment_version(
        self,
        organization_id: str,
        deployment_id: str,
        version: str,
        code: training.Archive,
        handler: str = training.DEFAULT_HANDLER,
        image: str = training.DEFAULT_IMAGE,
        user_parameters: Mapping[str, str] | None = None,
    ) -> JSON:
        """POST .../deployments/{id}/versions, then PUT the code (.tar.gz; a folder is packed) to
        its ``upload_url``. Returns the version (``version_id``, ...).

        The code is read and checked before the version is created; the PUT goes without the
        credential (the URL is pre-signed).
        """
        code_bytes = training.deployment_code(code)
        created = self._call("create_deployment_version", locals())
        self._call("upload_deployment_code", {"upload_url": created.get("upload_url"), "code": code_bytes})
        return created

    @declared("GET", api.DEPLOYMENT + "/versions", "entries")
    def get_deployment_versions(self, organization_id: str, deployment_id: str) -> JSON:
        """GET .../deployments/{id}/versions; always ``{"entries": [...]}``."""

    @declared("GET", api.DEPLOYMENT + "/versions/{version_id}")
    def get_deployment_version(self, organization_id: str, deployment_id: str, version_id: str) -> JSON:
        """GET .../deployments/{id}/versions/{version_id}."""

    @declared("DELETE", api.DEPLOYMENT + "/versions/{version_id}")
    def delete_deployment_version(self, organization_id: str, deployment_id: str, version_id: str) -> JSON:
        """DELETE .../deployments/{id}/versions/{version_id}: a version no service runs (else 409)."""

    # ------------------------------------------------------------------ runs

    @declared("POST", api.DEPLOYMENT + "/runs", payload=runs.run_body)
    def create_run(
        self,
        organization_id: str,
        deployment_id: str,
        version_id: str,
        input_data: Mapping[str, str] | None = None,
        output_template: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        model_id: str | None = None,
        retry_count: int | None = None,
        distribution: int | None = None,
    ) -> JSON:
        """POST .../runs: run ``version_id`` once (never re-sent after a 5xx or a read timeout).

        ``input_data`` / ``output_template``: ``client.runs.datalake_input(channel, file)`` and
        ``datalake_output(channel)``; ``retry_count`` 0 to 9 (the platform's default 5).
        """

    @declared("GET", api.DEPLOYMENT + "/runs", query=api.TOKEN_PAGE)
    def get_runs(
        self,
        organization_id: str,
        deployment_id: str,
        next_page_token: str | None = None,
        scan_forward: bool | None = None,
    ) -> JSON:
        """GET .../runs: one page ``{"entries": [...], "next_page_token": ...}``, newest first
        unless ``scan_forward``."""

    @declared("GET", api.RUN + "/logs", query=api.RUN_LOG_PAGE)
    def get_run_logs(
        self,
        organization_id: str,
        deployment_id: str,
        run_id: str,
        next_token: str | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> JSON:
        """GET .../runs/{run_id}/logs: events oldest first; no ``next_token`` on the last page."""

    # ------------------------------------------------------------------ triggers

    @declared("POST", api.DEPLOYMENT + "/triggers", payload=runs.trigger_body)
    def create_trigger(
        self,
        organization_id: str,
        deployment_id: str,
        version_id: str,
        input_service_id: str,
        input_service_name: str = "datalake",
        output_service_name: str | None = None,
        output_service_id: str | None = None,
        environment: Mapping[str, str] | None = None,
        model_id: str | None = None,
        retry_count: int | None = None,
        distribution: int | None = None,
    ) -> JSON:
        """POST .../triggers: a run of ``version_id`` for each new file of channel ``input_service_id``."""

    @declared("GET", api.DEPLOYMENT + "/triggers", "entries")
    def get_triggers(self, organization_id: str, deployment_id: str) -> JSON:
        """GET .../triggers; always ``{"entries": [...]}``."""

    @declared("GET", api.TRIGGER)
    def get_trigger(self, organization_id: str, deployment_id: str, trigger_id: str) -> JSON:
        """GET .../triggers/{trigger_id}."""

    @declared("DELETE", api.TRIGGER)
    def delete_trigger(self, organization_id: str, deployment_id: str, trigger_id: str) -> JSON:
        """DELETE .../triggers/{trigger_id}."""

    @declared("GET", api.TRIGGER + "/runs", query=api.TOKEN_PAGE)
    def get_trigger_runs(
        self,
        organization_id: str,
        deployment_id: str,
        trigger_id: str,
        next_page_token: str | None = None,
        scan_forward: bool | None = None,
    ) -> JSON:
        """GET .../triggers/{trigger_id}/runs: one page of the runs it started."""

    # ------------------------------------------------------------------ Datalake

    @declared("POST", api.CHANNELS, payload=runs.channel_body)
    def create_channel(
        self, organization_id: str, name: str, description: str | None = None, storage_type: str = "datalake"
    ) -> JSON:
        """POST .../channels: ``{"channel": {"channel_id": ...}, ...}``."""

    @declared("GET", api.CHANNELS, query=api.PAGE | {"filter_archived": api.text})
    def get_channels(
        self,
        organization_id: str,
        limit: int | None = None,
        offset: int | None = None,
        filter_archived: str | None = None,
    ) -> JSON:
        """GET .../channels: ``{"channels": [...], "has_next": ...}`` (``filter_archived``:
        ``include_archived`` or ``exclude_archived``)."""

    @declared("GET", api.CHANNELS + "/{channel_id}")
    def get_channel(self, organization_id: str, channel_id: str) -> JSON:
        """GET .../channels/{channel_id}: ``{"channel": {...}, ...}``."""

    @declared(
        "POST", "/channels/{channel_id}/upload", streams=True, headers=runs.metadata_headers, query=api.UPLOAD
    )
    def upload_channel_file(
        self,
        channel_id: str,
        data: str | bytes | IO[bytes] | Any,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        lifetime: str | None = None,
        conflict_target: str | None = None,
    ) -> JSON:
        """POST /channels/{channel_id}/upload: one file (``data`` streamed) -> ``file_id``, ...

        ``metadata`` keys become ``x-abeja-meta-<key>`` headers (key and value percent-encoded,
        as ABEJA's SDK sends them; ``filename`` names the file); ``lifetime`` one of
        ``client.runs.LIFETIMES``; ``conflict_target`` (e.g. ``filename``): 409 when a file with
        the same value exists. Never re-sent after an unknown outcome.
        """

    @declared("GET", api.FILE)
    def get_channel_file(self, channel_id: str, file_id: str) -> JSON:
        """GET /channels/{channel_id}/{file_id}: the file's info and its pre-signed ``download_uri``."""

    def download_channel_file(self, channel_id: str, file_id: str) -> bytes:
        """The file's bytes, from the pre-signed URL of its info (sent without the credential)."""
        info = self.get_channel_file(channel_id, file_id)
        uri = info.get("download_uri") or info.get("download_url")
        return self._call("download_channel_file_content", {"download_uri": uri})

    @declared("DELETE", api.FILE)
    def delete_channel_file(self, channel_id: str, file_id: str) -> JSON:
        """DELETE /channels/{channel_id}/{file_id}."""
