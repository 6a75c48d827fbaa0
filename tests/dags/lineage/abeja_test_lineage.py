"""Test DAG of tests/dags/test_lineage_events.py: a request and a batch over files, on one service."""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.cleanup import AbejaDeleteRunServicesOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator, AbejaRequestServiceOperator

FOLDER = os.environ.get("ABEJA_TEST_LINEAGE_DIR", "/tmp")
DEPLOYMENT = "9999999999999"
SERVICE_ID = "{{ ti.xcom_pull(task_ids='create', key='service_id') }}"

with DAG(
    dag_id="abeja_test_lineage",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"abeja_conn_id": "abeja_default"},
):
    create = AbejaCreateServiceOperator(
        task_id="create", deployment_id=DEPLOYMENT, version_id="ver-5a3d1e0000000001", check_interval=0.5
    )
    request = AbejaRequestServiceOperator(
        task_id="request",
        deployment_id=DEPLOYMENT,
        service_id=SERVICE_ID,
        input_path=f"{FOLDER}/request.json",
        content_type="application/json",
        output_path=f"{FOLDER}/answer.json",
    )
    batch = AbejaBatchRequestOperator(
        task_id="batch",
        deployment_id=DEPLOYMENT,
        service_id=SERVICE_ID,
        input_path=f"{FOLDER}/inputs.jsonl",
        output_path=f"{FOLDER}/scores.jsonl",
    )
    cleanup = AbejaDeleteRunServicesOperator(task_id="cleanup", deployment_id=DEPLOYMENT)
    create >> request >> batch >> cleanup.as_teardown(setups=create)
