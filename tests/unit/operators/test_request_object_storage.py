"""AbejaRequestServiceOperator reads `input_path` and writes `output_path` through object storage.

`memory://` stands in for a remote store (no rename, no append): the input is streamed from it and the
answer lands there whole. The real `s3://` round trip runs in tests/distributed.
"""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_abeja.operators.service import AbejaRequestServiceOperator
from tests._context import FakeTI

try:
    from airflow.sdk.io.store import attach
except ImportError:  # Airflow 2
    from airflow.io.store import attach  # type: ignore[no-redef]

API = "http://api.test"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
INFER = f"{API}/_inference/{ORG}/deployments/{DEP}/services/{SER}"


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"organization_id": ORG, "auth_token": "t", "inference_addressing": "path", "max_retry_count": 0}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps({"conn_type": "abeja", "host": API, "extra": extra})
    )


@pytest.fixture
def memory() -> MemoryFileSystem:
    fs = MemoryFileSystem()
    attach(protocol="memory", fs=fs)  # as the Amazon provider registers s3
    return fs


def request_op(**kwargs: object) -> AbejaRequestServiceOperator:
    return AbejaRequestServiceOperator(task_id="r", deployment_id=DEP, service_id=SER, **kwargs)


def test_input_and_output_round_trip_through_an_object_store(requests_mock, memory) -> None:
    ObjectStoragePath("memory://bucket/in/photo.png").write_bytes(b"PNGDATA")
    seen = []

    def answer(request, ctx):
        body = request.body
        seen.append(body if isinstance(body, bytes) else body.read())
        ctx.headers = {"Content-Type": "image/png"}
        return b"ANSWER"

    call = requests_mock.post(INFER, content=answer)
    ti = FakeTI()
    out = "memory://bucket/out/answer.png"
    result = request_op(input_path="memory://bucket/in/photo.png", output_path=out).execute({"ti": ti})
    assert result == out
    assert seen == [b"PNGDATA"]
    assert call.last_request.headers["Content-Type"] == "image/png"
    assert ObjectStoragePath(out).read_bytes() == b"ANSWER"
    assert ti.xcoms["content_type"] == "image/png"


def test_a_failed_call_leaves_no_object(requests_mock, memory) -> None:
    requests_mock.post(INFER, status_code=400, json={"error": "bad_request", "error_description": "no"})
    out = "memory://bucket/out/never.json"
    with pytest.raises(AirflowException, match="400"):
        request_op(json={"x": 1}, output_path=out).execute({"ti": FakeTI()})
    assert not ObjectStoragePath(out).exists()


def test_a_missing_remote_input_is_refused_before_any_request(requests_mock, memory) -> None:
    with pytest.raises(AirflowFailException, match="input_path: no such file"):
        request_op(input_path="memory://bucket/in/nope.png").execute({"ti": FakeTI()})
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("argument", ["input_path", "output_path"])
def test_a_scheme_without_its_provider_names_the_argument(requests_mock, argument) -> None:
    kwargs = {argument: "nosuchstore://bucket/x.bin"}
    with pytest.raises(AirflowFailException, match=rf"{argument}: no object storage is installed"):
        request_op(**kwargs).execute({"ti": FakeTI()})
    assert requests_mock.call_count == 0


def test_file_urls_and_plain_paths_both_work(requests_mock, tmp_path) -> None:
    (tmp_path / "in.txt").write_bytes(b"hello")
    requests_mock.post(INFER, content=b"done", headers={"Content-Type": "text/plain"})
    out = tmp_path / "deep" / "out.txt"
    result = request_op(input_path=f"file://{tmp_path}/in.txt", output_path=str(out)).execute(
        {"ti": FakeTI()}
    )
    assert result == str(out)
    assert out.read_bytes() == b"done"
    assert [p.name for p in out.parent.iterdir()] == ["out.txt"]  # no temporary file left behind
