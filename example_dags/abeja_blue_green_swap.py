"""Blue/green release of a new model version behind an ABEJA endpoint, with rollback.

The endpoint (``params.endpoint``, an alias such as ``default`` or an id ``pnt-...``) routes the
deployment's traffic to one service, *blue*. This DAG brings up *green* from ``params.green_version_id``
next to it, smoke-tests green directly (not through the endpoint), and only then switches the
endpoint and retires blue:

    green_up -> smoke_request -> check_smoke_answer -> swap_endpoint -> blue_to_retire -> retire_blue
    rollback_green  (only when something before the switch failed)

- ``green_up`` creates the green service and waits for READY in the triggerer (``deferrable=True``).
- ``smoke_request`` calls green with ``params.smoke_text``; ``check_smoke_answer`` fails unless the
  answer's ``label`` is ``params.smoke_expected_label``.
- ``swap_endpoint`` (``AbejaRouteEndpointOperator``) switches the endpoint to green, or creates it
  on the first release, and pushes ``previous_service_id``: blue (None on the first release).
  ``retire_blue`` deletes it (``blue_to_retire`` skips that when there is no blue, or when a retry
  found the endpoint already on green).
- ``rollback_green`` runs when green failed to come up, failed its smoke test, or the switch failed:
  it deletes green. The endpoint was never changed, so traffic stays on blue. The run is marked
  failed, so the failed release is visible.

Both paths run in CI against the emulator: the default params release the sample version 1.1.0;
``{"smoke_expected_label": "negative"}`` (or ``{"green_version_id": "ver-bad0000000000001"}``, a version
whose service goes FAILED) exercises the rollback. On the ABEJA Platform pass your own deployment,
version and endpoint ids; only the ``abeja_default`` connection differs.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_abeja.operators.endpoint import AbejaRouteEndpointOperator
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
)

# Seconds between status checks (the tests set ABEJA_EXAMPLE_CHECK_INTERVAL for the emulator).
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
CONN_ID = "abeja_default"  # API URL, credential and organization id: the only thing to change
GREEN_SERVICE_ID = "{{ ti.xcom_pull(task_ids='green_up', key='service_id') }}"

with DAG(
    dag_id="abeja_blue_green_swap",
    description="Blue/green release behind an ABEJA endpoint: green up, smoke test, swap, retire blue",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["abeja", "example"],
    doc_md=__doc__,
    # Every ABEJA operator is safe to retry (a retried create reuses its service); retries are off
    # here so that a failure shows at once.
    default_args={"abeja_conn_id": CONN_ID, "retries": 0},
    params={
        "deployment_id": Param("9999999999999", type="string"),
        "green_version_id": Param("ver-5a3d1e0000000002", type="string", description="Version to release"),
        "endpoint": Param("default", type="string", description="Endpoint alias or id (pnt-...)"),
        "smoke_text": Param("excellent and reliable", type="string"),
        "smoke_expected_label": Param("positive", type="string"),
    },
) as dag:
    green_up = AbejaCreateServiceOperator(
        task_id="green_up",
        deployment_id="{{ params.deployment_id }}",
        version_id="{{ params.green_version_id }}",
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        timeout=900,
    )

    smoke_request = AbejaRequestServiceOperator(
        task_id="smoke_request",
        deployment_id="{{ params.deployment_id }}",
        service_id=GREEN_SERVICE_ID,
        json={"text": "{{ params.smoke_text }}"},
        check_interval=CHECK_INTERVAL,
    )

    @task
    def check_smoke_answer(answer: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fail the release unless green answers as expected."""
        expected = (params or {})["smoke_expected_label"]
        if not isinstance(answer, dict) or answer.get("label") != expected:
            raise ValueError(f"smoke test failed: expected label {expected!r}, green answered {answer!r}")
        return answer

    # [START howto_operator_route_endpoint]
    swap_endpoint = AbejaRouteEndpointOperator(
        task_id="swap_endpoint",
        deployment_id="{{ params.deployment_id }}",
        endpoint_alias="{{ params.endpoint }}",
        service_id=GREEN_SERVICE_ID,
    )
    # [END howto_operator_route_endpoint]

    @task.short_circuit
    def blue_to_retire(swap: dict[str, Any]) -> bool:
        """Retire blue only if there was one and it is not green (a retried swap finds green there)."""
        previous = swap.get("previous_service_id")
        return bool(previous) and previous != swap.get("service_id")

    retire_blue = AbejaDeleteServiceOperator(
        task_id="retire_blue",
        deployment_id="{{ params.deployment_id }}",
        service_id=swap_endpoint.output["previous_service_id"],
    )

    rollback_green = AbejaDeleteServiceOperator(
        task_id="rollback_green",
        deployment_id="{{ params.deployment_id }}",
        service_id=GREEN_SERVICE_ID,
        trigger_rule="one_failed",
    )

    checked = check_smoke_answer(smoke_request.output)
    green_up >> smoke_request >> checked >> swap_endpoint
    blue_to_retire(swap_endpoint.output) >> retire_blue
    [green_up, smoke_request, checked, swap_endpoint] >> rollback_green
