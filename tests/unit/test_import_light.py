"""DAG files import our operators on every parse: no web server and no emulator may come with them.

A fresh interpreter imports ``airflow.sdk`` (which a DAG file pays anyway), then the provider's
hook, operator, sensor, trigger, link and batch modules, and lists what of fastapi, uvicorn,
starlette or the emulator is loaded. Object storage (Airflow's ``io``, upath, fsspec) is not
checked there: Airflow loads it itself with ``airflow.sdk`` (3.x) or ``BaseOperator`` (2.11). The
batch internals, plain Python, are checked apart: they load neither Airflow nor object storage.
Timing belongs to ``bench/import_cost.py``; this is a correctness check.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Each test starts a fresh interpreter that imports Airflow: seconds each, so not in `make test-fast`.
pytestmark = pytest.mark.slow

MODULES = [
    "airflow_provider_abeja.hooks.abeja",
    "airflow_provider_abeja.operators.service",
    "airflow_provider_abeja.operators.endpoint",
    "airflow_provider_abeja.sensors.service",
    "airflow_provider_abeja.triggers.service",
    "airflow_provider_abeja.links.abeja",
    "airflow_provider_abeja.operators.batch",
    "airflow_provider_abeja.operators.guarded",
    "airflow_provider_abeja.batch",
    "airflow_provider_abeja.operators.training",
    "airflow_provider_abeja.sensors.training",
    "airflow_provider_abeja.triggers.training",
    "airflow_provider_abeja.links.training",
]

PROBE = r"""
import importlib, json, sys
try:
    import airflow.sdk  # what every Airflow 3 DAG file pays anyway
except ImportError:  # Airflow 2.11
    import airflow.models

def heavy():
    return sorted(
        m for m in sys.modules
        if m.split(".")[0] in ("fastapi", "uvicorn", "starlette")
        or m == "abeja_emulator" or m.startswith("abeja_emulator.")
    )

before = heavy()
for name in sys.argv[1:]:
    importlib.import_module(name)
after = heavy()
# The control: the same check does see the emulator when it is imported.
importlib.import_module("abeja_emulator.app")
print(json.dumps({"before": before, "after": after, "control": heavy()}))
"""


def _probe(modules: list[str]) -> dict[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_our_modules_import_no_web_server_or_emulator() -> None:
    result = _probe(MODULES)
    # The baseline: if airflow.sdk itself loaded one, the check below would blame us for it.
    assert result["before"] == []
    assert result["after"] == [], f"imported by {MODULES}: {result['after']}"
    # The check can fail: importing the emulator's app is seen (the emulator and its web stack).
    assert "abeja_emulator" in result["control"]
    assert any(name.split(".")[0] in ("fastapi", "starlette") for name in result["control"])


BATCH_INTERNALS = [
    f"airflow_provider_abeja.batch.{name}" for name in ("inputs", "results", "runner", "shards", "compare")
]

PLAIN_PROBE = r"""
import importlib, json, sys

def loaded():
    return sorted(
        name for name in {m.split(".")[0] for m in sys.modules}
        if name in ("airflow", "upath", "fsspec", "requests", "httpx", "fastapi", "uvicorn", "starlette")
    )

before = loaded()
for name in sys.argv[1:]:
    importlib.import_module(name)
after = loaded()
# The control: the same check sees Airflow's object storage once it is imported.
from airflow.providers.common.compat.sdk import ObjectStoragePath  # noqa: F401
print(json.dumps({"before": before, "after": after, "control": loaded()}))
"""


def test_batch_internals_import_neither_airflow_nor_object_storage() -> None:
    """``airflow_provider_abeja.batch`` is plain Python; the operator brings the paths when a task runs."""
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_PROBE, *BATCH_INTERNALS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert result["after"] == []
    assert {"airflow", "upath", "fsspec"} <= set(result["control"])
