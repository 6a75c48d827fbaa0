"""ABEJA's SDK (abeja-sdk 2.3.6, the platform's reference client) drives the emulator's training
routes unchanged: job definition version, job, result download, trained model.

The SDK is never a dependency: the test installs it into its own cached venv
(``.venv-abeja-sdk`` at the repository root, git-ignored) and runs it in a subprocess. Without a
package index (or on Python >= 3.12, which the SDK refuses) the test is skipped with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from abeja_emulator.sample import SAMPLE_HANDLER_DIR

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
SDK_VENV = REPO / ".venv-abeja-sdk"
SDK_REQUIREMENT = "abeja-sdk==2.3.6"
CHILD = Path(__file__).with_name("_sdk_child.py")


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    python = SDK_VENV / "bin" / "python"
    check = [str(python), "-c", "import abeja; print(abeja.VERSION)"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.strip() == "2.3.6":
        return python
    if sys.version_info >= (3, 12):
        pytest.skip("abeja-sdk 2.3.6 requires Python < 3.12")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK_REQUIREMENT],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot install {SDK_REQUIREMENT}: {(getattr(exc, 'stderr', '') or str(exc))[-300:]}")
    return python


def test_sdk_runs_a_job_and_registers_its_model(
    sdk_python: Path, abeja_emulator: Any, tmp_path: Path
) -> None:
    handle = abeja_emulator
    user_id, token = handle.auth
    proc = subprocess.run(
        [
            str(sdk_python),
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
