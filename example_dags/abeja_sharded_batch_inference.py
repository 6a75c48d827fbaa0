"""Sharded batch inference: one input split across workers, one mapped batch task per shard, one manifest.

    create_service -> wait_until_ready --+
                                         +--> score_shard[0..n-1] -> merge -> delete_service
    split_input -------------------------+       (mapped)                    (teardown)

- ``split_input`` splits the JSONL input (or a folder / glob of files) into ``shards`` shard files
  under ``<output_dir>/<run id>/`` and returns one set of arguments per shard. It runs while the
  service starts.
- ``score_shard`` is ``AbejaBatchRequestOperator`` mapped over the shards (dynamic task mapping): each
  shard is one task, on whichever worker is free, sending its inputs to the service and writing its
  own results file. A retried shard task - after an error, or after its worker died - resumes from
  that file on any worker: inputs already answered are not sent again.
- ``merge`` checks that every input was answered exactly once across the shards and writes
  ``manifest.json`` (counts, error rate, each shard's output), also its return value.
- ``delete_service`` is the teardown of ``create_service``: it runs whatever failed before it.

On a distributed executor (Celery, Kubernetes), point ``output_dir`` at shared object storage
(``s3://bucket/scores`` with the ``ABEJA_EXAMPLE_STORAGE_CONN_ID`` connection), so every worker sees
the shards and the outputs. The defaults target the emulator's sample deployment and a local folder.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator, AbejaDeleteServiceOperator
from airflow_provider_abeja.operators.sharding import (
    AbejaMergeBatchShardsOperator,
    AbejaSplitBatchInputOperator,
)
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

SAMPLE_INPUT = str(Path(__file__).resolve().parent / "data" / "batch_inputs.jsonl")
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", os.path.join(tempfile.gettempdir(), "abeja-sharded"))
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
# The object store's Airflow connection (e.g. an `aws` connection for s3://); None for local paths.
STORAGE_CONN_ID = os.environ.get("ABEJA_EXAMPLE_STORAGE_CONN_ID") or None
RETRY_DELAY = timedelta(seconds=float(os.environ.get("ABEJA_EXAMPLE_RETRY_DELAY", "30")))
RUN_DIR = "{{ params.output_dir }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"

with DAG(
    dag_id="abeja_sharded_batch_inference",
    description="Split a batch input into shards, score them as mapped tasks on any worker, merge",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example", "batch"],
    doc_md=__doc__,
    default_args={"abeja_conn_id": "abeja_default"},  # the wait keeps the sensor's 2 retries
    params={
        "deployment_id": Param("9999999999999", type="string", description="Deployment to run"),
        "version_id": Param("ver-5a3d1e0000000001", type="string", description="Version to deploy"),
        "instance_number": Param(2, type="integer", minimum=1, description="Service instances"),
        "input_path": Param(SAMPLE_INPUT, type="string", description="JSONL, folder or glob (path/URL)"),
        "key_field": Param("id", type="string", description="Field naming each input line"),
        "shards": Param(4, type="integer", minimum=1, description="How many shards (mapped tasks)"),
        "output_dir": Param(OUTPUT_DIR, type="string", description="Shards, results, manifest go here"),
        "max_error_rate": Param(0.05, type="number", minimum=0, maximum=1),
    },
) as dag:
    create_service = AbejaCreateServiceOperator(
        task_id="create_service",
        deployment_id="{{ params.deployment_id }}",
        version_id="{{ params.version_id }}",
        instance_number="{{ params.instance_number }}",
        wait_for_completion=False,
    )

    wait_until_ready = AbejaServiceStatusSensor(
        task_id="wait_until_ready",
        deployment_id="{{ params.deployment_id }}",
        service_id=create_service.output["service_id"],
        target_status="READY",
        deferrable=True,
        poke_interval=CHECK_INTERVAL,
        timeout=1800,
    )

    # [START howto_sharded_batch]
    split_input = AbejaSplitBatchInputOperator(
        task_id="split_input",
        input_path="{{ params.input_path }}",
        key_field="{{ params.key_field }}",
        shards="{{ params.shards }}",
        work_dir=RUN_DIR,
        storage_conn_id=STORAGE_CONN_ID,
    )

    score_shard = AbejaBatchRequestOperator.partial(
        task_id="score_shard",
        deployment_id="{{ params.deployment_id }}",
        service_id=create_service.output["service_id"],
        max_error_rate="{{ params.max_error_rate }}",
        retries=3,  # a retry resumes from the shard's own output, on any worker
        retry_delay=RETRY_DELAY,
    ).expand_kwargs(split_input.output)

    merge = AbejaMergeBatchShardsOperator(
        task_id="merge",
        work_dir=RUN_DIR,
        max_error_rate="{{ params.max_error_rate }}",
        storage_conn_id=STORAGE_CONN_ID,
    )
    # [END howto_sharded_batch]

    delete_service = AbejaDeleteServiceOperator(
        task_id="delete_service",
        deployment_id="{{ params.deployment_id }}",
        service_id=create_service.output["service_id"],
    )

    create_service >> wait_until_ready >> score_shard
    split_input >> score_shard >> merge >> delete_service.as_teardown(setups=create_service)
