"""ABEJA's SDK (abeja-sdk 2.3.6, the platform's reference client) drives the emulator's training
routes unchanged: job definition version, job, result download, trained model.

The SDK is never a dependency: it runs in a subprocess from its own venv (the ``abeja_sdk_python``
fixture, tests/conftest.py), which skips the test with the reason when it cannot be installed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from abeja_emulator.sample import SAMPLE_HANDLER_DIR

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

CHILD = Path(__file__).with_name("_sdk_child.py")


def test_sdk_runs_a_job_and_registers_its_model(
    abeja_sdk_python: Path, abeja_emulator: Any, tmp_path: Path
) -> None:
    handle = abeja_emulator
    user_id, token = handle.auth
    proc = subprocess.run(
        [
            str(abeja_sdk_python),
            str(CHILD),
            handle.url,
            handle.organization_id,
            user_id,
            token,
            SAMPLE_HANDLER_DIR,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["version"] == 1
    assert seen["status"] == "Complete"
    assert seen["statistics"]["stages"]["train"]["accuracy"] == 1.0
    assert seen["result_files"] == ["params.json"]
    assert seen["model_job"] == seen["job_id"]
    counters = handle.counters()
    assert counters["training_jobs_created"] == 1
    assert counters["training_models_created"] == 1
