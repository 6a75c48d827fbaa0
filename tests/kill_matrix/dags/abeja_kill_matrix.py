"""The kill matrix's DAGs: one task that creates a service, runs a training job or a run, waiting in
the worker (``sync``) or the triggerer (``deferrable``); ``plain`` (one retry), ``timeout`` (an
``execution_timeout``, no retry) and ``keep`` (the flag that keeps the resource on a kill; runs
have none: nothing can end a run).

``reschedule`` is the documented pattern instead (there is no such mode of the operators): the
create operator with ``wait_for_completion=False``, the status sensor (task ``work``) with
``mode="reschedule"``, then a run-scoped teardown that ends what the run made (``keep``: no
teardown). Its ``timeout`` variant bounds the sensor with its own ``timeout`` too: in reschedule
mode Airflow applies ``execution_timeout`` to each poke, not to the wait. A run has no teardown:
nothing can end it.

A DAG run's ``conf["release"]`` names the file whose existence ends its training job or run;
``conf["run_version"]`` is the deployment version whose handler waits for it (the matrix makes it).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_abeja.operators.cleanup import (
    AbejaDeleteRunServicesOperator,
    AbejaStopRunTrainingJobsOperator,
)
from airflow_provider_abeja.operators.runs import AbejaCreateRunOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator
from airflow_provider_abeja.operators.training import AbejaCreateTrainingJobOperator
from airflow_provider_abeja.sensors.runs import AbejaRunSensor
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
from airflow_provider_abeja.sensors.training import AbejaTrainingJobSensor

DEPLOYMENT = os.environ.get("ABEJA_KILL_DEPLOYMENT", "9999999999999")
VERSION = os.environ.get("ABEJA_KILL_VERSION", "ver-5a3d1e0000000001")
DEFINITION = os.environ.get("ABEJA_KILL_DEFINITION", "sentiment")
ENVIRONMENT = {"SAMPLE_TRAIN_SECONDS": "900", "SAMPLE_TRAIN_UNTIL": "{{ dag_run.conf['release'] }}"}
RUN = {"version_id": "{{ dag_run.conf['run_version'] }}", "retry_count": 0}
RUN_ENVIRONMENT = {"KILL_RELEASE": "{{ dag_run.conf['release'] }}"}
#: long enough for a create to start and a deferred task to resume while all cells start at once
EXECUTION_TIMEOUT = timedelta(seconds=float(os.environ.get("ABEJA_KILL_EXECUTION_TIMEOUT", "90")))
#: the reschedule sensors' poke interval: each poke is a new task process, so a long one keeps the
#: load off the other cells (and a sensor mostly up for reschedule); a short one ends the column
#: sooner (a release, the sensor's timeout and a SIGKILLed poke are each seen at a poke)
POKE_INTERVAL = float(os.environ.get("ABEJA_KILL_POKE_INTERVAL", "20"))


def reschedule_pattern(resource: str, variant: str) -> None:
    """create (no wait) >> sensor ``work`` (reschedule) >> teardown (none for ``keep``)."""
    bounds: dict[str, Any] = {"timeout": 7 * 24 * 3600.0}
    if variant == "timeout":
        bounds = {"timeout": EXECUTION_TIMEOUT.total_seconds(), "execution_timeout": EXECUTION_TIMEOUT}
    waiting = {"task_id": "work", "mode": "reschedule", "poke_interval": POKE_INTERVAL, **bounds}
    if resource == "service":
        create = AbejaCreateServiceOperator(
            task_id="create", deployment_id=DEPLOYMENT, version_id=VERSION, wait_for_completion=False
        )
        sensor = AbejaServiceStatusSensor(
            deployment_id=DEPLOYMENT,
            service_id="{{ ti.xcom_pull(task_ids='create')['service_id'] }}",
            **waiting,
        )
    elif resource == "run":
        create = AbejaCreateRunOperator(
            task_id="create",
            deployment_id=DEPLOYMENT,
            environment=RUN_ENVIRONMENT,
            wait_for_completion=False,
            **RUN,
        )
        sensor = AbejaRunSensor(
            deployment_id=DEPLOYMENT,
            run_id="{{ ti.xcom_pull(task_ids='create')['run_id'] }}",
            **waiting,
        )
    else:
        create = AbejaCreateTrainingJobOperator(
            task_id="create",
            job_definition_name=DEFINITION,
            version_id=1,
            environment=ENVIRONMENT,
            wait_for_completion=False,
        )
        sensor = AbejaTrainingJobSensor(
            job_definition_name=DEFINITION,
            training_job_id="{{ ti.xcom_pull(task_ids='create')['training_job_id'] }}",
            **waiting,
        )
    create >> sensor
    if variant == "keep" or resource == "run":
        return
    if resource == "service":
        teardown = AbejaDeleteRunServicesOperator(task_id="teardown", deployment_id=DEPLOYMENT)
    else:
        teardown = AbejaStopRunTrainingJobsOperator(task_id="teardown", job_definition_name=DEFINITION)
    sensor >> teardown.as_teardown()


for resource in ("service", "training", "run"):
    for mode in ("sync", "reschedule", "deferrable"):
        for variant in ("plain", "timeout") if resource == "run" else ("plain", "timeout", "keep"):
            with DAG(
                f"kill_{resource}_{mode}_{variant}",
                schedule=None,
                start_date=datetime(2024, 1, 1),
                catchup=False,
                max_active_runs=16,
                default_args={
                    "retries": 0 if variant == "timeout" else 1,
                    "retry_delay": timedelta(seconds=1),
                },
            ):
                if mode == "reschedule":
                    reschedule_pattern(resource, variant)
                    continue
                common = {
                    "task_id": "work",
                    "deferrable": mode == "deferrable",
                    "check_interval": 2.0,
                    "timeout": None,
                    "execution_timeout": EXECUTION_TIMEOUT if variant == "timeout" else None,
                }
                if resource == "service":
                    AbejaCreateServiceOperator(
                        deployment_id=DEPLOYMENT,
                        version_id=VERSION,
                        delete_on_kill=variant != "keep",
                        **common,
                    )
                elif resource == "run":
                    AbejaCreateRunOperator(
                        deployment_id=DEPLOYMENT, environment=RUN_ENVIRONMENT, **RUN, **common
                    )
                else:
                    AbejaCreateTrainingJobOperator(
                        job_definition_name=DEFINITION,
                        version_id=1,
                        environment=ENVIRONMENT,
                        stop_on_kill=variant != "keep",
                        **common,
                    )
