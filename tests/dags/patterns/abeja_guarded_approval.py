"""The guarded promotion with a human approval (Airflow 3.1+), for tests/dags/test_guarded_dag.py.

Green is made by the test (``params.green``); the validation set is two inputs.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.guarded import guarded_promotion

INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.5"))
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", tempfile.gettempdir())

with DAG(
    dag_id="guarded_approval",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja"],
    default_args={"abeja_conn_id": "abeja_default", "retries": 0},
    params={"green": Param("", type="string")},
):
    guarded_promotion(
        deployment_id="9999999999999",
        green_service_id="{{ params.green }}",
        inputs=[{"text": "good"}, {"text": "bad"}],
        output_path=OUTPUT_DIR + "/{{ run_id }}/compare.jsonl",
        approval=True,
        approval_timeout=timedelta(minutes=5),
        bake_seconds=10 * INTERVAL,
        probe_interval=INTERVAL,
    )
