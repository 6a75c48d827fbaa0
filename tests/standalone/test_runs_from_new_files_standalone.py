"""DAGs started by new data, under a real scheduler and triggerer: files uploaded to a channel
start ``abeja_runs_from_new_files`` through its ``AssetWatcher``, one platform run per file.

The example's code is copied into the dags folder with the test's channels written in (an asset
names its channel when the file is parsed), under a DAG id of its own.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient

pytestmark = [pytest.mark.standalone, pytest.mark.slow, pytest.mark.timeout(420)]

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "abeja_runs_from_new_files.py"
DAG_ID = "abeja_runs_from_new_files_standalone"


def _triggerer_lines(airflow: Any) -> str:
    lines = airflow.output().splitlines()
    return "\n".join(
        line
        for line in lines
        if line.startswith("triggerer") and ("hannel" in line or "rror" in line or "rigger" in line)
    )[-6000:]


def _diagnosis(airflow: Any, current: list[dict[str, Any]]) -> str:
    parts = [str(airflow._request("GET", "/api/v2/assets/events"))[:3000]]
    for run in current:
        run_id = run["dag_run_id"]
        parts.append(
            str(airflow._request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/upstreamAssetEvents"))[:3000]
        )
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/files_to_run/xcomEntries/return_value"
        try:
            parts.append(str(airflow._request("GET", path))[:2000])
        except Exception as exc:
            parts.append(f"xcom: {exc}")
        parts.append(str(airflow.task_states(DAG_ID, run_id)))
    return "\n".join(parts)


def runs(airflow: Any) -> list[dict[str, Any]]:
    """The DAG's runs (asked again when a loaded machine makes the API server slow to answer)."""
    for _ in range(5):
        try:
            return list(airflow._request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"])
        except (TimeoutError, OSError):
            time.sleep(1)
    return list(airflow._request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"])


def test_a_new_file_starts_the_dag_and_runs_once(abeja_emulator: Any, standalone: Any) -> None:
    airflow = standalone
    client = APIClient(abeja_emulator.credential, api_url=abeja_emulator.url)
    org = abeja_emulator.organization_id
    source, output = (client.create_channel(org, n)["channel"]["channel_id"] for n in ("in", "out"))
    code = EXAMPLE.read_text()
    code = re.sub(r'os.environ.get\("ABEJA_EXAMPLE_INPUT_CHANNEL_ID", "\d+"\)', repr(source), code)
    code = re.sub(r'os.environ.get\("ABEJA_EXAMPLE_OUTPUT_CHANNEL_ID", "\d+"\)', repr(output), code)
    code = code.replace('dag_id="abeja_runs_from_new_files"', f'dag_id="{DAG_ID}"')
    assert repr(source) in code
    assert DAG_ID in code
    (airflow.dags / f"{DAG_ID}.py").write_text(code)
    airflow.wait_for_dag(DAG_ID)
    # The watcher's first listing sets its cursor: files already there do not fire.
    watching = time.monotonic() + 120
    while not abeja_emulator.counters()["requests"].get("list_channel_files"):
        assert time.monotonic() < watching, (
            f"the triggerer never listed the channel\n{_triggerer_lines(airflow)}"
        )
        time.sleep(0.5)
    airflow.mark("watcher listing")

    uploaded = [
        client.upload_channel_file(
            source, '{"text": "great"}', "application/json", {"filename": f"f{i}.json"}
        )["file_id"]
        for i in range(1)
    ]
    deadline = time.monotonic() + 120
    while True:
        current = runs(airflow)
        finished = [r for r in current if r["state"] in ("success", "failed")]
        created = abeja_emulator.counters()["requests"].get("create_run", 0)
        if created >= len(uploaded) and len(finished) == len(current) and finished:
            break
        assert time.monotonic() < deadline, f"{current} created={created}\n{_diagnosis(airflow, current)}"
        time.sleep(0.5)
    assert all(r["run_type"] == "asset_triggered" for r in runs(airflow))
    assert all(r["state"] == "success" for r in runs(airflow)), airflow.output_tail()
    assert created == len(uploaded)  # one platform run per file, none twice
    answers = client.list_channel_files(output)["files"]
    assert len(answers) == len(uploaded)
    events = airflow._request("GET", "/api/v2/assets/events")["asset_events"]
    payloads = [(e.get("extra") or {}).get("payload") or {} for e in events]
    fired = [p["file_id"] for p in payloads if p.get("channel_id") == source]
    assert fired == uploaded  # the watcher fired the file exactly once
