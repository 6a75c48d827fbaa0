"""The release artifact: the built wheel, installed (not editable) into a clean venv with Airflow.

Run by ``make test-wheel``, which builds the wheel (``make dist``) and passes its path in
``ABEJA_WHEEL``; skipped otherwise (installing Airflow into a new venv takes a minute, so it stays
out of ``make test``). pip's cache makes the install fast after the first time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
import requests

from abeja_emulator.handle import EmulatorHandle

WHEEL = str(Path(os.environ["ABEJA_WHEEL"]).resolve()) if os.environ.get("ABEJA_WHEEL") else ""
EMULATOR_WHEEL = os.environ.get("ABEJA_EMULATOR_WHEEL", "")
AIRFLOW_VERSION = os.environ.get("AIRFLOW_VERSION", "3.3.2")
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not WHEEL, reason="run by `make test-wheel` (ABEJA_WHEEL names the built wheel)"),
]


def wheel_metadata() -> dict[str, list[str]]:
    with zipfile.ZipFile(WHEEL) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(wheel.read(name).decode())
    return {key: message.get_all(key) or [] for key in set(message.keys())}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding Airflow and the wheel, and nothing of this checkout."""
    root = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"apache-airflow=={AIRFLOW_VERSION}",
            f"{WHEEL}[emulator]",  # the extra names the emulator's distribution...
            str(Path(EMULATOR_WHEEL).resolve()),  # ...which is not on a package index yet
        ],
        check=True,
        cwd=root,  # not the checkout: nothing may be imported from it
    )
    return root / "venv"


def clean_env(home: Path) -> dict[str, str]:
    """The venv's own world: a private AIRFLOW_HOME, no PYTHONPATH pointing at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "ABEJA_"))}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    return env


def test_the_wheels_hold_their_package_and_the_emulator_its_sample_handler() -> None:
    with zipfile.ZipFile(WHEEL) as wheel:
        names = set(wheel.namelist())
    assert "airflow_provider_abeja/py.typed" in names
    assert not any(
        n.startswith(("tests/", "docs/", "example_dags/", "bench/", "abeja_emulator/")) for n in names
    )
    assert not any("/emulator/" in n or "sample_handler" in n for n in names), "the emulator ships on its own"
    with zipfile.ZipFile(EMULATOR_WHEEL) as wheel:
        emulator_names = set(wheel.namelist())
    assert "abeja_emulator/sample_handler/main.py" in emulator_names
    assert any(n.startswith("abeja_emulator/sample_handler/params_") for n in emulator_names)
    assert not any(n.startswith("airflow_provider_abeja/") for n in emulator_names)
    metadata = wheel_metadata()
    classifiers = metadata["Classifier"]
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert any(re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c) for c in classifiers)
    # No placeholder address: the site is not hosted and the repository has no public URL yet.
    assert metadata.get("Project-URL", []) == []


def test_the_sdist_carries_the_docs_the_readme_links_to() -> None:
    """With no hosted site, the sdist is where the documentation travels (MANIFEST.in)."""
    (sdist,) = Path(WHEEL).parent.glob("airflow_provider_abeja-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[-1] for name in archive.getnames()}
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md|CHANGELOG\.md)", (REPO / "README.md").read_text()))
    assert "docs/index.md" in linked
    assert linked <= names, f"the README links to pages the sdist lacks: {sorted(linked - names)}"
    assert not any(n.startswith(("docs/_build/", "docs/_generated/")) for n in names)


def test_airflow_lists_the_installed_provider(venv: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path / "airflow-home")
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import airflow_provider_abeja as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    assert Path(located.stdout.strip()).is_relative_to(venv), "the provider was not imported from the wheel"
    shown = subprocess.run(
        [str(venv / "bin" / "airflow"), "providers", "get", "airflow-provider-abeja", "--full", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    (info,) = json.loads(shown.stdout[shown.stdout.index("[") :])
    assert info["documentation-url"] is None  # rather than an address that leads nowhere
    assert info["package-name"] == "airflow-provider-abeja"
    assert info["connection-types"][0]["connection-type"] == "abeja"


@pytest.fixture
def emulator_from_the_wheel(venv: Path, tmp_path: Path) -> Iterator[EmulatorHandle]:
    """The wheel's `abeja-emulator` script on a free port, stopped (its process group) at the end."""
    process = subprocess.Popen(
        [str(venv / "bin" / "abeja-emulator"), "--port", "0", "--ready-delay", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(tmp_path / "airflow-home"),
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        assert match, f"the emulator did not start: {first!r}"
        handle = EmulatorHandle(match.group(1))
        yield handle
        handle.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_emulator_starts_from_the_wheel_and_serves_its_sample_model(
    emulator_from_the_wheel: EmulatorHandle,
) -> None:
    handle = emulator_from_the_wheel
    service = handle.create_service("9999999999999", "ver-5a3d1e0000000001")
    handle.wait_for_status("9999999999999", service["service_id"], "READY", timeout=60)
    answer = requests.post(
        handle.inference_url("9999999999999", service["service_id"]),
        json={"text": "a great day"},
        auth=handle.auth,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == "positive"  # the sample handler's files came with the wheel


def test_the_readme_emulator_steps_run_the_first_dag_with_the_wheel(
    venv: Path, emulator_from_the_wheel: EmulatorHandle, tmp_path: Path
) -> None:
    """The README's "emulator in three steps", with the wheel's Airflow CLI and its emulator."""
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO / "example_dags" / "abeja_deploy_invoke_teardown.py", dags)
    env = clean_env(tmp_path / "airflow-home")
    env.update(emulator_from_the_wheel.airflow_connection_env("abeja_default"))
    env.update(AIRFLOW__CORE__DAGS_FOLDER=str(dags), ABEJA_EXAMPLE_CHECK_INTERVAL="1")
    airflow = str(venv / "bin" / "airflow")
    for command in (["db", "migrate"], ["dags", "test", "abeja_deploy_invoke_teardown"]):
        done = subprocess.run(
            [airflow, *command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
        )
        assert done.returncode == 0, (
            f"airflow {' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    counters = emulator_from_the_wheel.counters()
    assert (counters["services_created"], counters["services_deleted"]) == (1, 1)
    assert counters["inference_requests"] == 1
