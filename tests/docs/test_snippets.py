"""Every code snippet of the docs and the README comes from a file that this suite runs.

Pages hold checked copies of the code between ``# [START name]`` / ``# [END name]`` markers
(docs/_ext/snippets.py), so that they read the same on a code host and on the site. A
snippet's source must be an example DAG (run by tests/dags) or a snippet module under
tests/docs/snippets/ (run below, against the emulator): a snippet cannot drift from working code.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.docs._modules import load

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SNIPPETS = Path(__file__).resolve().parent / "snippets"


snippets = load(DOCS / "_ext" / "snippets.py")


def snippet_files() -> list[Path]:
    """The snippet modules, each run by test_snippet_module_runs."""
    return sorted(p for p in SNIPPETS.glob("*.py") if not p.name.startswith("_"))


def sources_the_suite_runs() -> dict[Path, str]:
    """Files whose code runs in the suite -> the tests that run them."""
    example_dags = load(REPO / "tests" / "dags" / "test_example_dags.py").example_dag_files()
    runs = {p.resolve(): "tests/dags" for p in example_dags}
    # The DAG patterns tests/dags copies into the dags folder and runs.
    runs.update({p.resolve(): "tests/dags" for p in (REPO / "tests" / "dags" / "patterns").glob("*.py")})
    runs.update({p.resolve(): "tests/docs" for p in snippet_files()})
    # A user's project, run by its own pytest in test_dag_testing_guide.py.
    runs.update({p.resolve(): "tests/docs" for p in (SNIPPETS.parent / "dag_project").rglob("*.py")})
    # DAGs of the scheduler tests: only those a test in tests/standalone/ names (and so runs).
    standalone = REPO / "tests" / "standalone"
    tests_text = "".join(path.read_text() for path in standalone.glob("test_*.py"))
    runs.update(
        {p.resolve(): "tests/standalone" for p in (standalone / "dags").glob("*.py") if p.stem in tests_text}
    )
    return runs


def docs_pages() -> list[Path]:
    """The site's Markdown sources (and fragments they include); the README is checked apart."""
    return sorted(p for p in DOCS.glob("*.md") if not p.name.startswith("_"))


def problems_of(snippet: Any, runs: dict[Path, str]) -> list[str]:
    where = f"{snippet.page.relative_to(REPO)}:{snippet.line}"
    if snippet.source not in runs:
        runners = "example_dags/, tests/docs/snippets/ or tests/standalone/dags/"
        return [f"{where}: {snippet.source} is not run by the test suite (put it in {runners})"]
    try:
        snippets.region(snippet.source, snippet.name)
    except snippets.SnippetError as exc:
        return [f"{where}: {exc}"]
    return []


@pytest.mark.parametrize("page", [*docs_pages(), REPO / "README.md"], ids=lambda p: p.name)
def test_python_blocks_are_copies_of_marked_regions_of_files_the_suite_runs(page: Path) -> None:
    runs = sources_the_suite_runs()
    blocks = snippets.blocks(page)
    # Code written into the page itself would be run by nothing.
    assert snippets.python_fences(page) == len(blocks), (
        f"{page.name}: every ```python block must follow a '<!-- snippet: PATH NAME -->' comment"
    )
    problems = [p for snippet, _ in blocks for p in problems_of(snippet, runs)]
    assert not problems, "\n".join(problems)
    stale = [f"{s.name} (line {s.line})" for s, code in blocks if code != snippets.region(s.source, s.name)]
    assert not stale, f"stale copies, run `python docs/_ext/snippets.py {page.relative_to(REPO)}`: {stale}"


def test_the_checks_see_every_marker_and_every_runner() -> None:
    """Control: the checks above are not vacuous."""
    runs = sources_the_suite_runs()
    copied = {s.source for page in docs_pages() for s, _ in snippets.blocks(page)}
    assert copied, "the docs copy no snippet at all"
    assert snippets.blocks(REPO / "README.md"), "README.md shows no working DAG"
    assert set(runs.values()) == {"tests/dags", "tests/docs", "tests/standalone"}
    assert copied <= set(runs)


# -- the snippet modules run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snippet_dags_folder(airflow_db: None) -> Path:
    """The configured dags folder (dag.test() serialises from it), with a migrated database."""
    from airflow.configuration import conf

    folder = Path(conf.get("core", "dags_folder")) / "abeja_docs_snippets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.emulator
@pytest.mark.parametrize("path", snippet_files(), ids=lambda p: p.stem)
def test_snippet_module_runs(
    path: Path,
    request: pytest.FixtureRequest,
    abeja_emulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not path.name.startswith("dag_"):
        load(path).run(abeja_emulator, tmp_path)
        return
    # A DAG module: run it as the example DAGs run, with dag.test() against the emulator.
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    monkeypatch.setenv(*abeja_emulator.airflow_connection_env("abeja_default").popitem())
    monkeypatch.setenv("ABEJA_EXAMPLE_CHECK_INTERVAL", "0.1")
    monkeypatch.setenv("ABEJA_EXAMPLE_OUTPUT_DIR", str(tmp_path))
    folder = request.getfixturevalue("snippet_dags_folder")
    copy = Path(shutil.copy(path, folder))
    bag = DagBag(str(copy))
    assert not bag.import_errors, bag.import_errors
    for dag in bag.dags.values():
        run = dag.test()
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        assert str(run.state) == "success", states
        assert set(states.values()) == {"success"}, states
    assert abeja_emulator.state()["services"] == [], "a snippet DAG left a service behind"
