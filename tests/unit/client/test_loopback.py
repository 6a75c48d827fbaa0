"""The sync client against a real loopback server: streaming, stream_to, connection reuse,
real refused connections and read timeouts, and no secret in any log line."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.exceptions import InternalServerError, TransportError

from .loopback import BIG, LoopbackServer, big_body, free_port

ORG, DEP = "1234567890123", "9999999999999"
TOKEN = "loopback-SECRET-token"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: LoopbackServer) -> Iterator[APIClient]:
    with APIClient({"auth_token": TOKEN}, api_url=server.url, retry_wait_max=0.01) as c:
        yield c


class SpyReader(io.BufferedReader):
    """Records every read size, to show the body is streamed and never read whole."""

    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.sizes: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(size)
        return super().read(size)


def test_file_upload_is_streamed(client: APIClient, tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    data = big_body()
    path.write_bytes(data)
    with SpyReader(io.FileIO(path, "rb")) as handle:
        answer = client.request_service(ORG, DEP, "ser-echo", data=handle, content_type="image/png").json()
        assert handle.sizes, "the transport read the file itself"
        assert all(size is not None and 0 < size <= 1024 * 1024 for size in handle.sizes)
    assert answer == {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunked": False,
        "content_type": "image/png",
    }


def test_iterator_upload_is_sent_chunked(client: APIClient) -> None:
    parts = [b"abc" * 1000, b"", b"xyz" * 5000]
    answer = client.request_service(ORG, DEP, "ser-echo", data=iter(parts)).json()
    assert answer["chunked"] is True
    assert answer["bytes"] == sum(map(len, parts))
    assert answer["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert answer["content_type"] == "application/octet-stream"


def test_stream_to_writes_the_answer_to_a_path(client: APIClient, tmp_path: Path) -> None:
    target = tmp_path / "answer.bin"
    response = client.request_service(ORG, DEP, "ser-big", json={"x": 1}, stream_to=target)
    assert response.status_code == 200
    assert target.stat().st_size == BIG
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(big_body()).digest()


def test_stream_to_writes_to_an_open_file(client: APIClient, tmp_path: Path) -> None:
    target = tmp_path / "answer.bin"
    with target.open("wb") as handle:
        client.request_endpoint(ORG, DEP, None, json={}, stream_to=handle)
        client.request_service(ORG, DEP, "ser-big", json={}, stream_to=handle)
    assert target.stat().st_size > BIG


def test_one_connection_serves_many_calls(client: APIClient, server: LoopbackServer) -> None:
    for _ in range(20):
        client.get_service(ORG, DEP, "ser-0123456789abcdef")
        client.request_service(ORG, DEP, "ser-echo", data=b"x" * 100)
    ports = {port for _, _, port, _ in server.requests}
    assert len(server.requests) == 40
    assert len(ports) == 1


def test_path_style_route_on_loopback(client: APIClient, server: LoopbackServer) -> None:
    client.request_service(ORG, DEP, "ser-echo", json={})
    assert server.requests[-1][1] == f"/_inference/{ORG}/deployments/{DEP}/services/ser-echo"


def test_refused_post_is_resent_until_the_retry_budget_ends() -> None:
    with (
        APIClient(
            {"auth_token": TOKEN},
            max_retry_count=2,
            api_url=f"http://127.0.0.1:{free_port()}",
            retry_wait_max=0.01,
        ) as client,
        pytest.raises(TransportError) as info,
    ):
        client.create_service(ORG, DEP, "ver-0123456789abcdef")
    assert info.value.attempts == 3
    assert TOKEN not in str(info.value)


def test_post_is_not_resent_after_a_read_timeout(server: LoopbackServer) -> None:
    with (
        APIClient({"auth_token": TOKEN}, timeout=(2, 0.2), api_url=server.url, retry_wait_max=0.01) as client,
        pytest.raises(TransportError) as info,
    ):
        client.request_service(ORG, DEP, "ser-slow", json={})
    assert info.value.attempts == 1
    assert len(server.requests) == 1


def test_post_is_not_resent_after_a_500(client: APIClient, server: LoopbackServer) -> None:
    with pytest.raises(InternalServerError, match="unexpected error occurred"):
        client.request_service(ORG, DEP, "ser-error", json={})
    assert len(server.requests) == 1


def test_no_secret_in_any_log_line(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    credential = {"user_id": "1111111111111", "personal_access_token": TOKEN}
    with caplog.at_level(logging.DEBUG):
        with APIClient(credential, api_url=server.url, max_retry_count=1, retry_wait_max=0.01) as client:
            client.get_service(ORG, DEP, "ser-0123456789abcdef")
            client.request_service(ORG, DEP, "ser-echo", data=b"payload")
            with pytest.raises(InternalServerError) as info:
                client.request_service(ORG, DEP, "ser-error", json={})
            text = (
                f"{info.value} {info.value!r} {client!r} {client.session.auth!r} {client.session.headers!r}"
            )
        with APIClient(
            credential, api_url=f"http://127.0.0.1:{free_port()}", max_retry_count=1, retry_wait_max=0.01
        ) as dead:
            with pytest.raises(TransportError) as refused:
                dead.get_service(ORG, DEP, "ser-0123456789abcdef")
            text += f" {refused.value} {refused.value!r}"
    sent = server.requests[0][3]["Authorization"]
    assert sent.startswith("Basic ")
    secrets = [TOKEN, sent, sent.split()[1]]
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # the transport did log at DEBUG
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # and a retry was logged
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in text


def test_one_client_shared_by_threads(client: APIClient, server: LoopbackServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(index: int) -> int:
        answer = client.request_service(ORG, DEP, "ser-echo", data=b"x" * index).json()
        client.get_service(ORG, DEP, "ser-0123456789abcdef")
        return int(answer["bytes"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        sizes = list(pool.map(work, range(200)))
    assert sizes == list(range(200))
    assert len(server.requests) == 400
    assert len({port for _, _, port, _ in server.requests}) <= 10  # pool_maxsize bounds the connections
