"""The guarded promotion's scheduler scenarios (tests/kill_matrix/test_guarded_scheduler.py).

Each DAG promotes ``params.green`` behind the endpoint ``params.endpoint`` (blue is what it routes
to when the run starts), so the three scenarios run side by side on one deployment:

- ``guarded_sched_reject``: the approval, which the test rejects through Airflow's REST API;
- ``guarded_sched_timeout``: the approval, which nobody answers (a short ``approval_timeout``);
- ``guarded_sched_kill``: no approval and one retry; the test SIGKILLs the bake's worker.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_abeja.operators.guarded import guarded_promotion

DEPLOYMENT = "9999999999999"
INPUTS = [{"text": "good"}, {"text": "bad"}, {"text": "nice and fast"}]
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", tempfile.gettempdir())
PROBE_INTERVAL = 0.5
KILL_BAKE_SECONDS = 8.0  # long enough for the test to see the bake and kill its worker
APPROVAL_TIMEOUTS = {"reject": timedelta(minutes=10), "timeout": timedelta(seconds=2)}


def dag_args(retries: int) -> dict[str, Any]:
    return {
        "schedule": None,
        "start_date": pendulum.datetime(2025, 1, 1, tz="UTC"),
        "catchup": False,
        "default_args": {
            "abeja_conn_id": "abeja_default",
            "retries": retries,
            "retry_delay": timedelta(seconds=1),
        },
        "params": {"green": Param("", type="string"), "endpoint": Param("default", type="string")},
    }


def promotion(**kwargs: Any) -> Any:
    return guarded_promotion(
        deployment_id=DEPLOYMENT,
        endpoint_alias="{{ params.endpoint }}",
        green_service_id="{{ params.green }}",
        inputs=INPUTS,
        output_path=OUTPUT_DIR + "/{{ dag.dag_id }}/{{ run_id }}/compare.jsonl",
        probe_interval=PROBE_INTERVAL,
        **kwargs,
    )


for name, timeout in APPROVAL_TIMEOUTS.items():
    with DAG(dag_id=f"guarded_sched_{name}", **dag_args(retries=0)):
        promotion(approval=True, approval_timeout=timeout, bake_seconds=2 * PROBE_INTERVAL)

with DAG(dag_id="guarded_sched_kill", **dag_args(retries=1)):
    promotion(bake_seconds=KILL_BAKE_SECONDS)
