"""Code snippets of the docs and the README: where they come from, and keeping the README's in sync.

A docs page includes code with MyST's ``literalinclude`` between ``# [START name]`` / ``# [END name]``
markers of a file the test suite runs. The README cannot include files (it is rendered as it is), so
each of its Python blocks follows a ``<!-- snippet: PATH NAME -->`` comment and holds a copy of that
region; ``python docs/_ext/snippets.py README.md`` rewrites the copies, tests/docs/ checks them.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r"^```\{literalinclude\}\s+(\S+)\s*\n((?::[\w-]+:.*\n)*)", re.MULTILINE)
OPTION = re.compile(r"^:([\w-]+):\s*(.*)$", re.MULTILINE)
MARKER = re.compile(r"^\[(START|END) ([\w.-]+)\]$")
README_BLOCK = re.compile(
    r"^<!-- snippet: (\S+) ([\w.-]+) -->\n```python\n(.*?)^```$", re.MULTILINE | re.DOTALL
)
PYTHON_FENCE = re.compile(r"^```(?:python|py|python3)\s*$", re.MULTILINE)


class SnippetError(Exception):
    """A snippet whose source or markers are missing or ambiguous."""


@dataclass(frozen=True)
class Snippet:
    """One included region: the page that shows it, the source file and the marker name."""

    page: Path
    line: int
    source: Path
    name: str | None  # None: the include names no markers


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


def page_includes(page: Path) -> list[Snippet]:
    """Every ``literalinclude`` of a MyST page, with the marker name its options select."""
    text = page.read_text()
    snippets = []
    for match in INCLUDE.finditer(text):
        options = dict(OPTION.findall(match.group(2)))
        start = MARKER.match(options.get("start-after", "").strip("\"' "))
        end = MARKER.match(options.get("end-before", "").strip("\"' "))
        name = start.group(2) if start and end and start.group(2) == end.group(2) else None
        source = (page.parent / match.group(1)).resolve()
        snippets.append(Snippet(page, text.count("\n", 0, match.start()) + 1, source, name))
    return snippets


def readme_blocks(page: Path) -> list[tuple[Snippet, str]]:
    """Every ``<!-- snippet -->`` Python block of a README, with the code it holds."""
    text = page.read_text()
    blocks = []
    for m in README_BLOCK.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        blocks.append((Snippet(page, line, (REPO / m.group(1)).resolve(), m.group(2)), m.group(3)))
    return blocks


def python_fences(page: Path) -> int:
    """How many ```python blocks a page has (each must be a synced snippet)."""
    return len(PYTHON_FENCE.findall(page.read_text()))


def sync_readme(page: Path) -> None:
    """Rewrite each snippet block of ``page`` from its source region."""

    def fresh(m: re.Match[str]) -> str:
        code = region(REPO / m.group(1), m.group(2))
        return f"<!-- snippet: {m.group(1)} {m.group(2)} -->\n```python\n{code}```"

    page.write_text(README_BLOCK.sub(fresh, page.read_text()))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        sync_readme(Path(arg))
