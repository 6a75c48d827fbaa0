"""Draw an Airflow DAG's task graph as SVG, from the DAG object itself (no Graphviz binary needed).

Left to right, as Airflow's graph view: a task's column is its longest path from a root, rows are
ordered by the mean row of the upstream tasks (fewer crossings). Setup and teardown tasks and
trigger rules other than ``all_success`` are marked, since they carry the pipelines' cleanup logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

BOX_H = 46
COL_GAP = 64
ROW_GAP = 34  # the gap below a row is also the lane that edges skipping columns run in
PAD = 16
# Character widths of a monospace font at the two sizes used (0.6 em), for box widths.
TITLE_W, DETAIL_W = 13 * 0.62, 11 * 0.62
ASIDE_RULES = ("one_failed", "all_failed")
FILL = {"setup": "#e8f4ea", "teardown": "#fbeaea", "task": "#eef2fb"}
STROKE = {"setup": "#2e7d32", "teardown": "#c62828", "task": "#3f51b5"}


@dataclass(frozen=True)
class Node:
    """One task as drawn: its id, a second line (operator, mapped, role, trigger rule) and its kind."""

    task_id: str
    detail: str
    kind: str  # "setup", "teardown" or "task"


def nodes_and_edges(dag: Any) -> tuple[list[Node], list[tuple[str, str]]]:
    """The DAG's tasks (in definition order) and dependency edges, read from the real objects."""
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    for task in dag.tasks:
        kind = "setup" if task.is_setup else "teardown" if task.is_teardown else "task"
        detail = [getattr(task, "custom_operator_name", None) or task.task_type]
        if getattr(task, "is_mapped", False):
            detail.append("mapped")
        if kind != "task":
            detail.append(kind)
        rule = str(getattr(task.trigger_rule, "value", task.trigger_rule))
        if rule != "all_success" and kind != "teardown":
            detail.append(rule)
        nodes.append(Node(task.task_id, " · ".join(detail), kind))
        edges.extend((task.task_id, down) for down in sorted(task.downstream_task_ids))
    return nodes, edges


def layout(nodes: list[Node], edges: list[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """task id -> (column, row). Tasks that only run when something failed go on a row of their own."""
    ups: dict[str, list[str]] = {n.task_id: [] for n in nodes}
    for up, down in edges:
        ups[down].append(up)
    column: dict[str, int] = {}

    def col(task_id: str) -> int:
        if task_id not in column:
            column[task_id] = 1 + max((col(u) for u in ups[task_id]), default=-1)
        return column[task_id]

    for n in nodes:
        col(n.task_id)
    rows: dict[str, int] = {}
    aside = {n.task_id for n in nodes if n.kind == "task" and any(r in n.detail for r in ASIDE_RULES)}
    for c in range(max(column.values(), default=-1) + 1):
        in_col = [n.task_id for n in nodes if column[n.task_id] == c and n.task_id not in aside]
        order = {t: i for i, t in enumerate(in_col)}

        def weight(task_id: str, order: dict[str, int] = order) -> tuple[float, int]:
            placed = [rows[u] for u in ups[task_id] if u in rows]
            return (sum(placed) / len(placed) if placed else order[task_id], order[task_id])

        for row, task_id in enumerate(sorted(in_col, key=weight)):
            rows[task_id] = row
    bottom = max(rows.values(), default=-1) + 1
    for task_id in aside:
        rows[task_id] = bottom
    return {t: (column[t], rows[t]) for t in column}


def render_svg(dag: Any) -> str:
    """The SVG text of ``dag``'s task graph."""
    nodes, edges = nodes_and_edges(dag)
    place = layout(nodes, edges)
    by_id = {n.task_id: n for n in nodes}
    n_cols = max((c for c, _ in place.values()), default=0) + 1
    widths = [
        max(
            (
                max(len(n.task_id) * TITLE_W, len(n.detail) * DETAIL_W) + 24
                for n in nodes
                if place[n.task_id][0] == c
            ),
            default=0,
        )
        for c in range(n_cols)
    ]
    xs = [PAD + sum(widths[:c]) + COL_GAP * c for c in range(n_cols)]
    n_rows = max((r for _, r in place.values()), default=0) + 1
    width = xs[-1] + widths[-1] + PAD if nodes else 2 * PAD
    height = PAD * 2 + n_rows * (BOX_H + ROW_GAP)  # room for a lane under the last row too

    def box(task_id: str) -> tuple[float, float, float]:
        c, r = place[task_id]
        return xs[c], PAD + r * (BOX_H + ROW_GAP), widths[c]

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" role="img" aria-label="task graph of {escape(dag.dag_id)}" '
        'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'>"
        "<path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker></defs>",
    ]
    for up, down in edges:
        ux, uy, uw = box(up)
        dx, dy, _ = box(down)
        x1, y1, x2, y2 = ux + uw, uy + BOX_H / 2, dx, dy + BOX_H / 2
        if place[down][0] - place[up][0] > 1:  # skips columns: run in the lane under the lower row
            lane = max(uy, dy) + BOX_H + ROW_GAP / 2
            if place[down][1] > place[up][1]:
                lane = dy - ROW_GAP / 2
            h = COL_GAP / 2
            d = (
                f"M{x1:.1f},{y1:.1f} C{x1 + h:.1f},{y1:.1f} {x1:.1f},{lane:.1f} {x1 + h:.1f},{lane:.1f} "
                f"L{x2 - h:.1f},{lane:.1f} C{x2:.1f},{lane:.1f} {x2 - h:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            )
        else:
            bend = (x2 - x1) / 2
            d = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        dash = ' stroke-dasharray="5,4"' if by_id[down].kind == "teardown" else ""
        out.append(
            f'<path d="{d}" fill="none" stroke="#555" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
        )
    for n in nodes:
        x, y, w = box(n.task_id)
        out.append(
            f"<g><title>{escape(n.task_id)}: {escape(n.detail)}</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BOX_H}" rx="6" fill="{FILL[n.kind]}" '
            f'stroke="{STROKE[n.kind]}" stroke-width="1.5"/>'
            f'<text x="{x + 10:.1f}" y="{y + 19}" font-size="13" font-weight="bold" fill="#222">'
            f"{escape(n.task_id)}</text>"
            f'<text x="{x + 10:.1f}" y="{y + 36}" font-size="11" fill="#555">{escape(n.detail)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
