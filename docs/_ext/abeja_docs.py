"""Sphinx extension: the docs' generated pictures.

- Every example DAG's task graph, drawn from the DAG objects (``dag_graph``), with a page fragment
  ``_generated/example_dags.md`` listing them all: a new example DAG appears without editing a page.
- The service status timeline of a real deploy -> wait -> invoke -> teardown run on the emulator
  (``service_timeline``, in a child process: Airflow configures itself on import).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dag_graph
import service_timeline

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent
GENERATED = DOCS / "_generated"
EXAMPLE_DAGS = REPO / "example_dags"


def example_dag_files() -> list[Path]:
    """The example DAG files, found as the DAG tests find them (tests/dags/test_example_dags.py)."""
    return sorted(p for p in EXAMPLE_DAGS.glob("*.py") if not p.name.startswith("_"))


def draw_dag_graphs() -> None:
    """One SVG per example DAG and the fragment that shows them."""
    from airflow.dag_processing.dagbag import DagBag

    fragment = []
    for path in example_dag_files():
        bag = DagBag(str(path))
        if bag.import_errors:
            raise RuntimeError(f"{path.name} does not import: {bag.import_errors}")
        for dag in sorted(bag.dags.values(), key=lambda d: d.dag_id):
            (GENERATED / f"dag-{dag.dag_id}.svg").write_text(dag_graph.render_svg(dag))
            fragment += [
                f"### `{dag.dag_id}`",
                "",
                f"{dag.description or ''} (`example_dags/{path.name}`)",
                "",
                f"![task graph of {dag.dag_id}](dag-{dag.dag_id}.svg)",
                "",
            ]
    (GENERATED / "example_dags.md").write_text("\n".join(fragment))


def draw_service_timeline() -> None:
    """Run the deploy/invoke/teardown DAG on the emulator and draw what the service went through."""
    run_json = GENERATED / "service_timeline.json"
    subprocess.run(
        [sys.executable, str(Path(service_timeline.__file__)), str(run_json)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
    )
    run = json.loads(run_json.read_text())
    (GENERATED / "service-timeline.svg").write_text(service_timeline.render_svg(run))


def generate(app: Any) -> None:
    GENERATED.mkdir(exist_ok=True)
    draw_dag_graphs()
    try:
        draw_service_timeline()
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode()[-4000:]
        raise RuntimeError(f"the emulator run for the timeline failed:\n{tail}") from exc


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
