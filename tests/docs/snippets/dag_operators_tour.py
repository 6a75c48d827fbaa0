"""Docs snippets (operators page): every service and endpoint operator in one DAG, run on the emulator.

    create_service -> scale_up -> stop -> start -> wait_ready -> predict -> segment
      -> create_endpoint -> smoke_test_prod -> switch_endpoint -> drop_endpoint -> delete_service (teardown)

Not an example pipeline (see example_dags/): a tour that the docs quote from, so that every operator
call the docs show has run. tests/docs/test_snippets.py runs it with ``dag.test()``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.endpoint import (
    AbejaCreateEndpointOperator,
    AbejaDeleteEndpointOperator,
    AbejaUpdateEndpointOperator,
)
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
    AbejaStartServiceOperator,
    AbejaStopServiceOperator,
    AbejaUpdateServiceOperator,
)

WORKDIR = Path(os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", tempfile.gettempdir())) / "operators-tour"
WORKDIR.mkdir(parents=True, exist_ok=True)
(WORKDIR / "review.json").write_text(json.dumps({"text": "great and excellent"}))
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
DEP = "{{ params.deployment_id }}"
SERVICE_ID = "{{ ti.xcom_pull(task_ids='create_service', key='service_id') }}"

with DAG(
    dag_id="abeja_docs_operators_tour",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "docs"],
    default_args={"abeja_conn_id": "abeja_default", "retries": 0, "check_interval": CHECK_INTERVAL},
    params={
        "deployment_id": Param("9999999999999", type="string"),
        "version_id": Param("ver-5a3d1e0000000001", type="string"),
        "data_dir": Param(str(WORKDIR), type="string"),
    },
) as dag:
    # [START howto_operator_create_service]
    create = AbejaCreateServiceOperator(
        task_id="create_service",
        deployment_id="{{ params.deployment_id }}",
        version_id="{{ params.version_id }}",
        instance_type="cpu-1",
        environment={"MODEL_THRESHOLD": "0.8"},
        retries=2,
        deferrable=True,
    )
    # [END howto_operator_create_service]

    # [START howto_operator_update_service]
    scale_up = AbejaUpdateServiceOperator(
        task_id="scale_up",
        deployment_id="{{ params.deployment_id }}",
        service_id="{{ ti.xcom_pull(task_ids='create_service', key='service_id') }}",
        payload={"instance_number": 2, "min_instance_number": 1, "max_instance_number": 4},
    )
    # [END howto_operator_update_service]

    # [START howto_operator_stop_start_service]
    stop = AbejaStopServiceOperator(task_id="stop", deployment_id=DEP, service_id=SERVICE_ID)
    start = AbejaStartServiceOperator(
        task_id="start", deployment_id=DEP, service_id=SERVICE_ID, wait_for_completion=False
    )
    # [END howto_operator_stop_start_service]

    # [START howto_sensor_service_status]
    wait_ready = AbejaServiceStatusSensor(
        task_id="wait_ready",
        deployment_id="{{ params.deployment_id }}",
        service_id="{{ ti.xcom_pull(task_ids='create_service', key='service_id') }}",
        # organization_id defaults to the connection's "organization_id" extra
        poke_interval=CHECK_INTERVAL,  # seconds between polls
        timeout=30 * 60,  # give up after 30 minutes
        deferrable=True,  # wait in the triggerer, not in a worker slot
    )
    # [END howto_sensor_service_status]

    # [START howto_operator_request_service]
    predict = AbejaRequestServiceOperator(
        task_id="predict",
        deployment_id="{{ params.deployment_id }}",
        service_id="{{ ti.xcom_pull(task_ids='create_service', key='service_id') }}",
        json={"text": "hello"},
    )

    segment = AbejaRequestServiceOperator(
        task_id="segment",
        deployment_id="{{ params.deployment_id }}",
        service_id="{{ ti.xcom_pull(task_ids='create_service', key='service_id') }}",
        input_path="{{ params.data_dir }}/review.json",  # streamed from disk
        output_path="{{ params.data_dir }}/{{ ds }}/answer.json",  # written atomically
    )
    # [END howto_operator_request_service]

    # [START howto_operator_create_endpoint]
    endpoint = AbejaCreateEndpointOperator(
        task_id="create_endpoint",
        deployment_id="{{ params.deployment_id }}",
        service_id="{{ ti.xcom_pull(task_ids='create_service', key='service_id') }}",
        endpoint_alias="prod",
    )
    # [END howto_operator_create_endpoint]

    # [START howto_operator_request_endpoint]
    smoke_test_prod = AbejaRequestServiceOperator(
        task_id="smoke_test_prod",
        deployment_id="{{ params.deployment_id }}",
        endpoint_alias="prod",
        json={"text": "hello"},
    )
    # [END howto_operator_request_endpoint]

    # [START howto_operator_update_endpoint]
    switch = AbejaUpdateEndpointOperator(
        task_id="switch_endpoint",
        deployment_id="{{ params.deployment_id }}",
        endpoint_alias="prod",  # its pnt-... id or its alias
        service_id="{{ ti.xcom_pull(task_ids='create_service', key='service_id') }}",
    )
    # [END howto_operator_update_endpoint]

    # [START howto_operator_delete_endpoint]
    drop = AbejaDeleteEndpointOperator(task_id="drop_endpoint", deployment_id=DEP, endpoint_alias="prod")
    # [END howto_operator_delete_endpoint]

    steps = [scale_up, stop, start, wait_ready, predict, segment, endpoint, smoke_test_prod, switch, drop]
    previous = create
    for task in steps:
        previous >> task
        previous = task

    # [START howto_operator_delete_service]
    delete = AbejaDeleteServiceOperator(task_id="delete_service", deployment_id=DEP, service_id=SERVICE_ID)
    previous >> delete.as_teardown(setups=create)  # runs after a failure upstream too
    # [END howto_operator_delete_service]
