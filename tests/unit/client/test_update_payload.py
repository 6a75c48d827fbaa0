"""update_service payloads: the platform's known fields are checked like create's, the rest pass."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.exceptions import InvalidArgumentError

API = "https://api.example.test"
URL = f"{API}/organizations/1234567890123/deployments/9999999999999/services/ser-0123456789abcdef"


@pytest.fixture
def client() -> APIClient:
    return APIClient({"auth_token": "t"}, api_url=API, max_retry_count=0)


@pytest.mark.parametrize(
    "payload",
    [
        # the seed's own example: enable_autoscale as the string 'true'
        {
            "instance_number": 4,
            "min_instance_number": 2,
            "max_instance_number": 6,
            "enable_autoscale": "true",
        },
        {"version_id": "ver-0123456789abcdef", "environment": {"A": "b"}},
        {"some_future_field": [1, 2]},
        {},
    ],
)
def test_valid_payloads_are_sent_unchanged(client: APIClient, payload: dict[str, Any]) -> None:
    with requests_mock.Mocker() as mock:
        mock.patch(URL, json={"service_id": "ser-0123456789abcdef", "status": "IN_PROGRESS"})
        client.update_service("1234567890123", "9999999999999", "ser-0123456789abcdef", payload)
    assert mock.call_count == 1
    assert mock.request_history[0].json() == payload


@pytest.mark.parametrize(
    ("payload", "argument"),
    [
        ({"instance_number": -1}, "payload.instance_number"),
        ({"instance_number": "two"}, "payload.instance_number"),
        ({"min_instance_number": 3, "max_instance_number": 1}, "payload.min_instance_number"),
        ({"enable_autoscale": 2}, "payload.enable_autoscale"),
        ({"instance_type": ""}, "payload.instance_type"),
        ({"model_id": "a/b"}, "payload.model_id"),
        ({"environment": ["A=b"]}, "payload.environment"),
        ({1: "x"}, "payload"),
    ],
)
def test_bad_payload_fields_are_refused_before_sending(
    client: APIClient, payload: dict[Any, Any], argument: str
) -> None:
    with requests_mock.Mocker() as mock, pytest.raises(InvalidArgumentError) as info:
        client.update_service("1234567890123", "9999999999999", "ser-0123456789abcdef", payload)
    assert mock.call_count == 0
    assert info.value.argument == argument
