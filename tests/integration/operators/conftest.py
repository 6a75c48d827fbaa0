"""Run the service and endpoint operators against the emulator without a scheduler.

`execute(context)` gets a minimal context whose `ti` records XCom pushes. Deferrable runs catch
`TaskDeferred`, run the real trigger on an asyncio loop until its first event and hand that event
to the method the operator named, the way the triggerer and the worker would (`_support.py`).
"""

from __future__ import annotations

from typing import Any

import pytest

from abeja_emulator.sample import SAMPLE_HANDLER_DIR
from airflow_provider_abeja.client import APIClient
from tests._context import FakeTI
from tests.integration.training._support import DEFINITION


@pytest.fixture
def emulator(abeja_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh emulator behind the `abeja_default` connection (organization in the extra)."""
    for name, value in abeja_emulator.airflow_connection_env("abeja_default").items():
        monkeypatch.setenv(name, value)
    return abeja_emulator


@pytest.fixture
def ti() -> FakeTI:
    return FakeTI()


@pytest.fixture
def context(ti: FakeTI) -> dict[str, Any]:
    return {"ti": ti}


@pytest.fixture
def definition(emulator: Any) -> str:
    """A job definition whose version 1 trains the sample model (uploaded from its folder)."""
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.create_training_job_definition(emulator.organization_id, DEFINITION)
        client.create_training_job_definition_version(
            emulator.organization_id, DEFINITION, SAMPLE_HANDLER_DIR, "train:handler"
        )
    return DEFINITION
