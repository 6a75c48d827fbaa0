"""The retraining example is scheduled on an Asset: under a real scheduler, a producer's update of
the labelled data starts one retraining run, which trains on the new data, releases the model
behind the endpoint and leaves no job running and no service but the released one."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.standalone, pytest.mark.slow, pytest.mark.timeout(420)]

RETRAINING = "abeja_scheduled_retraining"
PRODUCER = "abeja_test_label_reviews"
DEPLOYMENT = "9999999999999"


def runs(airflow: Any, dag_id: str) -> list[dict[str, Any]]:
    return list(airflow._request("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"])


def test_an_update_of_the_labelled_data_retrains_and_releases_the_new_model(
    abeja_emulator: Any, standalone: Any
) -> None:
    airflow = standalone
    airflow.wait_for_dag(RETRAINING)
    airflow.wait_for_dag(PRODUCER)
    assert runs(airflow, RETRAINING) == []  # nothing runs before the data changes

    produced = airflow.trigger(PRODUCER)
    assert airflow.wait_for_run(PRODUCER, produced) == "success"
    deadline = time.monotonic() + 60
    while not (triggered := runs(airflow, RETRAINING)):
        assert time.monotonic() < deadline, "no retraining run after the asset was updated"
        time.sleep(0.5)
    (run,) = triggered
    assert run["run_type"] == "asset_triggered"
    state = airflow.wait_for_run(RETRAINING, run["dag_run_id"], timeout=300)

    print(f"standalone timings (s): {airflow.marks}")
    assert state == "success", (
        f"{airflow.task_states(RETRAINING, run['dag_run_id'])}\n{airflow.output_tail()}"
    )
    released = {e["custom_alias"]: e["service_id"] for e in abeja_emulator.state()["endpoints"]}
    assert list(released) == ["default"]  # the first release created the endpoint
    assert [s["service_id"] for s in abeja_emulator.state()["services"]] == [released["default"]]
    counters = abeja_emulator.counters()
    assert counters["training_jobs_running"] == 0
    answer = requests.post(
        abeja_emulator.inference_url(DEPLOYMENT),
        json={"text": "airflowtastic"},
        auth=abeja_emulator.auth,
        timeout=10,
    )
    assert answer.json()["matched"] == ["airflowtastic"]  # learnt from the producer's new rows only
