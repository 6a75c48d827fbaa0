"""The guarantee: no documented DAG pattern leaves a service behind, whichever task fails.

Each pattern (tests/dags/patterns/abeja_leak_patterns.py) runs once through `dag.test()` against the
emulator, with a failure in it; the test then counts the services left on the emulator: none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.testing import DagRunner
from tests.dags.conftest import pattern_runner

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

PATTERNS = Path(__file__).resolve().parent / "patterns" / "abeja_leak_patterns.py"


@pytest.fixture
def run_pattern(dags_folder: Path, emulator_connection: Any) -> Iterator[DagRunner]:
    """Runs the pattern DAGs."""
    with pattern_runner(PATTERNS, dags_folder, emulator_connection) as runner:
        yield runner


@pytest.mark.parametrize("mode", ["sync", "deferrable"])
def test_mapped_create_and_wait_leaves_no_service(run_pattern: DagRunner, mode: str) -> None:
    handle = run_pattern.emulator
    result = run_pattern(f"leak_mapped_{mode}")

    assert result.state == "failed"  # the BAD version's create failed: the run says so
    creates = {i: state for (task, i), state in result.map_states.items() if task == "create"}
    assert creates == {0: "success", 1: "failed", 2: "success"}
    created = handle.counters()["services_created"]
    assert created == 3
    assert handle.state()["services"] == []
    # Map indexes 0 and 2 reached READY and were deleted by the run's cleanup; index 1 deleted
    # its own FAILED service.
    assert len(result.returns["cleanup"] or []) == 2
    assert result.task_states["cleanup"] == "success"


@pytest.mark.parametrize("mode", ["sync", "deferrable"])
def test_a_setup_whose_wait_times_out_deletes_its_service(run_pattern: DagRunner, mode: str) -> None:
    handle = run_pattern.emulator
    handle.configure(ready_delay=600)  # never READY within the create's 1 s timeout

    result = run_pattern(f"leak_setup_timeout_{mode}")

    assert result.state == "failed"
    assert result.task_states["create"] == "failed"
    assert handle.counters()["services_created"] == 1
    assert handle.state()["services"] == []


def test_a_task_that_fails_before_its_service_exists_logs_one_error(
    run_pattern: DagRunner, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Item 7: no second, unrelated error from the console link looking for a URL never pushed."""
    run_pattern.emulator.inject_fault("create_service", status=400)
    capfd.readouterr()

    result = run_pattern("leak_setup_timeout_sync")

    assert result.task_states["create"] == "failed"
    output = "".join(capfd.readouterr()) + caplog.text  # Airflow 3 prints; Airflow 2 logs
    assert "400" in output  # the real failure is in the log
    assert "XCom not found" not in output
    assert "Failed to push an xcom for task operator extra link" not in output


def test_the_training_reschedule_pattern_stops_the_job_its_sensor_gave_up_on(run_pattern: DagRunner) -> None:
    handle = run_pattern.emulator
    result = run_pattern("leak_training_reschedule")

    assert result.task_states["wait"] == "failed"  # its timeout passed while the job ran
    assert result.task_states["stop_jobs"] == "success"
    assert result.returns["stop_jobs"] == [result.returns["train"]["training_job_id"]]
    assert handle.counters()["training_jobs_stopped"] == 1
    assert handle.counters()["training_jobs_running"] == 0
