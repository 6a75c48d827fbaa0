"""Batch inference started by new data: each new Datalake file becomes one platform run.

    new files in the input channel --(AssetWatcher)--> files_to_run -> run (mapped, one per file)
        -> output_file_ids -> collect_outputs (object storage) -> summary

- The DAG is scheduled on an Asset of the input channel whose ``AssetWatcher`` runs
  ``AbejaChannelFileTrigger`` in the triggerer: one asset event per new file (its ``extra``
  ``payload`` holds ``channel_id`` and ``file_id``). Watchers of one channel share one listing per
  poll interval, and the trigger's cursor (kept in the asset's state store on Airflow 3.3+)
  makes every file fire exactly once, across triggerer restarts too.
- ``files_to_run`` turns the events that started this DAG run (several files may arrive before
  the scheduler starts it) into one mapped ``run`` each; a manual run takes ``file_ids`` instead.
- ``run`` starts one platform run per file (the deployment version reads the file, its answer
  becomes one file ``<run_id>_0<ext>`` of the output channel) and waits in the triggerer. A run
  that FAILED fails its task with the run's log lines; a retry reuses the run it started.
- ``collect_outputs`` downloads every answer to ``<output_dir>/<run id>/`` (any object storage
  path: ``s3://...`` in production); ``summary`` counts them.

Airflow 2.11 has no ``AssetWatcher``: there the DAG has no schedule (run it with ``file_ids``),
see docs/runs-and-datalake.md for the scheduled fallback. Channel ids are read when the file is
parsed (``ABEJA_EXAMPLE_INPUT_CHANNEL_ID``, ``ABEJA_EXAMPLE_OUTPUT_CHANNEL_ID``): an asset names
its channel before any run.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, Param, get_current_context, task

from airflow_provider_abeja.operators.runs import AbejaCreateRunOperator, AbejaDownloadFromChannelOperator
from airflow_provider_abeja.triggers.runs import AbejaChannelFileTrigger

INPUT_CHANNEL = os.environ.get("ABEJA_EXAMPLE_INPUT_CHANNEL_ID", "1000000000001")
OUTPUT_CHANNEL = os.environ.get("ABEJA_EXAMPLE_OUTPUT_CHANNEL_ID", "1000000000002")
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", os.path.join(tempfile.gettempdir(), "abeja-runs"))
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))

# [START howto_trigger_channel_files]
try:
    from airflow.sdk import AssetWatcher
except ImportError:  # Airflow 2.11: no event-driven scheduling
    schedule: Any = None
else:
    new_files = Asset(
        f"abeja-datalake://{INPUT_CHANNEL}",
        watchers=[
            AssetWatcher(
                name="abeja_new_files",
                trigger=AbejaChannelFileTrigger(
                    channel_id=INPUT_CHANNEL, poll_interval=max(CHECK_INTERVAL, 1)
                ),
            )
        ],
    )
    schedule = [new_files]
# [END howto_trigger_channel_files]

with DAG(
    dag_id="abeja_runs_from_new_files",
    description="One ABEJA platform run per new Datalake file; answers collected to object storage",
    schedule=schedule,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example", "runs"],
    doc_md=__doc__,
    default_args={"abeja_conn_id": "abeja_default"},
    params={
        "deployment_id": Param("9999999999999", type="string", description="Deployment of the version"),
        "version_id": Param("ver-5a3d1e0000000001", type="string", description="Version each run executes"),
        "input_channel_id": Param(INPUT_CHANNEL, type="string", description="Channel of file_ids"),
        "file_ids": Param([], type="array", description="Files to run (manual runs)"),
        "output_channel_id": Param(OUTPUT_CHANNEL, type="string", description="Where the answers go"),
        "output_dir": Param(OUTPUT_DIR, type="string", description="Answers go to <output_dir>/<run id>/"),
    },
) as dag:
    # [START howto_operator_run_per_file]
    @task
    def files_to_run() -> list[dict[str, str]]:
        """One ``{input_channel_id, input_file_id}`` per file: the asset events, else ``file_ids``."""
        context = get_current_context()
        events = context.get("triggering_asset_events") or {}
        # An event from a watcher holds the trigger's event under "payload".
        payloads = [
            (e.extra or {}).get("payload") or {} for asset_events in events.values() for e in asset_events
        ]
        files = [(p["channel_id"], p["file_id"]) for p in payloads if "file_id" in p]
        params = context["params"]
        files += [(params["input_channel_id"], file_id) for file_id in params["file_ids"]]
        return [{"input_channel_id": channel, "input_file_id": file_id} for channel, file_id in files]

    run = AbejaCreateRunOperator.partial(
        task_id="run",
        deployment_id="{{ params.deployment_id }}",
        version_id="{{ params.version_id }}",
        output_channel_id="{{ params.output_channel_id }}",
        retry_count=0,
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        retries=2,  # a retry reuses the run its first try started
    ).expand_kwargs(files_to_run())
    # [END howto_operator_run_per_file]

    @task
    def output_file_ids(summaries: Any) -> list[str]:
        return [s["output_file_id"] for s in summaries if s.get("output_file_id")]

    collect_outputs = AbejaDownloadFromChannelOperator(
        task_id="collect_outputs",
        channel_id="{{ params.output_channel_id }}",
        file_ids=output_file_ids(run.output),
        output_path="{{ params.output_dir }}/{{ run_id | replace(':', '_') }}",
    )

    @task(trigger_rule="none_failed")
    def summary(summaries: Any, written: Any) -> dict[str, Any]:
        runs = list(summaries or [])
        return {
            "runs": len(runs),
            "succeeded": sum(1 for s in runs if s.get("status") == "SUCCEEDED"),
            "outputs": list(written or []),
        }

    summary(run.output, collect_outputs.output)
