"""docs/testing-your-dags.md works as written: a user's project, run by its own pytest from a fresh
environment (no AIRFLOW_HOME, no dags folder, nothing migrated), passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent / "dag_project"

pytestmark = pytest.mark.slow


def run_project(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The guide's project copied to ``tmp_path``, run by its own pytest with no AIRFLOW_* set."""
    project = shutil.copytree(PROJECT, tmp_path / "project", ignore=shutil.ignore_patterns("__pycache__"))
    if args:
        (project / "pytest.ini").write_text("[pytest]\n" + "\n".join(args) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_", "ABEJA_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_guides_project_passes_from_a_fresh_environment(tmp_path: Path) -> None:
    done = run_project(tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


def test_an_empty_dags_folder_option_is_refused_naming_it(tmp_path: Path) -> None:
    """An empty value would otherwise copy the whole project into Airflow's dags folder."""
    done = run_project(tmp_path, "abeja_dags_folder =")
    assert done.returncode != 0
    assert "abeja_dags_folder: '' is not a folder" in done.stdout
