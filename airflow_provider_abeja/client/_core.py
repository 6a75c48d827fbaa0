"""The sans-IO core shared by the sync and async clients.

Everything here is pure: id checks, URL building, request bodies, response parsing and
status -> exception mapping (the settings are resolved by ``sync.ClientBase``). The clients only
move bytes; both build the same :class:`RequestSpec` for a call and read answers the same way.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias
from urllib.parse import quote, urlsplit

from urllib3.exceptions import MaxRetryError
from urllib3.filepost import encode_multipart_formdata
from urllib3.util.ssl_ import is_ipaddress

from airflow_provider_abeja import __version__
from airflow_provider_abeja.client.api import OPERATIONS, Operation
from airflow_provider_abeja.client.credentials import scrub, scrubbed_exception
from airflow_provider_abeja.client.training import Upload
from airflow_provider_abeja.client.validation import check_organization_id, check_path_id
from airflow_provider_abeja.exceptions import (
    STATUS_EXCEPTIONS,
    AnswerTooLargeError,
    HttpError,
    InvalidArgumentError,
    InvalidResponseError,
    TLSMismatchError,
    TransportError,
)

#: Chunk size for streamed uploads and downloads.
CHUNK_SIZE = 1024 * 1024
#: How much of an error body goes into an exception message.
MAX_ERROR_TEXT = 1000
#: How much of an error answer is read (the rest is dropped with its connection).
ERROR_HEAD = MAX_ERROR_TEXT * 4
#: The largest answer read into memory unless a client or connection says otherwise.
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024

if TYPE_CHECKING:
    import requests

    #: What ``read_answer`` reads: a requests response or the async client's :class:`Answer`.
    HttpResponse: TypeAlias = "requests.Response | Answer"


logger = logging.getLogger("airflow_provider_abeja.client")


def _segment(value: str) -> str:
    # Checked ids need no escaping today; quoting keeps any remaining reserved character literal.
    return quote(value, safe="-._~")


# --------------------------------------------------------------------------- requests


@dataclass
class RequestSpec:
    """One HTTP call, described without doing it."""

    route: str
    method: str
    url: str
    idempotent: bool
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: bytes, or a stream (file object / iterator) given by the caller, or None.
    body: Any = None
    #: where to seek a seekable stream back to before a re-send; None when not seekable.
    rewind_to: int | None = None
    #: False when the body is a stream that cannot be re-sent (then the call is never retried).
    replayable: bool = True
    #: False for a pre-signed URL: sent without the API credential.
    credential: bool = True

    def shown(self, text: str) -> str:
        """``text`` for a message or a log: a pre-signed URL's query (its signature) hidden."""
        if self.credential or "?" not in self.url:
            return text
        return text.replace(self.url[self.url.index("?") :], "?***")

    @property
    def shown_url(self) -> str:
        return self.shown(self.url)

    def rewind(self) -> None:
        """Seek a stream body back to where it started, for a re-send."""
        if self.rewind_to is not None:
            self.body.seek(self.rewind_to)


def log_answer(spec: RequestSpec, url: object, status_code: int, started: float) -> None:
    """One debug line per answer: method, URL (a pre-signed one without its signature), status, time."""
    if logger.isEnabledFor(logging.DEBUG):
        shown = url if spec.credential else spec.shown_url
        logger.debug("%s %s -> %d (%.3fs)", spec.method, shown, status_code, time.perf_counter() - started)


def _json_bytes(payload: Any, argument: str = "json") -> bytes:
    try:
        return jsonlib.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(argument, f"cannot be sent as JSON: {exc}") from None


