"""The `airflow` CLI sees the provider and tests an `abeja` connection against the emulator.

An Airflow CLI start costs about 2 s, so the `providers` and `connections test` commands run one
after another in a single interpreter through the `airflow` entry point (`airflow.__main__.main`,
what the console script calls); one real `airflow` process beside it covers the console script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_abeja

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

PROVIDER_COMMANDS = {
    "list": ["providers", "list", "-o", "json"],
    "get": ["providers", "get", "airflow-provider-abeja", "--full", "-o", "json"],
    "hooks": ["providers", "hooks", "-o", "json"],
    "behaviours": ["providers", "behaviours", "-o", "json"],
    "triggers": ["providers", "triggers", "-o", "json"],
}
CONNECTION_COMMANDS = {
    "ok": ["connections", "test", "abeja_cli_ok"],
    "bad": ["connections", "test", "abeja_cli_bad"],
}

# Runs several CLI commands in one interpreter; prints {name: {"code", "stdout"}} as the last line.
_RUNNER = """
import contextlib, io, json, sys
from airflow.__main__ import main
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    buffer, code = io.StringIO(), 0
    sys.argv = ["airflow", *argv]
    with contextlib.redirect_stdout(buffer):
        try:
            code = main() or 0
        except SystemExit as exc:
            code = exc.code or 0
    results[name] = {"code": code, "stdout": buffer.getvalue()}
print(json.dumps(results))
"""


def _airflow() -> str:
    found = Path(sys.executable).with_name("airflow")
    return str(found) if found.exists() else shutil.which("airflow") or "airflow"


def _json(stdout: str) -> list[dict]:
    """The JSON list printed by `-o json` (log lines may surround it)."""
    for line in stdout.splitlines():
        if line.startswith(("[{", "[]")):
            return json.loads(line)
    raise AssertionError(f"no JSON list in the output:\n{stdout[-2000:]}")


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cli(abeja_emulator_process):
    emulator = abeja_emulator_process.handle
    env = {
        **os.environ,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        **emulator.airflow_connection_env("abeja_cli_ok"),
        "AIRFLOW_CONN_ABEJA_CLI_BAD": json.dumps(
            {**emulator.airflow_connection("abeja_cli_bad"), "password": "wrong-cli-token-42"}
        ),
    }
    run = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}
    commands = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, json.dumps({**PROVIDER_COMMANDS, **CONNECTION_COMMANDS})],
        **run,  # type: ignore[call-overload]
    )
    # One real `airflow` process too, so the console script itself is covered.
    script = subprocess.Popen(
        [_airflow(), "providers", "get", "airflow-provider-abeja", "-o", "json"],
        **run,  # type: ignore[call-overload]
    )
    out, err = _finish(commands)
    assert commands.returncode == 0, err[-3000:]
    results = json.loads(out.splitlines()[-1])
    script_out, script_err = _finish(script)
    results["script"] = {"code": script.returncode, "stdout": script_out, "stderr": script_err[-3000:]}
    return results


def test_airflow_console_script_lists_the_provider(cli):
    assert cli["script"]["code"] == 0, cli["script"]["stderr"]
    expected = [{"Provider": "airflow-provider-abeja", "Version": airflow_provider_abeja.__version__}]
    assert _json(cli["script"]["stdout"]) == expected


def test_providers_list_and_get(cli):
    assert all(cli[name]["code"] == 0 for name in PROVIDER_COMMANDS), cli
    (listed,) = [p for p in _json(cli["list"]["stdout"]) if p["package_name"] == "airflow-provider-abeja"]
    assert listed["version"] == airflow_provider_abeja.__version__
    (info,) = _json(cli["get"]["stdout"])
    assert info["package-name"] == "airflow-provider-abeja"
    assert info["integrations"][0]["integration-name"] == "ABEJA Platform"
    assert info["connection-types"][0]["connection-type"] == "abeja"


def test_providers_hooks_behaviours_triggers(cli):
    (hook,) = [h for h in _json(cli["hooks"]["stdout"]) if h["connection_type"] == "abeja"]
    assert hook == {
        "connection_type": "abeja",
        "class": "airflow_provider_abeja.hooks.abeja.AbejaHook",
        "conn_id_attribute_name": "abeja_conn_id",
        "package_name": "airflow-provider-abeja",
        "hook_name": "ABEJA Platform",
    }
    assert {"field_behaviours": "abeja"} in _json(cli["behaviours"]["stdout"])
    triggers = [t for t in _json(cli["triggers"]["stdout"]) if t["package_name"] == "airflow-provider-abeja"]
    assert sorted(t["class"] for t in triggers) == [
        "airflow_provider_abeja.triggers.runs",
        "airflow_provider_abeja.triggers.service",
        "airflow_provider_abeja.triggers.training",
    ]


def test_connections_test_against_the_emulator(cli):
    assert cli["ok"]["code"] == 0, cli["ok"]["stdout"]
    assert "Connection success" in cli["ok"]["stdout"]
    assert cli["bad"]["code"] == 1
    assert "Connection failed" in cli["bad"]["stdout"]
    assert "Unauthorized" in cli["bad"]["stdout"]
    assert "wrong-cli-token-42" not in cli["bad"]["stdout"]
