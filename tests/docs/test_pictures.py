"""The docs' pictures: drawn from the real example DAGs, and from a run's recorded timeline.

`make docs` draws them for the site; these tests check the drawing itself in `make test`: valid SVG,
every task of every example DAG in its graph, every status of a run in its timeline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.docs._modules import load

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "docs" / "_ext"
SVG = "{http://www.w3.org/2000/svg}"


dag_graph = load(EXT / "dag_graph.py", "abeja_docs_ext_")
service_timeline = load(EXT / "service_timeline.py", "abeja_docs_ext_")


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def example_dags() -> list[Any]:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(str(REPO / "example_dags"))
    assert not bag.import_errors
    return list(bag.dags.values())


def test_every_example_dag_is_drawn_with_all_its_tasks(example_dags: list[Any]) -> None:
    assert example_dags
    for dag in example_dags:
        svg = dag_graph.render_svg(dag)
        drawn = texts(svg)
        assert {t.task_id for t in dag.tasks} <= set(drawn), dag.dag_id
        arrows = [p for p in ET.fromstring(svg).iter(f"{SVG}path") if p.get("marker-end")]
        edges = sum(len(t.downstream_task_ids) for t in dag.tasks)
        assert len(arrows) == edges, dag.dag_id


def test_setup_teardown_and_failure_only_tasks_are_marked(example_dags: list[Any]) -> None:
    by_id = {d.dag_id: d for d in example_dags}
    nodes, _ = dag_graph.nodes_and_edges(by_id["abeja_batch_inference"])
    kinds = {n.task_id: n.kind for n in nodes}
    assert kinds["create_service"] == "setup"
    assert kinds["delete_service"] == "teardown"
    # The deploy example's teardown has no setup (it deletes every service of the run).
    nodes, _ = dag_graph.nodes_and_edges(by_id["abeja_deploy_invoke_teardown"])
    kinds = {n.task_id: n.kind for n in nodes}
    assert (kinds["create_service"], kinds["delete_service"]) == ("task", "teardown")
    nodes, edges = dag_graph.nodes_and_edges(by_id["abeja_blue_green_swap"])
    rollback = next(n for n in nodes if n.task_id == "rollback_green")
    assert "one_failed" in rollback.detail
    place = dag_graph.layout(nodes, edges)
    assert place["rollback_green"][1] > max(r for t, (_, r) in place.items() if t != "rollback_green")


def test_the_timeline_shows_every_task_and_status_from_the_creation_on() -> None:
    run = {
        "dag_id": "abeja_deploy_invoke_teardown",
        "tasks": [
            {"task_id": "create_service", "state": "success", "start": 100.0, "end": 110.2},
            {"task_id": "wait_until_ready", "state": "success", "start": 110.3, "end": 112.5},
            {"task_id": "invoke", "state": "success", "start": 112.6, "end": 112.8},
            {"task_id": "delete_service", "state": "success", "start": 112.9, "end": 113.0},
        ],
        "statuses": [
            {"at": 110.2, "status": "IN_PROGRESS"},
            {"at": 112.2, "status": "READY"},
            {"at": 113.0, "status": "deleted"},
        ],
    }
    drawn = texts(service_timeline.render_svg(run))
    assert {"create_service", "wait_until_ready", "invoke", "delete_service"} <= set(drawn)
    assert {"IN_PROGRESS", "READY", "deleted"} <= set(drawn)
    assert "10.2 s in all, most of it Airflow starting up" in drawn  # the cut first task says so
    assert "0 s" in drawn
