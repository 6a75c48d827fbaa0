"""Fixtures for the training tests: a client on a fresh emulator, and a job definition whose
version 1 is the sample model's training handler (``train:handler``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from abeja_emulator.sample import SAMPLE_HANDLER_DIR
from airflow_provider_abeja.client import APIClient
from tests.integration.training._support import DEFINITION


@pytest.fixture
def client(abeja_emulator: Any) -> Iterator[APIClient]:
    with APIClient(abeja_emulator.credential, api_url=abeja_emulator.url) as made:
        yield made


@pytest.fixture
def org(abeja_emulator: Any) -> str:
    return str(abeja_emulator.organization_id)


@pytest.fixture
def definition(client: APIClient, org: str) -> str:
    """A job definition with one version: the sample handler folder, uploaded as the SDK does."""
    client.create_training_job_definition(org, DEFINITION)
    client.create_training_job_definition_version(org, DEFINITION, SAMPLE_HANDLER_DIR, "train:handler")
    return DEFINITION
