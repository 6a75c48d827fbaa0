"""The model proxy's HTTP rules: which requests reach the runtime, and what its answers become.

Read from ABEJA's model proxy (public repository `abeja-inc/abeja-platform-model-proxy`, Go):
`convert/converter.go`, `convert/default_converter.go`, `convert/multipart_converter.go`,
`proxy/converter.go`, `proxy/handlers.go`, `entity/entity.go`. Pure functions, no I/O but writing the
request bodies to files: the runtime reads each body from a file, as on the platform.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

PROXY_VERSION = "2.6.5"  # version/version.go of the proxy source this module follows
UNAVAILABLE = "service unavailable"
RUNTIME_LOST = "Internal Server Error: unexpected error of communication with runtime"
_TSPECIALS = set('()<>@,;:\\"/[]?=')
_FILE_NUMBERS = itertools.count()  # file names in a folder private to the pool
_NO_PARAMS: Mapping[str, str] = MappingProxyType({})
_HIDDEN_HEADERS = frozenset({"host", "authorization", "cookie"})  # host: Go keeps it apart (r.Host)
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")  # Go's isTokenChar: 0x21-0x7E but the tspecials
_VALID_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class ProxyError(Exception):
    """An answer the proxy writes itself: `{"status":"<message>"}` as application/json."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return error_body(self.message)


class DropConnection(Exception):
    """The proxy closes the connection without an answer (a Go panic, or its 30 s write timeout)."""


def error_body(message: str) -> bytes:
    """outputErrorResponse: the message is formatted into the JSON as is, unescaped."""
    return ('{"status":"%s"}' % message).encode("utf-8")  # noqa: UP031 (Go's Sprintf, byte for byte)


# ----- Go's mime.ParseMediaType -------------------------------------------------------------------------


def _is_token_char(ch: str) -> bool:
    return 0x20 < ord(ch) < 0x7F and ch not in _TSPECIALS


def _consume_token(text: str) -> tuple[str, str]:
    match = _TOKEN.match(text)
    if match is None:
        return "", text
    return match.group(), text[match.end() :]


def _consume_value(text: str) -> tuple[str, str]:
    if not text.startswith('"'):
        return _consume_token(text)
    out: list[str] = []
    index = 1
    while index < len(text):
        ch = text[index]
        if ch == '"':
            return "".join(out), text[index + 1 :]
        if (
            ch == "\\"
            and index + 1 < len(text)
            and (_is_token_char(text[index + 1]) or text[index + 1] in ' \t"\\')
        ):
            index += 1
            ch = text[index]
        elif ch in "\r\n":
            break
        out.append(ch)
        index += 1
    return "", text  # unterminated


@functools.lru_cache(maxsize=512)
def parse_media_type(value: str) -> tuple[str, Mapping[str, str]] | None:
    """Go's `mime.ParseMediaType`: (lower-cased type, params), or None where Go returns an error.

    Cached: a client sends the same few content types again and again."""
    base = value.split(";", 1)[0]
    media_type = base.strip().lower()
    first, rest = _consume_token(media_type)
    if not first:
        return None
    if rest:
        if not rest.startswith("/"):
            return None
        second, rest = _consume_token(rest[1:])
        if not second or rest:
            return None
    params: dict[str, str] = {}
    text = value[len(base) :]
    while text:
        text = text.lstrip()
        if not text:
            break
        key, param_value, rest = _consume_media_param(text)
        if not key:
            if rest.strip() == ";":  # trailing semicolons are fine
                break
            return None
        if key in params:
            return None
        params[key] = param_value
        text = rest
    return media_type, MappingProxyType(params)


def _consume_media_param(text: str) -> tuple[str, str, str]:
    rest = text.lstrip()
    if not rest.startswith(";"):
        return "", "", text
    rest = rest[1:].lstrip()
    key, rest = _consume_token(rest)
    key = key.lower()
    if not key:
        return "", "", text
    rest = rest.lstrip()
    if not rest.startswith("="):
        return "", "", text
    rest = rest[1:].lstrip()
    value, after = _consume_value(rest)
    if not value and after == rest:
        return "", "", text
    return key, value, after


