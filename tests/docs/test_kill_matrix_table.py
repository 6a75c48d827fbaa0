"""docs/guarantees.md shows the kill matrix's own table (the cells the matrix checks)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.kill_matrix.cells import table

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guarantees.md"


def test_the_page_shows_the_matrix_table() -> None:
    shown = re.search(
        r"<!-- kill-matrix-table -->\n(.*?)\n<!-- /kill-matrix-table -->", PAGE.read_text(), re.S
    )
    assert shown, "the kill matrix table's markers are missing"
    assert shown.group(1) == table(), "regenerate it from tests/kill_matrix/cells.py: table()"
