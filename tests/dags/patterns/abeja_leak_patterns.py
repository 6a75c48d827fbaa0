"""The DAG patterns the docs document (operators.md, guarantees.md), as a user would write them, each failing.

Four DAGs (the leak patterns of issue 12): a mapped create-and-wait in poke and deferrable mode
(one version never becomes READY), and a waiting create used as a teardown's setup whose wait
times out, in poke and deferrable mode. tests/dags/test_no_leaks.py counts the services each one
leaves on the emulator: none. A fifth, the reschedule pattern for a training job whose sensor
times out, leaves no job running.
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_abeja.operators.cleanup import (
    AbejaDeleteRunServicesOperator,
    AbejaStopRunTrainingJobsOperator,
)
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
    service_ids,
)
from airflow_provider_abeja.operators.training import AbejaCreateTrainingJobOperator
from airflow_provider_abeja.sensors.training import AbejaTrainingJobSensor

DEPLOYMENT = "9999999999999"
V1 = "ver-5a3d1e0000000001"
BAD = "ver-bad0000000000001"  # the emulator's sample version whose service goes FAILED
INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.5"))
ARGS = {"abeja_conn_id": "abeja_default", "retries": 0}
START = pendulum.datetime(2025, 1, 1, tz="UTC")
DEFINITION = "sample-sentiment"  # the emulator's sample job definition
LONG_TRAINING = {"SAMPLE_TRAIN_SECONDS": "600"}  # still running when the sensor gives up
TRAINING_TIMEOUT = 1  # seconds: the sensor times out at once, the teardown stops the job

for deferrable in (False, True):
    mode = "deferrable" if deferrable else "sync"

    with DAG(f"leak_mapped_{mode}", schedule=None, start_date=START, default_args=ARGS, tags=["abeja"]):
        create = AbejaCreateServiceOperator.partial(
            task_id="create",
            deployment_id=DEPLOYMENT,
            wait_for_completion=True,
            deferrable=deferrable,
            check_interval=INTERVAL,
            timeout=120,
        ).expand(version_id=[V1, BAD, V1])
        request = AbejaRequestServiceOperator.partial(
            task_id="request", deployment_id=DEPLOYMENT, json={"text": "a great day"}
        ).expand(service_id=service_ids(create))
        cleanup = AbejaDeleteRunServicesOperator(task_id="cleanup", deployment_id=DEPLOYMENT)
        create >> request >> cleanup.as_teardown()

    with DAG(
        f"leak_setup_timeout_{mode}", schedule=None, start_date=START, default_args=ARGS, tags=["abeja"]
    ):
        create = AbejaCreateServiceOperator(
            task_id="create",
            deployment_id=DEPLOYMENT,
            version_id=V1,
            deferrable=deferrable,
            check_interval=INTERVAL,
            timeout=1,
        )
        request = AbejaRequestServiceOperator(
            task_id="request", deployment_id=DEPLOYMENT, service_id=create.output["service_id"], json={}
        )
        delete = AbejaDeleteServiceOperator(
            task_id="delete", deployment_id=DEPLOYMENT, service_id=create.output["service_id"]
        )
        create >> request >> delete.as_teardown(setups=create)

# The reschedule pattern for a training job (guarantees.md section 10, training.md): the sensor
# waits without holding a worker slot; the run-wide teardown stops what is left running.
with DAG("leak_training_reschedule", schedule=None, start_date=START, default_args=ARGS, tags=["abeja"]):
    # [START howto_operator_stop_run_training_jobs]
    train = AbejaCreateTrainingJobOperator(
        task_id="train",
        job_definition_name=DEFINITION,
        version_id=1,
        environment=LONG_TRAINING,
        wait_for_completion=False,  # start the job; the sensor waits
    )
    wait = AbejaTrainingJobSensor(
        task_id="wait",
        job_definition_name=DEFINITION,
        training_job_id=train.output["training_job_id"],
        mode="reschedule",
        poke_interval=INTERVAL,
        timeout=TRAINING_TIMEOUT,
    )
    stop_jobs = AbejaStopRunTrainingJobsOperator(task_id="stop_jobs", job_definition_name=DEFINITION)
    train >> wait >> stop_jobs.as_teardown()
    # [END howto_operator_stop_run_training_jobs]
