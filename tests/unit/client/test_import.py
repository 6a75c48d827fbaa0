"""The client imports no Airflow, and no httpx until the async client is used."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_sync_client_imports_neither_airflow_nor_httpx() -> None:
    code = (
        "import sys\n"
        "from airflow_provider_abeja.client import APIClient\n"
        "import airflow_provider_abeja.exceptions, airflow_provider_abeja.wait.engine\n"
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules), 'httpx' in sys.modules)"
    )
    assert _run(code) == "False False"


def test_async_client_is_imported_on_first_use() -> None:
    code = (
        "import sys, airflow_provider_abeja.client as c\n"
        "before = 'httpx' in sys.modules\n"
        "cls = c.AsyncAPIClient\n"
        "print(before, 'httpx' in sys.modules, cls.__name__)"
    )
    assert _run(code) == "False True AsyncAPIClient"


def test_unknown_attribute_still_raises() -> None:
    import pytest

    import airflow_provider_abeja.client as client

    with pytest.raises(AttributeError):
        _ = client.NoSuchThing  # type: ignore[attr-defined]
