"""One model instance: imports one handler and serves one request at a time over its pipes.

Run as a script (`python -u worker.py CODE_DIR module:function`), never imported by the server, so
that it loads nothing but the standard library and the user's handler. Frames are a 4-byte length and
a `marshal` payload: requests arrive on stdin, answers leave on a duplicate of the original stdout.
File descriptor 1 is then pointed at stderr, so whatever the handler prints (or logs) reaches the
emulator as lines of the service's recent logs.
"""

from __future__ import annotations

import importlib
import json
import marshal
import os
import signal
import struct
import sys
import traceback
from typing import Any, BinaryIO

_HEADER = struct.Struct("!I")


class Content(dict):  # type: ignore[type-arg]
    """One body part: `content_type`, `body`, `file_name`, `form_name`; `.read()` gives the bytes."""

    def read(self) -> bytes:
        body = self.get("body")
        return body if isinstance(body, bytes) else b""


class HandlerRequest(dict):  # type: ignore[type-arg]
    """The request mapping a handler receives; `.read()` reads the first content."""

    def read(self) -> bytes:
        contents = self.get("contents") or []
        return contents[0].read() if contents else b""


class HandlerContext(dict):  # type: ignore[type-arg]
    """Where the handler runs (ids, version); keys readable as attributes too."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def user_traceback() -> str:
    """The current exception's traceback without the worker's and importlib's own frames."""
    exc_type, exc, tb = sys.exc_info()
    here = os.path.abspath(__file__)
    frames = [
        frame
        for frame in traceback.extract_tb(tb)
        if os.path.abspath(frame.filename) != here
        and not frame.filename.startswith("<frozen")
        and "importlib" not in frame.filename
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    return "".join(lines + traceback.format_exception_only(exc_type, exc))


def read_frame(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return marshal.loads(payload)


def write_frame(stream: BinaryIO, value: Any) -> None:
    payload = marshal.dumps(value)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def split_contents(content_type: str | None, body: bytes) -> list[Content]:
    """One content per multipart part, else one content holding the whole body."""
    if content_type and content_type.lower().startswith("multipart/"):
        import email.parser  # only multipart needs it: keeps instance start-up short
        import email.policy

        raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        if message.is_multipart():
            parts = []
            for part in message.iter_parts():
                payload = part.get_payload(decode=True)
                parts.append(
                    Content(
                        content_type=part.get_content_type(),
                        body=payload if isinstance(payload, bytes) else b"",
                        file_name=part.get_filename(),
                        form_name=part.get_param("name", header="content-disposition"),
                    )
                )
            return parts
    return [Content(content_type=content_type, body=body, file_name=None, form_name=None)]


def build_request(frame: dict[str, Any]) -> HandlerRequest:
    grouped: dict[str, list[str]] = {}
    for key, value in frame["headers"]:
        grouped.setdefault(key.lower(), []).append(value)
    body: bytes = frame["body"]
    if frame["method"] == "GET" and not body:
        body = frame["query"].encode("utf-8")
    return HandlerRequest(
        http_method=frame["method"],
        content_type=frame["content_type"],
        headers=[{"key": k, "values": v} for k, v in grouped.items()],
        contents=split_contents(frame["content_type"], body),
    )


def render_response(result: Any) -> dict[str, Any]:
    """The handler's dict -> status, content type, bytes and extra headers."""
    if not isinstance(result, dict):
        raise TypeError(f"handler returned {type(result).__name__}, expected dict")
    status = int(result.get("status_code", 200))
    if not 200 <= status <= 599:
        raise ValueError(f"handler returned status_code {status}")
    content = result.get("content")
    content_type = result.get("content_type")
    if isinstance(content, (bytes, bytearray)):
        body = bytes(content)
        content_type = content_type or "application/octet-stream"
    elif isinstance(content, str):
        body = content.encode("utf-8")
        content_type = content_type or "text/plain; charset=utf-8"
    elif content is None:
        body = b""
    else:
        body = json.dumps(content).encode("utf-8")
        content_type = content_type or "application/json"
    headers: list[list[str]] = []
    metadata = result.get("metadata")
    if isinstance(metadata, dict):
        headers = [[str(k), str(v)] for k, v in metadata.items()]
    elif isinstance(metadata, list):
        for item in metadata:
            if isinstance(item, dict) and "key" in item:
                values = item.get("values", item.get("value", ""))
                for value in values if isinstance(values, list) else [values]:
                    headers.append([str(item["key"]), str(value)])
    headers = [[k, v] for k, v in headers if _header_safe(k) and _header_safe(v)]
    return {"ok": True, "status": status, "content_type": content_type, "body": body, "headers": headers}


def _header_safe(text: str) -> bool:
    """No CR/LF (header injection) and Latin-1 only, as HTTP/1.1 headers must be."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return bool(text) and "\r" not in text and "\n" not in text


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]  # the emulator's own modules must not shadow the handler's imports
    code_dir, spec = argv[1], argv[2]
    context = HandlerContext(json.loads(argv[3]) if len(argv) > 3 else {})
    requests_in = sys.stdin.buffer
    answers_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    try:
        module_name, _, function_name = spec.partition(":")
        sys.path.insert(0, code_dir)
        os.chdir(code_dir)
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name or "handler")
        if not callable(handler):
            raise TypeError(f"{spec} is not callable")
    except BaseException:
        write_frame(answers_out, {"ready": False, "error": user_traceback()})
        return 1
    write_frame(answers_out, {"ready": True})
    while True:
        frame = read_frame(requests_in)
        if frame is None:
            return 0
        try:
            answer = render_response(handler(build_request(frame), context))
        except Exception:
            sys.stderr.write(user_traceback())
            answer = {"ok": False}
        sys.stdout.flush()
        sys.stderr.flush()
        write_frame(answers_out, answer)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
