"""The client's last edges: a head dripped for ever, library tracebacks, gzip bombs (sync and async).

- One deadline per request covers the response's head too: a server that drips header bytes
  for ever ends at connect + read timeout with the client's timeout error, retried as a read
  timeout is (a create never re-sent); a head that drips but ends within the deadline succeeds.
- A ``TransportError``'s cause chain (the requests / httpx exception it comes from) is a
  scrubbed stand-in: ``traceback.format_exception`` holds no form of the credential.
- A small gzip body that expands far beyond ``max_answer_bytes`` is refused after about the
  limit was decoded, with memory near the limit.

Each call that could hang runs under a generous bound that only keeps a regression from holding
the suite: the assertions are on what the call raised, never on how long it took.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
import time
import traceback
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import requests.adapters

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import (
    AbejaError,
    AnswerTooLargeError,
    InvalidResponseError,
    TransportError,
)
from tests.reliability import _hostile_server as hs
from tests.reliability._tls import make_tls_files
from tests.reliability.test_hostile_answers_client import (
    FORMS,
    ORG,
    SECRET,
    SER,
    VER,
    _client,
    assert_no_leak,
)

#: A regression's hang ends here; a working call ends at its deadline (0.3 s) or far sooner.
BOUND = 30.0
#: Room for a head that drips for a tenth of a second on a loaded machine.
ROOMY = (1.0, 1.0)


def _slow_head(lines: int = 5, every: float = 0.02) -> hs.Scenario:
    """A head dripped a line at a time that still ends well within the deadline."""

    def run(write: hs.Write) -> None:
        write(b"HTTP/1.1 200 OK\r\n")
        for i in range(lines):
            time.sleep(every)
            write(f"X-Line-{i}: y\r\n".encode())
        write(b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    return run


def _gzip_bomb(size: int) -> bytes:
    """A gzip body of ``size`` zero bytes (about 1/1,300 of it), built without compressing.

    A fixed-Huffman deflate block: one literal 0, then <length 258, distance 1> pairs, each 13
    bits, so that eight pairs are 13 whole bytes once the first pair ends on a byte boundary.
    """
    bits: list[int] = []

    def code(value: int, width: int) -> None:  # Huffman codes go most significant bit first
        bits.extend((value >> i) & 1 for i in reversed(range(width)))

    bits += [1, 1, 0]  # last block, fixed Huffman (BTYPE 01, least significant bit first)
    code(0x30, 8)  # literal 0
    code(0b11000101, 8)  # length 258 (code 285)
    code(0, 5)  # distance 1
    head = _pack(bits)
    bits = []
    for _ in range(8):
        code(0b11000101, 8)
        code(0, 5)
    cycle = _pack(bits)
    cycles = (size - 1 - 258) // (8 * 258)
    total = 1 + 258 + cycles * 8 * 258
    crc = 0
    zeros = bytes(1 << 20)
    for start in range(0, total, len(zeros)):
        crc = zlib.crc32(zeros[: min(len(zeros), total - start)], crc)
    deflate = head + cycle * cycles + bytes(1)  # end of block (7 zero bits) and padding
    trailer = crc.to_bytes(4, "little") + (total % 2**32).to_bytes(4, "little")
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + deflate + trailer


def _pack(bits: list[int]) -> bytes:
    assert len(bits) % 8 == 0
    return bytes(sum(bit << i for i, bit in enumerate(bits[n : n + 8])) for n in range(0, len(bits), 8))


#: 256 MiB of zeros in about 1.7 MB of gzip.
BOMB = _gzip_bomb(256 << 20)
#: The limit of the memory test: big enough that the sync client's 1 MiB reads sit well inside 4x.
BOMB_LIMIT = 2 << 20

SCENARIOS: dict[str, hs.Scenario] = {
    "ok": hs.answer(200, b"{}", {"Content-Type": "application/json"}),
    # One header line that never ends (http.client reads up to 64 kB of it), or endless lines.
    "head-drip-bytes": hs.drip(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"y", seconds=120),
    "head-drip-lines": hs.drip(b"HTTP/1.1 200 OK\r\n", b"X-A: b\r\n", every=0.1, seconds=120),
    "status-line-drip": hs.drip(b"HTTP/1.1 2", b"0", seconds=120),
    "head-drips-then-ends": _slow_head(),
    "gzip-bomb": hs.answer(200, BOMB, {"Content-Encoding": "gzip", "Content-Type": "application/json"}),
    "gzip-bomb-error": hs.answer(500, BOMB, {"Content-Encoding": "gzip"}),
    "gzip-broken": hs.answer(200, b"\x1f\x8b\x08\x00" + b"\xff" * 64, {"Content-Encoding": "gzip"}),
    "deflate-small": hs.answer(200, zlib.compress(b'{"a": 1}'), {"Content-Encoding": "deflate"}),
    "deflate-raw": hs.answer(200, zlib.compress(b'{"a": 1}')[2:-4], {"Content-Encoding": "deflate"}),
    "coding-not-asked-for": hs.answer(200, b"\x0b\x02\x80{}\x03", {"Content-Encoding": "br"}),
}


@pytest.fixture(scope="module")
def server() -> Iterator[hs.HostileServer]:
    with hs.serving(SCENARIOS) as hostile:
        yield hostile


def _bounded(run: Callable[[], Any]) -> Any:
    """``run()``'s result or error, from a thread given ``BOUND`` seconds: a hang fails the test."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(("value", run()))
        except BaseException as exc:  # handed to the test
            outcome.append(("error", exc))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUND)
    assert outcome, f"the call did not end within {BOUND:g}s: nothing bounds it"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def call(mode: str, url: str, run: Callable[[Any], Any], **client: Any) -> Any:
    """``run(client)`` with a fresh sync or async client, under the hang bound."""
    if mode == "sync":

        def sync() -> Any:
            with _client(APIClient, url, **client) as c:
                return run(c)

        return _bounded(sync)

    async def aio() -> Any:
        async with _client(AsyncAPIClient, url, **client) as c:
            return await run(c)

    return _bounded(lambda: asyncio.run(aio()))


