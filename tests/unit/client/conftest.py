"""Shared fixtures for the client tests: a client whose retry sleeps are recorded, not slept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient

API = "https://api.example.test"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
PNT = "pnt-0123456789abcdef"
VER = "ver-0123456789abcdef"
TOKEN = "s3cr3t-BEARER-value"
MGMT = f"{API}/organizations/{ORG}/deployments/{DEP}"
INFER = f"https://{ORG}.api.example.test/deployments/{DEP}"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., APIClient]]:
    """Build APIClients for API with a bearer token; retry waits go to ``sleeps``."""
    made: list[APIClient] = []

    def factory(**kwargs: Any) -> APIClient:
        kwargs.setdefault("credential", {"auth_token": TOKEN})
        kwargs.setdefault("api_url", API)
        client = APIClient(**kwargs)
        client._retry_policy.sleep = sleeps.append
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., APIClient]) -> APIClient:
    return make_client()
