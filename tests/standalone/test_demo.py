"""`make demo` (scripts/demo.py) as a new user runs it: its exit status, its summary, its cleanup."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


class Demo:
    """One run of the demo in a child process, its stdout and stderr going to files under `tmp_path`."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        # The demo makes its own Airflow home: drop the suite's private one and its unit-test mode.
        # Its temporary files (kept when it fails) go under tmp_path.
        clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.stdout, self.stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(DEMO)],
                env={**clean, "TMPDIR": str(tmp_path), **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def result(self, timeout: float = 200) -> tuple[int, str]:
        """Its exit status and everything it printed (stdout, then stderr), once it has exited."""
        code = self.proc.wait(timeout=timeout)
        return code, self.stdout.read_text() + self.stderr.read_text()

    def output(self) -> str:
        """What it printed to stdout so far."""
        return self.stdout.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Demo]]:
    """The succeeding, the failing and the interrupted demo, started together: each mostly waits on
    its own Airflow and emulator, so the three take little longer than one."""
    runs = {
        "success": Demo(tmp_path_factory.mktemp("demo-success")),
        "failure": Demo(
            tmp_path_factory.mktemp("demo-failure"),
            ABEJA_DEMO_EMULATOR_ARGS="--fault route=request_service,status=500",
        ),
        "interrupted": Demo(tmp_path_factory.mktemp("demo-interrupted")),
    }
    try:
        yield runs
    finally:
        for demo in runs.values():
            demo.kill()


def emulator_pid(output: str) -> int:
    match = re.search(r"listening on \S+ \(pid (\d+)\)", output)
    assert match, output
    return int(match.group(1))


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_demo_stops_the_emulator_on_ctrl_c_mid_run(demos: dict[str, Demo]) -> None:
    """First in the module: it interrupts its demo while the DAG runs (the others run meanwhile)."""
    demo = demos["interrupted"]
    deadline = time.monotonic() + 120
    while "[2/3]" not in (seen := demo.output()):  # up to the moment the DAG starts running
        assert demo.proc.poll() is None, seen
        assert time.monotonic() < deadline, f"the demo never started its DAG\n{seen}"
        time.sleep(0.1)
    pid = emulator_pid(seen)
    url = re.search(r"listening on (\S+)", seen).group(1)  # type: ignore[union-attr]
    # Interrupt mid-run: once the DAG has created its service on the emulator (three demos migrate
    # their databases at once: allow for a loaded machine).
    deadline = time.monotonic() + 180
    while not requests.get(f"{url}/_emulator/state", timeout=5).json()["services"]:
        assert time.monotonic() < deadline, "the demo never created its service"
        time.sleep(0.2)
    demo.proc.send_signal(signal.SIGINT)
    code, output = demo.result(timeout=60)
    assert code == 130, output
    assert "interrupted" in output.split("[2/3]", 1)[1]
    assert_gone(pid)


def test_demo_succeeds_prints_the_answer_and_stops_the_emulator(demos: dict[str, Demo]) -> None:
    code, output = demos["success"].result()

    assert code == 0, output
    assert "DAG abeja_deploy_invoke_teardown: SUCCESS" in output
    assert "'label': 'positive'" in output
    assert "teardown: service deleted" in output
    # The task link points at the emulator's own console, not at the real one with made-up ids.
    assert re.search(r"console link: http://127\.0\.0\.1:\d+/console/organizations/\d+/deployments/", output)
    assert re.search(r"IN_PROGRESS\n.*READY\n.*deleted", output), output
    assert_gone(emulator_pid(output))


def test_demo_exits_1_when_the_invocation_fails_and_still_deletes_the_service(demos: dict[str, Demo]) -> None:
    code, output = demos["failure"].result()

    assert code == 1, output
    assert "DAG abeja_deploy_invoke_teardown: FAILED" in output
    assert re.search(r"invoke\s+failed", output), output
    assert re.search(r"delete_service\s+success", output), output
    assert "teardown: service deleted" in output
    assert "demo FAILED" in output
    assert_gone(emulator_pid(output))
