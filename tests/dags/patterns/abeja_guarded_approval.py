"""The guarded promotion with a human's approval, for tests/dags/test_guarded_dag.py.

``guarded_approval``: the standard provider's approval step (Airflow 3.1+). ``guarded_gate``: the
equivalent on Airflow 2.11, a sensor a human satisfies by setting an Airflow Variable. Green is
made by the test (``params.green``); the validation set is two inputs.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, AirflowFailException, Param, Variable, task

from airflow_provider_abeja.operators.guarded import guarded_promotion

INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.5"))
OUTPUT_DIR = os.environ.get("ABEJA_EXAMPLE_OUTPUT_DIR", tempfile.gettempdir())
DAG_ARGS: dict[str, Any] = {
    "schedule": None,
    "start_date": pendulum.datetime(2025, 1, 1, tz="UTC"),
    "catchup": False,
    "tags": ["abeja"],
    "default_args": {"abeja_conn_id": "abeja_default", "retries": 0},
    "params": {"green": Param("", type="string")},
}

try:  # the standard provider's approval step: Airflow 3.1+
    from airflow.providers.standard.operators.hitl import ApprovalOperator  # noqa: F401
except ImportError:
    HITL = False
else:
    HITL = True

if HITL:
    with DAG(dag_id="guarded_approval", **DAG_ARGS):
        # [START howto_guarded_approval]
        guarded_promotion(
            deployment_id="9999999999999",
            green_service_id="{{ params.green }}",
            inputs=[{"text": "good"}, {"text": "bad"}],
            output_path=OUTPUT_DIR + "/{{ run_id }}/compare.jsonl",
            approval=True,  # the standard provider's ApprovalOperator, showing the comparison
            approval_timeout=timedelta(minutes=5),  # no answer by then: rejected
            bake_seconds=10 * INTERVAL,
            probe_interval=INTERVAL,
        )
        # [END howto_guarded_approval]

with DAG(dag_id="guarded_gate", **DAG_ARGS):
    # [START howto_guarded_gate]
    @task.sensor(poke_interval=INTERVAL, timeout=10 * INTERVAL, mode="reschedule")
    def approved(run_id: str | None = None) -> bool:
        """A human answers with ``airflow variables set approve_<run id> yes`` (or ``no``);
        no answer before the timeout fails the gate, which stops the promotion."""
        answer = Variable.get(f"approve_{run_id}", None)
        if answer == "no":
            raise AirflowFailException(f"the promotion was rejected (approve_{run_id} = no)")
        return answer == "yes"

    guarded_promotion(
        deployment_id="9999999999999",
        green_service_id="{{ params.green }}",
        inputs=[{"text": "good"}, {"text": "bad"}],
        output_path=OUTPUT_DIR + "/{{ run_id }}/compare.jsonl",
        approval=approved(),
    )
    # [END howto_guarded_gate]
