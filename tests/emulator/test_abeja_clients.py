"""ABEJA's own tools, unchanged, through whole lifecycles on the emulator: abejacli 2.2.8 and the
SDK's high-level objects (abeja-sdk 2.3.6), each in its own venv.

Each lifecycle is one process (``clients/*_lifecycle.py``) printing one named step a line; each
step is a test here, so a missing field, id or route fails the step that reads it. Steps the
platform refuses (deleting what is in use) must be refused.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from abeja_emulator import EmulatorProcess
from abeja_emulator.sample import SAMPLE_HANDLER_DIR

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

LIFECYCLES = Path(__file__).with_name("clients")
Steps = dict[str, dict[str, Any]]
Check = Callable[[Any, dict[str, Any]], bool]


def numeric_id(value: Any, steps: dict[str, Any]) -> bool:
    return isinstance(value, str) and value.isdigit() and len(value) == 13


def prefixed(prefix: str) -> Check:
    return lambda value, steps: isinstance(value, str) and value.startswith(prefix)


def refused(status: int) -> Check:
    """A refusal: the SDK's HttpError status, or the CLI's failed exit and the status it logged."""
    return lambda value, steps: value.get("status") == status and value.get("exit_code", 1) != 0


def said(template: str) -> Check:
    """An answer message naming ids of earlier steps: ``{step_name}`` fills in that step's value."""
    return lambda value, steps: value == template.format(**steps)


