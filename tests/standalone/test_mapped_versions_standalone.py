"""The mapped example under a real scheduler, LocalExecutor workers and a triggerer process.

Mapped task instances are expanded by the scheduler, the creates' XComs feed `service_ids()` in
other worker processes, the waits defer to the triggerer, and the run-scoped cleanup finds every
service by its creation marker: at the end the emulator holds no service.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = [pytest.mark.standalone, pytest.mark.slow, pytest.mark.timeout(360)]

DAG_ID = "abeja_mapped_versions"
# Services stay IN_PROGRESS until both waits are deferred; the test then lets them be READY, so the
# trigger never fires within moments of deferring (apache/airflow#67287 is not what this tests).
READY_DELAY = 600.0


def mapped_states(airflow: Any, run_id: str, task_id: str) -> dict[int, str | None]:
    tis = airflow._request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    return {ti["map_index"]: ti["state"] for ti in tis["task_instances"] if ti["task_id"] == task_id}


def test_mapped_versions_runs_with_a_real_scheduler_and_leaves_nothing(
    abeja_emulator: Any, standalone: Any
) -> None:
    emulator, airflow = abeja_emulator, standalone
    emulator.configure(ready_delay=READY_DELAY)

    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger(DAG_ID, {"text": "a great day"})
    deadline = time.monotonic() + 180
    while mapped_states(airflow, run_id, "wait_until_ready") != {0: "deferred", 1: "deferred"}:
        assert time.monotonic() < deadline, mapped_states(airflow, run_id, "wait_until_ready")
        time.sleep(0.5)
    services = emulator.state()["services"]
    assert len(services) == 2
    for service in services:
        emulator.set_service_status(service["service_id"], "READY")
    state = airflow.wait_for_run(DAG_ID, run_id)

    print(f"standalone timings (s): {airflow.marks}")
    assert state == "success", f"{airflow.task_states(DAG_ID, run_id)}\n{airflow.output_tail()}"
    assert mapped_states(airflow, run_id, "invoke") == {0: "success", 1: "success"}
    counters = emulator.counters()
    assert counters["services_created"] == 2
    assert counters["inference_requests"] == 2
    assert counters["services_deleted"] == 2
    assert emulator.state()["services"] == []
