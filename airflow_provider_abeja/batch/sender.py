"""Send one batch input to a service or an endpoint and turn the outcome into a result record.

Re-sending policy. The client never re-sends an inference POST after the server may have acted on
it (a 5xx, a read timeout, a dropped connection): for a single call, the caller decides. A batch
has to decide per input, and does so here, with the client's own `RetryPolicy` (the same tenacity
backoff, attempt count and Retry-After handling), only widening *which* outcomes count as safe:

- `resend_statuses` (default `{503}`): the platform's proxy answers 503 while the model is not
  ready or is busy; the handler did not run, so sending again is safe. Add 500/502/504 only for a
  model whose handler is free of side effects.
- `resend_on_transport_error` (default False): also re-send after a read timeout or a dropped
  connection (the handler may have run once already).

Connection failures before anything was sent and 429 are retried inside the client already.

Per-input errors and service-level errors. A 4xx/5xx the model answered for one input is that input's
result (a record with `status: "error"`). When the *service* cannot take requests at all - a transport
error after the client's retries, or a status in `abort_statuses` (default 401, 403 and a 503 that is
still there after every re-send) - the outcome says `status: "abort"`: the runner writes no record for
it, stops the try and raises, so that the task's retry sends that input again later instead of
recording thousands of errors while a service is down.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Collection
from dataclasses import KW_ONLY, dataclass
from typing import Any

from airflow_provider_abeja.batch.inputs import BatchInput
from airflow_provider_abeja.client import RequestSpec
from airflow_provider_abeja.client.api import DEFAULT_ENDPOINT_ALIAS
from airflow_provider_abeja.client.retry import Failure, RetryPolicy, TransportAdapter
from airflow_provider_abeja.client.validation import check_path_id
from airflow_provider_abeja.exceptions import HttpError, TransportError

DEFAULT_RESEND_STATUSES = frozenset({503})
DEFAULT_ABORT_STATUSES = frozenset({401, 403, 503})
MAX_ERROR_TEXT = 2000


@dataclass(frozen=True)
class Target:
    """Where the inputs go: a service (`service_id`) or an endpoint (`endpoint_alias`; None or
    ``"default"``: the deployment's default endpoint)."""

    organization_id: str
    deployment_id: str
    service_id: str | None = None
    endpoint_alias: str | None = None

    def __post_init__(self) -> None:
        """Refuse an id that would address another resource, naming its argument, before anything is
        sent. None means "not given"; an empty or blank id is refused, never read as the deployment's
        default endpoint (its production traffic). The alias is used without a service only."""
        if self.service_id is not None:
            check_path_id(self.service_id, "service_id")
        if self.endpoint_alias is not None and not self.service_id:
            check_path_id(self.endpoint_alias, "endpoint_alias")

    def describe(self) -> str:
        if self.service_id:
            return f"service {self.service_id}"
        return f"endpoint {self.endpoint_alias or DEFAULT_ENDPOINT_ALIAS}"

    def send(self, client: Any, **body: Any) -> Any:
        """POST one body (the client's ``request_service`` / ``request_endpoint`` arguments) to
        the target. The default endpoint lives at the deployment's own address (no alias segment)."""
        if self.service_id:
            return client.request_service(self.organization_id, self.deployment_id, self.service_id, **body)
        alias = None if self.endpoint_alias == DEFAULT_ENDPOINT_ALIAS else self.endpoint_alias
        return client.request_endpoint(self.organization_id, self.deployment_id, alias, **body)


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    media = media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def decode_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The response as record fields: JSON as a value, text as a string, anything else base64.

    A response without a content type is tried as JSON, then as UTF-8 text.
    """
    media = media_type(content_type)
    if not media or is_json(media):  # no type: try JSON
        with contextlib.suppress(ValueError):
            return {"response": json.loads(body)}
    if not media or media.startswith("text/") or media in ("application/json", "application/xml"):
        with contextlib.suppress(UnicodeDecodeError):
            return {"response_text": body.decode("utf-8")}
    return {"response_base64": base64.b64encode(body).decode("ascii")}


def error_fields(exc: BaseException) -> dict[str, Any]:
    """An exception as record fields (no credential can be in them: the client's messages carry none)."""
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)[:MAX_ERROR_TEXT]}
    fields: dict[str, Any] = {"error": error}
    if isinstance(exc, HttpError):
        fields["status_code"] = exc.status_code
        error.update(error=exc.error, error_description=exc.error_description)
        if exc.error_detail is not None:
            error["error_detail"] = exc.error_detail
    return fields


@dataclass
class Sender:
    """Callable that turns a `BatchInput` into a result record; safe to share between threads.

    `client` is one `APIClient` for all threads (its pooled session is thread-safe; build it with
    `pool_maxsize >= concurrency` so connections are reused rather than opened per request).
    `policy` defaults to the client's own backoff and attempt count, applied to whole inference calls.
    """

    client: Any
    target: Target
    _: KW_ONLY
    resend_statuses: Collection[int] = DEFAULT_RESEND_STATUSES
    resend_on_transport_error: bool = False
    abort_statuses: Collection[int] = DEFAULT_ABORT_STATUSES
    policy: RetryPolicy = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.policy = self.policy or RetryPolicy(self.client.max_retry_count, self.client.retry_wait_max)
        # The client raises for every error status: only an answer (2xx) comes back, never retried.
        self._adapter: TransportAdapter[Any] = TransportAdapter(classify=self._resendable)

    def _resendable(self, exc: BaseException) -> Failure | None:
        """The batch's notion of a safe re-send (see the module docstring)."""
        resend = isinstance(exc, HttpError) and exc.status_code in self.resend_statuses
        resend = resend or (isinstance(exc, TransportError) and self.resend_on_transport_error)
        return Failure.NOT_SENT if resend else None

    def __call__(self, item: BatchInput) -> dict[str, Any]:
        invalid = item.error
        try:
            data = None if invalid is not None else item.body()
        except OSError as exc:
            invalid = f"cannot read {item.key}: {exc}"
        if invalid is not None:
            return {"status": "error", "attempts": 0, "error": {"type": "InvalidInput", "message": invalid}}
        url = f"{self.target.describe()} input {item.key!r}"  # names the input in the client's messages
        retrying = self.policy.retrying(RequestSpec("batch", "POST", url, idempotent=False), self._adapter)
        body = {"data": data, "json": item.json if data is None else None, "content_type": item.content_type}
        started = time.perf_counter()
        try:
            response = retrying(self.target.send, self.client, **body)
        except Exception as exc:  # a bug or an unexpected library error is recorded too: the batch goes on
            abort = isinstance(exc, TransportError) or (
                isinstance(exc, HttpError) and exc.status_code in self.abort_statuses
            )
            status = "abort" if abort else "error"
            return {"status": status, "attempts": retrying.statistics["attempt_number"], **error_fields(exc)}
        attempts = retrying.statistics["attempt_number"]  # tenacity's count: the first try and every re-send
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        record = dict(status="ok", status_code=response.status_code, attempts=attempts, elapsed_ms=elapsed)
        return record | decode_body(response.headers.get("Content-Type", ""), response.content)