def run_lifecycle(
    process: EmulatorProcess, python: Path, script: str, work: Path, env: dict[str, str]
) -> Steps:
    if not process.running:
        process.start()
    handle = process.handle
    handle.reset()
    base = {
        "ABEJA_API_URL": handle.url,
        "ABEJA_ORGANIZATION_ID": handle.organization_id,
        "HANDLER_DIR": SAMPLE_HANDLER_DIR,
        "WORK_DIR": str(work),
        "HOME": str(work),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [str(python), str(LIFECYCLES / script)],
        env={**base, **env},
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    steps: Steps = {}
    for line in done.stdout.splitlines():
        if line.startswith('{"step"'):
            record = json.loads(line)
            steps[record["step"]] = record
    if not steps:
        pytest.fail(f"{script} printed no step (exit {done.returncode}): {done.stderr[-2000:]}")
    return steps


def check_step(steps: Steps, name: str, expected: Any) -> None:
    record = steps.get(name)
    if record is None:
        failed = [r for r in steps.values() if "error" in r]
        pytest.fail(f"step {name} was not reached; {failed[0] if failed else 'the script stopped before it'}")
    assert "error" not in record, f"step {name} failed: {record['error']}"
    values = {key: r.get("value") for key, r in steps.items()}
    if callable(expected):
        assert expected(record["value"], values), f"step {name}: unexpected {record['value']!r}"
    else:
        assert record["value"] == expected, f"step {name}"


SDK_STEPS: dict[str, Any] = {
    "definition_create": numeric_id,
    "definition_get_by_id": "clients-sentiment",
    "definitions_list": ["sample-sentiment", "clients-sentiment"],
    "definitions_total": 2,
    "version_create": 1,
    "versions_total": 1,
    "version_update": "first",
    "job_create": numeric_id,
    "job_complete": "Complete",
    "job_definition_of_job": "clients-sentiment",
    "job_stop": "Stopped",
    "jobs_total": 2,
    "jobs_listed": True,
    "job_artifacts": ["params.json"],
    "model_create": numeric_id,
    "models_list": True,
    "models_total": 1,
    "model_update": "trained by the SDK",
    "model_download": ["params.json"],
    "deployment_create": numeric_id,
    "deployment_description": "made by the SDK",
    "deployment_patch": {"TIER": "canary"},
    "deployment_version_upload": prefixed("ver-"),
    "deployment_versions_list": lambda value, steps: value == [steps["deployment_version_upload"]],
    "service_create": prefixed("ser-"),
    "service_ready": "READY",
    "service_answers": "positive",
    "endpoint_create": lambda value, steps: value == steps["service_create"],
    "endpoints_list": lambda value, steps: value == [steps["service_create"]],
    "service_recent_logs": True,
    "deployment_version_download": ["broken.py", "main.py", "train.py"],
    "deployment_version_in_use_delete_refused": refused(409),
    "deployment_in_use_delete_refused": refused(409),
    "endpoint_delete": lambda value, steps: value.startswith("pnt-") and value.endswith(" deleted"),
    "service_stop": said("{service_create} stopped"),
    "service_delete": said("{service_create} deleted"),
    "deployment_version_delete": said("{deployment_version_upload} deleted"),
    "deployment_delete": said("{deployment_create} deleted"),
    "deployment_gone": refused(404),
    "version_in_use_delete_refused": refused(409),
    "unused_version_deleted": 1,
    "version_archive": [True, 0, False],
    "job_archive": [True, 1],
    "model_archive": [True, 0, False],
    "definition_delete_refused": refused(409),
    "definition_archive": [True, 1],
    "empty_definition_deleted": refused(404),
}

CLI_STEPS: dict[str, Any] = {
    "create_job_definition": "clients-cli",
    "describe_job_definitions": {"limit": 2, "offset": 0, "total": 2},
    "describe_job_definition": "clients-cli",
    "create_version": 1,
    "describe_versions": 1,
    "update_version": "first",
    "create_job": numeric_id,
    "job_complete": "Complete",
    "stop_job": lambda value, steps: value.startswith("clients-cli:") and value.endswith(" stopped"),
    "download_training_result": lambda value, steps: (
        value
        == [f"clients-cli_{steps['create_job']}_{steps['create_job']}.zip", "params.json", "weights.bin"]
    ),
    "create_training_model": numeric_id,
    "describe_training_models": lambda value, steps: value == [steps["create_training_model"]],
    "update_training_model": "by the CLI",
    "download_training_model": True,
    "create_deployment": numeric_id,
    "describe_deployment": "made by the CLI",
    "create_deployment_version": prefixed("ver-"),
    "describe_deployment_versions": lambda value, steps: value == [steps["create_deployment_version"]],
    "download_deployment_version": lambda value, steps: (
        value == [f"{steps['create_deployment']}_{steps['create_deployment_version']}.tar.gz", "main.py"]
    ),
    "create_service": prefixed("ser-"),
    "service_ready": "READY",
    "describe_services": lambda value, steps: value == [steps["create_service"]],
    "create_endpoint": prefixed("pnt-"),
    "describe_endpoints": lambda value, steps: value == [steps["create_service"]],
    "update_endpoint": said("{create_endpoint} updated"),
    "describe_service_logs": True,
    "delete_deployment_version_in_use_refused": refused(409),
    "delete_deployment_in_use_refused": refused(409),
    "stop_service": said("{create_service} stopped"),
    "start_service": said("{create_service} started"),
    "delete_endpoint": said("{create_endpoint} deleted"),
    "delete_service": said("{create_service} deleted"),
    "delete_deployment_version": said("{create_deployment_version} deleted"),
    "delete_deployment": said("{create_deployment} deleted"),
    "deployment_gone": refused(404),
    "archive_job": lambda value, steps: value.startswith("clients-cli:") and value.endswith(" archived"),
    "describe_jobs_excludes_archived": 1,
    "unarchive_job": lambda value, steps: value.endswith(" unarchived"),
    "archive_version": "archived",
    "describe_versions_excludes_archived": 0,
    "unarchive_version": "unarchived",
    "archive_training_model": said("clients-cli:{create_training_model} archived"),
    "unarchive_training_model": said("clients-cli:{create_training_model} unarchived"),
}


@pytest.fixture(scope="module")
def sdk_steps(
    abeja_emulator_process: EmulatorProcess, abeja_sdk_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Steps:
    handle = abeja_emulator_process.handle
    env = {"SDK_CREDENTIAL": json.dumps(handle.credential)}
    work = tmp_path_factory.mktemp("sdk-objects")
    return run_lifecycle(abeja_emulator_process, abeja_sdk_python, "sdk_objects_lifecycle.py", work, env)


@pytest.fixture(scope="module")
def cli_steps(
    abeja_emulator_process: EmulatorProcess, abejacli_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Steps:
    handle = abeja_emulator_process.handle
    env = {
        "ABEJA_PLATFORM_USER_ID": handle.credential["user_id"],
        "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN": handle.credential["personal_access_token"],
        "LOG_LEVEL": "CRITICAL",  # the CLI's stderr log; failures are read from its logger
    }
    work = tmp_path_factory.mktemp("abejacli")
    return run_lifecycle(abeja_emulator_process, abejacli_python, "cli_lifecycle.py", work, env)


@pytest.mark.parametrize("name", list(SDK_STEPS))
def test_sdk_objects_lifecycle(sdk_steps: Steps, name: str) -> None:
    check_step(sdk_steps, name, SDK_STEPS[name])


def test_sdk_objects_lifecycle_has_no_unchecked_step(sdk_steps: Steps) -> None:
    assert list(sdk_steps) == list(SDK_STEPS)


@pytest.mark.parametrize("name", list(CLI_STEPS))
def test_abejacli_lifecycle(cli_steps: Steps, name: str) -> None:
    check_step(cli_steps, name, CLI_STEPS[name])


def test_abejacli_lifecycle_has_no_unchecked_step(cli_steps: Steps) -> None:
    assert list(cli_steps) == list(CLI_STEPS)


def test_presigned_urls_are_signed_and_expire(abeja_emulator: Any) -> None:
    """A result URL carries Expires and Signature; altered or expired, it answers 403."""
    dep, ver = "9999999999999", "ver-5a3d1e0000000001"
    url = abeja_emulator.api_url(f"deployments/{dep}/versions/{ver}/download")
    fresh = requests.get(url, auth=abeja_emulator.auth, timeout=30).json()["download_uri"]
    assert "?Expires=" in fresh
    assert "&Signature=" in fresh
    assert requests.get(fresh, timeout=30).status_code == 200
    assert requests.get(fresh.replace("Signature=", "Signature=0"), timeout=30).status_code == 403
    assert requests.get(fresh.split("?")[0], timeout=30).status_code == 403
    abeja_emulator.configure(presigned_url_ttl=0)
    expired = requests.get(url, auth=abeja_emulator.auth, timeout=30).json()["download_uri"]
    answer = requests.get(expired, timeout=30)
    assert (answer.status_code, answer.json()["error_description"]) == (403, "Request has expired")
