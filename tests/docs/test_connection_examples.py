"""Every `AIRFLOW_CONN_ABEJA_DEFAULT` example of the docs and the README makes a working hook.

The shell examples are written in the pages (they are what a reader pastes); this test reads them
back from the pages and builds the hook and its client from each, as a task would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
EXAMPLE = re.compile(r"^export AIRFLOW_CONN_ABEJA_DEFAULT='([^']*)'", re.MULTILINE)
PLACEHOLDER = re.compile(r"<[^<>]+>")  # `<personal access token>`: what the reader fills in


def examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in EXAMPLE.finditer(text):
            found.append((f"{page.name}:{text.count(chr(10), 0, match.start()) + 1}", match.group(1)))
    return found


@pytest.mark.parametrize(("where", "value"), examples(), ids=[w for w, _ in examples()])
def test_connection_example_builds_a_hook_and_client(
    where: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", PLACEHOLDER.sub("filled-in-secret", value))
    hook = AbejaHook()
    assert hook.get_organization_id() == "1234567890123"
    assert hook.client.api_url.startswith(("https://api.abeja.io", "http://127.0.0.1:8765"))


def test_the_pages_have_connection_examples() -> None:
    assert len(examples()) >= 8