def prepare_inference_body(
    data: object, json: Any, content_type: str | None
) -> tuple[Any, dict[str, str], int | None, bool]:
    """Body, headers, rewind position and replayability for request_service / request_endpoint.

    json -> application/json; data + content_type -> that type; data alone ->
    application/octet-stream. Streams (file objects, iterators) are passed on, never read here.
    """
    if content_type is not None and (
        not isinstance(content_type, str) or any(c in content_type for c in "\r\n")
    ):
        raise InvalidArgumentError("content_type", "must be a single-line string")
    if data is not None and json is not None:
        raise InvalidArgumentError("data", "pass either data or json, not both")
    if json is not None:
        return _json_bytes(json), {"Content-Type": content_type or "application/json"}, None, True
    if data is None:
        return None, ({"Content-Type": content_type} if content_type else {}), None, True
    headers = {"Content-Type": content_type or "application/octet-stream"}
    if isinstance(data, str):
        return data.encode("utf-8"), headers, None, True
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), headers, None, True
    if hasattr(data, "read"):
        try:
            position = data.tell() if data.seekable() else None  # type: ignore[attr-defined]
        except (AttributeError, OSError, ValueError):
            position = None
        return data, headers, position, position is not None
    if isinstance(data, Iterable) and not isinstance(data, Mapping):
        return data, headers, None, False
    raise InvalidArgumentError(
        "data", f"must be str, bytes, a binary file object or an iterator of bytes, not {type(data).__name__}"
    )


class RequestBuilder:
    """Builds every API call's :class:`RequestSpec`; one per client."""

    def __init__(self, api_url: str, inference_addressing: str = "auto") -> None:
        self.api_url = api_url
        self._parts = urlsplit(api_url)
        self.path_style = inference_addressing == "path"
        if inference_addressing == "auto":  # path style where sub-domains cannot resolve
            host = self._parts.hostname or ""
            self.path_style = host == "localhost" or host.endswith(".localhost") or is_ipaddress(host)

    def build(self, name: str, args: Mapping[str, Any]) -> RequestSpec:
        """The request for the declared call ``name`` (``client.api``) with the call's arguments.

        Path values are checked first (each error names its argument), then the body's arguments.
        """
        op = OPERATIONS[name]
        url = self._url(op, args)
        spec = RequestSpec(name, op.method, url, op.idempotent, credential=op.plane != "presigned")
        if op.plane == "inference" or op.streams:
            spec.body, spec.headers, spec.rewind_to, spec.replayable = prepare_inference_body(
                args.get("data"), args.get("json"), args.get("content_type")
            )
        elif op.payload is not None:
            spec.body, content_type = self._body(op, op.payload(args))
            spec.headers["Content-Type"] = content_type
        if op.headers is not None:
            spec.headers.update(op.headers(args))
        params = {
            op.query_names.get(key, key): fmt(args[key], key)
            for key, fmt in op.query.items()
            if args.get(key) is not None
        }
        spec.params = params or None
        return spec

    @staticmethod
    def _body(op: Operation, payload: Any) -> tuple[bytes, str]:
        """Multipart for an ``Upload``, the bytes themselves for bytes, else JSON."""
        if isinstance(payload, Upload):
            parameters = ("params.json", _json_bytes(payload.parameters, "parameters"), "application/json")
            return encode_multipart_formdata([(payload.field, payload.file), ("parameters", parameters)])
        if isinstance(payload, bytes):
            return payload, "application/octet-stream"
        return _json_bytes(payload, op.payload_argument), "application/json"

    def _url(self, op: Operation, args: Mapping[str, Any]) -> str:
        """The call's URL: a management path under the API URL, an inference path under the
        deployment's inference address (path style or virtual host), or a pre-signed URL."""
        if op.plane == "presigned":  # the path is the one argument that holds the URL
            argument = op.path.strip("{}")
            return str(op.path_values[argument](args[argument], argument))
        # Datalake file routes have no organization.
        org = check_organization_id(args["organization_id"]) if "organization_id" in args else ""
        tail = ""
        for part in op.path.strip("/").split("/"):
            argument = part.strip("{}?")
            value = part if argument == part else args[argument]  # a literal part is itself
            if value is None and part.endswith("?}"):
                continue
            if argument not in (part, "organization_id"):
                value = op.path_values.get(argument, check_path_id)(value, argument)
            tail += f"/{_segment(str(value))}"
        if op.plane != "inference":
            return self.api_url + tail
        deployment = _segment(check_path_id(args["deployment_id"], "deployment_id"))
        if self.path_style:  # the organization is a DNS label: nothing to escape
            return f"{self.api_url}/_inference/{org}/deployments/{deployment}{tail}"
        scheme, netloc, path = self._parts[:3]  # the API URL has no user info (parse_api_url)
        return f"{scheme}://{org}.{netloc}{path}/deployments/{deployment}{tail}"


