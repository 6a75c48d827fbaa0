"""Emulator-backed batch tests: the connection, a READY sample service, a binary-echo version."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SAMPLE_DEPLOYMENT = "9999999999999"
SAMPLE_VERSION = "ver-5a3d1e0000000001"

#: A handler that describes the body it got: size, content type, digest. For binary inputs.
BINARY_ECHO = """
import hashlib


def handler(request, context):
    body = request.read()
    return {
        "content_type": "application/json",
        "content": {
            "size": len(body),
            "content_type": request["content_type"],
            "sha256": hashlib.sha256(body).hexdigest(),
        },
    }
"""


@pytest.fixture
def emulator(abeja_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The shared emulator, reset, with `abeja_default` pointing at it."""
    for name, value in abeja_emulator.airflow_connection_env("abeja_default").items():
        monkeypatch.setenv(name, value)
    return abeja_emulator


@pytest.fixture
def make_service(emulator: Any) -> Callable[..., str]:
    """Start a service (sample version unless given) and wait until READY; returns its id."""

    def make(version_id: str = SAMPLE_VERSION, instances: int = 2, **payload: Any) -> str:
        service = emulator.create_service(SAMPLE_DEPLOYMENT, version_id, instance_number=instances, **payload)
        emulator.wait_for_status(SAMPLE_DEPLOYMENT, service["service_id"], "READY", timeout=30)
        return str(service["service_id"])

    return make


@pytest.fixture
def binary_echo_version(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    code = tmp_path_factory.mktemp("binary-echo")
    (code / "main.py").write_text(textwrap.dedent(BINARY_ECHO))
    return str(emulator.create_version(SAMPLE_DEPLOYMENT, version="9.9.9", code_dir=str(code))["version_id"])


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
