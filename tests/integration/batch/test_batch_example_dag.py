"""The batch example DAG, run with `dag.test()` against the emulator, the way the DAG harness runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
DAG_FILE = REPO / "example_dags" / "abeja_batch_inference.py"
SAMPLE = REPO / "example_dags" / "data" / "batch_inputs.jsonl"
DAG_ID = "abeja_batch_inference"


@pytest.fixture(scope="module")
def dag_file() -> Path:
    """The DAG file and its data, copied under the configured dags folder (`dag.test()` needs that)."""
    from airflow.configuration import conf
    from airflow.utils import db

    db.initdb()
    folder = Path(conf.get("core", "dags_folder"))
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(DAG_FILE, folder / DAG_FILE.name)
    shutil.copy(SAMPLE, folder / "data" / SAMPLE.name)
    return folder / DAG_FILE.name


def _run(dag_file: Path, **conf: Any) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    dagbag = DagBag(str(dag_file))
    assert not dagbag.import_errors, dagbag.import_errors
    return dagbag.get_dag(DAG_ID).test(run_conf=conf or None)


def _return_value(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    query = XComModel.get_many(run_id=dag_run.run_id, key="return_value", dag_ids=DAG_ID, task_ids=task_id)
    with create_session() as session:
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def test_batch_example_dag_scores_the_sample_input_and_deletes_the_service(
    dag_file: Path, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.1")
    dag_run = _run(dag_file, output_dir=str(tmp_path))
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "success", states
    summary = _return_value(dag_run, "batch_inference")
    assert (summary["total"], summary["ok"], summary["errors"]) == (200, 200, 0)
    assert summary["concurrency"] == 4  # 2 per instance, instance_number=2 from the params
    results = Path(summary["output_path"])
    assert results.parent.parent == tmp_path  # <output_dir>/<run id>/results.jsonl
    records = [json.loads(line) for line in results.read_text().splitlines()]
    expected = [json.loads(line)["id"] for line in SAMPLE.read_text().splitlines()]
    assert [r["key"] for r in records] == expected
    assert {r["response"]["label"] for r in records} == {"positive", "negative"}
    assert emulator.state()["services"] == []  # the teardown deleted the service


def test_batch_example_dag_over_the_error_threshold_fails_and_still_tears_down(
    dag_file: Path, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.1")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"id": f"x{n}", "nothing": "to score"}) + "\n" for n in range(10)))
    dag_run = _run(dag_file, output_dir=str(tmp_path / "out"), input_path=str(bad), max_error_rate=0.5)
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "failed"
    assert states["batch_inference"] == "failed"
    assert states["delete_service"] == "success"
    assert emulator.state()["services"] == []
    errors = next((tmp_path / "out").glob("*/results.errors.jsonl"))
    assert len(errors.read_text().splitlines()) == 10