def _get(deployment: str) -> Callable[[Any], Any]:
    return lambda c: c.get_service(ORG, deployment, SER)


MODES = ["sync", "async"]

# -- 1. the deadline covers the head -------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["head-drip-bytes", "head-drip-lines", "status-line-drip"])
@pytest.mark.parametrize("mode", MODES)
def test_a_head_dripped_for_ever_ends_at_the_deadline(
    mode: str, scenario: str, server: hs.HostileServer
) -> None:
    with pytest.raises(TransportError) as info:
        call(mode, server.url, _get(scenario))
    assert "no whole answer within 0.3s" in str(info.value)
    assert "ReadTimeout" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_a_head_that_drips_but_ends_within_the_deadline_succeeds(mode: str, server: hs.HostileServer) -> None:
    assert call(mode, server.url, _get("head-drips-then-ends"), timeout=ROOMY) == {}


class _TlsHostileServer(hs.HostileServer):
    """The same scenarios behind TLS: the watchdog shuts a TLS socket down under its reader."""

    def __init__(self, scenarios: dict[str, hs.Scenario], context: ssl.SSLContext) -> None:
        super().__init__(scenarios)
        self.context = context

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        return self.context.wrap_socket(sock, server_side=True), address


@pytest.mark.parametrize("mode", MODES)
def test_a_head_dripped_for_ever_over_tls_ends_at_the_deadline(mode: str, tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.certfile, files.keyfile)
    server = _TlsHostileServer(SCENARIOS, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(TransportError) as info:
            call(mode, url, _get("head-drip-bytes"), verify=str(files.ca_bundle))
        assert "no whole answer within 0.3s" in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("what", "sent"),
    [
        # A GET whose head never came is re-sent, as after a read timeout ...
        (lambda c: c.get_service(ORG, "head-drip-bytes", SER), 3),
        # ... a create never: the service may exist.
        (lambda c: c.create_service(ORG, "head-drip-bytes", VER), 1),
    ],
    ids=["get-retried", "create-never-re-sent"],
)
def test_a_late_head_is_retried_as_a_read_timeout(
    what: Callable[[Any], Any], sent: int, server: hs.HostileServer
) -> None:
    before = len(server.requests)
    with pytest.raises(TransportError) as info:
        call("sync", server.url, what, retries=2)
    assert "no whole answer within 0.3s" in str(info.value)
    assert len(server.requests) - before == sent


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_the_deadline_holds_in_a_forked_worker(server: hs.HostileServer) -> None:
    """Airflow forks its task processes: the child has no watchdog thread until it needs one."""
    with _client(APIClient, server.url) as client:
        client.get_service(ORG, "ok", SER)  # the parent's watchdog thread runs
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                client.get_service(ORG, "head-drip-bytes", SER)
            except TransportError as exc:
                os._exit(0 if "no whole answer" in str(exc) else 2)
            finally:
                os._exit(3)
    stop = time.monotonic() + BOUND
    while time.monotonic() < stop:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked worker's call did not end: no watchdog in the child")


