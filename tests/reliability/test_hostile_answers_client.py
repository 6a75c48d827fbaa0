"""Hostile answers to the client: a misbehaving server on loopback, sync and async clients.

Each case names a server scenario (``_hostile_server``) and the error the client must raise:
always the client's own (``AbejaError``), never ``ValueError``, ``RecursionError`` or a hang.
Dripping and endless answers end at the request's deadline (connect + read timeout, here 0.3 s)
or at ``max_answer_bytes`` (here 200 kB); redirects are errors and reach no one; the credential,
planted by the server in every form it can take, is in no error text and no log line.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import pickle
import re
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import (
    AbejaError,
    AnswerTooLargeError,
    BadRequest,
    Forbidden,
    HttpError,
    InternalServerError,
    InvalidArgumentError,
    InvalidResponseError,
    NotFound,
    TransportError,
    Unauthorized,
)
from tests.reliability import _hostile_server as hs

ORG = "1234567890123"
SER = "ser-0123456789abcdef"
VER = "ver-0123456789abcdef"
USER = "1111111111111"
#: Non-ASCII, with characters that percent-encoding, base64 and JSON each write differently.
SECRET = "Zq9-pässwörd/€+SeCr3t=x"
BASIC = base64.b64encode(f"user-{USER}:{SECRET}".encode()).decode()
LIMIT = 200_000
TIMEOUT = (0.15, 0.15)
#: For the cases that do not end at the deadline: room for a loaded machine.
ROOMY = (2.0, 2.0)


def _forms(secret: str) -> dict[str, str]:
    """How a server (or a library) may write the credential back; the test's own list."""
    encoded = secret.encode()
    return {
        "raw": secret,
        "percent": quote(secret, safe=""),
        "percent-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), quote(secret, safe="")),
        "percent-plus": quote_plus(secret),
        "base64": base64.b64encode(encoded).decode(),
        "base64-urlsafe": base64.urlsafe_b64encode(encoded).decode().rstrip("="),
        "basic-token": BASIC,
        "json-escaped": json.dumps(secret)[1:-1],
        "json-escaped-upper-hex": re.sub(
            r"\\u[0-9a-f]{4}", lambda m: m[0].upper().replace("U", "u"), json.dumps(secret)[1:-1]
        ),
        "python-escaped": secret.encode("unicode_escape").decode(),
        "bytes-repr": repr(encoded)[2:-1],
        "latin-1": encoded.decode("latin-1"),
    }


FORMS = _forms(SECRET)
#: A text leaks when it holds any form, or the start of one that a cut left behind.
LEAK_MARKERS = sorted({m for form in FORMS.values() for m in (form, form[:4])})


def assert_no_leak(where: str, text: str) -> None:
    found = [marker for marker in LEAK_MARKERS if marker in text]
    assert not found, f"the credential leaked into {where}: {found}"


def _json(status: int, payload: Any, **headers: str) -> hs.Scenario:
    return hs.answer(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})


def _text(status: int, text: str, content_type: str = "text/plain") -> hs.Scenario:
    return hs.answer(status, text.encode(), {"Content-Type": content_type})


def _head(status: int = 200, **headers: str) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"HTTP/1.1 {status} X\r\n{lines}\r\n".encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@dataclass(frozen=True)
class Case:
    name: str
    scenario: hs.Scenario
    expect: type[AbejaError]
    #: get | list (both clients), create | infer (the sync client only)
    call: str = "get"
    #: the client's retries for this case (Retry-After needs one)
    retries: int = 0
    sync: bool = True
    aio: bool = True
    #: what the error's message must say (why it ended)
    says: str = ""
    #: the client's (connect, read) timeout: short only where the deadline is what ends the call
    timeout: tuple[float, float] = ROOMY


CALLS: dict[str, Callable[[Any, str], Any]] = {
    "get": lambda c, dep: c.get_service(ORG, dep, SER),
    "list": lambda c, dep: c.get_services(ORG, dep),
    "create": lambda c, dep: c.create_service(ORG, dep, VER),
    "infer": lambda c, dep: c.request_service(ORG, dep, SER, json={"x": 1}),
}
SYNC_ONLY = ("create", "infer")

# -- bounded: deadlines and size limits -----------------------------------------------------------

