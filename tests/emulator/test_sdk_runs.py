"""ABEJA's own SDK (abeja-sdk 2.3.6, its own venv, unchanged) drives the Datalake, runs and triggers:
upload -> list -> download -> run -> output -> trigger -> delete (`sdk_runs_lifecycle.py`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from abeja_emulator import SAMPLE_DEPLOYMENT_ID, SAMPLE_VERSION_ID, EmulatorHandle

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
SCRIPT = Path(__file__).with_name("sdk_runs_lifecycle.py")


@pytest.fixture(scope="module")
def steps(
    abeja_emulator_process: Any, abeja_sdk_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    handle: EmulatorHandle = abeja_emulator_process.handle
    handle.reset()
    handle.configure(run_step_delay=0.01)
    env = {
        "ABEJA_API_URL": handle.url,
        "SDK_CREDENTIAL": json.dumps(handle.credential),
        "ABEJA_STORAGE_DIR_PATH": str(tmp_path_factory.mktemp("sdk-cache")),
        "PATH": "/usr/bin:/bin",
    }
    args = [
        str(abeja_sdk_python),
        str(SCRIPT),
        handle.organization_id,
        SAMPLE_DEPLOYMENT_ID,
        SAMPLE_VERSION_ID,
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, check=False)
    found: dict[str, Any] = {"_output": done.stdout + done.stderr}
    for line in done.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "STEP":
            name, _, value = rest.partition(" ")
            found[name] = json.loads(value)
    handle.reset()
    return found


def _step(steps: dict[str, Any], name: str) -> Any:
    assert name in steps, f"the SDK did not reach step {name!r}:\n{steps['_output'][-3000:]}"
    return steps[name]


def test_upload(steps):
    upload = _step(steps, "upload")
    assert upload["lifetime"] == "1week"
    assert upload["metadata"]["filename"] == "in.json"  # DatalakeMetadata: prefix removed


def test_list(steps):
    assert _step(steps, "list") == {"file_ids": [steps["upload"]["file_id"]], "filenames": ["in.json"]}


def test_download(steps):
    assert json.loads(_step(steps, "download")["content"]) == {"text": "a wonderful day"}


def test_run(steps):
    run = _step(steps, "run")
    assert (run["created"], run["final"], run["listed"]) == ("SUBMITTED", "SUCCEEDED", True)
    assert run["log_lines"] > 0
    assert run["recent_tokens"] == ["next_backward_token", "next_forward_token"]


def test_output(steps):
    output = _step(steps, "output")
    assert output["filenames"] == [f"{steps['run']['run_id']}_0.json"]
    assert output["content"]  # the sample model's answer


def test_trigger(steps):
    trigger = _step(steps, "trigger")
    assert trigger["got"] == trigger["trigger_id"]
    assert trigger["listed"] is True
    assert trigger["runs"] == [
        {"status": "SUCCEEDED", "input_data": trigger["expected_input"], "trigger_id": trigger["trigger_id"]}
    ]
    assert trigger["outputs"] == 2


def test_delete(steps):
    delete = _step(steps, "delete")
    assert delete["trigger"] == {"message": f"{steps['trigger']['trigger_id']} deleted"}
    assert delete["file"] == {"message": f"deleted file ({steps['upload']['file_id']})"}
    assert delete["left"] == [delete["second"]]