# -- 2. library tracebacks are scrubbed ----------------------------------------------------------


def _library_error(kind: type[BaseException], form: str) -> BaseException:
    """What a library raises with the credential in its text: a proxy's answer, a URL with the
    key in its query, raised from (and during) exceptions that hold it too."""
    try:
        try:
            raise OSError(f"tunnel failed: 407 Proxy Authentication Required for {form}")
        except OSError as inner:
            raise ValueError(f"url=http://127.0.0.1:9/x?key={form}") from inner
    except ValueError:
        try:
            raise kind(f"Unable to connect to proxy: {form}")  # during the above: __context__
        except kind as exc:
            return exc


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("mode", MODES)
def test_a_transport_errors_traceback_holds_no_form_of_the_credential(
    mode: str, form: str, server: hs.HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind: type[BaseException] = requests.exceptions.ProxyError if mode == "sync" else httpx.ProxyError
    raised = _library_error(kind, FORMS[form])

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise raised

    if mode == "sync":
        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fail)
    else:

        async def afail(*args: Any, **kwargs: Any) -> Any:
            fail()

        monkeypatch.setattr(httpx.AsyncClient, "send", afail)
    with pytest.raises(TransportError) as info:
        call(mode, server.url, _get("ok"))
    printed = "".join(traceback.format_exception(info.value))
    assert_no_leak("the printed traceback", printed)
    # The chain is still there to debug with: the same types, the texts without the secret.
    cause = info.value.__cause__
    assert type(cause) is kind
    assert "Unable to connect to proxy: ***" in str(cause)
    assert type(cause.__context__) is ValueError
    assert type(cause.__context__.__cause__) is OSError
    assert info.value.__context__ is cause  # not the library's own exception
    assert "407 Proxy Authentication Required" in printed


@pytest.mark.parametrize("mode", MODES)
def test_a_url_with_the_key_in_its_query_is_scrubbed_from_the_traceback(mode: str) -> None:
    """A real refused connection: requests names the URL, its query holding the key."""
    closed = hs.silent_listener()
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    with pytest.raises(TransportError) as info:
        call(mode, url, lambda c: c.list_channel_files(ORG, query=f"key={SECRET}"))
    assert_no_leak("the printed traceback", "".join(traceback.format_exception(info.value)))


# -- 3. gzip bombs -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_gzip_bomb_stops_at_the_limit_with_memory_near_it(mode: str, server: hs.HostileServer) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(AnswerTooLargeError):
            call(mode, server.url, _get("gzip-bomb"), limit=BOMB_LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 256 MiB decoded at once would show; the limit, a read's chunk and a copy may.
    assert peak < 4 * BOMB_LIMIT, f"peak {peak / 2**20:.1f} MiB for a {BOMB_LIMIT / 2**20:.0f} MiB limit"


@pytest.mark.parametrize(
    ("scenario", "expect"),
    [
        ("gzip-bomb-error", AbejaError),  # an error answer: its head decoded, the status kept
        ("gzip-broken", AbejaError),
        ("coding-not-asked-for", InvalidResponseError),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_an_encoded_answer_that_cannot_be_read_is_the_clients_error(
    mode: str, scenario: str, expect: type[AbejaError], server: hs.HostileServer
) -> None:
    with pytest.raises(expect) as info:
        call(mode, server.url, _get(scenario))
    if scenario == "gzip-bomb-error":
        assert getattr(info.value, "status_code", None) == 500


@pytest.mark.parametrize("scenario", ["deflate-small", "deflate-raw"])
@pytest.mark.parametrize("mode", MODES)
def test_deflate_answers_are_read(mode: str, scenario: str, server: hs.HostileServer) -> None:
    assert call(mode, server.url, _get(scenario)) == {"a": 1}
