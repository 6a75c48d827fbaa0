"""The kill matrix's DAGs: one task that creates a service or runs a training job, waiting in the
worker (``sync``) or the triggerer (``deferrable``); ``plain`` (one retry), ``timeout`` (an
``execution_timeout``, no retry) and ``keep`` (the flag that keeps the resource on a kill).

A run's ``conf["release"]`` names the file whose existence ends its training job.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator
from airflow_provider_abeja.operators.training import AbejaCreateTrainingJobOperator

DEPLOYMENT = os.environ.get("ABEJA_KILL_DEPLOYMENT", "9999999999999")
VERSION = os.environ.get("ABEJA_KILL_VERSION", "ver-5a3d1e0000000001")
DEFINITION = os.environ.get("ABEJA_KILL_DEFINITION", "sentiment")
ENVIRONMENT = {"SAMPLE_TRAIN_SECONDS": "900", "SAMPLE_TRAIN_UNTIL": "{{ dag_run.conf['release'] }}"}
EXECUTION_TIMEOUT = timedelta(seconds=float(os.environ.get("ABEJA_KILL_EXECUTION_TIMEOUT", "45")))

for resource in ("service", "training"):
    for mode in ("sync", "deferrable"):
        for variant in ("plain", "timeout", "keep"):
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
                else:
                    AbejaCreateTrainingJobOperator(
                        job_definition_name=DEFINITION,
                        version_id=1,
                        environment={
                            "SAMPLE_TRAIN_SECONDS": "900",
                            "SAMPLE_TRAIN_UNTIL": "{{ dag_run.conf['release'] }}",
                        },
                        stop_on_kill=variant != "keep",
                        **common,
                    )