# ----- HTTP request -> the runtime's content list ---------------------------------------------------


def _write(data_dir: Path, data: bytes) -> str:
    path = os.path.join(data_dir, f"{next(_FILE_NUMBERS)}")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)
    return path


def _grouped_headers(headers: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[str]] = {}
    for key, value in headers:
        lower = key.lower()
        if lower not in _HIDDEN_HEADERS:
            grouped.setdefault(lower, []).append(value)
    return [{"key": key, "values": grouped[key]} for key in sorted(grouped)]


def to_content_list(
    method: str, headers: list[tuple[str, str]], query: str, body: bytes, data_dir: Path
) -> dict[str, Any]:
    """What the proxy sends to the runtime for this request; ProxyError (501) when it refuses it.

    Bodies are written to files in `data_dir`; `content_paths` gives them back for clean-up.
    """
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    if method == "GET":
        contents = [{"path": _write(data_dir, query.encode("latin-1", errors="replace"))}]
        content_type_out = "application/x-www-form-urlencoded"
    else:
        parsed = parse_media_type(content_type) if method in ("POST", "PUT") else None
        if parsed is None:
            raise ProxyError(501, f"Content-Type: [{content_type}] is not supported")
        content_type_out = content_type
        if parsed[0] == "multipart/form-data":
            contents = _multipart_contents(parsed[1], body, data_dir)
        else:
            contents = [{"path": _write(data_dir, body)}]
    return {
        "method": method,
        "content_type": content_type_out,
        "headers": _grouped_headers(headers),
        "contents": contents,
    }


def content_paths(content_list: Mapping[str, Any]) -> list[str]:
    return [c["path"] for c in content_list.get("contents") or [] if c.get("path")]


def _multipart_contents(params: Mapping[str, str], body: bytes, data_dir: Path) -> list[dict[str, Any]]:
    """One content per part: `content_type` only if the part sets one, `file_name`, `form_name`."""
    boundary = params.get("boundary")
    if not boundary:
        raise ProxyError(503, ": no multipart boundary param in Content-Type")
    contents = []
    for part_headers, part_body in _split_multipart(body, boundary.encode("latin-1", errors="replace")):
        content: dict[str, Any] = {"path": _write(data_dir, part_body)}
        part_type = part_headers.get("content-type", "")
        if part_type:
            content["content_type"] = part_type
        disposition = parse_media_type(part_headers.get("content-disposition", "")) or ("", _NO_PARAMS)
        file_name = disposition[1].get("filename", "")
        if file_name:
            content["file_name"] = posixpath.basename(file_name.rstrip("/")) or "/"
        if disposition[0] == "form-data" and disposition[1].get("name"):
            content["form_name"] = disposition[1]["name"]
        contents.append(content)
    return contents


