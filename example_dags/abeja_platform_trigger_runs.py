"""Batch inference by a platform trigger, watched by Airflow: the platform starts the runs.

    create_trigger -> upload_inputs -> runs_of_the_inputs -> wait_for_runs (mapped)
        -> output_file_ids -> collect_outputs -> summary ; delete_trigger (teardown)

- ``create_trigger`` makes a platform trigger: for each new file of the input channel the
  platform itself starts a run of the version, writing its answer to the output channel. A
  trigger with the same version, input and output is reused (files never run twice).
- ``upload_inputs`` sends a folder of inputs (any object storage path) to the input channel; by
  ``filename`` a retried upload finds what its first try sent.
- ``runs_of_the_inputs`` finds the run the trigger started for each uploaded file; the mapped
  ``wait_for_runs`` sensor waits for each (a FAILED run fails its task, with its log lines).
- ``collect_outputs`` downloads the answers to ``<output_dir>/<run id>/``; ``delete_trigger``
  removes the trigger whatever happened (the runs it started go on).

Runs unchanged on the emulator: with no channel ids given, ``channels`` finds or creates the
channels ``abeja-example-input`` and ``abeja-example-output``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, get_current_context, task

from airflow_provider_abeja.hooks.abeja import AbejaHook
from airflow_provider_abeja.operators.runs import (
    AbejaCreateTriggerOperator,
    AbejaDeleteTriggerOperator,
    AbejaDownloadFromChannelOperator,
    AbejaUploadToChannelOperator,
)
from airflow_provider_abeja.sensors.runs import AbejaRunSensor

SAMPLE_INPUTS = str(Path(__file__).resolve().parent / "data" / "run_inputs")
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", os.path.join(tempfile.gettempdir(), "abeja-runs"))
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
#: How long the platform may take to start a run for an uploaded file.
RUN_START_TIMEOUT = 600

with DAG(
    dag_id="abeja_platform_trigger_runs",
    description="A platform trigger runs each uploaded file; Airflow watches the runs",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example", "runs"],
    doc_md=__doc__,
    default_args={"abeja_conn_id": "abeja_default"},
    params={
        "deployment_id": Param("9999999999999", type="string", description="Deployment of the version"),
        "version_id": Param("ver-5a3d1e0000000001", type="string", description="Version each run executes"),
        "input_channel_id": Param("", type="string", description="Empty: find or create one"),
        "output_channel_id": Param("", type="string", description="Empty: find or create one"),
        "input_dir": Param(SAMPLE_INPUTS, type="string", description="Folder of inputs (path or URL)"),
        "output_dir": Param(OUTPUT_DIR, type="string", description="Answers go to <output_dir>/<run id>/"),
    },
) as dag:

    @task
    def channels() -> dict[str, str]:
        """The channel ids given, else the example's channels by name (created when missing)."""
        params = get_current_context()["params"]
        hook = AbejaHook()
        client, org = hook.client, hook.get_organization_id()
        found = {c.get("name"): c.get("channel_id") for c in client.get_channels(org).get("channels") or []}
        ids = {}
        for role in ("input", "output"):
            name = f"abeja-example-{role}"
            ids[role] = params[f"{role}_channel_id"] or found.get(name)
            if not ids[role]:
                ids[role] = client.create_channel(org, name)["channel"]["channel_id"]
        return ids

    chosen = channels()

    # [START howto_operator_platform_trigger]
    create_trigger = AbejaCreateTriggerOperator(
        task_id="create_trigger",
        deployment_id="{{ params.deployment_id }}",
        version_id="{{ params.version_id }}",
        input_channel_id=chosen["input"],
        output_channel_id=chosen["output"],
        retry_count=0,
    )
    upload_inputs = AbejaUploadToChannelOperator(
        task_id="upload_inputs",
        channel_id=chosen["input"],
        source="{{ params.input_dir }}",
        metadata={"dag_run": "{{ run_id }}"},
    )
    create_trigger >> upload_inputs  # a trigger runs only the files uploaded after it exists
    # [END howto_operator_platform_trigger]

    @task
    def runs_of_the_inputs(trigger: dict[str, Any], uploaded: list[dict[str, Any]]) -> list[str]:
        """The run the trigger started for each uploaded file (it may take a moment to start)."""
        from airflow_provider_abeja.client.runs import run_input_file

        params = get_current_context()["params"]
        hook = AbejaHook()
        client, org = hook.client, hook.get_organization_id()
        wanted = {(f["channel_id"], f["file_id"]) for f in uploaded}
        deadline = time.monotonic() + RUN_START_TIMEOUT
        while True:
            runs: dict[tuple[str, str], str] = {}
            token = None
            while True:
                page = client.get_trigger_runs(
                    org, params["deployment_id"], trigger["trigger_id"], next_page_token=token
                )
                for entry in page.get("entries") or []:
                    source = run_input_file(entry)
                    if source in wanted:
                        runs.setdefault(source, entry["run_id"])
                token = page.get("next_page_token") or None
                if not token:
                    break
            if len(runs) == len(wanted) or time.monotonic() > deadline:
                missing = wanted - set(runs)
                if missing:
                    raise RuntimeError(f"the trigger started no run for {sorted(missing)}")
                return sorted(runs.values())
            time.sleep(CHECK_INTERVAL)

    run_ids = runs_of_the_inputs(create_trigger.output, upload_inputs.output)

    wait_for_runs = AbejaRunSensor.partial(
        task_id="wait_for_runs",
        deployment_id="{{ params.deployment_id }}",
        poke_interval=CHECK_INTERVAL,
        timeout=3600,
        deferrable=True,
    ).expand(run_id=run_ids)

    @task
    def output_file_ids(run_ids: list[str], ids: dict[str, str]) -> list[str]:
        """The answers the runs wrote (``<run_id>_0<ext>`` in the output channel)."""
        client = AbejaHook().client
        page = client.list_channel_files(ids["output"], sort="-uploaded_at")
        names = {
            f["file_id"]: (f.get("metadata") or {}).get("x-abeja-meta-filename", "") for f in page["files"]
        }
        return [fid for fid, name in names.items() if any(name.startswith(f"{r}_0") for r in run_ids)]

    outputs = output_file_ids(run_ids, chosen)
    wait_for_runs >> outputs

    collect_outputs = AbejaDownloadFromChannelOperator(
        task_id="collect_outputs",
        channel_id=chosen["output"],
        file_ids=outputs,
        output_path="{{ params.output_dir }}/{{ run_id | replace(':', '_') }}",
    )

    @task
    def summary(run_ids: list[str], written: list[str]) -> dict[str, Any]:
        return {"runs": len(run_ids), "outputs": written}

    delete_trigger = AbejaDeleteTriggerOperator(
        task_id="delete_trigger",
        deployment_id="{{ params.deployment_id }}",
        trigger_id=create_trigger.output["trigger_id"],
    )
    summary(run_ids, collect_outputs.output) >> delete_trigger.as_teardown(setups=create_trigger)
