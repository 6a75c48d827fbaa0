"""Runs inside a venv holding abejacli 2.2.8: ABEJA's CLI, unchanged, through a whole deployment,
service, endpoint, version and training lifecycle on the emulator. One named step a line
(``_steps``): what the command printed (parsed when it is JSON); a command the platform refuses
gives its exit code and the HTTP status the CLI logged.

The commands run in this one process through click's test runner (the CLI's own entry point,
``abejacli.run.main``). ``create-endpoint`` and ``update-endpoint`` sleep 15 s before their
request; that pause is skipped here (the requests are unchanged). The CLI's download progress
callback raises on a file under 8 KiB (``progress_status``: ``"%d" % size / 1024``), so the
training result and the version's code carry a 16 KiB weights file, as real ones are bigger.

Environment: ABEJA_API_URL, ABEJA_ORGANIZATION_ID, ABEJA_PLATFORM_USER_ID,
ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN (the CLI reads them at import), HANDLER_DIR, WORK_DIR.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import tarfile
import types
import zipfile
from typing import Any

from _steps import poll, run, step

HANDLER_DIR = os.environ["HANDLER_DIR"]
WORK = os.environ["WORK_DIR"]
NAME = "clients-cli"
#: The sample training handler, then a weights file in the result (see the module's docstring).
TRAIN_WITH_WEIGHTS = """
import os

from train import handler as train


def handler(context):
    train(context)
    with open(os.path.join(os.environ["ABEJA_TRAINING_RESULT_DIR"], "weights.bin"), "wb") as weights:
        weights.write(os.urandom(16384))
