"""A new user's first run is quiet and exact: one `airflow dags test` of the first example, in a child
process as the README runs it, prints no warning that this project causes, and stays short."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.slow, pytest.mark.timeout(300)]


def _airflow_major() -> int:
    from airflow import __version__

    return int(__version__.split(".")[0])


EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "abeja_deploy_invoke_teardown.py"
#: Airflow's own, not ours: its CLI warns (over three lines) when the optional graphviz is missing.
AIRFLOW_OWN_WARNINGS = ("graphviz",)
WARNING = re.compile(r"\[(warning|error)\s*\]|\bWARNING\b|\w+Warning\b")
#: Lines of the run on the emulator (Airflow's own INFO lines included); 107 when this test was written.
MAX_LINES = 110


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.skipif(_airflow_major() < 3, reason="the lines counted are Airflow 3's, as the README runs it")
def test_the_first_example_prints_no_warning_of_ours(abeja_emulator: Any, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE, dags)
    env = {
        **os.environ,
        **abeja_emulator.airflow_connection_env("abeja_default"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "ABEJA_EXAMPLE_CHECK_INTERVAL": "1",
    }
    env.pop("PYTHONWARNINGS", None)
    airflow = str(Path(sys.executable).parent / "airflow")
    run = subprocess.run(
        [airflow, "dags", "test", EXAMPLE.stem], env=env, capture_output=True, text=True, timeout=240
    )
    lines = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0, "\n".join(lines[-60:])

    warnings = [line for line in lines if WARNING.search(line)]
    ours = [line for line in warnings if not any(own in line for own in AIRFLOW_OWN_WARNINGS)]
    assert ours == [], "\n".join(ours)
    assert len(lines) <= MAX_LINES, f"{len(lines)} lines:\n" + "\n".join(lines)
    ready = [line for line in lines if "READY" in line]
    assert any(re.search(r"\] Service ser-\w+ is READY \[", line) for line in ready), ready  # as it is
    assert abeja_emulator.state()["services"] == []  # the teardown ran
