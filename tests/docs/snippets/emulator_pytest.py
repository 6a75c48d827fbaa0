"""Docs snippet (emulator page): a test of your own with the emulator's pytest fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def run(emulator: Any, workdir: Path) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        test_my_dag_task(emulator, monkeypatch)


# [START emulator_pytest]
from airflow_provider_abeja.client import APIClient


def test_my_dag_task(abeja_emulator, monkeypatch):
    monkeypatch.setenv(*abeja_emulator.airflow_connection_env("abeja_default").popitem())
    client = APIClient(credential=abeja_emulator.credential, api_url=abeja_emulator.url)
    service = client.create_service(abeja_emulator.organization_id, "9999999999999", "ver-5a3d1e0000000001")
    abeja_emulator.wait_for_status("9999999999999", service["service_id"], "READY")
    abeja_emulator.inject_fault("get_service", status=503, retry_after=1, times=2)
    ...
    assert abeja_emulator.counters()["services_created"] == 1


# [END emulator_pytest]
