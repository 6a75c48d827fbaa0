"""Tests of the user's own DAGs against the emulator (the example of docs/testing-your-dags.md)."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_abeja.testing import DagRunner


# [START dag_testing_happy_path]
def test_scores_every_review_and_leaves_no_service(run_abeja_dag: DagRunner, tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("great", "awful", "fine")))

    run = run_abeja_dag("score_reviews", input_path=str(reviews), output_path=str(tmp_path / "scores.jsonl"))

    assert run.state == "success", run.task_states
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 3
    counters = run_abeja_dag.emulator.counters()
    assert counters["services_created"] == counters["services_deleted"] == 1


# [END dag_testing_happy_path]


# [START dag_testing_fault]
def test_a_failing_model_fails_the_run_and_still_cleans_up(run_abeja_dag: DagRunner, tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text('{"text": "great"}\n')
    run_abeja_dag.emulator.inject_fault("request_service", status=500)  # every inference call fails

    run = run_abeja_dag("score_reviews", input_path=str(reviews), output_path=str(tmp_path / "scores.jsonl"))

    assert run.state == "failed"
    assert run.task_states["score"] == "failed"
    assert run.task_states["clean_up"] == "success"  # the teardown ran anyway
    assert run_abeja_dag.emulator.counters()["services_deleted"] == 1


# [END dag_testing_fault]


# [START dag_testing_training]
def test_retraining_trains_on_the_platform(run_abeja_dag: DagRunner) -> None:
    run = run_abeja_dag("retrain")

    assert run.state == "success", run.task_states
    job = run.returns["train"]
    assert job["status"] == "Complete"


# [END dag_testing_training]
