"""A small DAG of the operators run by Airflow itself (`dag.test()`), triggers included.

This is where templating, XCom between tasks, deferral through the real trigger machinery and the
extra link's XCom are exercised the way a scheduler-less Airflow run does them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.integration.operators._support import GOOD_VERSION, SAMPLE_DEPLOYMENT

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

DAG_ID = "abeja_operators_it_lifecycle"

DAG_SOURCE = textwrap.dedent(
    f'''
    """Lifecycle: create (deferrable) -> predict -> stop -> start -> delete (always)."""
    from datetime import datetime

    from airflow.sdk import DAG

    from airflow_provider_abeja.operators.service import (
        AbejaCreateServiceOperator,
        AbejaDeleteServiceOperator,
        AbejaRequestServiceOperator,
        AbejaStartServiceOperator,
        AbejaStopServiceOperator,
    )

    SERVICE = "{{{{ ti.xcom_pull(task_ids='create', key='service_id') }}}}"

    with DAG("{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
             params={{"deployment_id": "{SAMPLE_DEPLOYMENT}", "version_id": "{GOOD_VERSION}"}}):
        create = AbejaCreateServiceOperator(
            task_id="create",
            deployment_id="{{{{ params.deployment_id }}}}",
            version_id="{{{{ params.version_id }}}}",
            environment={{"RUN": "{{{{ run_id }}}}"}},
            check_interval=0.2,
            deferrable=True,
        )
        predict = AbejaRequestServiceOperator(
            task_id="predict",
            deployment_id="{{{{ params.deployment_id }}}}",
            service_id=SERVICE,
            json={{"text": "good great"}},
            check_interval=0.2,
        )
        stop = AbejaStopServiceOperator(
            task_id="stop", deployment_id="{{{{ params.deployment_id }}}}", service_id=SERVICE,
            check_interval=0.2,
        )
        start = AbejaStartServiceOperator(
            task_id="start", deployment_id="{{{{ params.deployment_id }}}}", service_id=SERVICE,
            check_interval=0.2, deferrable=True,
        )
        delete = AbejaDeleteServiceOperator(
            task_id="delete", deployment_id="{{{{ params.deployment_id }}}}", service_id=SERVICE,
            trigger_rule="all_done",
        )
        create >> predict >> stop >> start >> delete
    '''
)


@pytest.fixture
def lifecycle_dag(airflow_db: None) -> Any:
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


def xcom(ti: Any, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    query = XComModel.get_many(
        run_id=ti.run_id, key=key, dag_ids=ti.dag_id, task_ids=ti.task_id, map_indexes=ti.map_index
    )
    with create_session() as session:
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def test_lifecycle_dag_runs_against_the_emulator(emulator, lifecycle_dag):
    dag_run = lifecycle_dag.test()
    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    states = {task_id: str(ti.state) for task_id, ti in tis.items()}
    assert str(dag_run.state) == "success", states
    assert set(states.values()) == {"success"}

    service_id = xcom(tis["create"], "service_id")
    assert service_id.startswith("ser-")
    created = xcom(tis["create"])
    assert created["status"] == "READY"
    assert set(created["user_env_vars"].values()) == {"***"}  # environment values never reach XCom
    assert xcom(tis["predict"])["label"] in {"positive", "negative"}
    assert xcom(tis["stop"])["status"] == "STOPPED"
    assert xcom(tis["start"])["status"] == "READY"
    # The extra link's URL was pushed for the UI from the task's own service_url.
    assert xcom(tis["create"], "_link_AbejaServiceLink") == xcom(tis["create"], "service_url")
    assert service_id in xcom(tis["create"], "_link_AbejaServiceLink")

    counters = emulator.counters()
    assert counters["services_created"] == 1
    assert counters["services_deleted"] == 1
    assert counters["services_total"] == 0
    assert counters["inference_requests"] == 1