DRIP = _head(**{"Content-Length": "100000"})
HUGE = _head(**{"Content-Length": str(10**9)})


def _late(name: str, scenario: hs.Scenario, **kwargs: Any) -> Case:
    """An answer that never completes: it must end at the request's deadline."""
    return Case(name, scenario, TransportError, says="no whole answer within 0.3s", timeout=TIMEOUT, **kwargs)


def _big(name: str, scenario: hs.Scenario, **kwargs: Any) -> Case:
    """An answer longer than max_answer_bytes: refused once that much was read."""
    return Case(name, scenario, AnswerTooLargeError, says="answer_too_large", **kwargs)


BOUNDED = [
    _late("drip-content-length", hs.drip(DRIP)),
    _late("drip-chunked", hs.drip(_head(**{"Transfer-Encoding": "chunked"}), b"1\r\n \r\n")),
    _late("drip-until-close", hs.drip(_head(Connection="close"))),
    _late("drip-listing", hs.drip(DRIP), call="list"),
    _late("drip-error-answer", hs.drip(_head(500, **{"Content-Length": "100000"}))),
    _late("drip-inference", hs.drip(DRIP), call="infer"),
    _late("drip-create", hs.drip(DRIP), call="create"),
    _late("drip-headers", hs.drip(b"HTTP/1.1 200 OK\r\n", b"X-A: b\r\n")),
    _big(
        "endless-chunked",
        hs.endless(_head(**{"Transfer-Encoding": "chunked"}), b"4000\r\n" + b"x" * 0x4000 + b"\r\n"),
    ),
    _big("endless-until-close", hs.endless(_head(Connection="close"), b"x" * 65536)),
    _big("huge-content-length", hs.endless(HUGE, b"[" * 65536)),
    _big("huge-listing", hs.endless(HUGE, b" " * 65536), call="list"),
    _big("gzip-bomb", hs.answer(200, gzip.compress(b" " * 5_000_000), {"Content-Encoding": "gzip"})),
    _big("huge-inference-answer", hs.endless(HUGE, b"x" * 65536), call="infer"),
    Case(
        "huge-error-answer-read-to-its-head",
        hs.endless(_head(500, **{"Content-Length": str(10**9)}), b"x" * 65536),
        InternalServerError,
    ),
]

# -- redirects: an error, never followed, the credential sent nowhere -----------------------------

THIEF = "http://127.0.0.1:9"  # replaced by the thief server's address in the fixture
LOCATIONS = {
    "query": "{thief}/steal?token=" + quote(SECRET, safe=""),
    "userinfo": "http://user:" + quote(SECRET, safe="") + "@{host}/steal",
    "path": "{thief}/" + quote(SECRET, safe="") + "/x",
}


def _redirect(status: int, where: str) -> hs.Scenario:
    def run(write: hs.Write) -> None:
        location = LOCATIONS[where].format(thief=THIEF_URL[0], host=THIEF_URL[0].split("//")[1])
        hs.answer(status, b"", {"Location": location})(write)

    return run


THIEF_URL = [THIEF]

REDIRECTS = [
    Case(f"redirect-{status}-{where}", _redirect(status, where), HttpError, says="redirect")
    for status in (301, 302, 303, 307, 308)
    for where in LOCATIONS
] + [
    *(
        Case(
            f"redirect-{status}-on-create",
            _redirect(status, "query"),
            HttpError,
            call="create",
            says="redirect",
        )
        for status in (301, 302, 303)
    ),
    Case("redirect-302-on-inference", _redirect(302, "path"), HttpError, call="infer", says="redirect"),
    Case("redirect-307-on-listing", _redirect(307, "query"), HttpError, call="list", says="redirect"),
]

# -- malformed answers: the client's own response error ------------------------------------------

