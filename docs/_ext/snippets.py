"""Code snippets of the docs and the README: where they come from, and keeping the copies in sync.

Pages are read where they are: on a code host as well as on the site. So no page includes a file;
each Python block follows a ``<!-- snippet: PATH NAME -->`` comment and holds a copy of the region
between ``# [START NAME]`` / ``# [END NAME]`` in PATH (from the repository's root), a file the test
suite runs. ``python docs/_ext/snippets.py README.md docs/*.md`` rewrites the copies;
tests/docs/test_snippets.py fails on a stale one.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^\[(START|END) ([\w.-]+)\]$")
BLOCK = re.compile(r"^<!-- snippet: (\S+) ([\w.-]+) -->\n```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PYTHON_FENCE = re.compile(r"^```(?:python|py|python3)\s*$", re.MULTILINE)


class SnippetError(Exception):
    """A snippet whose source or markers are missing or ambiguous."""


@dataclass(frozen=True)
class Snippet:
    """One copied region: the page that shows it, the source file and the marker name."""

    page: Path
    line: int
    source: Path
    name: str


def region(source: Path, name: str) -> str:
    """The dedented lines between ``# [START name]`` and ``# [END name]`` (each exactly once)."""
    if not source.is_file():
        raise SnippetError(f"{source} does not exist")
    lines = source.read_text().splitlines()
    found: dict[str, list[int]] = {"START": [], "END": []}
    for number, line in enumerate(lines):
        match = MARKER.match(line.strip().lstrip("#").strip())
        if match and match.group(2) == name:
            found[match.group(1)].append(number)
    if len(found["START"]) != 1 or len(found["END"]) != 1 or found["START"][0] > found["END"][0]:
        raise SnippetError(f"{source}: needs one '# [START {name}]' followed by one '# [END {name}]'")
    return textwrap.dedent("\n".join(lines[found["START"][0] + 1 : found["END"][0]])).strip("\n") + "\n"


def blocks(page: Path) -> list[tuple[Snippet, str]]:
    """Every ``<!-- snippet -->`` Python block of a page, with the code it holds."""
    text = page.read_text()
    found = []
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append((Snippet(page, line, (REPO / m.group(1)).resolve(), m.group(2)), m.group(3)))
    return found


def python_fences(page: Path) -> int:
    """How many ```python blocks a page has (each must be a synced snippet)."""
    return len(PYTHON_FENCE.findall(page.read_text()))


def sync(page: Path) -> None:
    """Rewrite each snippet block of ``page`` from its source region."""

    def fresh(m: re.Match[str]) -> str:
        code = region(REPO / m.group(1), m.group(2))
        return f"<!-- snippet: {m.group(1)} {m.group(2)} -->\n```python\n{code}```"

    page.write_text(BLOCK.sub(fresh, page.read_text()))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        sync(Path(arg))