"""


class Statuses(logging.Handler):
    """The HTTP status of the last request the CLI logged as failed (``request.url => ...``)."""

    last: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"request\.url\s+=>\s+\S+ \S+ (\d{3}) ", record.getMessage())
        if found:
            Statuses.last = int(found.group(1))


def cli() -> Any:
    import abejacli.run as commands
    from click.testing import CliRunner

    commands.time = types.SimpleNamespace(**{**vars(commands.time), "sleep": lambda seconds: None})
    logging.getLogger("abejacli").addHandler(Statuses())
    runner = CliRunner()

    def abeja(*args: str) -> Any:
        Statuses.last = None
        result = runner.invoke(commands.main, list(args))
        if result.exit_code != 0:
            return {
                "exit_code": result.exit_code,
                "status": Statuses.last,
                "printed": result.output.strip()[-300:],
            }
        try:
            return json.loads(result.output)
        except ValueError:
            return result.output.strip()

    return abeja


def ok(value: Any) -> Any:
    """The printed answer of a command that must succeed (a failed one stops the lifecycle)."""
    if isinstance(value, dict) and "exit_code" in value:
        raise RuntimeError(f"the command failed: {value}")
    return value


def training(abeja: Any) -> str:
    folder = os.path.join(WORK, "training")
    os.makedirs(folder)
    for name in ("train.py", "training_data.jsonl"):
        shutil.copy(os.path.join(HANDLER_DIR, name), folder)
    with open(os.path.join(folder, "train_with_weights.py"), "w") as code:
        code.write(TRAIN_WITH_WEIGHTS)
    with open(os.path.join(folder, "training.yaml"), "w") as config:
        config.write(f"name: {NAME}\nhandler: train_with_weights:handler\nimage: abeja-inc/all-cpu:19.10\n")
    os.chdir(folder)
    step("create_job_definition", lambda: ok(abeja("training", "create-job-definition", "-n", NAME))["name"])
    step(
        "describe_job_definitions",
        lambda: {
            k: v for k, v in ok(abeja("training", "describe-job-definitions")).items() if k != "entries"
        },
    )
    step(
        "describe_job_definition",
        lambda: ok(abeja("training", "describe-job-definitions", "-j", NAME))["name"],
    )
    step(
        "create_version",
        lambda: ok(abeja("training", "create-version", "-j", NAME))["job_definition_version"],
    )
    step("describe_versions", lambda: len(ok(abeja("training", "describe-versions", "-j", NAME))["entries"]))
    step(
        "update_version",
        lambda: ok(abeja("training", "update-version", "-j", NAME, "-d", "first"))["description"],
    )
    job_id = step(
        "create_job",
        lambda: ok(abeja("training", "create-job", "-j", NAME, "--instance-type", "cpu-1"))["id"],
    )

    def job_status() -> str:
        jobs = ok(abeja("training", "describe-jobs", "-j", NAME))["entries"]
        return str(next(j for j in jobs if j["training_job_id"] == job_id)["status"])

    step("job_complete", lambda: poll(job_status, lambda status: status not in ("Pending", "Active")))
    stopped = ok(abeja("training", "create-job", "-j", NAME, "-v", "1"))["training_job_id"]
    step("stop_job", lambda: ok(abeja("training", "stop-job", "-j", NAME, "--job-id", stopped))["message"])

    def download_result() -> list[str]:
        printed = ok(abeja("training", "download-training-result", "-jd", NAME, "-j", job_id))
        file_name = printed.split("Downloaded a file ")[-1].rstrip(".")
        with zipfile.ZipFile(file_name) as result:
            result.extractall("result")
            return [file_name, *sorted(result.namelist())]

    step("download_training_result", download_result)
    model_id = step(
        "create_training_model",
        lambda: ok(abeja("training", "create-training-model", "-j", NAME, "-f", "result/params.json"))["id"],
    )
    step(
        "describe_training_models",
        lambda: [
            m["training_model_id"]
            for m in ok(abeja("training", "describe-training-models", "-j", NAME))["entries"]
        ],
    )
    step(
        "update_training_model",
        lambda: ok(
            abeja("training", "update-training-model", "-j", NAME, "-m", model_id, "-d", "by the CLI")
        )["description"],
    )
    step(
        "download_training_model",
        lambda: (
            "Signature="
            in ok(abeja("training", "download-training-model", "-j", NAME, "-m", model_id))["download_uri"]
        ),
    )
    return model_id


def training_archives(abeja: Any, model_id: str) -> None:
    job_id = ok(abeja("training", "describe-jobs", "-j", NAME))["entries"][-1]["training_job_id"]
    step(
        "archive_job", lambda: ok(abeja("training", "archive-job", "-j", NAME, "--job-id", job_id))["message"]
    )
    step(
        "describe_jobs_excludes_archived", lambda: ok(abeja("training", "describe-jobs", "-j", NAME))["total"]
    )
    step(
        "unarchive_job",
        lambda: ok(abeja("training", "unarchive-job", "-j", NAME, "--job-id", job_id))["message"],
    )
    step(
        "archive_version", lambda: ok(abeja("training", "archive-version", "-j", NAME, "-v", "1"))["message"]
    )
    step(
        "describe_versions_excludes_archived",
        lambda: len(ok(abeja("training", "describe-versions", "-j", NAME))["entries"]),
    )
    step(
        "unarchive_version",
        lambda: ok(abeja("training", "unarchive-version", "-j", NAME, "-v", "1"))["message"],
    )
    step(
        "archive_training_model",
        lambda: ok(abeja("training", "archive-training-model", "-j", NAME, "-m", model_id))["message"],
    )
    step(
        "unarchive_training_model",
        lambda: ok(abeja("training", "unarchive-training-model", "-j", NAME, "-m", model_id))["message"],
    )


def deployment(abeja: Any, model_id: str) -> None:
    code = os.path.join(WORK, "code")
    shutil.copytree(HANDLER_DIR, code)
    with open(os.path.join(code, "weights.bin"), "wb") as weights:
        weights.write(os.urandom(16384))
    os.chdir(code)
    model = ("model",)
    dep = step(
        "create_deployment",
        lambda: ok(abeja(*model, "create-deployment", "-n", "clients-cli", "-d", "made by the CLI"))[
            "deployment_id"
        ],
    )
    step("describe_deployment", lambda: ok(abeja(*model, "describe-deployments", "-d", dep))["description"])
    version_id = step(
        "create_deployment_version",
        lambda: ok(
            abeja(
                *model,
                "create-deployment-version",
                "-d",
                dep,
                "-v",
                "1.0.0",
                "-i",
                "abeja-inc/all-cpu:19.10",
                "-h",
                "main:handler",
            )
        )["version_id"],
    )
    step(
        "describe_deployment_versions",
        lambda: [
            v["version_id"] for v in ok(abeja(*model, "describe-deployment-versions", "-d", dep))["entries"]
        ],
    )

    def download_version() -> list[str]:
        ok(abeja(*model, "download-deployment-version", "-d", dep, "-v", version_id))
        # The CLI prints the name it downloaded to, then renames the file by its compression.
        (file_name,) = glob.glob(f"{dep}_{version_id}.*")
        with tarfile.open(file_name) as archive:
            return [
                file_name,
                *sorted(os.path.basename(n) for n in archive.getnames() if n.endswith("main.py")),
            ]

    step("download_deployment_version", download_version)
    ser = step(
        "create_service",
        lambda: ok(abeja(*model, "create-service", "-d", dep, "-v", version_id, "-m", model_id))[
            "service_id"
        ],
    )
    step(
        "service_ready",
        lambda: poll(
            lambda: ok(abeja(*model, "describe-services", "-d", dep, "-s", ser))["status"],
            lambda status: status in ("READY", "FAILED"),
        ),
    )
    step(
        "describe_services",
        lambda: [s["service_id"] for s in ok(abeja(*model, "describe-services", "-d", dep))["entries"]],
    )
    endpoint = step(
        "create_endpoint",
        lambda: ok(abeja(*model, "create-endpoint", "-d", dep, "-s", ser, "-c", "default"))["endpoint_id"],
    )
    step(
        "describe_endpoints",
        lambda: [e["service_id"] for e in ok(abeja(*model, "describe-endpoints", "-d", dep))["entries"]],
    )
    step(
        "update_endpoint",
        lambda: ok(abeja(*model, "update-endpoint", "-d", dep, "-s", ser, "-e", endpoint))["message"],
    )
    step(
        "describe_service_logs",
        lambda: (
            len(
                ok(
                    abeja(
                        *model,
                        "describe-service-logs",
                        "-d",
                        dep,
                        "-s",
                        ser,
                        "--start-time",
                        "2000-01-01T00:00:00Z",
                    )
                )["events"]
            )
            > 0
        ),
    )
    step(
        "delete_deployment_version_in_use_refused",
        lambda: abeja(*model, "delete-deployment-version", "-d", dep, "-v", version_id),
    )
    step("delete_deployment_in_use_refused", lambda: abeja(*model, "delete-deployment", "-d", dep))
    step("stop_service", lambda: ok(abeja(*model, "stop-service", "-d", dep, "-s", ser))["message"])
    step("start_service", lambda: ok(abeja(*model, "start-service", "-d", dep, "-s", ser))["message"])
    step(
        "delete_endpoint", lambda: ok(abeja(*model, "delete-endpoint", "-d", dep, "-e", endpoint))["message"]
    )
    step("delete_service", lambda: ok(abeja(*model, "delete-service", "-d", dep, "-s", ser))["message"])
    step(
        "delete_deployment_version",
        lambda: ok(abeja(*model, "delete-deployment-version", "-d", dep, "-v", version_id))["message"],
    )
    step("delete_deployment", lambda: ok(abeja(*model, "delete-deployment", "-d", dep))["message"])
    step("deployment_gone", lambda: abeja(*model, "describe-deployments", "-d", dep))


def lifecycle() -> None:
    abeja = cli()
    model_id = training(abeja)
    deployment(abeja, model_id)
    training_archives(abeja, model_id)


if __name__ == "__main__":
    run(lifecycle)