def _split_multipart(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart body; DropConnection when it is malformed (the proxy panics on it)."""
    delimiter = b"--" + boundary
    start = body.find(delimiter)
    if start < 0:
        raise DropConnection("multipart body without its boundary")
    parts = []
    position = start + len(delimiter)
    while not body.startswith(b"--", position):
        line_end = body.find(b"\n", position)
        if line_end < 0:
            raise DropConnection("truncated multipart body")
        newline = b"\r\n" if body[line_end - 1 : line_end] == b"\r" else b"\n"
        header_start = line_end + 1
        if body.startswith(newline, header_start):  # a part without headers
            header_end = header_start
            data_start = header_start + len(newline)
        else:
            header_end = body.find(newline * 2, header_start)
            if header_end < 0:
                raise DropConnection("multipart part without a header end")
            data_start = header_end + 2 * len(newline)
        headers: dict[str, str] = {}
        for raw in body[header_start:header_end].split(newline):
            name, colon, value = raw.decode("latin-1").partition(":")
            if colon:
                headers.setdefault(name.strip().lower(), value.strip())
        data_end = body.find(newline + delimiter, data_start)
        if data_end < 0:
            raise DropConnection("multipart part without a closing boundary")
        parts.append((headers, body[data_start:data_end]))
        position = data_end + len(newline) + len(delimiter)
    return parts


# ----- the runtime's answer -> HTTP answer ----------------------------------------------------------

_GO_FIELDS = (
    ("content_type", str),
    ("metadata", dict),
    ("path", str),
    ("error_message", str),
    ("status_code", int),
)


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return f"number {json.dumps(value)}" if isinstance(value, float) else "number"
    if isinstance(value, list):
        return "array"
    return "object"


def _decode_error(value: Any, field: str, go_type: str) -> ProxyError:
    return ProxyError(
        500,
        "Internal Server Error: unexpected error of Read IPC response body error: json: cannot unmarshal "
        f"{_go_kind(value)} into Go struct field Response.{field} of type {go_type}",
    )


def check_runtime_answer(answer: Mapping[str, Any]) -> None:
    """Go's json.Unmarshal into entity.Response: a value of the wrong type makes the proxy answer 500."""
    for field, kind in _GO_FIELDS:
        value = answer.get(field)
        if value is None:
            continue
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _decode_error(value, field, "int")
        elif kind is str:
            if not isinstance(value, str):
                raise _decode_error(value, field, "string")
        elif not isinstance(value, dict):
            raise _decode_error(value, field, "map[string]string")
        else:
            for item in value.values():
                if item is not None and not isinstance(item, str):
                    raise _decode_error(item, field, "string")


@functools.lru_cache(maxsize=256)
def platform_headers(
    model_id: str, model_version: str, deployment_id: str, service_id: str
) -> tuple[tuple[str, str], ...]:
    """proxy/converter.go ToResponse: the ids the proxy adds to every answer of the runtime."""
    named = (
        ("X-Abeja-Model-Id", model_id),
        ("X-Abeja-Model-Version", quote(model_version, safe="")),
        ("X-Abeja-Deployment-Id", deployment_id),
        ("X-Abeja-Service-Id", service_id),
    )
    return tuple((name, value) for name, value in named if value)


def answer_headers(
    answer: Mapping[str, Any], ids: tuple[tuple[str, str], ...]
) -> tuple[int, list[tuple[str, str]]]:
    """Status and headers of a successful answer (FromResponse); ProxyError / DropConnection else.

    Call after `check_runtime_answer`; `ids` is `platform_headers(...)`. Content-Length is the
    server's; header values are passed as raw bytes (UTF-8 included), CR/LF become spaces and invalid
    names are left out, as Go's server does.
    """
    status = answer.get("status_code")
    status = 200 if status is None else int(status)
    if answer.get("error_message") is not None:
        raise ProxyError(status, str(answer["error_message"]))
    content_type = answer.get("content_type")
    if content_type is None:
        content_type = "application/json"
    else:
        parsed = parse_media_type(content_type)
        if parsed is None or parsed[0] == "multipart/form-data":
            raise ProxyError(501, f"Content-Type: [{content_type}] is not supported")
    if not 100 <= status <= 999:
        raise DropConnection(f"invalid status code {status}")  # Go's WriteHeader panics
    headers: dict[str, str] = {"content-type": content_type, "x-abeja-sys-meta-proxy-version": PROXY_VERSION}
    for key, value in (answer.get("metadata") or {}).items():
        if _VALID_NAME.match(key):
            headers[key.lower()] = value or ""
    for key, value in ids:
        headers[key.lower()] = value
    return status, [(_canonical(k), _wire_value(v)) for k, v in headers.items()]


@functools.lru_cache(maxsize=512)
def _canonical(name: str) -> str:
    """Go's CanonicalHeaderKey: X-Abeja-Model-Id."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _wire_value(value: str) -> str:
    """The value's UTF-8 bytes, carried through the latin-1 str that the ASGI server encodes."""
    if value.isascii() and value.isprintable():
        return value.strip(" ")
    cleaned = value.replace("\r", " ").replace("\n", " ").strip(" \t")
    return cleaned.encode("utf-8").decode("latin-1")


def read_answer_body(answer: Mapping[str, Any]) -> bytes:
    """The answer's body file, removed once read; ProxyError 503 when it is not there."""
    path = answer.get("path")
    if not isinstance(path, str):
        return b""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        raise ProxyError(503, "unexpected error") from None
    finally:
        remove_files([path])


def remove_files(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)