#: A list longer than this many pages is a server that never says "last page": stop with an error.
MAX_PAGES = 1000
#: The keys that describe one page; the merged list carries none of them.
PAGE_KEYS = frozenset({"offset", "limit", "total", "has_next"})


class Plan:
    """The requests of the declared call ``name``: the client sends each one the iteration gives
    and sets ``answer`` to what it read (``read_answer``); after the last one ``answer`` is the
    call's result.

    A listing is followed to its end and returned as one ``{"entries": [...]}`` (the other keys
    from the first page). The platform's paged lists answer ``{"entries": [...], "offset": o,
    "limit": l, "total": t}`` (some say ``"has_next": true`` instead of a total) and take
    ``offset`` and ``limit`` query parameters; a list answered in one piece comes back unchanged.
    """

    def __init__(self, builder: RequestBuilder, name: str, args: Mapping[str, Any]) -> None:
        self.spec = builder.build(name, args)
        self.answer: Any = None

    def __iter__(self) -> Iterator[RequestSpec]:
        yield self.spec
        if OPERATIONS[self.spec.route].answer != "entries":
            return
        pages, spec = [self.answer], _next_page(self.spec, self.answer, 1)
        while spec is not None:
            yield spec
            pages.append(self.answer)
            spec = _next_page(spec, self.answer, len(pages))
        merged = {key: value for key, value in pages[0].items() if key not in PAGE_KEYS}
        merged["entries"] = [entry for page in pages for entry in page["entries"]]
        self.answer = merged


def _page_number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _next_page(spec: RequestSpec, page: Mapping[str, Any], pages_read: int) -> RequestSpec | None:
    """The request for the page after ``page`` (read with ``spec``), or None when it was the last.

    A page that says more follow but holds no entry would make the next request the same one:
    it ends the list rather than loop.
    """
    offset = _page_number(page.get("offset"))
    entries = page["entries"]
    if offset is None or not entries:
        return None
    following = offset + len(entries)
    if not (page.get("has_next") is True or following < (_page_number(page.get("total")) or 0)):
        return None
    if pages_read >= MAX_PAGES:
        raise InvalidResponseError(
            "invalid_response", f"the list did not end after {MAX_PAGES} pages", 200, spec.url
        )
    params = {**(spec.params or {}), "offset": str(following)}
    limit = _page_number(page.get("limit"))
    if limit:
        params["limit"] = str(limit)
    return replace(spec, params=params)


# --------------------------------------------------------------------------- responses


#: What OpenSSL says (in either spelling) when a TLS handshake meets a server answering plain HTTP.
_TLS_MISMATCH = re.compile("wrong[_ ]version[_ ]number|record[_ ]layer[_ ]failure", re.IGNORECASE)
TLS_MISMATCH_HINT = "the server speaks plain HTTP, not TLS: use an http:// URL"


def is_tls_mismatch(exc: BaseException) -> bool:
    """True when an ``https://`` request reached a plain-HTTP server: no retry can fix that."""
    return _TLS_MISMATCH.search(str(exc)) is not None


def is_permanent_tls_failure(exc: BaseException) -> bool:
    """A refused certificate or a plain-HTTP server behind ``https://``: retrying cannot help."""
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or is_tls_mismatch(exc)


def underlying(exc: BaseException) -> object:
    """What went wrong below the HTTP library, without urllib3's misleading 'Max retries
    exceeded' wrapper."""
    reason: object = exc.args[0] if exc.args else exc
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    return reason


