"""OpenLineage events, as the OpenLineage provider's listener emits them (file transport): the request
and batch operators name the files they read and write, and the service they used.

The DAG runs in `airflow dags test` in a child process, so that the provider's listener is set up
from the transport given in its environment, the way a worker sets it up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.slow, pytest.mark.timeout(300)]

HERE = Path(__file__).resolve().parent
LINEAGE_DAG = HERE / "lineage" / "abeja_test_lineage.py"
BATCH_INPUTS = HERE.parents[1] / "example_dags" / "data" / "batch_inputs.jsonl"


def complete_events(folder: Path) -> dict[str, dict[str, Any]]:
    """Each task's COMPLETE event, by task id."""
    events = [json.loads(path.read_text()) for path in folder.iterdir()]
    return {e["job"]["name"].rsplit(".", 1)[-1]: e for e in events if e["eventType"] == "COMPLETE"}


def datasets(event: dict[str, Any], side: str) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in event[side]}


@pytest.mark.usefixtures("airflow_db")
def test_request_and_batch_events_name_their_files_and_the_service(
    abeja_emulator: Any, tmp_path: Path
) -> None:
    # A dags folder of its own: the shared one holds the examples only, which later tests run all of.
    dags, data, events = tmp_path / "dags", tmp_path / "data", tmp_path / "events"
    for folder in (dags, data, events):
        folder.mkdir()
    shutil.copy(LINEAGE_DAG, dags / LINEAGE_DAG.name)
    (data / "request.json").write_text(json.dumps({"text": "excellent"}))
    shutil.copy(BATCH_INPUTS, data / "inputs.jsonl")
    env = {
        **os.environ,
        **abeja_emulator.airflow_connection_env("abeja_default"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "ABEJA_TEST_LINEAGE_DIR": str(data),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events / "event")}
        ),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    run = subprocess.run(
        [airflow, "dags", "test", "abeja_test_lineage"], env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    complete = complete_events(events)
    request, batch = complete["request"], complete["batch"]
    assert datasets(request, "inputs") == {("file", str(data / "request.json"))}
    assert datasets(request, "outputs") == {("file", str(data / "answer.json"))}
    assert datasets(batch, "inputs") == {("file", str(data / "inputs.jsonl"))}
    assert ("file", str(data / "scores.jsonl")) in datasets(batch, "outputs")
    for event in (request, batch):
        facet = event["run"]["facets"]["abeja_service"]
        assert facet["deploymentId"] == "9999999999999"
        assert facet["organizationId"] == abeja_emulator.organization_id
        assert facet["serviceId"].startswith("ser-")
    assert abeja_emulator.state()["services"] == []  # the teardown ran too
