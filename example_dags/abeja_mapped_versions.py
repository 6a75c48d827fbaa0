"""Fan out over model versions with dynamic task mapping: one service per version, all cleaned up.

    versions  ->  create_service[i]  ->  wait_until_ready[i]  ->  invoke[i]      cleanup
                  (.expand over           (deferrable)                           (teardown of
                   version_id)                                                    the whole run)

- ``versions`` returns the versions to try (the ``version_ids`` param), so a run's conf changes the fan-out.
- ``create_service`` is mapped with ``.partial(...).expand(version_id=...)``: one task instance and one
  service per version. ``service_ids(create_service)`` is what the next mapped tasks expand over (the
  service id of each instance; ``create_service.output["service_id"]`` cannot be mapped over).
- ``wait_until_ready`` and ``invoke`` are mapped the same way, instance ``i`` on service ``i``.
- ``cleanup`` (``AbejaDeleteRunServicesOperator``) deletes every service this run created, found on the
  platform by the marker the create operator sets: a mapped teardown over the creates' outputs would
  miss the services of creates that failed after making theirs. As a teardown without setups it runs
  after everything upstream whatever failed, and the run's state still shows the failure.

Runs unchanged on the emulator and on the platform; ids come from the params (defaults: the
emulator's sample deployment and its two versions).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_abeja.operators.cleanup import AbejaDeleteRunServicesOperator
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaRequestServiceOperator,
    service_ids,
)
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))

with DAG(
    dag_id="abeja_mapped_versions",
    description="Deploy several versions at once (dynamic task mapping), call each, delete them all",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example"],
    doc_md=__doc__,
    default_args={"abeja_conn_id": "abeja_default"},
    params={
        "deployment_id": Param("9999999999999", type="string", description="Deployment to run"),
        "version_ids": Param(
            ["ver-5a3d1e0000000001", "ver-5a3d1e0000000002"],
            type="array",
            description="Versions to deploy side by side",
        ),
        "text": Param("Airflow meets ABEJA", type="string", description="Text sent to every version"),
    },
) as dag:

    @task
    def versions(params: dict[str, Any] | None = None) -> list[str]:
        return list((params or {})["version_ids"])

    # [START howto_mapped_create_wait_invoke]
    create_service = AbejaCreateServiceOperator.partial(
        task_id="create_service",
        deployment_id="{{ params.deployment_id }}",
        wait_for_completion=False,
    ).expand(version_id=versions())

    wait_until_ready = AbejaServiceStatusSensor.partial(
        task_id="wait_until_ready",
        deployment_id="{{ params.deployment_id }}",
        deferrable=True,
        poke_interval=CHECK_INTERVAL,
        timeout=900,
        retries=2,  # .partial() fills in Airflow's default of none; waiting is safe to retry
    ).expand(service_id=service_ids(create_service))

    invoke = AbejaRequestServiceOperator.partial(
        task_id="invoke",
        deployment_id="{{ params.deployment_id }}",
        json={"text": "{{ params.text }}"},
        check_interval=CHECK_INTERVAL,
    ).expand(service_id=service_ids(create_service))

    # [END howto_mapped_create_wait_invoke]

    # [START howto_operator_delete_run_services]
    cleanup = AbejaDeleteRunServicesOperator(task_id="cleanup", deployment_id="{{ params.deployment_id }}")
    create_service >> wait_until_ready >> invoke >> cleanup.as_teardown()
    # [END howto_operator_delete_run_services]
