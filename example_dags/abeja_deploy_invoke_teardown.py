"""Deploy a model version as a service, call it once, and always tear the service down.

The smallest useful ABEJA pipeline, and the one `make demo` runs against the local emulator:

    create_service  ->  wait_until_ready  ->  invoke  ->  delete_service
                          (deferrable)                     (teardown: every service of the run)

- ``create_service`` asks the platform for a service and returns as soon as the platform accepted it
  (``wait_for_completion=False``). From then on the service costs money, and the teardown
  ``delete_service`` owns it.
- ``wait_until_ready`` waits for READY in the triggerer (``deferrable=True``): no worker slot is held
  while the instance starts. A service that goes FAILED fails this task at once, with the service's
  latest log lines in the task log.
- ``invoke`` sends one inference request and keeps the JSON answer in XCom.
- ``delete_service`` (``AbejaDeleteRunServicesOperator``) deletes every service this DAG run created,
  whatever failed: a failed create, wait or invocation still ends with no service. It is a teardown
  without setups, so it runs once everything upstream is done and the run is still marked failed.

Waiting is a separate task so that the wait shows as its own task (with its console link). Had
``create_service`` waited itself, a failed wait would delete the service there and then (unless
``keep_service_on_failure=True``).

Runs unchanged on the emulator and on the ABEJA Platform; only the ``abeja_default`` connection
differs (it carries the API URL, the credential and the organization id). Ids come from the DAG
params; their defaults are the emulator's sample deployment. Trigger with other params for a real
deployment, e.g. ``airflow dags trigger abeja_deploy_invoke_teardown --conf
'{"deployment_id": "3141592653589", "version_id": "ver-0123456789abcdef"}'``.
"""

from __future__ import annotations

# [START howto_deploy_invoke_teardown]
import os

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.cleanup import AbejaDeleteRunServicesOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator, AbejaRequestServiceOperator
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

# Seconds between status checks. Ten suits the platform, whose instances take minutes to start;
# the tests and `make demo` set ABEJA_EXAMPLE_CHECK_INTERVAL=1 for the emulator.
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
CONN_ID = "abeja_default"  # API URL, credential and organization id: the only thing to change

with DAG(
    dag_id="abeja_deploy_invoke_teardown",
    description="Create an ABEJA service, wait until READY (deferrable), invoke it, always delete it",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example"],
    doc_md=__doc__,
    # No "retries" here: the other tasks keep Airflow's default (none), and the wait keeps the
    # sensor's own default of 2 retries (waiting is idempotent; Airflow 3.3.2 can fail a deferred
    # task whose trigger fired quickly, apache/airflow#67287). Fail-fast errors never retry.
    default_args={"abeja_conn_id": CONN_ID},
    params={
        "deployment_id": Param("9999999999999", type="string", description="Deployment to run"),
        "version_id": Param("ver-5a3d1e0000000001", type="string", description="Version to deploy"),
        "instance_type": Param("cpu-0.25", type="string"),
        "text": Param("Airflow meets ABEJA", type="string", description="Text sent to the model"),
    },
) as dag:
    create_service = AbejaCreateServiceOperator(
        task_id="create_service",
        deployment_id="{{ params.deployment_id }}",
        version_id="{{ params.version_id }}",
        instance_type="{{ params.instance_type }}",
        wait_for_completion=False,
    )

    wait_until_ready = AbejaServiceStatusSensor(
        task_id="wait_until_ready",
        deployment_id="{{ params.deployment_id }}",
        service_id=create_service.output["service_id"],
        target_status="READY",
        deferrable=True,
        poke_interval=CHECK_INTERVAL,
        timeout=900,
    )

    invoke = AbejaRequestServiceOperator(
        task_id="invoke",
        deployment_id="{{ params.deployment_id }}",
        service_id=create_service.output["service_id"],
        json={"text": "{{ params.text }}"},
        check_interval=CHECK_INTERVAL,
    )

    delete_service = AbejaDeleteRunServicesOperator(
        task_id="delete_service", deployment_id="{{ params.deployment_id }}"
    )

    create_service >> wait_until_ready >> invoke >> delete_service.as_teardown()
# [END howto_deploy_invoke_teardown]
