"""The guarantees page names, for each guarantee, tests that exist: a renamed test breaks the build."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "guarantees.md"
# `tests/x.py::test_name` or, after one, `::test_other` (same file); a `[params]` suffix is ignored.
CITATION = re.compile(r"(tests/[\w/]+\.py)?::(test_\w+)")


def sections() -> dict[str, str]:
    """Heading -> text of every numbered guarantee."""
    parts = re.split(r"^## (\d+\. .+)$", PAGE.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def citations(text: str) -> list[tuple[str, str]]:
    cited, path = [], None
    for match in CITATION.finditer(text):
        path = match.group(1) or path
        assert path, f"::{match.group(2)} names no file before it"
        cited.append((path, match.group(2)))
    return cited


def functions_defined_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("heading", sorted(sections()), ids=lambda h: h.split(".")[0])
def test_each_guarantee_cites_tests_that_exist(heading: str) -> None:
    cited = citations(sections()[heading])
    assert cited, f"guarantee {heading!r} names no test"
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not (REPO / path).is_file() or name not in functions_defined_in(REPO / path)
    ]
    assert not missing, f"guarantee {heading!r} cites tests that do not exist: {missing}"


def test_the_page_has_guarantees() -> None:
    assert len(sections()) >= 6
