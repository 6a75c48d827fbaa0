"""The documented release pattern, run by Airflow (``dag.test()``) against the emulator: route the
endpoint to a new service, then delete ``route.output["previous_service_id"]``.

On the first release there is no previous service: the delete has nothing to do and the run is
green (one ``dag.test()``: XComArg resolution is Airflow's). On the next release the previous
service is deleted and the endpoint's is kept.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.operators._support import SAMPLE_DEPLOYMENT, ready_service

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

DAG_ID = "abeja_operators_it_release"

DAG_SOURCE = textwrap.dedent(
    f'''
    """Release: point the endpoint at params.service_id, delete the service it served before."""
    from datetime import datetime

    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_abeja.operators.endpoint import AbejaRouteEndpointOperator
    from airflow_provider_abeja.operators.service import AbejaDeleteServiceOperator

    with DAG("{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
             params={{"service_id": ""}}):
        route = AbejaRouteEndpointOperator(
            task_id="route", deployment_id="{SAMPLE_DEPLOYMENT}", service_id="{{{{ params.service_id }}}}",
        )
        AbejaDeleteServiceOperator(
            task_id="retire", deployment_id="{SAMPLE_DEPLOYMENT}",
            service_id=route.output["previous_service_id"],
        )
    '''
)


@pytest.fixture
def release_dag(airflow_db: None) -> Iterator[Any]:
    from airflow.configuration import conf

    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{DAG_ID}.py"
    path.write_text(DAG_SOURCE)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag = DagBag(str(path))
    assert not bag.import_errors, bag.import_errors
    yield bag.get_dag(DAG_ID)
    path.unlink()


def test_the_first_release_deletes_nothing_and_the_next_retires_the_previous(
    emulator: Any, release_dag: Any, context: dict[str, Any]
) -> None:
    from airflow_provider_abeja.operators.endpoint import AbejaRouteEndpointOperator
    from airflow_provider_abeja.operators.service import AbejaDeleteServiceOperator

    blue = ready_service(emulator)
    dag_run = release_dag.test(run_conf={"service_id": blue})
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert (str(dag_run.state), states) == ("success", {"route": "success", "retire": "success"})
    assert emulator.counters()["services_deleted"] == 0
    # The next release, task by task: the XCom is there now and names blue.
    green = ready_service(emulator)
    route = AbejaRouteEndpointOperator(task_id="route", deployment_id=SAMPLE_DEPLOYMENT, service_id=green)
    assert route.execute(context)["previous_service_id"] == blue
    previous = context["ti"].xcoms["previous_service_id"]
    AbejaDeleteServiceOperator(
        task_id="retire", deployment_id=SAMPLE_DEPLOYMENT, service_id=previous
    ).execute(context)
    assert emulator.counters()["services_deleted"] == 1
    assert emulator.get_service(SAMPLE_DEPLOYMENT, green)["status"] == "READY"