def raise_transport_error(
    spec: RequestSpec, attempts: int, exc: BaseException, secrets: tuple[str, ...] = (), context: str = ""
) -> NoReturn:
    """Raise the client's error for a request that failed below HTTP (in ``exc``'s except clause),
    its reason ``context`` + ``exc``'s type and what went wrong; a TLS mismatch says what to do.

    Its cause and context are ``exc``'s chain, scrubbed: a traceback printed outside Airflow's
    masker, or code walking the chain, finds no form of the credential either.
    """
    reason = f"{context}{type(exc).__name__}: {underlying(exc)}"
    url, reason = spec.shown_url, scrub(_short(spec.shown(reason)), secrets)
    kind: type[TransportError] = TransportError
    how = f"failed after {attempts} attempt(s): {reason}"
    if is_tls_mismatch(exc):
        kind, how = TLSMismatchError, f"failed: {TLS_MISMATCH_HINT} ({reason})"
    error = kind(f"{spec.method} {url} {how}", url=url, attempts=attempts)
    error.__cause__ = scrubbed_exception(exc, secrets)
    try:
        raise error
    finally:  # raising in the except clause made ``exc`` the context: the scrubbed copy instead
        error.__context__ = error.__cause__


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "..."


#: An ``error_detail`` nested deeper is kept as (cut) text: the error must pickle (XCom, events).
MAX_DETAIL_DEPTH = 32


def _shallow(value: Any, room: int = MAX_DETAIL_DEPTH) -> bool:
    """No list or object in ``value`` nested more than ``room`` deep."""
    if isinstance(value, dict):
        value = list(value.values())
    return not isinstance(value, list) or (room > 0 and all(_shallow(item, room - 1) for item in value))


def _scrubbed_detail(detail: Any, secrets: tuple[str, ...]) -> Any:
    """``error_detail`` without the credential: as JSON again, or as cut text when too deep."""
    try:
        text = scrub(jsonlib.dumps(detail), secrets)
        return jsonlib.loads(text) if _shallow(detail) else scrub(_short(text), secrets)
    except (ValueError, RecursionError):  # too deep to write, or no longer JSON once scrubbed
        return type(detail).__name__


def _redirect_note(headers: Mapping[str, str]) -> str:
    """What a redirect says: where it points (without its query) and what to check."""
    parts = urlsplit(headers.get("Location") or "")
    host = parts.netloc.rpartition("@")[2]  # no user info, and no query below
    where = f" to {parts.scheme}://{host}{parts.path}" if host else ""
    return f"the API answered with a redirect{where}, which is never followed: check the API URL"


#: What both clients send with every request (the credential is added per request); the content
#: codings asked for are those :class:`Body` decodes within its limit.
HEADERS = {"User-Agent": f"airflow-provider-abeja/{__version__}", "Accept-Encoding": "gzip, deflate"}
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Body:
    """An answer's body, decoded as it arrives and kept within its limit: a 2xx up to
    ``max_answer_bytes`` (longer is ``answer_too_large``), an error answer its first
    ``ERROR_HEAD`` bytes. A small gzip body that expands to gigabytes is expanded no further."""

    def __init__(
        self, spec: RequestSpec, status_code: int, headers: Mapping[str, str], max_answer_bytes: int
    ) -> None:
        self._spec, self._status = spec, status_code
        self.ok = 200 <= status_code < 300
        self.limit = max_answer_bytes if self.ok else ERROR_HEAD
        coding = (headers.get("Content-Encoding") or "identity").strip().lower()
        if coding not in ("identity", *_WBITS):
            raise self._invalid(f"the answer has a Content-Encoding not asked for: {coding[:40]!r}")
        self._zlib = zlib.decompressobj(_WBITS[coding]) if coding in _WBITS else None
        self._raw_deflate = coding == "deflate"  # until the first bytes show a zlib header
        self.data = bytearray()

    def _invalid(self, message: str) -> InvalidResponseError:
        return InvalidResponseError("invalid_response", message, self._status, self._spec.shown_url)

    def add(self, raw: bytes) -> bool:
        """Decode ``raw`` onto the body; False once an error answer's head is complete (read no
        more). A 2xx longer than the limit raises ``answer_too_large``."""
        room = self.limit + 1 - len(self.data)
        try:
            self.data += raw[:room] if self._zlib is None else self._zlib.decompress(raw, room)
        except zlib.error as exc:
            if not self._raw_deflate:
                raise self._invalid(f"the answer cannot be decoded: {exc}") from None
            # "deflate" sent without its zlib header: the first bytes again, as raw deflate.
            self._zlib, self._raw_deflate = zlib.decompressobj(-zlib.MAX_WBITS), False
            return self.add(raw)
        self._raw_deflate = False
        if len(self.data) <= self.limit:
            return True
        if self.ok:
            limits = "max_answer_bytes; a connection's max_answer_mb"
            message = f"the answer is longer than {self.limit} bytes ({limits})"
            raise AnswerTooLargeError("answer_too_large", message, self._status, self._spec.shown_url)
        return False

    @property
    def content(self) -> bytes:
        return bytes(self.data[: self.limit])


