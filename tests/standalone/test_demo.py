"""`make demo` (scripts/demo.py) as a new user runs it: its exit status, its summary, its cleanup."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def run_demo(tmp_path: Path, **env: str) -> tuple[int, str]:
    # The demo makes its own Airflow home: drop the suite's private one and its unit-test mode.
    # Its temporary files (kept when it fails) go under the test's tmp_path.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, str(DEMO)],
        env={**clean, "TMPDIR": str(tmp_path), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=200,
    )
    return done.returncode, done.stdout + done.stderr


def emulator_pid(output: str) -> int:
    match = re.search(r"listening on \S+ \(pid (\d+)\)", output)
    assert match, output
    return int(match.group(1))


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_demo_succeeds_prints_the_answer_and_stops_the_emulator(tmp_path: Path) -> None:
    code, output = run_demo(tmp_path)

    assert code == 0, output
    assert "DAG abeja_deploy_invoke_teardown: SUCCESS" in output
    assert "'label': 'positive'" in output
    assert "teardown: service deleted" in output
    assert re.search(r"IN_PROGRESS\n.*READY\n.*deleted", output), output
    assert_gone(emulator_pid(output))


def test_demo_exits_1_when_the_invocation_fails_and_still_deletes_the_service(tmp_path: Path) -> None:
    code, output = run_demo(tmp_path, ABEJA_DEMO_EMULATOR_ARGS="--fault route=request_service,status=500")

    assert code == 1, output
    assert "DAG abeja_deploy_invoke_teardown: FAILED" in output
    assert re.search(r"invoke\s+failed", output), output
    assert re.search(r"delete_service\s+success", output), output
    assert "teardown: service deleted" in output
    assert "demo FAILED" in output
    assert_gone(emulator_pid(output))
