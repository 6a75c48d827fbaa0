"""AsyncAPIClient: the same API as coroutines, on one pooled ``httpx.AsyncClient``.

Shares the sans-IO core and the retry policy with :class:`~.sync.APIClient`; only the
transport differs. Used by triggers, which must never block the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from typing import IO, Any

import httpx

from airflow_provider_abeja.client import _core, _paging
from airflow_provider_abeja.client._base import ClientBase
from airflow_provider_abeja.client._core import RequestSpec
from airflow_provider_abeja.client.api import OPERATIONS
from airflow_provider_abeja.client.credentials import Credential
from airflow_provider_abeja.client.retry import Failure, TransportAdapter
from airflow_provider_abeja.client.training import Archive
from airflow_provider_abeja.exceptions import InvalidArgumentError, TransportError

logger = logging.getLogger("airflow_provider_abeja.client")

StreamTarget = str | os.PathLike[str] | IO[bytes]


class _HeaderAuth(httpx.Auth):
    """Adds the Authorization header per request; its repr never shows the value."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._credential.authorization
        yield request

    def __repr__(self) -> str:
        return f"<auth {self._credential!r}>"


#: Adds nothing: overrides the client's auth for a pre-signed URL.
_NO_AUTH = httpx.Auth()


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing and sends nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


#: Parsed URLs kept per client (a triggerer's shared client sees one URL per watched service).
_URL_CACHE_SIZE = 4096


def classify_httpx_error(exc: BaseException) -> Failure | None:
    """Map an httpx exception to how far the request got."""
    if isinstance(exc, httpx.ConnectError) and (
        "CERTIFICATE_VERIFY_FAILED" in str(exc) or _core.is_tls_mismatch(exc)
    ):
        return None  # permanent: retrying cannot help
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Failure.NOT_SENT  # raised before any request byte was written
    if isinstance(exc, httpx.ReadTimeout):
        return Failure.READ_TIMEOUT
    if isinstance(exc, httpx.UnsupportedProtocol):
        return None
    if isinstance(exc, httpx.TransportError):
        return Failure.BROKEN
    return None


TRANSPORT_ADAPTER: TransportAdapter[httpx.Response] = TransportAdapter(
    classify=classify_httpx_error,
    status_of=lambda response: response.status_code,
    header_of=lambda response, name: response.headers.get(name),
    close=lambda response: None,  # bodies of retried answers are always read already
)


@functools.lru_cache(maxsize=8)
def _ssl_context(cafile: str | None) -> ssl.SSLContext:
    """One TLS context per CA setting, shared by every client of the process.

    Building one reads the whole CA bundle: a triggerer that starts many status triggers would
    otherwise block its event loop for each of them (bench/trigger_scale.py measures start-up).
    """
    if cafile is None:
        return httpx.create_ssl_context(verify=True, trust_env=True)
    return ssl.create_default_context(cafile=cafile)


def _verify(value: bool | str) -> bool | ssl.SSLContext:
    if value is False:
        return False
    try:
        return _ssl_context(value if isinstance(value, str) else None)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgumentError("verify", f"cannot load the CA bundle {value!r}: {exc}") from None


@functools.lru_cache(maxsize=8)
def _proxy_map(_env: tuple[str | None, ...]) -> tuple[tuple[str, str | None], ...]:
    """httpx's proxy routes for one state of the proxy variables (the argument is the cache key).

    ``trust_env=True`` makes httpx scan the whole environment for every client built (about a
    millisecond); reading these few variables and caching the routes keeps proxies honoured.
    """
    from httpx._utils import get_environment_proxies

    return tuple(sorted(get_environment_proxies().items()))