@dataclass(frozen=True)
class Answer:
    """An answer read whole (within its limits): what the async client keeps of a response."""

    status_code: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    url: str

    def close(self) -> None:
        """Nothing to release: the answer was read whole and its connection returned."""


def raise_for_status(
    spec: RequestSpec, response: HttpResponse, secrets: tuple[str, ...], hint: str = ""
) -> None:
    """The error of anything but a 2xx; JSON error bodies fill its fields, raw text otherwise.

    A 3xx is an error (the API does not redirect; none is followed); ``hint`` is added to a 401's
    or 403's message. Every text is scrubbed last, after its cut and any escaping.
    """
    status_code = response.status_code
    if 200 <= status_code < 300:
        return
    url = (response.url or spec.url) if spec.credential else spec.shown_url
    text = response.content[:ERROR_HEAD].decode(errors="replace")
    try:
        body = jsonlib.loads(text)
    except (ValueError, RecursionError):
        body = None
    error, description, detail = response.reason or "http_error", text, None
    if isinstance(body, dict):
        error = str(body.get("error") or error)
        raw = body.get("error_description") or body.get("message") or body.get("status") or ""
        # Part of what was just parsed: it fits the stack to be written again.
        description = raw if isinstance(raw, str) else jsonlib.dumps(raw)
        if body.get("error_detail") is not None:
            detail = _scrubbed_detail(body["error_detail"], secrets)
    if 300 <= status_code < 400:
        error, description = "unexpected_redirect", _redirect_note(response.headers)
    cls = STATUS_EXCEPTIONS.get(status_code, HttpError)
    error = scrub(_short(error), secrets)
    description = scrub(_short(description), secrets)
    if status_code in (401, 403) and hint:
        description = f"{description}; {hint}" if description else hint
    raise cls(error, description, status_code, scrub(url, secrets), detail)


def read_answer(spec: RequestSpec, response: HttpResponse, secrets: tuple[str, ...], hint: str = "") -> Any:
    """A management or pre-signed answer read as its declaration says; the error of a non-2xx.

    ``bytes`` is the body; ``object`` a JSON object; ``entries`` a listing, which comes as
    ``{"entries": [...]}`` or as a bare list and is always returned as the former.
    """
    raise_for_status(spec, response, secrets, hint)
    status_code, content, url = response.status_code, response.content, response.url or spec.url
    answer = OPERATIONS[spec.route].answer
    if answer == "bytes":
        return content

    def invalid(message: str, where: str = spec.url) -> InvalidResponseError:
        return InvalidResponseError("invalid_response", message, status_code, where)

    if status_code == 204 and not content.strip():
        value: Any = {}
    else:  # an empty 200 is no JSON either
        try:
            value = jsonlib.loads(content)
        except (ValueError, RecursionError):
            # The cut piece, scrubbed before repr escapes it.
            snippet = scrub(content[:200].decode(errors="replace"), secrets)
            kind = response.headers.get("Content-Type") or "no content type"
            message = f"expected a JSON body, got {kind}: {snippet!r}"
            raise invalid(scrub(_short(message), secrets), url) from None
    if answer == "entries":
        if isinstance(value, list):
            return {"entries": value}
        if not (isinstance(value, dict) and isinstance(value.get("entries"), list)):
            raise invalid('expected a JSON list or {"entries": [...]}')
    elif not isinstance(value, dict):
        raise invalid(f"expected a JSON object, got {type(value).__name__}")
    return value
