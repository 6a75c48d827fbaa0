"""The conformance page's runs/triggers/Datalake section has every row of the contract's checklist,
each naming tests that exist: a renamed or removed test breaks the build."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "emulator-conformance.md"
TESTS = REPO / "tests" / "emulator"
SECTION = "## Runs, triggers and the Datalake"
CHECKLIST_ROWS = 38
ROW = re.compile(r"^\| (\d+) \|.*\| ([^|]+) \|$", re.MULTILINE)
CITED = re.compile(r"`(?:(test_\w+\.py)::)?(test_\w+)`")


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_checklist_row_names_existing_tests() -> None:
    text = PAGE.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {int(number): cell for number, cell in ROW.findall(text)}
    assert sorted(rows) == list(range(1, CHECKLIST_ROWS + 1))
    for number, cell in rows.items():
        cited = CITED.findall(cell)
        assert cited, f"row {number} names no test"
        for module, name in cited:
            assert name in _test_names(TESTS / (module or "test_runs.py")), f"row {number}: {module}::{name}"
