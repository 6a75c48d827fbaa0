"""The emulated Training API: job definitions, versions, jobs that really run, trained models;
and the code upload of platform-style deployment versions.

A job goes ``Pending`` -> ``Active`` -> ``Complete`` / ``Failed`` (``Stopped`` when stopped), as
the SDK's ``JobStatus`` names them. Its handler runs in its own process (``runtime_process``, as services do)
with the platform's environment: ``ABEJA_TRAINING_RESULT_DIR``, ``DATASETS``, ``CONTEXT``,
``HANDLER``, ``TRAINING_JOB_ID``, ``TRAINING_JOB_DEFINITION_NAME``,
``TRAINING_JOB_DEFINITION_VERSION``, ``ABEJA_ORGANIZATION_ID``, ``ABEJA_API_URL`` and a
credential of the emulator (so a handler can post its statistics), then the version's and the
job's environment. Its output is the job's log; what it leaves in the result directory is the
job's result (a zip behind a pre-signed-style URL) and can become a trained model. A service
created with ``models: {"alias": model_id}`` gets that model's files in its
``ABEJA_TRAINING_RESULT_DIR`` (``model_folder``).

Training state lives in memory and in a temporary folder: it does not survive an emulator
restart (running jobs die with the emulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .archives import extract
from .errors import ApiError, bad_request, in_use, not_found
from .ids import new_numeric_id, now_ts
from .paging import paged
from .presign import Artifact
from .runtime_process import InstanceFolders, PlatformProcess, platform_environment, start_platform_process
from .sample import SAMPLE_HANDLER_DIR, SAMPLE_JOB_DEFINITION

#: The training runtime script (the model proxy's ``training`` command, as this emulator runs it).
TRAINING_RUNTIME = Path(__file__).with_name("training_runtime.py")

if TYPE_CHECKING:
    from .core import Emulator

PENDING, ACTIVE, STOPPED, COMPLETE, FAILED = "Pending", "Active", "Stopped", "Complete", "Failed"
JOB_RUNNING = (PENDING, ACTIVE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: Seconds a stopped handler gets between SIGTERM and SIGKILL.
STOP_GRACE = 3.0
#: Jobs in one listing without a ``limit``, as the platform answers (ABEJA's SDK documents 10).
JOB_PAGE_DEFAULT = 10


@dataclass
class JobDefinition:
    job_definition_id: str
    organization_id: str
    name: str
    created_at: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    archived: bool = False
    modified_at: str = ""
    #: the number of the last version made: numbers are never reused after a delete
    last_version: int = 0

    def wire(self, jobs: list[dict[str, Any]] | None = None, model_count: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job_definition_id": self.job_definition_id,
            "organization_id": self.organization_id,
            "name": self.name,
            "version_count": len(self.versions),
            "model_count": model_count,
            "notebook_count": 0,
            "tensorboard_count": 0,
            "versions": [dict(v) for v in self.versions],
            "archived": self.archived,
            "created_at": self.created_at,
            "modified_at": self.modified_at or self.created_at,
        }
        if jobs is not None:
            data["jobs"] = jobs
        return data


@dataclass
class Job:
    wire: dict[str, Any]
    definition: JobDefinition
    folder: Path
    process: PlatformProcess | None = None
    task: asyncio.Task[None] | None = None
    stop_requested: bool = False

    @property
    def job_id(self) -> str:
        return str(self.wire["training_job_id"])


class TrainingPlatform:
    """All training state of one emulator (used from its event loop only)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self.root = Path(tempfile.mkdtemp(prefix="abeja-emulator-training-"))
        self.definitions: dict[tuple[str, str], JobDefinition] = {}
        self.jobs: dict[str, Job] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.model_dirs: dict[str, Path] = {}
        self.seed_sample()

    def seed_sample(self) -> None:
        """The sample job definition (``sample.SAMPLE_JOB_DEFINITION``): version 1 trains the
        sample model (``train:handler`` in the sample handler's folder)."""
        if not self.emu.sample:
            return
        org = self.emu.config.organization_id
        self.create_definition(org, {"name": SAMPLE_JOB_DEFINITION})
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            for path in sorted(Path(SAMPLE_HANDLER_DIR).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(SAMPLE_HANDLER_DIR).as_posix())
        parts = {
            "source_code": ("application/zip", data.getvalue()),
            "parameters": (
                "application/json",
                b'{"handler": "train:handler", "description": "sample model"}',
            ),
        }
        self.create_version(org, SAMPLE_JOB_DEFINITION, parts)

    # ----- lifecycle of the emulator ---------------------------------------------------------------

    async def reset(self) -> None:
        await self.shutdown()
        self.root = Path(tempfile.mkdtemp(prefix="abeja-emulator-training-"))
        self.seed_sample()

    async def shutdown(self) -> None:
        await asyncio.gather(*(self._kill(job) for job in list(self.jobs.values())))
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()
        for mapping in (
            self.definitions,
            self.jobs,
            self.models,
            self.model_dirs,
        ):
            mapping.clear()  # type: ignore[attr-defined]
        shutil.rmtree(self.root, ignore_errors=True)

    def counters(self) -> dict[str, int]:
        statuses = [job.wire["status"] for job in self.jobs.values()]
        keys = ("training_jobs_created", "training_jobs_stopped", "training_models_created")
        data = {key: self.emu.counters.get(key, 0) for key in keys}
        data["training_jobs_running"] = sum(1 for s in statuses if s in JOB_RUNNING)
        data["training_jobs_total"] = len(statuses)
        data["training_processes_running"] = sum(
            1 for job in self.jobs.values() if job.process is not None and job.process.returncode is None
        )
        return data

    # ----- job definitions and versions ------------------------------------------------------------

    def definition(self, org: str, name: str) -> JobDefinition:
        """A definition by its name or by its id (the SDK's objects address it by either)."""
        found = self.definitions.get((org, name))
        if found is None:
            found = next(
                (d for (o, _), d in self.definitions.items() if o == org and d.job_definition_id == name),
                None,
            )
        if found is None:
            raise not_found(f"training job definition {name} not found")
        return found

    def create_definition(self, org: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise bad_request("name must be letters, digits, '_', '-' or '.'")
        if (org, name) in self.definitions:
            raise ApiError(409, f"training job definition {name} already exists", "conflict")
        definition = JobDefinition(new_numeric_id(), org, name, now_ts())
        self.definitions[(org, name)] = definition
        return definition.wire()

    def list_definitions(self, org: str, query: Mapping[str, str]) -> dict[str, Any]:
        chosen = [d for (o, _), d in self.definitions.items() if o == org]
        return paged([d.wire(model_count=self._model_count(d)) for d in chosen], query)

    def get_definition(self, org: str, name: str, include_jobs: bool) -> dict[str, Any]:
        definition = self.definition(org, name)
        jobs = [j.wire for j in self.jobs.values() if j.definition is definition] if include_jobs else None
        return definition.wire(jobs, self._model_count(definition))

    def _model_count(self, definition: JobDefinition) -> int:
        key = (definition.organization_id, definition.name)
        return sum(1 for m in self.models.values() if (m["_organization_id"], m["_definition"]) == key)

    def set_definition_archived(self, org: str, name: str, archived: bool) -> dict[str, Any]:
        definition = self.definition(org, name)
        definition.archived = archived
        definition.modified_at = now_ts()
        return {"message": f"{definition.name} {'archived' if archived else 'unarchived'}"}

    def delete_definition(self, org: str, name: str) -> dict[str, Any]:
        """Only an empty definition goes: its versions (and so its jobs) must be deleted first."""
        definition = self.definition(org, name)
        if definition.versions:
            raise ApiError(
                409,
                f"training job definition {definition.name} has {len(definition.versions)} version(s); "
                "delete them first",
                "conflict",
            )
        if self._model_count(definition):
            raise ApiError(409, f"training job definition {definition.name} has trained models", "conflict")
        del self.definitions[(definition.organization_id, definition.name)]
        return {"message": f"{definition.name} deleted"}

    def create_version(self, org: str, name: str, parts: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        definition = self.definition(org, name)
        if "source_code" not in parts or "parameters" not in parts:
            raise bad_request("multipart parts source_code and parameters are required")
        try:
            parameters = json.loads(parts["parameters"][1] or b"{}")
        except ValueError:
            raise bad_request("parameters must be JSON") from None
        if not isinstance(parameters, dict):
            raise bad_request("parameters must be a JSON object")
        handler = parameters.get("handler")
        if not isinstance(handler, str) or not _HANDLER.match(handler):
            raise bad_request("handler must look like module:function")
        number = definition.last_version + 1
        folder = self.root / "definitions" / definition.job_definition_id / str(number)
        extract(parts["source_code"][1], folder, self.emu.limits)
        stamp = now_ts()
        version = {
            "job_definition_version": number,
            "job_definition_id": definition.job_definition_id,
            "handler": handler,
            "image": str(parameters.get("image") or "abeja-inc/all-cpu:23.02"),
            "environment": _str_map(parameters.get("environment"), "environment"),
            "user_parameters": {},
            "datasets": {},
            "description": str(parameters.get("description") or ""),
            "archived": False,
            "created_at": stamp,
            "modified_at": stamp,
        }
        definition.versions.append(version)
        definition.last_version = number
        return dict(version)

    def _version(self, org: str, name: str, number: str) -> dict[str, Any]:
        definition = self.definition(org, name)
        for version in definition.versions:
            if number.isdigit() and version["job_definition_version"] == int(number):
                return version
        raise not_found(f"version {number} of {name} not found")

    def get_version(self, org: str, name: str, number: str) -> dict[str, Any]:
        return dict(self._version(org, name, number))

    def list_versions(self, org: str, name: str, query: Mapping[str, str]) -> dict[str, Any]:
        return paged(self.definition(org, name).wire()["versions"], query)

    def update_version(self, org: str, name: str, number: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: the ``description`` (the only field the SDK and the CLI change)."""
        version = self._version(org, name, number)
        version["description"] = _description(body)
        version["modified_at"] = now_ts()
        return dict(version)

    def set_version_archived(self, org: str, name: str, number: str, archived: bool) -> dict[str, Any]:
        version = self._version(org, name, number)
        version["archived"] = archived
        version["modified_at"] = now_ts()
        return {"message": "archived" if archived else "unarchived"}

    def delete_version(self, org: str, name: str, number: str) -> dict[str, Any]:
        """A version no job was made from goes; one with jobs is kept (archive it instead)."""
        definition = self.definition(org, name)
        version = self._version(org, name, number)
        used = [
            j.job_id
            for j in self.jobs.values()
            if j.definition is definition
            and j.wire["job_definition_version"] == version["job_definition_version"]
        ]
        if used:
            raise in_use(f"version {number} of {definition.name}", used, "training job", "archive it instead")
        definition.versions.remove(version)
        shutil.rmtree(self.root / "definitions" / definition.job_definition_id / number, ignore_errors=True)
        return {"message": "deleted"}

    # ----- jobs ------------------------------------------------------------------------------------

    def job(self, org: str, name: str, job_id: str) -> Job:
        definition = self.definition(org, name)
        found = self.jobs.get(job_id)
        if found is None or found.definition is not definition:
            raise not_found(f"training job {job_id} not found")
        return found

    def create_job(self, org: str, name: str, number: str, body: dict[str, Any]) -> dict[str, Any]:
        version = self.get_version(org, name, number)
        definition = self.definition(org, name)
        environment = _str_map(body.get("environment", body.get("user_parameters")), "environment")
        datasets = _str_map(body.get("datasets"), "datasets")
        for alias, dataset_id in datasets.items():
            if not dataset_id.isdigit():
                raise bad_request(f"datasets.{alias}: dataset id must be digits")
        stamp = now_ts()
        job_id = new_numeric_id()
        wire = {
            "id": job_id,
            "training_job_id": job_id,
            "job_definition_id": definition.job_definition_id,
            "job_definition_version": version["job_definition_version"],
            "status": PENDING,
            "status_message": None,
            "instance_type": str(body.get("instance_type") or "cpu-1"),
            "environment": environment,
            "user_parameters": environment,
            "datasets": datasets,
            "description": body.get("description"),
            "statistics": None,
            "archived": False,
            "start_time": None,
            "completion_time": None,
            "created_at": stamp,
            "modified_at": stamp,
            "creator": {"id": "1000000000000", "email": "emulator@example.invalid", "role": "admin"},
        }
        folder = self.root / "jobs" / wire["training_job_id"]
        job = Job(wire, definition, folder)
        self.jobs[job.job_id] = job
        self.emu.counters["training_jobs_created"] += 1
        self._log(job, f"[emulator] training job created from {name} version {number}; status {PENDING}")
        job.task = asyncio.create_task(self._run(job, version))
        return dict(wire)

    def list_jobs(self, org: str, name: str, query: Mapping[str, str]) -> dict[str, Any]:
        definition = self.definition(org, name)
        jobs = [j.wire for j in self.jobs.values() if j.definition is definition]
        jobs.sort(key=lambda wire: wire["created_at"], reverse=True)
        return paged(jobs, query, default_limit=JOB_PAGE_DEFAULT)

    def set_job_archived(self, org: str, name: str, job_id: str, archived: bool) -> dict[str, Any]:
        job = self.job(org, name, job_id)
        if archived and job.wire["status"] in JOB_RUNNING:
            raise bad_request(f"training job {job_id} is still {job.wire['status']}; stop it first")
        job.wire["archived"] = archived
        job.wire["modified_at"] = now_ts()
        return {"message": f"{job.definition.name}:{job_id} {'archived' if archived else 'unarchived'}"}

    async def stop_job(self, org: str, name: str, job_id: str) -> dict[str, Any]:
        job = self.job(org, name, job_id)
        if job.wire["status"] not in JOB_RUNNING:
            raise bad_request(f"training job {job_id} is not running ({job.wire['status']})")
        job.stop_requested = True
        self._set_status(job, STOPPED, "[emulator] training job stopped")
        self.emu.counters["training_jobs_stopped"] += 1
        await self._kill(job)
        return {"message": f"{job.definition.name}:{job_id} stopped"}

    def result(self, org: str, name: str, job_id: str) -> dict[str, Any]:
        job = self.job(org, name, job_id)
        archive = job.folder / "result.zip"
        if job.wire["status"] != COMPLETE or not archive.exists():
            return {"artifacts": {}}
        artifact = Artifact(f"{job_id}.zip", archive.read_bytes, "application/zip")
        return {"artifacts": {"complete": {"uri": self.emu.presigned_url(artifact)}}}

    def update_statistics(self, org: str, name: str, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        job = self.job(org, name, job_id)
        statistics = body.get("statistics")
        if not isinstance(statistics, dict):
            raise bad_request("statistics must be an object")
        job.wire["statistics"] = statistics
        job.wire["modified_at"] = now_ts()
        return {"statistics": statistics}

    def recent_logs(self, org: str, name: str, job_id: str, query: dict[str, str]) -> dict[str, Any]:
        self.job(org, name, job_id)
        return self.emu.logs.page(
            job_id,
            next_forward_token=query.get("next_forward_token"),
            next_backward_token=query.get("next_backward_token"),
            start_time=query.get("start_time"),
            end_time=query.get("end_time"),
            page_size=self.emu.config.log_page_size,
        )

    def _log(self, job: Job, message: str) -> None:
        self.emu.logs.append(job.job_id, message)

    def _set_status(self, job: Job, status: str, message: str | None = None) -> None:
        job.wire["status"] = status
        job.wire["modified_at"] = now_ts()
        if status == ACTIVE:
            job.wire["start_time"] = job.wire["modified_at"]
        elif status not in JOB_RUNNING:
            job.wire["completion_time"] = job.wire["modified_at"]
        if message:
            self._log(job, message)

    def _environment(self, job: Job, version: dict[str, Any], folders: InstanceFolders) -> dict[str, str]:
        """The version's and the job's variables, then the platform's (``runtime_process``)."""
        definition = job.definition
        user_parameters = {**(version.get("environment") or {}), **job.wire["environment"]}
        context = {
            "organization_id": definition.organization_id,
            "job_definition_name": definition.name,
            "training_job_id": job.job_id,
        }
        platform = {
            "CONTEXT": json.dumps(context),
            "DATASETS": json.dumps(job.wire["datasets"]),
            "ABEJA_ORGANIZATION_ID": definition.organization_id,
            "ABEJA_API_URL": self.emu.public_url,
            "TRAINING_JOB_DEFINITION_NAME": definition.name,
            "TRAINING_JOB_DEFINITION_VERSION": str(version["job_definition_version"]),
            "TRAINING_JOB_ID": job.job_id,
            **self._job_credential(definition.organization_id),
        }
        return platform_environment(
            folders,
            user_parameters=user_parameters,
            platform=platform,
            handler=str(version["handler"]),
            ipc=False,
        )

    def _job_credential(self, org: str) -> dict[str, str]:
        """A credential of the emulator for the job's own API calls (the platform gives one too)."""
        config = self.emu.config
        for token, entry in config.bearer_tokens.items():
            if not entry.get("organizations") or org in entry.get("organizations", []):
                return {"PLATFORM_AUTH_TOKEN": token}
        for user_id, user in config.users.items():
            if user.get("token"):
                return {
                    "ABEJA_PLATFORM_USER_ID": f"user-{user_id}",
                    "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN": str(user["token"]),
                }
        return {}

    async def _run(self, job: Job, version: dict[str, Any]) -> None:
        """Pending for a moment, then the handler's process; its exit decides the status."""
        try:
            await asyncio.sleep(min(self.emu.config.ready_delay, 1.0))
            if job.stop_requested:
                return
            code_dir = (
                self.root
                / "definitions"
                / job.definition.job_definition_id
                / str(version["job_definition_version"])
            )
            work = job.folder / "src"
            shutil.copytree(code_dir, work)
            folders = InstanceFolders(job.folder / "instance").create()
            process = await start_platform_process(
                [sys.executable, "-u", str(TRAINING_RUNTIME)],
                cwd=work,
                env=self._environment(job, version, folders),
                sink=lambda line: self._log(job, line),
            )
            job.process = process
            if job.stop_requested:  # stopped while the process was starting
                await self._kill(job)
                return
            self._set_status(job, ACTIVE, f"[emulator] training job {ACTIVE}: running {version['handler']}")
            code = await process.wait()
            if job.stop_requested:
                return
            if code == 0:
                _zip_folder(folders.training_result, job.folder / "result.zip")
                self._set_status(job, COMPLETE, f"[emulator] training job {COMPLETE}")
            else:
                job.wire["status_message"] = f"the training handler exited with code {code}"
                self._set_status(job, FAILED, f"[emulator] training job {FAILED} (exit code {code})")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not job.stop_requested:
                job.wire["status_message"] = str(exc)
                self._set_status(job, FAILED, f"[emulator] training job {FAILED}: {exc}")

    async def _kill(self, job: Job) -> None:
        process = job.process
        if process is None or process.returncode is not None:
            return
        # The runtime leads its own process group on Linux (runtime_process): stop what the handler
        # started too. Where it does not, stop the runtime alone.
        try:
            own_group = os.getpgid(process.pid) == process.pid
        except ProcessLookupError:  # already gone
            own_group = False
        if not own_group:
            await process.kill()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    # ----- trained models --------------------------------------------------------------------------

    def create_model(self, org: str, name: str, parts: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        definition = self.definition(org, name)
        if "model_data" not in parts:
            raise bad_request("multipart part model_data is required")
        try:
            parameters = json.loads(parts["parameters"][1]) if "parameters" in parts else {}
        except ValueError:
            raise bad_request("parameters must be JSON") from None
        if not isinstance(parameters, dict):
            raise bad_request("parameters must be a JSON object")
        job_id = parameters.get("training_job_id")
        if job_id is not None:
            self.job(org, name, str(job_id))
        model_id = new_numeric_id()
        folder = self.root / "models" / model_id
        extract(parts["model_data"][1], folder, self.emu.limits)
        stamp = now_ts()
        model = {
            "id": model_id,
            "training_model_id": model_id,
            "job_definition_id": definition.job_definition_id,
            "training_job_id": job_id,
            "description": parameters.get("description") or "",
            "user_parameters": parameters.get("user_parameters") or {},
            "metrics": parameters.get("metrics") or {},
            "archived": False,
            "exec_env": "cloud" if job_id else "local",
            "created_at": stamp,
            "modified_at": stamp,
        }
        self.models[model_id] = dict(model, _organization_id=org, _definition=definition.name)
        self.model_dirs[model_id] = folder
        self.emu.counters["training_models_created"] += 1
        return model

    def model(self, org: str, name: str, model_id: str) -> dict[str, Any]:
        definition = self.definition(org, name)
        found = self.models.get(model_id)
        if found is None or found["_organization_id"] != org or found["_definition"] != definition.name:
            raise not_found(f"training model {model_id} not found")
        return {k: v for k, v in found.items() if not k.startswith("_")}

    def list_models(self, org: str, name: str, query: Mapping[str, str]) -> dict[str, Any]:
        definition = self.definition(org, name)
        key = (org, definition.name)
        chosen = [
            m for m, found in self.models.items() if (found["_organization_id"], found["_definition"]) == key
        ]
        return paged([self.model(org, name, m) for m in chosen], query)

    def update_model(self, org: str, name: str, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: the ``description``."""
        self.model(org, name, model_id)
        found = self.models[model_id]
        found["description"] = _description(body)
        found["modified_at"] = now_ts()
        return self.model(org, name, model_id)

    def set_model_archived(self, org: str, name: str, model_id: str, archived: bool) -> dict[str, Any]:
        self.model(org, name, model_id)
        found = self.models[model_id]
        found["archived"] = archived
        found["modified_at"] = now_ts()
        return {"message": f"{found['_definition']}:{model_id} {'archived' if archived else 'unarchived'}"}

    def download_model(self, org: str, name: str, model_id: str) -> dict[str, Any]:
        """A pre-signed URL of the model's files, zipped as they were uploaded."""
        self.model(org, name, model_id)
        folder = self.model_dirs[model_id]
        artifact = Artifact(f"{model_id}.zip", lambda: _zip_bytes(folder), "application/zip")
        return {"download_uri": self.emu.presigned_url(artifact)}

    def model_folder(self, models: dict[str, str]) -> str | None:
        """The files of the model a service runs (copied to its ``ABEJA_TRAINING_RESULT_DIR``)."""
        for model_id in models.values():
            folder = self.model_dirs.get(model_id)
            if folder is not None:
                return str(folder)
        return None


def _description(body: dict[str, Any]) -> str:
    description = body.get("description")
    if not isinstance(description, str) or len(description) > 256:
        raise bad_request("description must be a string of at most 256 characters")
    return description


def _str_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{name} must be an object")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _zip_folder(folder: Path, target: Path) -> None:
    target.write_bytes(_zip_bytes(folder))


def _zip_bytes(folder: Path) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return data.getvalue()
