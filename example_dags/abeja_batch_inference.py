"""Batch inference: start a service, score a file of inputs through it, always tear it down.

    create_service  ->  wait_until_ready  ->  batch_inference  ->  delete_service
      (setup)             (deferrable)                               (teardown)

- ``create_service`` starts ``instance_number`` instances of a model version and returns once the
  platform accepted it. It is the *setup*: the *teardown* ``delete_service`` removes the service
  whatever happens after it, so a failed batch never leaves instances running.
- ``wait_until_ready`` waits for READY in the triggerer (no worker slot held while instances start).
- ``batch_inference`` sends every line of the input JSONL to the service, two requests in flight
  per service instance, and writes one result line per input (``key``, ``status``, ``response`` or
  ``error``) to ``<output_dir>/<run id>/results.jsonl``; failed inputs also go to
  ``results.errors.jsonl``. It fails when more than ``max_error_rate`` of the inputs failed. A retry
  of the task skips the inputs already in the output, so it resumes instead of starting over. Its
  return value (XCom) is a summary: counts, duration, throughput and the output paths.

Inputs and outputs are Airflow object-storage paths: a local path or ``file://`` URL here,
``s3://bucket/...`` (with ``storage_conn_id``) in production, so a retry on another worker finds
the same output. The shipped input (``data/batch_inputs.jsonl``, 200 product reviews keyed by
``id``) suits the emulator's sample sentiment model.

Runs unchanged on the emulator (the param defaults are its sample deployment) and, with other
params and ``abeja_default`` connection, on the ABEJA Platform, e.g. ``airflow dags trigger
abeja_batch_inference --conf '{"deployment_id": "...", "version_id": "ver-...", "input_path":
"s3://my-bucket/reviews.jsonl", "output_dir": "s3://my-bucket/scores"}'``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator, AbejaDeleteServiceOperator
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

SAMPLE_INPUT = str(Path(__file__).resolve().parent / "data" / "batch_inputs.jsonl")
# Where results go unless the run says otherwise (tests and `make demo` point it at a temp dir).
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", os.path.join(tempfile.gettempdir(), "abeja-batch"))
# Seconds between status checks: ten suits the platform; the tests set 0.5 for the emulator.
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))

with DAG(
    dag_id="abeja_batch_inference",
    description="Start an ABEJA service, run a JSONL file of inputs through it, always delete it",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example", "batch"],
    doc_md=__doc__,
    default_args={"abeja_conn_id": "abeja_default"},  # the wait keeps the sensor's 2 retries
    params={
        "deployment_id": Param("9999999999999", type="string", description="Deployment to run"),
        "version_id": Param("ver-5a3d1e0000000001", type="string", description="Version to deploy"),
        "instance_number": Param(2, type="integer", minimum=1, description="Instances (x2 = concurrency)"),
        "input_path": Param(SAMPLE_INPUT, type="string", description="JSONL input (path or URL)"),
        "key_field": Param("id", type="string", description="Field naming each input line"),
        "output_dir": Param(OUTPUT_DIR, type="string", description="Results go to <output_dir>/<run id>/"),
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

    # [START howto_operator_batch_request]
    batch_inference = AbejaBatchRequestOperator(
        task_id="batch_inference",
        deployment_id="{{ params.deployment_id }}",
        service_id=create_service.output["service_id"],
        input_path="{{ params.input_path }}",
        key_field="{{ params.key_field }}",
        output_path="{{ params.output_dir }}/{{ run_id }}/results.jsonl",
        max_error_rate="{{ params.max_error_rate }}",
        retries=2,  # a retry resumes: inputs already in the output are not sent again
    )
    # [END howto_operator_batch_request]

    delete_service = AbejaDeleteServiceOperator(
        task_id="delete_service",
        deployment_id="{{ params.deployment_id }}",
        service_id=create_service.output["service_id"],
    )

    create_service >> wait_until_ready >> batch_inference >> delete_service.as_teardown(setups=create_service)
