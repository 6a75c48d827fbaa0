"""get_deployments and the public retry_wait_max property."""

from __future__ import annotations

import pytest
import requests_mock as rm

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import InvalidArgumentError, InvalidResponseError, Unauthorized

from .conftest import API, ORG, TOKEN

URL = f"{API}/organizations/{ORG}/deployments"
ENTRIES = [{"deployment_id": "9999999999999", "name": "sample-model"}]


def test_sync_get_deployments(client: APIClient, requests_mock: rm.Mocker) -> None:
    route = requests_mock.get(URL, json={"entries": ENTRIES})
    assert client.get_deployments(ORG) == {"entries": ENTRIES}
    assert route.call_count == 1
    assert route.last_request is not None
    assert route.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_sync_get_deployments_normalises_a_bare_list(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(URL, json=ENTRIES)
    assert client.get_deployments(ORG) == {"entries": ENTRIES}


def test_sync_get_deployments_errors(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(URL, status_code=401, json={"error": "unauthorized", "error_description": "bad token"})
    with pytest.raises(Unauthorized):
        client.get_deployments(ORG)
    requests_mock.get(URL, json={"deployments": ENTRIES})
    with pytest.raises(InvalidResponseError):
        client.get_deployments(ORG)


def test_sync_get_deployments_checks_the_organization_first(
    client: APIClient, requests_mock: rm.Mocker
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        client.get_deployments("evil.example.com/x")
    assert info.value.argument == "organization_id"
    with pytest.raises(InvalidArgumentError):
        client.get_deployments("")
    assert requests_mock.call_count == 0


def test_sync_get_deployments_is_retried_as_a_read(
    client: APIClient, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    route = requests_mock.get(URL, [{"status_code": 503}, {"json": {"entries": []}}])
    assert client.get_deployments(ORG) == {"entries": []}
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_retry_wait_max_is_public_and_read_only() -> None:
    with APIClient({"auth_token": TOKEN}, api_url=API, retry_wait_max=7) as client:
        assert client.retry_wait_max == 7.0
        with pytest.raises(AttributeError):
            client.retry_wait_max = 1.0  # type: ignore[misc]
    assert AsyncAPIClient({"auth_token": TOKEN}, api_url=API).retry_wait_max == 30.0


def test_batch_sender_takes_the_clients_retry_wait_max() -> None:
    from airflow_provider_abeja.batch.sender import Sender, Target

    with APIClient({"auth_token": TOKEN}, api_url=API, retry_wait_max=2.5) as client:
        sender = Sender(
            client, Target(organization_id=ORG, deployment_id="9999999999999", service_id="ser-1")
        )
    assert sender.policy.wait_max == 2.5
