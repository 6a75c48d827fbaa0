"""What a new user follows in the README and the docs: install, run the examples, connect to the emulator.

Items 13 and 15 of issue 12: each was wrong in the README a new user tried. The README now keeps install,
the connection and a first DAG; the rest lives in the docs pages, and each check reads the page that
holds it now.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
DOCS = REPO / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text()


def section(text: str, title: str) -> str:
    """A section's text, from its heading to the next heading of the same or a higher level
    (lines inside code blocks, such as shell comments, are not headings)."""
    lines, fenced, level = [], False, 0
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"(#+) ", line) if not fenced else None
        if level and heading and len(heading.group(1)) <= level:
            break
        if level:
            lines.append(line)
        elif heading and line[len(heading.group(0)) :] == title:
            level = len(heading.group(1))
    assert level, title
    return "\n".join(lines)


def included_code(text: str) -> str:
    """The code a docs section shows: its ``<!-- snippet -->`` copies."""
    return "\n".join(re.findall(r"^<!-- snippet: \S+ [\w.-]+ -->\n```python\n(.*?)^```$", text, re.M | re.S))


def test_install_does_not_promise_a_published_package() -> None:
    install = section(README, "Install")
    everything = README + "".join(p.read_text() for p in DOCS.glob("*.md"))
    assert "pip install airflow-provider-abeja" not in everything  # not on any index
    assert "pip install ." in install
    assert "pip wheel" in install or "python -m build" in install


def test_the_readme_stays_short_and_keeps_make_test() -> None:
    assert len(README.splitlines()) <= 200
    assert "make test" in README


def test_running_the_examples_sets_airflow_home_and_says_how_to_stop_the_emulator() -> None:
    steps = section(page("pipelines.md"), "Running the examples yourself")
    assert "export AIRFLOW_HOME=" in steps
    assert steps.index("export AIRFLOW_HOME=") < steps.index("airflow db migrate")
    assert "kill $EMULATOR_PID" in steps


def test_every_emulator_connection_leaves_inference_addressing_to_auto() -> None:
    """``auto`` picks path style on loopback. A short extra value such as ``"path"`` would also make
    Airflow, which registers every extra value as a secret, warn that it is too short to mask."""
    text = README + "".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
    blobs = re.findall(r"AIRFLOW_CONN_ABEJA_DEFAULT='(\{.*?\})'", text, re.S)
    emulator = [json.loads(b) for b in blobs if "127.0.0.1" in b]
    assert len(emulator) >= 3
    for conn in emulator:
        assert "inference_addressing" not in conn["extra"], conn
        assert conn["extra"]["console_url"].endswith("/console"), conn
    uris = re.findall(r"AIRFLOW_CONN_ABEJA_DEFAULT='(abeja://[^']*127\.0\.0\.1[^']*)'", text)
    assert uris
    assert not any("inference_addressing" in uri for uri in uris)


def test_the_delete_example_advises_on_teardowns() -> None:
    delete = section(page("operators.md"), "AbejaDeleteServiceOperator")
    assert included_code(delete), "the section shows no example"
    assert 'trigger_rule="all_done"' not in included_code(delete)  # the example itself
    assert "as_teardown" in delete + included_code(delete)
    assert "AbejaDeleteRunServicesOperator" in delete


def test_the_ui_test_button_caveat_says_what_works() -> None:
    testing = section(page("connection.md"), "Testing a connection")
    everything = README + "".join(p.read_text() for p in DOCS.glob("*.md"))
    assert "backs the UI's **Test** button" not in everything
    assert "apache/airflow#73298" in testing
    assert "airflow connections test" in testing
    assert "/api/v2/connections/test" in testing


def slug(heading: str) -> str:
    """The anchor a code host and MyST give a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_links_to_pages_and_sections_that_exist() -> None:
    links = re.findall(r"\]\(((?:docs/[\w.-]+\.md|CHANGELOG\.md))(?:#([\w-]+))?\)", README)
    assert len({path for path, _ in links}) >= 8, links
    for path, anchor in links:
        target = REPO / path
        assert target.is_file(), path
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.MULTILINE)
            assert anchor in {slug(h) for h in headings}, f"{path}#{anchor}"