def _proxy_mounts(
    verify: bool | ssl.SSLContext, limits: httpx.Limits
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """``mounts=`` equal to what ``trust_env=True`` would build from the proxy variables."""
    routes = _proxy_map(_core.proxy_environment())
    return {
        pattern: None if url is None else httpx.AsyncHTTPTransport(verify=verify, limits=limits, proxy=url)
        for pattern, url in routes
    }


def _timeout(value: tuple[float, float] | None) -> httpx.Timeout:
    if value is None:
        return httpx.Timeout(None)
    connect, read = value
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


async def _file_chunks(stream: IO[bytes]) -> AsyncIterator[bytes]:
    while True:
        chunk = await asyncio.to_thread(stream.read, _core.CHUNK_SIZE)
        if not chunk:
            return
        yield chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")


async def _iter_chunks(items: Iterable[Any]) -> AsyncIterator[bytes]:
    for item in items:
        yield item if isinstance(item, bytes) else str(item).encode("utf-8")


def _stream_length(stream: Any) -> int | None:
    try:
        size = os.fstat(stream.fileno()).st_size
        return max(0, size - stream.tell())
    except (AttributeError, OSError, ValueError):
        return None


class AsyncAPIClient(ClientBase):
    """The coroutine twin of :class:`~airflow_provider_abeja.client.APIClient`.

    Same constructor, same methods (awaitable); ``request_service`` / ``request_endpoint``
    return an ``httpx.Response``. Close with ``await client.aclose()`` or ``async with``.
    """

    def _open_transport(self) -> None:
        self._urls: dict[str, httpx.URL] = {}
        verify_setting = _verify(self._settings.verify)
        limits = httpx.Limits(
            max_connections=self._settings.pool_maxsize,
            max_keepalive_connections=self._settings.pool_maxsize,
        )
        # trust_env=False: the CA setting is already in the SSL context and proxies come from
        # _proxy_mounts, read once per state of the environment instead of once per client.
        self._client = httpx.AsyncClient(
            headers={"User-Agent": _core.USER_AGENT},
            auth=_HeaderAuth(self._credential),
            verify=verify_setting,
            timeout=_timeout(self._settings.timeout),
            limits=limits,
            mounts=_proxy_mounts(verify_setting, limits),
            follow_redirects=True,
            trust_env=False,
        )
        # The API authenticates every request by header; httpx's per-response cookie handling
        # (a urllib request wrapper built for each answer) was a tenth of a poll's CPU.
        self._client._cookies = _NoCookies()

    # ------------------------------------------------------------------ plumbing

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncAPIClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _url(self, url: str) -> httpx.URL:
        """The parsed URL, cached: a waiting trigger asks for the same URL again and again, and
        parsing one is a tenth of httpx's work per request."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    def _content(self, spec: RequestSpec) -> tuple[Any, dict[str, str]]:
        body = spec.body
        headers = dict(spec.headers)
        if body is None or isinstance(body, bytes):
            return body, headers
        if hasattr(body, "read"):
            length = _stream_length(body)
            if length is not None:
                headers["Content-Length"] = str(length)
            return _file_chunks(body), headers
        if hasattr(body, "__aiter__"):
            return body, headers
        return _iter_chunks(body), headers

    async def _send(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        attempts = 0

        async def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            started = time.perf_counter()
            content, headers = self._content(spec)
            request = self._client.build_request(
                spec.method, self._url(spec.url), params=spec.params, content=content, headers=headers
            )
            auth = httpx.USE_CLIENT_DEFAULT if spec.credential else _NO_AUTH
            response = await self._client.send(request, stream=stream, auth=auth)
            if not stream:
                # httpx binds the spent stream to its response (a reference cycle holding the
                # whole request/response graph, ~40 objects): with hundreds of polls in flight
                # those reach the oldest GC generation and full collections stall the loop.
                # The body is read and the stream closed, so the response loses nothing.
                response.stream = httpx.ByteStream(response.content)
            elif response.status_code >= 400:
                await response.aread()
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s -> %d (%.3fs)",
                    spec.method,
                    response.request.url if spec.credential else spec.shown_url,
                    response.status_code,
                    time.perf_counter() - started,
                )
            return response

        try:
            return await self._retry_policy.acall(spec, TRANSPORT_ADAPTER, attempt)
        except httpx.TransportError as exc:
            raise _core.transport_error(spec, attempts, f"{type(exc).__name__}: {exc}", exc) from exc

    def _error(self, response: httpx.Response, spec: RequestSpec) -> Exception:
        return _core.error_from_response(
            response.status_code,
            response.reason_phrase or "",
            response.content,
            str(response.request.url) if response.request and spec.credential else spec.shown_url,
            self._credential.secrets,
        )

    async def _ok(self, spec: RequestSpec) -> httpx.Response:
        """The response of a 2xx answer (its body read); the error of any other."""
        response = await self._send(spec)
        if not 200 <= response.status_code < 300:
            raise self._error(response, spec)
        return response

    async def _json(self, spec: RequestSpec) -> Any:
        response = await self._ok(spec)
        return _core.parse_json_body(
            response.status_code,
            response.headers.get("Content-Type", ""),
            response.content,
            str(response.request.url),
            self._credential.secrets,
        )

    async def _object(self, spec: RequestSpec) -> dict[str, Any]:
        return _core.expect_object(await self._json(spec), 200, spec.url)

    async def _entries(self, spec: RequestSpec) -> dict[str, Any]:
        """A list, every page of it (see ``_paging``)."""
        pages = [_core.normalize_entries(await self._json(spec), 200, spec.url)]
        following = _paging.next_page(spec, pages[-1], len(pages))
        while following is not None:
            pages.append(_core.normalize_entries(await self._json(following), 200, following.url))
            following = _paging.next_page(following, pages[-1], len(pages))
        return _paging.merge_pages(pages)

    async def _inference(self, spec: RequestSpec, stream_to: StreamTarget | None) -> httpx.Response:
        if stream_to is None:
            response = await self._send(spec)
            if response.status_code >= 400:
                raise self._error(response, spec)
            return response
        if not isinstance(stream_to, str | os.PathLike) and not hasattr(stream_to, "write"):
            raise InvalidArgumentError("stream_to", "must be a path or a binary file object")
        response = await self._send(spec, stream=True)
        try:
            if response.status_code >= 400:
                raise self._error(response, spec)
            try:
                if isinstance(stream_to, str | os.PathLike):
                    with open(stream_to, "wb") as target:
                        await self._copy(response, target)
                else:
                    await self._copy(response, stream_to)
            except httpx.TransportError as exc:
                raise TransportError(
                    f"{spec.method} {spec.url}: reading the answer failed: {type(exc).__name__}: {exc}",
                    url=spec.url,
                    attempts=1,
                ) from exc
        finally:
            await response.aclose()
        return response

    @staticmethod
    async def _copy(response: httpx.Response, target: IO[bytes]) -> None:
        async for chunk in response.aiter_bytes(_core.CHUNK_SIZE):
            target.write(chunk)

    async def _call(self, name: str, args: Mapping[str, Any]) -> Any:
        """Send the declared call ``name`` (``client.api``) with the calling method's arguments."""
        steps, answer = _core.plan(self._builder, name, args), None
        while True:
            try:
                spec = steps.send(answer)
            except StopIteration as done:
                return done.value
            answer = await self._read(spec, args.get("stream_to"))

    async def _read(self, spec: RequestSpec, stream_to: StreamTarget | None) -> Any:
        """Send one request and read its answer the way its declaration says."""
        answer = OPERATIONS[spec.route].answer
        if answer == "response":
            return await self._inference(spec, stream_to)
        if answer == "entries":
            return await self._entries(spec)
        if answer == "bytes":
            return (await self._ok(spec)).content
        return await self._object(spec)

    # ------------------------------------------------------------------ services

    async def create_service(
        self,
        organization_id: str,
        deployment_id: str,
        version_id: str,
        instance_number: int = 1,
        min_instance_number: int | None = None,
        max_instance_number: int | None = None,
        enable_autoscale: bool | None = None,
        instance_type: str = "cpu-0.25",
        environment: dict[str, str] | None = None,
        model_id: str | None = None,
    ) -> dict[str, Any]:
        return await self._call("create_service", locals())

    async def delete_service(
        self, organization_id: str, deployment_id: str, service_id: str
    ) -> dict[str, Any]:
        return await self._call("delete_service", locals())

    async def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> dict[str, Any]:
        return await self._call("get_service", locals())

    async def get_service_recent_logs(
        self,
        organization_id: str,
        deployment_id: str,
        service_id: str,
        next_forward_token: str | None = None,
        next_backward_token: str | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> dict[str, Any]:
        return await self._call("get_service_recent_logs", locals())

    async def get_deployments(self, organization_id: str) -> dict[str, Any]:
        return await self._call("get_deployments", locals())

    async def get_services(self, organization_id: str, deployment_id: str) -> dict[str, Any]:
        return await self._call("get_services", locals())

    list_services = get_services

    async def request_service(
        self,
        organization_id: str,
        deployment_id: str,
        service_id: str,
        data: str | bytes | IO[bytes] | Any | None = None,
        json: Any | None = None,
        content_type: str | None = None,
        *,
        stream_to: StreamTarget | None = None,
    ) -> httpx.Response:
        return await self._call("request_service", locals())

    async def start_service(
        self, organization_id: str, deployment_id: str, service_id: str
    ) -> dict[str, Any]:
        return await self._call("start_service", locals())

    async def stop_service(self, organization_id: str, deployment_id: str, service_id: str) -> dict[str, Any]:
        return await self._call("stop_service", locals())

    async def update_service(
        self, organization_id: str, deployment_id: str, service_id: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._call("update_service", locals())

    # ------------------------------------------------------------------ endpoints

    async def create_endpoint(
        self, organization_id: str, deployment_id: str, service_id: str, custom_alias: str | None = None
    ) -> dict[str, Any]:
        return await self._call("create_endpoint", locals())

    async def get_endpoint(self, organization_id: str, deployment_id: str, endpoint: str) -> dict[str, Any]:
        return await self._call("get_endpoint", locals())

    async def get_endpoints(self, organization_id: str, deployment_id: str) -> dict[str, Any]:
        return await self._call("get_endpoints", locals())

    async def update_endpoint(
        self, organization_id: str, deployment_id: str, endpoint: str, service_id: str
    ) -> dict[str, Any]:
        return await self._call("update_endpoint", locals())

    async def delete_endpoint(
        self, organization_id: str, deployment_id: str, endpoint: str
    ) -> dict[str, Any]:
        return await self._call("delete_endpoint", locals())

    async def request_endpoint(
        self,
        organization_id: str,
        deployment_id: str,
        custom_alias: str | None = None,
        data: str | bytes | IO[bytes] | Any | None = None,
        json: Any | None = None,
        content_type: str | None = None,
        *,
        stream_to: StreamTarget | None = None,
    ) -> httpx.Response:
        return await self._call("request_endpoint", locals())

    # ------------------------------------------------------------------ training and deployment versions

    async def create_training_job_definition(
        self, organization_id: str, job_definition_name: str
    ) -> dict[str, Any]:
        return await self._call("create_training_job_definition", locals())

    async def get_training_job_definitions(self, organization_id: str) -> dict[str, Any]:
        return await self._call("get_training_job_definitions", locals())

    async def get_training_job_definition(
        self, organization_id: str, job_definition_name: str, include_jobs: bool | None = None
    ) -> dict[str, Any]:
        return await self._call("get_training_job_definition", locals())

    async def create_training_job_definition_version(
        self,
        organization_id: str,
        job_definition_name: str,
        source: Archive,
        handler: str,
        image: str | None = None,
        environment: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        return await self._call("create_training_job_definition_version", locals())

    async def get_training_job_definition_versions(
        self, organization_id: str, job_definition_name: str
    ) -> dict[str, Any]:
        return await self._call("get_training_job_definition_versions", locals())

    async def get_training_job_definition_version(
        self, organization_id: str, job_definition_name: str, version_id: int
    ) -> dict[str, Any]:
        return await self._call("get_training_job_definition_version", locals())

    async def create_training_job(
        self,
        organization_id: str,
        job_definition_name: str,
        version_id: int,
        environment: Mapping[str, str] | None = None,
        datasets: Mapping[str, str] | None = None,
        instance_type: str | None = None,
        description: str | None = None,
        export_log: bool | None = None,
    ) -> dict[str, Any]:
        return await self._call("create_training_job", locals())

    async def get_training_jobs(
        self,
        organization_id: str,
        job_definition_name: str,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        return await self._call("get_training_jobs", locals())

    async def get_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._call("get_training_job", locals())

    async def stop_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._call("stop_training_job", locals())

    async def get_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._call("get_training_result", locals())

    async def update_training_statistics(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        statistics: Mapping[str, Any],
    ) -> dict[str, Any]:
        return await self._call("update_training_statistics", locals())

    async def get_training_job_recent_logs(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._call("get_training_job_recent_logs", locals())

    async def download_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> bytes:
        return await self._call("download_training_result", locals())

    async def create_training_model(
        self,
        organization_id: str,
        job_definition_name: str,
        model_data: Archive,
        training_job_id: str | None = None,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return await self._call("create_training_model", locals())

    async def create_training_model_from_job(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return await self._call("create_training_model_from_job", locals())

    async def get_training_models(self, organization_id: str, job_definition_name: str) -> dict[str, Any]:
        return await self._call("get_training_models", locals())

    async def get_training_model(
        self, organization_id: str, job_definition_name: str, model_id: str
    ) -> dict[str, Any]:
        return await self._call("get_training_model", locals())

    async def create_deployment_version(
        self,
        organization_id: str,
        deployment_id: str,
        version: str,
        code: Archive,
        handler: str = "main:handler",
        image: str = "abeja-inc/all-cpu:23.02",
        user_parameters: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self._call("create_deployment_version", locals())

    async def get_deployment_versions(self, organization_id: str, deployment_id: str) -> dict[str, Any]:
        return await self._call("get_deployment_versions", locals())

    async def get_deployment_version(
        self, organization_id: str, deployment_id: str, version_id: str
    ) -> dict[str, Any]:
        return await self._call("get_deployment_version", locals())
