"""The README's install block, run as written: in a clean venv, from a fresh copy of the clone.

The run is ``make test-wheel``'s (``ABEJA_WHEEL`` set), skipped otherwise like ``test_wheel.py``:
installing Airflow into a new venv takes a minute or two, so it stays out of ``make test``, which
checks only what the block says.

What is checked: the block's own lines (Airflow's version, the Python version, the constraints URL,
the ``pip install`` line) run unchanged with bash in a new venv, in a copy of the files git tracks
(what a clone holds); pip resolves them; Airflow, the provider and the emulator then import from
the venv (not from the copy), ``pip check`` is clean and Airflow is the version the block names.

What may not be: Airflow's constraints file itself. When its host cannot be reached (this
machine reaches package registries only), the constraints URL is replaced by a local file, the
``pip freeze`` of the environment the suite runs in (Airflow at the version the block names, as
tested), and the test says so in a warning. A reachable URL is always used as it is: a missing
constraints file for the version then fails the test, as it would fail a user.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- install: tests/docs/test_install_line.py"

OWN_DISTRIBUTIONS = ("airflow-provider-abeja==", "abeja-platform-emulator==")
#: Variables the new venv must not inherit from the suite's environment.
INHERITED = ("AIRFLOW", "PYTHON", "ABEJA_", "PIP_CONSTRAINT")


def install_block() -> str:
    """The bash block that follows the README's install marker."""
    readme = (REPO / "README.md").read_text()
    found = re.search(re.escape(MARKER) + r".*?-->\n```bash\n(.*?)^```$", readme, re.S | re.M)
    assert found, f"README.md has no ```bash block after {MARKER!r}"
    return found.group(1)


def test_the_install_block_names_airflow_its_constraints_and_the_emulator() -> None:
    """Cheap, always meaningful: what the block says (the run below checks that it works)."""
    block = install_block()
    assert re.search(r"^AIRFLOW_VERSION=\d+\.\d+\.\d+\b", block, re.M)
    constraint = re.search(r'^CONSTRAINT_URL="(.+)"$', block, re.M)
    assert constraint
    assert constraint.group(1).startswith(
        "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-"
    )
    assert '--constraint "${CONSTRAINT_URL}"' in block
    assert '"apache-airflow==${AIRFLOW_VERSION}" ./emulator ".[emulator]"' in block


def _evaluate(block: str, name: str, env: dict[str, str]) -> str:
    """The value the block's assignments give ``name`` (the block's lines before its pip line)."""
    assignments = "\n".join(line for line in block.splitlines() if not line.startswith("pip "))
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f'{assignments}\nprintf %s "${{{name}}}"'],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout


def _reachable(url: str) -> bool:
    try:
        requests.head(url, timeout=10, allow_redirects=True)
    except requests.exceptions.ConnectionError:  # DNS failure, refused, unreachable
        return False
    return True


def _tested_constraints(path: Path, airflow_version: str) -> Path:
    """The stand-in constraints: the versions of the environment the suite runs in."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    pins = [line for line in frozen if "==" in line and not line.lower().startswith(OWN_DISTRIBUTIONS)]
    if f"apache-airflow=={airflow_version}" not in pins:
        pytest.skip(f"the suite's environment has no Airflow {airflow_version}: no stand-in constraints")
    path.write_text("\n".join(pins) + "\n")
    return path


def _tracked_copy(target: Path) -> Path:
    """The files git tracks, as a fresh clone holds them (no build leftovers, no .venv)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a new venv with Airflow: minutes on a busy machine
@pytest.mark.skipif(not os.environ.get("ABEJA_WHEEL"), reason="run by `make test-wheel`")
def test_the_readme_install_block_installs_airflow_the_provider_and_the_emulator(tmp_path: Path) -> None:
    block = install_block()
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    bin_dir = tmp_path / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED)}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(tmp_path / "venv"))
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow-home")  # a new machine's: no airflow.cfg yet
    airflow_version = _evaluate(block, "AIRFLOW_VERSION", env)
    url = _evaluate(block, "CONSTRAINT_URL", env)
    run_block = block
    if not _reachable(url):
        local = _tested_constraints(tmp_path / "constraints.txt", airflow_version)
        assignment = next(line for line in block.splitlines() if line.startswith("CONSTRAINT_URL="))
        run_block = block.replace(assignment, f'CONSTRAINT_URL="{local}"')
        warnings.warn(
            f"{url} cannot be reached from here: the README's install line ran with a local "
            f"constraints file instead (pip freeze of the suite's environment, Airflow {airflow_version}); "
            "everything else ran as written",
            UserWarning,
            stacklevel=1,
        )
    clone = _tracked_copy(tmp_path / "clone")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", run_block], capture_output=True, text=True, env=env, cwd=clone
    )
    assert done.returncode == 0, f"the install block failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"

    elsewhere = tmp_path / "elsewhere"  # not the clone: nothing may be imported from it
    elsewhere.mkdir()
    shown = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import airflow, airflow_provider_abeja as p, abeja_emulator as e; "
            "print(airflow.__version__); print(p.__file__); print(e.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    version, provider, emulator = shown.stdout.splitlines()[-3:]  # after any warning Airflow logs
    assert version == airflow_version
    assert Path(provider).is_relative_to(tmp_path / "venv")
    assert Path(emulator).is_relative_to(tmp_path / "venv")
    pip_check = [str(bin_dir / "python"), "-m", "pip", "check"]
    checked = subprocess.run(pip_check, capture_output=True, text=True, env=env, cwd=elsewhere)
    assert checked.returncode == 0, checked.stdout[-3000:]
