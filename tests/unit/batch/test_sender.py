"""The sender with the real APIClient over a mocked transport: bodies, decoding, the re-send policy."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_abeja.batch.inputs import BatchInput
from airflow_provider_abeja.batch.sender import Sender, Target, decode_body
from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.client.retry import RetryPolicy

API = "http://127.0.0.1:8765"
ORG, DEP, SER = "1234567890123", "9999999999999", "ser-0123456789abcdef"
SERVICE_URL = f"{API}/_inference/{ORG}/deployments/{DEP}/services/{SER}"
ENDPOINT_URL = f"{API}/_inference/{ORG}/deployments/{DEP}/fast"


@pytest.fixture
def client() -> Iterator[APIClient]:
    with APIClient({"auth_token": "t"}, max_retry_count=2, api_url=API) as c:
        yield c


def _sender(client: APIClient, **kwargs: Any) -> Sender:
    no_sleep = RetryPolicy(client.max_retry_count, sleep=lambda _s: None)
    return Sender(client, Target(ORG, DEP, service_id=SER), policy=no_sleep, **kwargs)


def test_json_input_is_posted_and_json_answer_recorded(client: APIClient) -> None:
    with rm.Mocker() as m:
        m.post(SERVICE_URL, json={"label": "cat"}, headers={"Content-Type": "application/json"})
        record = _sender(client)(BatchInput(index=0, key="a", json={"x": 1}))
        assert json.loads(m.last_request.body) == {"x": 1}
        assert m.last_request.headers["Content-Type"].startswith("application/json")
    assert record["status"] == "ok"
    assert record["status_code"] == 200
    assert record["response"] == {"label": "cat"}
    assert record["attempts"] == 1


def test_binary_input_goes_with_its_content_type_to_an_endpoint(client: APIClient) -> None:
    sender = Sender(client, Target(ORG, DEP, endpoint_alias="fast"))
    with rm.Mocker() as m:
        m.post(ENDPOINT_URL, content=b"\x00\x01", headers={"Content-Type": "image/png"})
        record = sender(BatchInput(index=0, key="img.png", data=b"PNG", content_type="image/png"))
        assert m.last_request.body == b"PNG"
        assert m.last_request.headers["Content-Type"] == "image/png"
    assert record["response_base64"] == base64.b64encode(b"\x00\x01").decode()


def test_503_is_resent_with_the_client_policy_then_succeeds(client: APIClient) -> None:
    with rm.Mocker() as m:
        m.post(
            SERVICE_URL,
            [
                {"status_code": 503, "json": {"error": "not_ready", "error_description": "warming up"}},
                {"status_code": 503, "json": {"error": "not_ready"}},
                {"status_code": 200, "json": {"ok": True}},
            ],
        )
        record = _sender(client)(BatchInput(index=0, key=1, json={}))
        assert m.call_count == 3
    assert record["status"] == "ok"
    assert record["attempts"] == 3


def test_503_stops_after_max_retry_count(client: APIClient) -> None:
    with rm.Mocker() as m:
        m.post(SERVICE_URL, status_code=503, json={"error": "busy", "error_description": "overloaded"})
        record = _sender(client, abort_statuses=())(BatchInput(index=0, key=1, json={}))
        assert m.call_count == 3  # 1 + max_retry_count
    assert record["status"] == "error"
    assert record["status_code"] == 503
    assert record["error"]["error"] == "busy"
    assert record["attempts"] == 3


def test_500_is_not_resent_by_default_but_is_when_asked(client: APIClient) -> None:
    with rm.Mocker() as m:
        m.post(SERVICE_URL, status_code=500, json={"status": "unexpected error occurred"})
        record = _sender(client)(BatchInput(index=0, key=1, json={}))
        assert m.call_count == 1
        assert record["error"]["type"] == "InternalServerError"
        _sender(client, resend_statuses={500, 503})(BatchInput(index=0, key=1, json={}))
        assert m.call_count == 1 + 3


def test_invalid_input_is_not_sent(client: APIClient) -> None:
    with rm.Mocker() as m:
        record = _sender(client)(BatchInput(index=0, key=3, error="line 3 is not valid JSON"))
        assert m.call_count == 0
    assert record == {
        "status": "error",
        "attempts": 0,
        "error": {"type": "InvalidInput", "message": "line 3 is not valid JSON"},
    }


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json; charset=utf-8", b'{"a":1}', {"response": {"a": 1}}),
        ("application/json", b"not json", {"response_text": "not json"}),
        ("text/plain", "héllo".encode(), {"response_text": "héllo"}),
        ("", b"\xff", {"response_base64": "/w=="}),
        ("", b'{"a":1}', {"response": {"a": 1}}),
        ("image/png", b'{"a":1}', {"response_base64": "eyJhIjoxfQ=="}),
    ],
)
def test_decode_body(content_type: str, body: bytes, expected: dict[str, Any]) -> None:
    assert decode_body(content_type, body) == expected


def test_service_level_failures_abort_instead_of_recording_an_error(client: APIClient) -> None:
    with rm.Mocker() as m:
        m.post(SERVICE_URL, status_code=401, json={"error": "unauthorized"})
        assert _sender(client)(BatchInput(index=0, key=1, json={}))["status"] == "abort"
        m.post(SERVICE_URL, status_code=503, json={"error": "busy"})
        assert _sender(client)(BatchInput(index=0, key=1, json={}))["status"] == "abort"
        assert _sender(client, abort_statuses=())(BatchInput(index=0, key=1, json={}))["status"] == "error"
        m.post(SERVICE_URL, status_code=400, json={"error": "bad image"})
        assert _sender(client)(BatchInput(index=0, key=1, json={}))["status"] == "error"


def test_file_input_is_read_when_sent_and_a_vanished_file_is_that_inputs_error(
    client: APIClient, tmp_path: Path
) -> None:
    from airflow_provider_abeja.batch.inputs import FilesSource

    (tmp_path / "a.png").write_bytes(b"A")
    (tmp_path / "b.png").write_bytes(b"B")
    first, second = list(FilesSource(tmp_path))
    (tmp_path / "a.png").write_bytes(b"A2")  # changed after listing: the bytes sent are read at send time
    (tmp_path / "b.png").unlink()
    with rm.Mocker() as m:
        m.post(SERVICE_URL, json={"ok": True})
        assert _sender(client)(first)["status"] == "ok"
        assert m.last_request.body == b"A2"
        assert m.last_request.headers["Content-Type"] == "image/png"
        record = _sender(client)(second)
        assert m.call_count == 1
    assert record["status"] == "error"
    assert record["error"]["type"] == "InvalidInput"
    assert "b.png" in record["error"]["message"]


def test_a_target_refuses_an_id_that_would_address_another_resource() -> None:
    from airflow_provider_abeja.exceptions import InvalidArgumentError

    refused = {"service_id": ("", "ser-1/../ser-2"), "endpoint_alias": (" ", "None")}
    for argument, values in refused.items():
        for value in values:
            with pytest.raises(InvalidArgumentError, match=f"^{argument}:"):
                Target(ORG, DEP, **{argument: value})
    # The alias is not used beside a service: only the service's id is checked.
    assert Target(ORG, DEP, service_id=SER, endpoint_alias="").describe() == f"service {SER}"
