"""Runs, triggers and the Datalake: what the client sends, checked against the contract (mocked HTTP)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import requests_mock as rm

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.client.runs import datalake_input, datalake_output, decoded, file_second
from airflow_provider_abeja.exceptions import InternalServerError, InvalidArgumentError

from .conftest import API, MGMT, ORG, TOKEN, VER

CHANNEL = "2222222222222"
FILE = "20180101T112233-44444444-5555-6666-7777-888888888888"
RUN = "run-3333333333333333"
TRI = "tri-3333333333333333"


def test_create_run_sends_the_sdk_body(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{MGMT}/runs", json={"run_id": RUN, "status": "SUBMITTED"})
    client.create_run(
        ORG,
        "9999999999999",
        VER,
        input_data=datalake_input(CHANNEL, FILE),
        output_template=datalake_output(CHANNEL),
        model_id="1111111111111",
        retry_count=0,
    )
    assert requests_mock.last_request.json() == {
        "version_id": VER,
        "environment": {},
        "input_data": {"$datalake:1": f"{CHANNEL}/{FILE}"},
        "output_template": {"$datalake:1": CHANNEL},
        "models": {"alias": "1111111111111"},
        "retry_count": 0,
    }


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"retry_count": 10}, "retry_count"),
        ({"retry_count": -1}, "retry_count"),
        ({"input_data": {"$datalake:1": ""}}, "input_data"),
        ({"output_template": "2222222222222"}, "output_template"),
        ({"environment": {"A": 1}}, "environment"),
        ({"version_id": "ver/x"}, "version_id"),
    ],
)
def test_bad_run_arguments_are_refused_before_sending(
    client: APIClient, requests_mock: rm.Mocker, arguments: dict, argument: str
) -> None:
    requests_mock.register_uri(rm.ANY, rm.ANY, json={})
    with pytest.raises(InvalidArgumentError) as info:
        client.create_run(
            **{"organization_id": ORG, "deployment_id": "9999999999999", "version_id": VER, **arguments}
        )
    assert info.value.argument == argument
    assert requests_mock.call_count == 0


def test_a_run_is_never_created_twice_by_a_resend(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{MGMT}/runs", status_code=500, json={"error": "boom"})
    with pytest.raises(InternalServerError):
        client.create_run(ORG, "9999999999999", VER)
    assert requests_mock.call_count == 1


def test_run_pages_and_logs_take_their_tokens(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/runs", json={"entries": [], "next_page_token": ""})
    requests_mock.get(f"{MGMT}/runs/{RUN}/logs", json={"events": []})
    client.get_runs(ORG, "9999999999999", next_page_token="t1", scan_forward=True)
    assert requests_mock.last_request.qs == {"next_page_token": ["t1"], "scan_forward": ["true"]}
    client.get_run_logs(
        ORG, "9999999999999", RUN, start_time=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    )
    assert requests_mock.last_request.qs == {"start_time": ["2024-01-02t03:04:05"]}


def test_create_trigger_needs_both_output_fields(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{MGMT}/triggers", json={"trigger_id": TRI})
    with pytest.raises(InvalidArgumentError) as info:
        client.create_trigger(ORG, "9999999999999", VER, CHANNEL, output_service_name="datalake")
    assert info.value.argument == "output_service_id"
    assert requests_mock.call_count == 0
    client.create_trigger(
        ORG, "9999999999999", VER, CHANNEL, output_service_name="datalake", output_service_id="3"
    )
    assert requests_mock.last_request.json() == {
        "version_id": VER,
        "input_service_name": "datalake",
        "input_service_id": CHANNEL,
        "environment": {},
        "output_service_name": "datalake",
        "output_service_id": "3",
    }


def test_file_routes_sit_at_the_api_root_and_filters_use_the_platform_names(
    client: APIClient, requests_mock: rm.Mocker
) -> None:
    requests_mock.get(f"{API}/channels/{CHANNEL}", json={"files": [], "next_page_token": None})
    client.list_channel_files(
        CHANNEL, start=dt.date(2024, 1, 2), end="20240103", sort="-uploaded_at", query="x-abeja-meta-a:b"
    )
    assert requests_mock.last_request.qs == {
        "start": ["20240102"],
        "end": ["20240103"],
        "sort": ["-uploaded_at"],
        "q": ["x-abeja-meta-a:b"],
    }
    with pytest.raises(InvalidArgumentError) as info:
        client.list_channel_files(CHANNEL, sort="-uploaded_at", next_page_token="t")
    assert info.value.argument == "next_page_token"
    with pytest.raises(InvalidArgumentError) as info:
        client.list_channel_files(CHANNEL, start="2024-01-02")
    assert info.value.argument == "start"


def test_upload_streams_the_body_with_encoded_metadata(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{API}/channels/{CHANNEL}/upload", json={"file_id": FILE})
    client.upload_channel_file(
        CHANNEL,
        io.BytesIO(b'{"a": 1}'),
        content_type="application/json",
        metadata={"filename": "日本語.json", "x-abeja-meta-kind": "a b"},
        lifetime="1week",
        conflict_target="filename",
    )
    sent = requests_mock.last_request
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["x-abeja-meta-filename"] == "%E6%97%A5%E6%9C%AC%E8%AA%9E.json"
    assert sent.headers["x-abeja-meta-kind"] == "a%20b"
    assert sent.qs == {"lifetime": ["1week"], "conflict_target": ["filename"]}
    assert (sent.body.read() if hasattr(sent.body, "read") else sent.body) == b'{"a": 1}'
    for bad in ({"lifetime": "2days"}, {"metadata": {"n": 1}}):
        with pytest.raises(InvalidArgumentError):
            client.upload_channel_file(CHANNEL, b"x", **bad)  # type: ignore[arg-type]
    assert requests_mock.call_count == 1


def test_download_goes_to_the_presigned_url_without_the_credential(
    client: APIClient, requests_mock: rm.Mocker
) -> None:
    url = "https://bucket.example.test/obj?Signature=abc&Expires=1"
    requests_mock.get(f"{API}/channels/{CHANNEL}/{FILE}", json={"file_id": FILE, "download_uri": url})
    requests_mock.get(url, content=b"payload")
    assert client.download_channel_file(CHANNEL, FILE) == b"payload"
    info, content = requests_mock.request_history
    assert TOKEN in info.headers["Authorization"]
    assert "Authorization" not in content.headers


def test_run_answers_may_encode_their_data_as_json_text() -> None:
    data = {"$datalake:1": f"{CHANNEL}/{FILE}"}
    assert decoded(json.dumps(data)) == data == decoded(data)
    assert file_second(FILE) == "20180101T112233"
    assert file_second("not-a-file") is None
