"""DAG 1 under a real scheduler, LocalExecutor workers and a triggerer process.

`dag.test()` runs triggers inline; here the wait for READY is serialised, handed to a separate
triggerer process, and resumed on a worker: the path a production deployment takes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = [pytest.mark.standalone, pytest.mark.slow, pytest.mark.timeout(300)]

DAG_ID = "abeja_deploy_invoke_teardown"
# The emulator keeps the service IN_PROGRESS until the test sees the wait deferred and releases it,
# so the sensor defers however slowly the machine starts its workers.
READY_DELAY = 600.0


def test_deploy_invoke_teardown_runs_with_a_real_triggerer(abeja_emulator: Any, standalone: Any) -> None:
    emulator, airflow = abeja_emulator, standalone
    emulator.configure(ready_delay=READY_DELAY)

    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger(DAG_ID, {"text": "a great day"})
    airflow.wait_for_task_state(DAG_ID, run_id, "wait_until_ready", "deferred")
    [service] = emulator.state()["services"]
    assert service["status"] == "IN_PROGRESS"
    emulator.set_service_status(service["service_id"], "READY")  # the instance is up: let it be READY
    state = airflow.wait_for_run(DAG_ID, run_id)

    states = airflow.task_states(DAG_ID, run_id)
    print(f"standalone timings (s): {airflow.marks}")
    assert state == "success", f"{states}\n{airflow.output_tail()}"
    assert set(states.values()) == {"success"}, states

    # The wait ran in the triggerer: the task deferred, and the triggerer's log for it shows the
    # provider's trigger firing its event.
    logs = airflow.task_log_files(DAG_ID, run_id, "wait_until_ready")
    task_log = "\n".join(p.read_text() for p in logs if ".trigger." not in p.name)
    trigger_log = "\n".join(p.read_text() for p in logs if ".trigger." in p.name)
    assert "DEFERRED" in task_log
    assert trigger_log, f"no triggerer log among {[p.name for p in logs]}"
    assert "Trigger fired event" in trigger_log
    assert "AbejaServiceStatusTrigger" in airflow.output() or "AbejaServiceStatusTrigger" in trigger_log

    # The service was created once, answered once and is gone.
    counters = emulator.counters()
    assert counters["services_created"] == 1
    assert counters["inference_requests"] == 1
    assert counters["services_deleted"] == 1
    assert emulator.state()["services"] == []
    answer_log = "\n".join(p.read_text() for p in airflow.task_log_files(DAG_ID, run_id, "invoke"))
    assert "answered 200" in answer_log, json.dumps(states)
