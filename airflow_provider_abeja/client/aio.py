"""AsyncAPIClient: the calls triggers await, as coroutines on one pooled ``httpx.AsyncClient``.

Shares the sans-IO core and the retry policy with :class:`~.sync.APIClient`; only the
transport differs. Triggers must never block the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Concatenate, ParamSpec

import httpx

from airflow_provider_abeja.client import _core
from airflow_provider_abeja.client._core import RequestSpec
from airflow_provider_abeja.client.retry import Failure, TransportAdapter
from airflow_provider_abeja.client.sync import APIClient, ClientBase
from airflow_provider_abeja.exceptions import InvalidArgumentError

P = ParamSpec("P")


def classify_httpx_error(exc: BaseException) -> Failure | None:
    """Map an httpx exception to how far the request got (None: not a failure to retry)."""
    permanent = isinstance(exc, httpx.ConnectError) and _core.is_permanent_tls_failure(exc)
    if permanent or isinstance(exc, httpx.UnsupportedProtocol) or not isinstance(exc, httpx.TransportError):
        return None
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Failure.NOT_SENT  # raised before any request byte was written
    return Failure.READ_TIMEOUT if isinstance(exc, httpx.ReadTimeout) else Failure.BROKEN


TRANSPORT_ADAPTER: TransportAdapter[_core.Answer] = TransportAdapter(classify_httpx_error)


@functools.lru_cache(maxsize=8)
def _verify(value: bool | str) -> bool | ssl.SSLContext:
    """One TLS context per CA setting, shared by every client of the process.

    Building one reads the whole CA bundle: a triggerer that starts many status triggers would
    otherwise block its event loop for each of them.
    """
    if value is False:
        return False
    try:
        if value is True:
            return httpx.create_ssl_context(verify=True, trust_env=True)
        return ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgumentError("verify", f"cannot load the CA bundle {value!r}: {exc}") from None


def _awaited(
    call: Callable[Concatenate[Any, P], Any],
) -> Callable[Concatenate[AsyncAPIClient, P], Coroutine[Any, Any, dict[str, Any]]]:
    """A call of ``APIClient`` as a coroutine method (its signature and docstring kept)."""

    @functools.wraps(call)
    async def method(self: AsyncAPIClient, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        return await call(self, *args, **kwargs)

    return method


class AsyncAPIClient(ClientBase, AbstractAsyncContextManager["AsyncAPIClient"]):
    """The calls triggers await, as coroutines; the same constructor as ``APIClient``.

    Close with ``await client.aclose()`` or ``async with``.
    """

    def _open_transport(self) -> None:
        size, timeout = self._settings.pool_maxsize, self._settings.timeout
        connect, read = timeout or (None, None)
        # The CA setting is already in the SSL context; the environment gives only the proxies.
        # The API authenticates by header: the cookie jar's policy keeps and sends no cookie.
        self._client = httpx.AsyncClient(
            headers=_core.HEADERS,
            auth=self._credential,
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            verify=_verify(self._settings.verify),
            timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            follow_redirects=False,  # the API does not redirect; nothing follows one
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _send(self, spec: RequestSpec) -> _core.Answer:
        """The answer to ``spec``, read whole within the request's deadline and size limit."""
        deadline = self._settings.deadline
        starts: list[float] = []  # when each attempt started

        async def attempt() -> _core.Answer:
            starts.append(time.perf_counter())
            request = self._client.build_request(
                spec.method, spec.url, params=spec.params, content=spec.body, headers=spec.headers
            )
            try:
                answer = await asyncio.wait_for(self._exchange(spec, request), deadline)
            except asyncio.TimeoutError:
                raise httpx.ReadTimeout(f"no whole answer within {deadline:g}s", request=request) from None
            _core.log_answer(spec, answer.url, answer.status_code, starts[-1])
            return answer

        try:
            return await self._retry_policy.acall(spec, TRANSPORT_ADAPTER, attempt)
        except httpx.TransportError as exc:
            _core.raise_transport_error(spec, len(starts), exc, self._credential.secrets)

    async def _exchange(self, spec: RequestSpec, request: httpx.Request) -> _core.Answer:
        """Send ``request`` and read its body: a 2xx up to ``max_answer_bytes``, an error its head.

        Only the parts kept leave: no httpx response (and its reference cycles) outlives the call.
        """
        response = await self._client.send(request, stream=True)
        try:
            body = _core.Body(spec, response.status_code, response.headers, self._settings.max_answer_bytes)
            async for chunk in response.aiter_raw():
                if not body.add(chunk):
                    break
            reason, url = response.reason_phrase or "", str(request.url)  # never redirected
            return _core.Answer(response.status_code, reason, response.headers, body.content, url)
        finally:
            await response.aclose()
            # httpx binds the spent stream to its response, a reference cycle holding the whole
            # request/response graph; with hundreds of polls in flight full collections stall
            # the loop.
            response.stream = httpx.ByteStream(b"")

    async def _call(self, name: str, args: Mapping[str, Any]) -> Any:
        """Send the declared call ``name`` (``client.api``) with the calling method's arguments."""
        plan = _core.Plan(self._builder, name, args)
        for spec in plan:
            answer = await self._send(spec)
            plan.answer = _core.read_answer(spec, answer, self._credential.secrets, self._auth_hint)
        return plan.answer

    get_service = _awaited(APIClient.get_service)
    get_services = _awaited(APIClient.get_services)
    get_service_recent_logs = _awaited(APIClient.get_service_recent_logs)
    get_training_job = _awaited(APIClient.get_training_job)
    get_training_job_recent_logs = _awaited(APIClient.get_training_job_recent_logs)
    get_run = _awaited(APIClient.get_run)
    get_run_recent_logs = _awaited(APIClient.get_run_recent_logs)
    list_channel_files = _awaited(APIClient.list_channel_files)

    # What a trigger's on_kill sends (never re-sent blindly: DELETE is idempotent, the stop a POST).
    delete_service = _awaited(APIClient.delete_service)
    stop_training_job = _awaited(APIClient.stop_training_job)
