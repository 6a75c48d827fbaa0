"""The guarded promotion reading its validation set from a Datalake channel, for
tests/dags/test_guarded_dag.py: the set (``params.validation_set``, a JSONL file) is uploaded to
``params.channel`` first; green is made by the test (``params.green``)."""

from __future__ import annotations

import os
import tempfile

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.guarded import guarded_promotion
from airflow_provider_abeja.operators.runs import AbejaUploadToChannelOperator

INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.5"))
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", tempfile.gettempdir())

with DAG(
    dag_id="guarded_channel",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja"],
    default_args={"abeja_conn_id": "abeja_default", "retries": 0},
    params={
        "green": Param("", type="string"),
        "channel": Param("", type="string"),
        "validation_set": Param("", type="string"),
    },
):
    # [START howto_guarded_channel]
    upload = AbejaUploadToChannelOperator(
        task_id="upload_validation_set",
        channel_id="{{ params.channel }}",
        source="{{ params.validation_set }}",  # a .jsonl file: one input per line
    )
    promotion = guarded_promotion(
        deployment_id="9999999999999",
        green_service_id="{{ params.green }}",
        input_path="abeja-datalake://{{ params.channel }}",  # every file of the channel
        key_field="id",
        output_path=OUTPUT_DIR + "/{{ run_id }}/compare.jsonl",
        bake_seconds=4 * INTERVAL,
        probe_interval=INTERVAL,
    )
    upload >> promotion
    # [END howto_guarded_channel]