MALFORMED = [
    *(
        Case(
            f"bad-json-{i}", hs.answer(200, body, {"Content-Type": "application/json"}), InvalidResponseError
        )
        for i, body in enumerate(
            [b"{", b"not json", b"[1,", b"\xff\xfe\x00", b"{'a': 1}", b'{"a": NaN', b'{"a": "\xff"}', b"\x00"]
        )
    ),
    Case("empty-200", hs.answer(200, b""), InvalidResponseError),
    Case("nested-json", hs.answer(200, _nested(20_000)), InvalidResponseError),
    Case(
        "nested-json-listing",
        hs.answer(200, b'{"entries": ' + _nested(20_000) + b"}"),
        InvalidResponseError,
        call="list",
    ),
    Case("nested-json-error-body", hs.answer(400, _nested(20_000)), BadRequest),
    Case(
        "nested-error-detail",
        hs.answer(400, b'{"error": "x", "error_detail": ' + _nested(900) + b"}"),
        BadRequest,
    ),
    Case(
        "nested-error-description",
        hs.answer(400, b'{"error": "x", "error_description": ' + _nested(900) + b"}"),
        BadRequest,
    ),
    *(
        Case(f"wrong-type-{name}", hs.answer(200, body), InvalidResponseError)
        for name, body in [
            ("list", b"[]"),
            ("string", b'"text"'),
            ("number", b"42"),
            ("null", b"null"),
            ("bool", b"true"),
            ("huge-number", b"1e999"),
        ]
    ),
    *(
        Case(f"wrong-listing-{name}", hs.answer(200, body), InvalidResponseError, call="list")
        for name, body in [
            ("entries-number", b'{"entries": 5}'),
            ("entries-null", b'{"entries": null}'),
            ("entries-object", b'{"entries": {}}'),
            ("string", b'"x"'),
            ("number", b"7"),
        ]
    ),
    *(
        Case(f"bad-retry-after-{i}", hs.answer(429, b"{}", {"Retry-After": value}), HttpError, retries=1)
        for i, value in enumerate(
            [
                "²",
                "-1",
                "1e400",
                "",
                "Mon, 32 Foo 2024 25:61:61 GMT",
                "9" * 50,
                "0x10",
                "\uff11\uff10",
                "Infinity",
                "NaN",
                "Fri, 31 Dec 99999 23:59:59 GMT",
            ]
        )
    ),
    *(  # Latin-1 bytes: what requests reads as "²", "¹", "³" and "½"
        Case(
            f"bad-retry-after-latin-1-{i}",
            hs.raw(b"HTTP/1.1 429 X\r\nContent-Length: 2\r\nRetry-After: " + value + b"\r\n\r\n{}"),
            HttpError,
            retries=1,
        )
        for i, value in enumerate([b"\xb2", b"\xb9", b"1\xb3", b"\xbd"])
    ),
    Case("bad-status-line", hs.raw(b"HTTP/1.1 abc\r\n\r\n"), TransportError),
    Case("no-http-at-all", hs.raw(b"\x00\x01\x02 garbage\r\n\r\n"), TransportError),
    Case(
        "header-line-too-long",
        hs.raw(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"),
        AbejaError,
    ),
    Case(
        "bad-chunk-size", hs.raw(_head(**{"Transfer-Encoding": "chunked"}) + b"zz\r\nab\r\n"), TransportError
    ),
    Case("body-shorter-than-its-length", hs.raw(_head(**{"Content-Length": "100"}) + b"{}"), TransportError),
]

# -- the credential planted by the server: in no text the client builds ---------------------------


def _at(position: int, text: str = SECRET) -> str:
    """``text`` placed so that it starts at ``position``: across the 1,000-character cut."""
    return "x" * position + text


PLANTED = [
    *(
        Case(
            f"echo-description-{name}",
            _json(400, {"error": "bad", "error_description": f"got {form}"}),
            BadRequest,
        )
        for name, form in FORMS.items()
    ),
    *(
        Case(f"echo-{status}-error-field", _json(status, {"error": SECRET}), cls)
        for status, cls in [
            (401, Unauthorized),
            (403, Forbidden),
            (404, NotFound),
            (500, InternalServerError),
        ]
    ),
    Case("echo-message-key", _json(400, {"message": f"token {SECRET}"}), BadRequest),
    Case("echo-status-key", _json(400, {"status": FORMS["basic-token"]}), BadRequest),
    Case("echo-detail-non-ascii", _json(400, {"error": "x", "error_detail": {"token": SECRET}}), BadRequest),
    Case("echo-detail-list", _json(400, {"error": "x", "error_detail": [SECRET, {"b": BASIC}]}), BadRequest),
    Case(
        "echo-description-object", _json(400, {"error": "x", "error_description": {"t": SECRET}}), BadRequest
    ),
    *(
        Case(
            f"echo-across-the-cut-{pos}",
            _json(400, {"error": "x", "error_description": _at(pos)}),
            BadRequest,
        )
        for pos in (990, 994, 996, 998, 999)
    ),
    *(
        Case(
            f"echo-percent-across-the-cut-{pos}",
            _json(400, {"error_description": _at(pos, FORMS["percent"])}),
            BadRequest,
        )
        for pos in (985, 995)
    ),
    *(
        Case(f"echo-text-body-{name}", _text(500, f"oops {form}"), InternalServerError)
        for name, form in [("raw", SECRET), ("percent", FORMS["percent"]), ("base64", FORMS["base64"])]
    ),
    Case("echo-text-body-across-the-cut", _text(500, _at(997)), InternalServerError),
    Case(
        "echo-reason-phrase",
        hs.raw(f"HTTP/1.1 400 {SECRET}\r\nContent-Length: 0\r\n\r\n".encode()),
        BadRequest,
    ),
    Case("echo-200-not-json", _text(200, f"<html>{SECRET}</html>"), InvalidResponseError),
    Case("echo-200-not-json-across-the-snippet-cut", _text(200, _at(196)), InvalidResponseError),
    Case("echo-200-content-type", _text(200, "nope", f"text/{FORMS['percent']}"), InvalidResponseError),
    Case("echo-bad-status-line", hs.raw(f"HTTP/1.1 abc {SECRET}\r\n\r\n".encode()), TransportError),
    Case("echo-bad-header-line", hs.raw(f"HTTP/1.1 200 OK\r\n{SECRET}\r\n\r\n".encode()), AbejaError),
    Case("echo-inference-error", _json(400, {"error_description": SECRET}), BadRequest, call="infer"),
]

CASES = BOUNDED + REDIRECTS + MALFORMED + PLANTED


def _params() -> list[Any]:
    params = []
    for case in CASES:
        modes = [
            m for m, on in (("sync", case.sync), ("async", case.aio and case.call not in SYNC_ONLY)) if on
        ]
        params += [pytest.param(case, mode, id=f"{mode}-{case.name}") for mode in modes]
    return params


@pytest.fixture(scope="module")
def thief() -> Iterator[hs.HostileServer]:
    """Where redirects point: it must never see a request."""
    with hs.serving({}) as server:
        THIEF_URL[0] = server.url
        yield server


@pytest.fixture(scope="module")
def hostile(thief: hs.HostileServer) -> Iterator[hs.HostileServer]:
    with hs.serving({case.name: case.scenario for case in CASES}) as server:
        yield server


def _client(
    cls: type,
    url: str,
    retries: int = 0,
    timeout: tuple[float, float] = TIMEOUT,
    limit: int = LIMIT,
    verify: bool | str = True,
) -> Any:
    return cls(
        {"user_id": USER, "personal_access_token": SECRET},
        timeout=timeout,
        max_retry_count=retries,
        api_url=url,
        retry_wait_max=0.01,
        max_answer_bytes=limit,
        verify=verify,
    )


def run_call(
    mode: str, url: str, call: Callable[[Any], Any], retries: int = 0, timeout: tuple[float, float] = TIMEOUT
) -> Any:
    """``call(client)`` with a fresh sync or async client; its result or its error."""
    if mode == "sync":
        with _client(APIClient, url, retries, timeout) as client:
            return call(client)

    async def run() -> Any:
        async with _client(AsyncAPIClient, url, retries, timeout) as client:
            return await call(client)

    return asyncio.run(run())


def _texts(exc: BaseException) -> str:
    """Everything the error shows: its text, repr, pickle and its printed traceback (its chain)."""
    parts = [str(exc), repr(exc), repr(pickle.loads(pickle.dumps(exc))), *traceback.format_exception(exc)]
    parts += [repr(getattr(exc, name, "")) for name in ("error", "error_description", "error_detail", "url")]
    return "\n".join(parts)


@pytest.mark.parametrize(("case", "mode"), _params())
def test_hostile_answer(
    case: Case,
    mode: str,
    hostile: hs.HostileServer,
    thief: hs.HostileServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_abeja")
    stolen = len(thief.requests)
    with pytest.raises(AbejaError) as info:
        run_call(mode, hostile.url, lambda c: CALLS[case.call](c, case.name), case.retries, case.timeout)
    assert isinstance(info.value, case.expect), f"{type(info.value).__name__}: {info.value}"
    assert len(thief.requests) == stolen, "a redirect was followed"
    assert_no_leak("the error", _texts(info.value))
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("airflow_provider_abeja")]
    assert_no_leak("the client's log", "\n".join(ours))
    assert case.says in str(info.value)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("value", [".", "..", "", "None", "null", " ", "./x"])
def test_ids_that_name_no_resource_are_refused_before_any_request(
    mode: str, value: str, hostile: hs.HostileServer
) -> None:
    before = len(hostile.requests)
    with pytest.raises(InvalidArgumentError) as info:
        run_call(mode, hostile.url, lambda c: c.get_service(ORG, "drip-content-length", value))
    assert info.value.argument == "service_id"
    assert len(hostile.requests) == before


def test_streamed_answers_are_not_limited_in_size(hostile: hs.HostileServer, tmp_path: Path) -> None:
    """``stream_to`` copies an answer bigger than max_answer_bytes to the file, whole."""
    size = 3 * LIMIT
    hostile.scenarios["big-stream"] = hs.answer(200, b"y" * size)
    with _client(APIClient, hostile.url) as client:
        client.request_service(ORG, "big-stream", SER, json={}, stream_to=tmp_path / "out")
    assert (tmp_path / "out").stat().st_size == size


def test_a_client_error_names_max_answer_bytes(hostile: hs.HostileServer) -> None:
    with pytest.raises(InvalidResponseError) as info:
        run_call("sync", hostile.url, lambda c: c.get_service(ORG, "huge-content-length", SER))
    assert "max_answer_bytes" in str(info.value)
    assert "max_answer_mb" in str(info.value)


def test_a_trigger_with_an_end_time_fires_though_the_server_drips(
    hostile: hs.HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    connection = {
        "conn_type": "abeja",
        "host": hostile.url,
        "login": USER,
        "password": SECRET,
        "extra": {"organization_id": ORG, "timeout": 0.1, "max_retry_count": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DRIP", json.dumps(connection))
    # Drips for longer than the bound below: a trigger without its deadline fails, not ends late.
    hostile.scenarios["drip-for-long"] = hs.drip(
        _head(**{"Transfer-Encoding": "chunked"}), b"1\r\n \r\n", seconds=120
    )
    trigger = AbejaServiceStatusTrigger(
        ORG, "drip-for-long", SER, poll_interval=0.05, end_time=time.time() + 0.5, abeja_conn_id="abeja_drip"
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    # The bound only keeps a regression from hanging the suite; the trigger's own deadline fires.
    payload = asyncio.run(asyncio.wait_for(first_event(), 30))
    assert payload["status"] in ("timeout", "error"), payload
    assert_no_leak("the trigger's event", json.dumps(payload))


@pytest.mark.parametrize("scenario", ["drip-content-length", "silent"])
def test_a_connection_test_answers_at_once_without_retries(
    scenario: str, hostile: hs.HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test's own short timeouts and no retries, whatever the connection says (30 s, 5 retries)."""
    from airflow_provider_abeja.hooks import abeja

    listener = hs.silent_listener()
    url = hostile.url if scenario != "silent" else f"http://127.0.0.1:{listener.getsockname()[1]}"
    connection = {
        "conn_type": "abeja",
        "host": url,
        "login": USER,
        "password": SECRET,
        "extra": {"organization_id": ORG, "deployment_id": scenario, "timeout": 30, "max_retry_count": 5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_SLOW", json.dumps(connection))
    monkeypatch.setattr(abeja, "TEST_TIMEOUT", (0.1, 0.1))
    before = len(hostile.requests)
    with listener:
        ok, message = abeja.AbejaHook("abeja_slow").test_connection()
    assert not ok
    assert "TransportError" in message
    assert "after 1 attempt(s)" in message
    assert_no_leak("the connection test's message", message)
    if scenario != "silent":
        assert len(hostile.requests) == before + 1
