"""The Training API's request building and its uploads, without the emulator.

The pre-signed URLs (a version's ``upload_url``, a job's artifact ``uri``) must never receive the
API credential: a small recording server on loopback checks the headers each request carried.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.client.training import pack_folder, read_archive
from airflow_provider_abeja.exceptions import InvalidArgumentError

CREDENTIAL = {"user_id": "1234567890123", "personal_access_token": "secret-token"}
ORG, DEP = "1234567890123", "9999999999999"


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, body: bytes, content_type: str = "application/json") -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), data))
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path.endswith("/versions"):
            self._answer(json.dumps({"version_id": "ver-1", "upload_url": f"{base}/upload?sig=x"}).encode())
        else:
            self._answer(b'{"ok": true}')

    def do_PUT(self) -> None:
        self._answer(b"")

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path.endswith("/result"):
            self._answer(json.dumps({"artifacts": {"complete": {"uri": f"{base}/artifact?sig=y"}}}).encode())
        else:
            self._answer(b"PK-zip-bytes", "application/zip")


@pytest.fixture
def server() -> Iterator[Any]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _code(tmp_path: Path) -> Path:
    (tmp_path / "code" / "pkg").mkdir(parents=True)
    (tmp_path / "code" / "main.py").write_text("def handler(r, c):\n    return {}\n")
    (tmp_path / "code" / "pkg" / "util.py").write_text("X = 1\n")
    return tmp_path / "code"


def test_presigned_urls_never_get_the_credential(server: Any, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.server_port}"
    with APIClient(CREDENTIAL, api_url=url) as client:
        client.create_deployment_version(ORG, DEP, "1.0.0", _code(tmp_path))
        assert client.download_training_result(ORG, "defn", "1111111111111") == b"PK-zip-bytes"
    by_path = {path.split("?")[0]: headers for _, path, headers, _ in server.seen}
    assert "Authorization" in by_path[f"/organizations/{ORG}/deployments/{DEP}/versions"]
    assert (
        "Authorization"
        in by_path[f"/organizations/{ORG}/training/definitions/defn/jobs/1111111111111/result"]
    )
    assert "Authorization" not in by_path["/upload"]
    assert "Authorization" not in by_path["/artifact"]
    uploaded = next(data for method, _, _, data in server.seen if method == "PUT")
    with tarfile.open(fileobj=io.BytesIO(uploaded), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == ["main.py", "pkg/util.py"]


def test_job_definition_version_is_multipart_as_the_sdk_sends_it(server: Any, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.server_port}"
    with APIClient(CREDENTIAL, api_url=url) as client:
        client.create_training_job_definition_version(
            ORG, "defn", _code(tmp_path), "train:handler", image="img:1", environment={"A": "1"}
        )
    _, path, headers, body = server.seen[-1]
    assert path == f"/organizations/{ORG}/training/definitions/defn/versions"
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body
    )
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    assert json.loads(parts["parameters"].get_payload(decode=True)) == {
        "handler": "train:handler",
        "image": "img:1",
        "environment": {"A": "1"},
    }
    archive = zipfile.ZipFile(io.BytesIO(parts["source_code"].get_payload(decode=True)))
    assert sorted(archive.namelist()) == ["main.py", "pkg/util.py"]


def test_archives_are_recognised_and_refused_by_content(tmp_path: Path) -> None:
    folder = _code(tmp_path)
    assert read_archive(pack_folder(folder, "zip"), "source", folder_format="zip")[2] == "application/zip"
    assert read_archive(pack_folder(folder, "tar"), "source", folder_format="zip")[2] == "application/gzip"
    (tmp_path / "notes.txt").write_text("not an archive")
    for bad in (tmp_path / "notes.txt", b"", tmp_path / "missing", 42):
        with pytest.raises(InvalidArgumentError) as raised:
            read_archive(bad, "source", folder_format="zip")
        assert raised.value.argument == "source"


def test_a_presigned_urls_signature_is_in_no_error_nor_log(
    requests_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A pre-signed URL's query is its signature: errors and retry warnings show the URL without it."""
    import requests

    from airflow_provider_abeja.exceptions import AbejaError

    base = "https://api.example.test"
    result = f"{base}/organizations/{ORG}/training/definitions/defn/jobs/1111111111111/result"
    signed = "https://storage.example.test/artifact?X-Sig=SIGNATURE"
    requests_mock.get(result, json={"artifacts": {"complete": {"uri": signed}}})
    client = APIClient(CREDENTIAL, api_url=base, max_retry_count=1, retry_wait_max=0)
    for answer in (
        {"status_code": 403, "text": "denied"},
        {"exc": requests.exceptions.ConnectionError(signed)},
    ):
        requests_mock.get(signed, **answer)
        with pytest.raises(AbejaError) as raised:
            client.download_training_result(ORG, "defn", "1111111111111")
        assert "SIGNATURE" not in str(raised.value)
        assert "SIGNATURE" not in str(getattr(raised.value, "url", ""))
    assert "storage.example.test/artifact" in caplog.text
    assert "SIGNATURE" not in caplog.text


@pytest.mark.parametrize("instance_type", ["", "cpu 1", "cpu-1\n", "a=b", 1])
def test_services_and_training_jobs_refuse_the_same_instance_types(instance_type: Any) -> None:
    """One check of an instance type's name (``validation.check_instance_type``), before anything is sent."""
    with APIClient(CREDENTIAL, api_url="http://127.0.0.1:9", max_retry_count=0) as client:
        with pytest.raises(InvalidArgumentError, match="instance_type"):
            client.create_service(ORG, DEP, "ver-1", instance_type=instance_type)
        with pytest.raises(InvalidArgumentError, match="instance_type"):
            client.create_training_job(ORG, "defn", 1, instance_type=instance_type)
