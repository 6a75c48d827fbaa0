"""Guarded blue/green release: compare green with blue, swap, bake, and roll back by itself.

The endpoint (``params.endpoint``) serves *blue*, a release made earlier (the first one can be made
with ``abeja_blue_green_swap``). This DAG brings up *green* from ``params.green_version_id`` and
promotes it only if it holds up:

    green_up -> guarded_promotion.compare -> guarded_promotion.swap_and_bake -> guarded_promotion.settle

- ``compare`` sends every line of the validation set (``params.input_path``, JSONL) to blue and
  green, two requests in flight per instance of each, and compares the answers' ``label``. Green
  must agree with blue on at least ``MIN_AGREEMENT`` of them and answer every one; the report is
  the task's return value, ``<output_dir>/<run id>/compare.report.json`` and a table in the log.
- ``swap_and_bake`` routes the endpoint to green and, for ``BAKE_SECONDS``, sends one validation
  input through the endpoint every ``PROBE_INTERVAL`` seconds while watching green's status. One
  failed probe, or green leaving READY, routes the endpoint back to blue (read back) and fails.
- ``settle`` (a teardown: it runs whatever failed) leaves the endpoint on the service it read back
  and deletes the other: blue after a clean bake, green otherwise.

On Airflow 3.1+ ``guarded_promotion(..., approval=True)`` adds a human approval between compare and
swap, showing the comparison table; no answer within ``approval_timeout`` rejects. Runs unchanged
on the emulator (the param defaults are its sample deployment; the tests set short intervals).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.guarded import guarded_promotion
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator

SAMPLE_INPUT = str(Path(__file__).resolve().parent / "data" / "batch_inputs.jsonl")
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", os.path.join(tempfile.gettempdir(), "abeja-guarded"))
# Seconds between status checks and bake probes (the tests set ABEJA_EXAMPLE_CHECK_INTERVAL=0.1).
PROBE_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
BAKE_SECONDS = 30 * PROBE_INTERVAL
MIN_AGREEMENT = 0.9
GREEN_SERVICE_ID = "{{ ti.xcom_pull(task_ids='green_up', key='service_id') }}"

with DAG(
    dag_id="abeja_guarded_blue_green",
    description="Guarded blue/green release: compare, swap, bake, roll back by itself",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example"],
    doc_md=__doc__,
    default_args={"abeja_conn_id": "abeja_default", "retries": 0},
    params={
        "deployment_id": Param("9999999999999", type="string"),
        "green_version_id": Param("ver-5a3d1e0000000002", type="string", description="Version to release"),
        "endpoint": Param("default", type="string", description="Endpoint alias or id (pnt-...)"),
        "input_path": Param(SAMPLE_INPUT, type="string", description="Validation set (JSONL, path or URL)"),
        "output_dir": Param(OUTPUT_DIR, type="string", description="Reports go to <output_dir>/<run id>/"),
    },
) as dag:
    green_up = AbejaCreateServiceOperator(
        task_id="green_up",
        deployment_id="{{ params.deployment_id }}",
        version_id="{{ params.green_version_id }}",
        deferrable=True,
        check_interval=PROBE_INTERVAL,
        timeout=900,
    )

    # [START howto_guarded_promotion]
    promotion = guarded_promotion(
        deployment_id="{{ params.deployment_id }}",
        endpoint_alias="{{ params.endpoint }}",
        green_service_id=GREEN_SERVICE_ID,
        input_path="{{ params.input_path }}",
        key_field="id",
        output_path="{{ params.output_dir }}/{{ run_id }}/compare.jsonl",
        compare_field="label",
        min_agreement=MIN_AGREEMENT,
        max_error_rate=0.0,
        bake_seconds=BAKE_SECONDS,
        probe_interval=PROBE_INTERVAL,
    )
    # [END howto_guarded_promotion]

    green_up >> promotion
