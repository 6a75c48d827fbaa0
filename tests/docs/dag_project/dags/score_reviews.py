"""A user's own DAG: deploy the model, score the day's reviews, always clean up; and a retraining DAG."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.cleanup import AbejaDeleteRunServicesOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator
from airflow_provider_abeja.operators.training import AbejaCreateTrainingJobOperator

DEPLOYMENT = "9999999999999"  # the emulator's sample deployment, and a real one in production

with DAG(
    dag_id="score_reviews",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={"input_path": "", "output_path": ""},
):
    deploy = AbejaCreateServiceOperator(
        task_id="deploy",
        deployment_id=DEPLOYMENT,
        version_id="ver-5a3d1e0000000001",
        check_interval=0.5,
    )
    score = AbejaBatchRequestOperator(
        task_id="score",
        deployment_id=DEPLOYMENT,
        service_id=deploy.output["service_id"],
        input_path="{{ params.input_path }}",
        output_path="{{ params.output_path }}",
    )
    clean_up = AbejaDeleteRunServicesOperator(task_id="clean_up", deployment_id=DEPLOYMENT)
    deploy >> score >> clean_up.as_teardown(setups=deploy)

with DAG(
    dag_id="retrain",
    schedule="@weekly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):
    AbejaCreateTrainingJobOperator(
        task_id="train",
        job_definition_name="sample-sentiment",
        version_id=1,
        environment={"EPOCHS": "1"},
        check_interval=0.5,
    )
