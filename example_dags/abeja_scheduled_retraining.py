"""Weekly retraining: a new model version, deployed, smoke-tested, put behind the endpoint.

    new_model_version -> deploy_new_version -> smoke_request -> check_smoke_answer
        -> route_endpoint -+-> point_endpoint -> old_to_retire -> retire_old_service
                           +-> create_endpoint      (first release: nothing to retire)
    discard_new_service  (only when something before the switch failed)

``new_model_version`` stands for your training job. On the emulator it registers a version of the
sample handler with other parameters (``POST /organizations/{org}/deployments/{dep}/versions``,
a route of the emulator; see ``register_sample_version``). **On the ABEJA Platform replace that task
with your training and packaging step**, or pass the version it produced as ``params.version_id``:
the task then only hands that id on. Everything after it runs unchanged on the platform.

The endpoint switch pushes the service it replaced (``previous_service_id``), which
``retire_old_service`` deletes. If the new service fails to come up, fails its smoke test, or the
switch fails, ``discard_new_service`` deletes it and the endpoint keeps serving the old one.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_abeja.operators.endpoint import (
    AbejaCreateEndpointOperator,
    AbejaUpdateEndpointOperator,
)
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
)

# Seconds between status checks (the tests set ABEJA_EXAMPLE_CHECK_INTERVAL for the emulator).
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
CONN_ID = "abeja_default"  # API URL, credential and organization id: the only thing to change
NEW_SERVICE_ID = "{{ ti.xcom_pull(task_ids='deploy_new_version', key='service_id') }}"


def register_sample_version(
    conn_id: str, deployment_id: str, version: str, model_params: str
) -> dict[str, Any]:
    """Register a version of the emulator's sample handler that reads ``model_params``.

    Uses the hook's authenticated session and API URL, so the credential handling is the
    provider's. The body (``version``, ``handler``, ``user_env_vars``) is the emulator's; the
    platform's version upload also needs the packaged code and a runtime image.
    """
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    hook = AbejaHook(conn_id)
    client = hook.client
    path = "/".join(
        quote(part, safe="")
        for part in ("organizations", hook.get_organization_id(), "deployments", deployment_id, "versions")
    )
    response = client.session.post(
        f"{client.api_url.rstrip('/')}/{path}",
        json={
            "version": version,
            "handler": "main:handler",
            "user_env_vars": {"SAMPLE_MODEL_PARAMS": model_params},
        },
        timeout=30,
    )
    response.raise_for_status()
    created: dict[str, Any] = response.json()
    return created


with DAG(
    dag_id="abeja_scheduled_retraining",
    description="Weekly: new model version, deploy, smoke test, switch the endpoint, retire the old service",
    schedule="@weekly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["abeja", "example"],
    doc_md=__doc__,
    # Every ABEJA operator is safe to retry (a retried create reuses its service); retries are off
    # here so that a failure shows at once.
    default_args={"abeja_conn_id": CONN_ID, "retries": 0},
    params={
        "deployment_id": Param("9999999999999", type="string"),
        "version_id": Param(
            None, type=["null", "string"], description="Deploy this version instead of registering one"
        ),
        "model_params": Param("params_v2.json", type="string", description="Sample handler parameters"),
        "endpoint": Param("default", type="string", description="Endpoint alias or id (pnt-...)"),
        "smoke_text": Param("excellent and reliable", type="string"),
        "smoke_expected_label": Param("positive", type="string"),
    },
) as dag:

    @task
    def new_model_version(params: dict[str, Any] | None = None, dag_run: Any = None) -> str:
        """REPLACE WITH YOUR TRAINING JOB on the platform: it must return the new version id."""
        params = params or {}
        if params.get("version_id"):
            return str(params["version_id"])
        # A version string that is new on every run: 1.<date>.<time of the run> (no leading zeros).
        stamp = pendulum.instance(getattr(dag_run, "run_after", None) or dag_run.logical_date)
        version = f"1.{stamp:%Y%m%d}.{int(f'{stamp:%H%M%S%f}')}"
        created = register_sample_version(CONN_ID, params["deployment_id"], version, params["model_params"])
        print(f"registered version {created['version_id']} ({version})")
        return str(created["version_id"])

    new_version = new_model_version()

    deploy_new_version = AbejaCreateServiceOperator(
        task_id="deploy_new_version",
        deployment_id="{{ params.deployment_id }}",
        version_id=new_version,
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        timeout=1800,
    )

    smoke_request = AbejaRequestServiceOperator(
        task_id="smoke_request",
        deployment_id="{{ params.deployment_id }}",
        service_id=NEW_SERVICE_ID,
        json={"text": "{{ params.smoke_text }}"},
        check_interval=CHECK_INTERVAL,
    )

    @task
    def check_smoke_answer(answer: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fail unless the new model answers the known input as expected."""
        expected = (params or {})["smoke_expected_label"]
        if not isinstance(answer, dict) or answer.get("label") != expected:
            raise ValueError(f"smoke test failed: expected label {expected!r}, got {answer!r}")
        return answer

    @task.branch
    def route_endpoint(params: dict[str, Any] | None = None) -> str:
        """Switch an existing endpoint; create it on the first release."""
        from airflow_provider_abeja.exceptions import NotFound
        from airflow_provider_abeja.hooks.abeja import AbejaHook

        hook = AbejaHook(CONN_ID)
        args = (hook.get_organization_id(), (params or {})["deployment_id"], (params or {})["endpoint"])
        try:
            hook.client.get_endpoint(*args)
        except NotFound:
            return "create_endpoint"
        return "point_endpoint"

    point_endpoint = AbejaUpdateEndpointOperator(
        task_id="point_endpoint",
        deployment_id="{{ params.deployment_id }}",
        endpoint="{{ params.endpoint }}",
        service_id=NEW_SERVICE_ID,
    )

    create_endpoint = AbejaCreateEndpointOperator(
        task_id="create_endpoint",
        deployment_id="{{ params.deployment_id }}",
        custom_alias="{{ params.endpoint }}",
        service_id=NEW_SERVICE_ID,
    )

    @task.short_circuit
    def old_to_retire(switch: dict[str, Any]) -> bool:
        """Retire the old service only if there was one and it is not the new one."""
        previous = switch.get("previous_service_id")
        return bool(previous) and previous != switch.get("service_id")

    retire_old_service = AbejaDeleteServiceOperator(
        task_id="retire_old_service",
        deployment_id="{{ params.deployment_id }}",
        service_id=point_endpoint.output["previous_service_id"],
    )

    discard_new_service = AbejaDeleteServiceOperator(
        task_id="discard_new_service",
        deployment_id="{{ params.deployment_id }}",
        service_id=NEW_SERVICE_ID,
        trigger_rule="one_failed",
    )

    checked = check_smoke_answer(smoke_request.output)
    route = route_endpoint()
    deploy_new_version >> smoke_request >> checked >> route >> [point_endpoint, create_endpoint]
    old_to_retire(point_endpoint.output) >> retire_old_service
    [deploy_new_version, smoke_request, checked, point_endpoint, create_endpoint] >> discard_new_service
