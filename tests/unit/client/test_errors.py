"""Status -> exception mapping, error bodies, and non-JSON answers."""

from __future__ import annotations

import pickle

import pytest
import requests_mock as rm

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.exceptions import (
    AbejaError,
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    InternalServerError,
    InvalidResponseError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)

from .conftest import DEP, INFER, MGMT, ORG, SER, TOKEN

STATUSES = [
    (400, BadRequest),
    (401, Unauthorized),
    (403, Forbidden),
    (404, NotFound),
    (405, MethodNotAllowed),
    (409, Conflict),
    (500, InternalServerError),
    (418, HttpError),
    (422, HttpError),
    (501, HttpError),
    (503, HttpError),
]


@pytest.mark.parametrize(("status", "cls"), STATUSES)
def test_status_maps_to_exception(
    make_client: object, requests_mock: rm.Mocker, status: int, cls: type
) -> None:
    client = make_client(max_retry_count=0)  # type: ignore[operator]
    url = f"{MGMT}/services/{SER}"
    body = {"error": "some_error", "error_description": "what went wrong", "error_detail": {"field": ["bad"]}}
    requests_mock.get(url, status_code=status, json=body)
    with pytest.raises(cls) as info:
        client.get_service(ORG, DEP, SER)
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, HttpError)
    assert isinstance(exc, AbejaError)
    assert exc.status_code == status
    assert exc.error == "some_error"
    assert exc.error_description == "what went wrong"
    assert exc.error_detail == {"field": ["bad"]}
    assert exc.url == url
    assert str(status) in str(exc)
    assert "what went wrong" in str(exc)


def test_non_json_error_body_uses_reason_and_text(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.delete(
        f"{MGMT}/services/{SER}", status_code=404, reason="Not Found", text="<html>no such thing</html>"
    )
    with pytest.raises(NotFound) as info:
        client.delete_service(ORG, DEP, SER)
    assert info.value.error == "Not Found"
    assert info.value.error_description == "<html>no such thing</html>"
    assert info.value.error_detail is None


def test_long_error_text_is_truncated(make_client: object, requests_mock: rm.Mocker) -> None:
    client = make_client(max_retry_count=0)  # type: ignore[operator]
    requests_mock.get(f"{MGMT}/services/{SER}", status_code=502, text="x" * 100_000)
    with pytest.raises(HttpError) as info:
        client.get_service(ORG, DEP, SER)
    assert len(str(info.value)) < 2000


@pytest.mark.parametrize("text", ["<html>oops</html>", "", "not json {"])
def test_non_json_2xx_is_invalid_response(client: APIClient, requests_mock: rm.Mocker, text: str) -> None:
    requests_mock.get(
        f"{MGMT}/services/{SER}", status_code=200, text=text, headers={"Content-Type": "text/html"}
    )
    with pytest.raises(InvalidResponseError) as info:
        client.get_service(ORG, DEP, SER)
    assert info.value.status_code == 200
    assert isinstance(info.value, HttpError)


def test_json_array_where_object_expected(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}", json=[1, 2])
    with pytest.raises(InvalidResponseError, match="JSON object"):
        client.get_service(ORG, DEP, SER)


def test_list_of_unexpected_shape(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services", json={"items": []})
    with pytest.raises(InvalidResponseError, match="entries"):
        client.get_services(ORG, DEP)


def test_204_without_body_is_an_empty_dict(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.delete(f"{MGMT}/services/{SER}", status_code=204, text="")
    assert client.delete_service(ORG, DEP, SER) == {}


def test_request_service_error_carries_the_service_message(
    client: APIClient, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(
        f"{INFER}/services/{SER}", status_code=500, json={"status": "unexpected error occurred"}
    )
    with pytest.raises(InternalServerError) as info:
        client.request_service(ORG, DEP, SER, json={})
    assert info.value.error_description == "unexpected error occurred"
    assert requests_mock.call_count == 1


def test_request_service_error_with_stream_to_leaves_file_alone(
    client: APIClient, requests_mock: rm.Mocker, tmp_path: object
) -> None:
    requests_mock.post(
        f"{INFER}/services/{SER}", status_code=400, json={"error": "bad", "error_description": "d"}
    )
    target = tmp_path / "out.bin"  # type: ignore[operator]
    with pytest.raises(BadRequest, match="d"):
        client.request_service(ORG, DEP, SER, json={}, stream_to=target)
    assert not target.exists()


def test_server_echoing_the_credential_is_scrubbed(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        f"{MGMT}/services/{SER}",
        status_code=401,
        json={
            "error": "unauthorized",
            "error_description": f"token {TOKEN} is invalid",
            "error_detail": [TOKEN],
        },
    )
    with pytest.raises(Unauthorized) as info:
        client.get_service(ORG, DEP, SER)
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)
    assert TOKEN not in str(info.value.error_detail)


def test_http_errors_survive_pickling(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        f"{MGMT}/services/{SER}", status_code=404, json={"error": "not_found", "error_description": "x"}
    )
    with pytest.raises(NotFound) as info:
        client.get_service(ORG, DEP, SER)
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is NotFound
    assert (copy.status_code, copy.error, copy.url) == (404, "not_found", info.value.url)
