"""The emulated Runs and Triggers: records, paging, and triggers that start one run per new file.

A run is created ``SUBMITTED`` and goes ``RUNNABLE`` -> ``STARTING`` -> ``RUNNING`` (``run_step_delay``
apart, ``PENDING`` skipped as AWS Batch does without job dependencies; at most ``max_concurrent_runs``
past ``RUNNABLE`` at once) -> ``SUCCEEDED`` / ``FAILED``;
``batch.py`` executes each attempt the way the model proxy's batch mode does. A failed attempt goes
back to ``RUNNABLE`` while attempts remain (``retry_count`` + 1, at most ``run_max_attempts``) and keeps
``ABEJA_RUN_ID``. Runs, triggers and run logs are kept in the state folder; a run that was not
finished when the emulator stopped is ``FAILED`` at the next start (its process died with it).

A trigger starts one run per file whose upload completes in its input channel after the trigger
exists, at once and in upload order, copying its version, models, retry count, distribution and
environment into the run; a run's own answer never starts a run of the trigger that started it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .batch import run_attempt
from .datalake import StoredFile, by_id, wire_fields
from .errors import bad_request, not_found
from .ids import new_hex_id, now_ts
from .models import Version, _Record

if TYPE_CHECKING:
    from .core import Emulator

SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING = "SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"
SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
RUN_STATUSES = (SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED)
TERMINAL = (SUCCEEDED, FAILED)
DATALAKE_OPERATOR = "$datalake:1"
DEFAULT_RETRY_COUNT = 5
_RUN_ID = re.compile(r"^run-[0-9a-f]{16}$")
_TRIGGER_ID = re.compile(r"^tri-[0-9a-f]{16}$")
#: The fields of a run's answer (the SDK's example), then those of a trigger's.
RUN_FIELDS = (
    "run_id",
    "deployment_id",
    "model_version",
    "model_version_id",
    "models",
    "input_data",
    "output_template",
    "retry_count",
    "distribution",
    "status",
    "user_env_vars",
    "created_at",
    "modified_at",
)
TRIGGER_FIELDS = (
    "trigger_id",
    "organization_id",
    "deployment_id",
    "model_version",
    "model_version_id",
    "models",
    "input_service_name",
    "input_service_id",
    "output_service_name",
    "output_service_id",
    "retry_count",
    "distribution",
    "user_env_vars",
    "created_at",
    "modified_at",
)


@dataclass
class Run(_Record):
    run_id: str
    organization_id: str
    deployment_id: str
    model_version: str
    model_version_id: str
    models: dict[str, str]
    input_data: Any
    output_template: Any
    retry_count: int
    distribution: int
    status: str
    user_env_vars: dict[str, str]
    created_at: str
    modified_at: str
    trigger_id: str | None = None
    seq: int = 0
    attempts: int = 0

    def wire(self) -> dict[str, Any]:
        data = wire_fields(self, RUN_FIELDS)
        if self.trigger_id:
            data["trigger_id"] = self.trigger_id
        return data


@dataclass
class Trigger(_Record):
    trigger_id: str
    organization_id: str
    deployment_id: str
    model_version: str
    model_version_id: str
    input_service_name: str
    input_service_id: str
    output_service_name: str | None
    output_service_id: str | None
    retry_count: int
    distribution: int
    models: dict[str, str] = field(default_factory=dict)
    user_env_vars: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    modified_at: str = ""

    def wire(self) -> dict[str, Any]:
        return wire_fields(self, TRIGGER_FIELDS)

    def output_template(self) -> dict[str, str] | None:
        if self.output_service_name == "datalake" and self.output_service_id:
            return {DATALAKE_OPERATOR: self.output_service_id}
        return None


class RunPlatform:
    """All runs and triggers of one emulator (used from its event loop only)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self.runs: dict[str, Run] = {}
        self.triggers: dict[str, Trigger] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Condition()
        self._active = 0
        self._seq = 0
        emulator.datalake.listeners.append(self._on_new_file)

    # ----- lifecycle ---------------------------------------------------------------------------------

    def load(self, loaded: Mapping[str, list[dict[str, Any]]]) -> None:
        self.triggers.update(by_id(loaded, "trigger", Trigger, "trigger_id"))
        self.runs.update(by_id(loaded, "run", Run, "run_id"))
        self._seq = max([self._seq, *(r.seq for r in self.runs.values())])
        for run in self.runs.values():
            if run.status not in TERMINAL:
                self.log(run, "[emulator] the emulator stopped during the run")
                self.set_status(run, FAILED)

    async def shutdown(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self.tasks.clear()

    async def reset(self) -> None:
        await self.shutdown()
        self.runs.clear()
        self.triggers.clear()

    def counters(self) -> dict[str, int]:
        keys = ("runs_created", "runs_succeeded", "runs_failed", "run_attempts", "triggers_created")
        data = {key: self.emu.counters.get(key, 0) for key in keys}
        data["runs_in_progress"] = sum(1 for r in self.runs.values() if r.status not in TERMINAL)
        data["runs_total"] = len(self.runs)
        data["triggers_total"] = len(self.triggers)
        return data

    # ----- runs --------------------------------------------------------------------------------------

    def log(self, run: Run, message: str) -> None:
        self.emu.logs.append(run.run_id, message)

    def set_status(self, run: Run, status: str) -> None:
        run.status = status
        run.modified_at = now_ts()
        self.emu.store.put("run", run.run_id, run.to_dict())
        self.log(run, f"[emulator] status {status}")
        if status in TERMINAL:
            self.emu.counters["runs_succeeded" if status == SUCCEEDED else "runs_failed"] += 1

    def run(self, org: str, dep: str, run_id: str) -> Run:
        return _owned(self.runs, _RUN_ID, run_id, (org, self.emu.deployment(org, dep).deployment_id), "run")

    def _version(self, org: str, dep: str, body: Mapping[str, Any]) -> Version:
        """The body's ``version_id`` in the deployment (400 when missing, 404 when unknown)."""
        version_id = body.get("version_id")
        if not isinstance(version_id, str) or not version_id:
            raise bad_request("version_id is required")
        return self.emu.version(org, dep, version_id)

    def create_run(self, org: str, dep: str, body: Mapping[str, Any]) -> dict[str, Any]:
        version = self._version(org, dep, body)
        input_data = body.get("input_data")
        if input_data is not None and not isinstance(input_data, (dict, list, str)):
            # an object (the platform's form), an array (sent whole) or a string (INPUT verbatim)
            raise bad_request('input_data must be an object like {"$datalake:1": "<channel_id>/<file_id>"}')
        output_template = body.get("output_template")
        if output_template is not None and not isinstance(output_template, dict):
            raise bad_request('output_template must be an object like {"$datalake:1": "<channel_id>"}')
        run = self._new_run(
            org,
            dep,
            version.version,
            version.version_id,
            input_data=input_data,
            output_template=output_template,
            **_common(body),
        )
        return run.wire()

    def _new_run(self, org: str, dep: str, version: str, version_id: str, **fields: Any) -> Run:
        stamp = now_ts()
        self._seq += 1
        ids = (new_hex_id("run"), org, dep, version, version_id)
        run = Run(*ids, status=SUBMITTED, created_at=stamp, modified_at=stamp, seq=self._seq, **fields)
        self.runs[run.run_id] = run
        self.emu.store.put("run", run.run_id, run.to_dict())
        self.emu.counters["runs_created"] += 1
        self.log(run, f"[emulator] run submitted (version {version}, {version_id}); status SUBMITTED")
        task = asyncio.ensure_future(self._execute(run))
        self.tasks[run.run_id] = task
        task.add_done_callback(lambda _t, key=run.run_id: self.tasks.pop(key, None))  # type: ignore[misc]
        return run

    async def _execute(self, run: Run) -> None:
        attempts = min(run.retry_count + 1, self.emu.config.run_max_attempts)
        for attempt in range(1, attempts + 1):
            await asyncio.sleep(self.emu.config.run_step_delay)
            self.set_status(run, RUNNABLE)
            async with self._slot():
                for status in (STARTING, RUNNING):
                    await asyncio.sleep(self.emu.config.run_step_delay)
                    self.set_status(run, status)
                run.attempts = attempt
                self.emu.counters["run_attempts"] += 1
                code = await run_attempt(self.emu, run)
            self.log(run, f"[emulator] attempt {attempt} of {attempts} exited with code {code}")
            if code == 0:
                self.set_status(run, SUCCEEDED)
                return
        self.set_status(run, FAILED)

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One of ``max_concurrent_runs`` places to run: a run waits ``RUNNABLE`` for one, as an AWS
        Batch job waits for compute (a trigger fed many files does not start a runtime per file at once)."""
        async with self._slots:
            await self._slots.wait_for(lambda: self._active < self.emu.config.max_concurrent_runs)
            self._active += 1
        try:
            yield
        finally:
            async with self._slots:
                self._active -= 1
                self._slots.notify_all()

    def list_runs(
        self, org: str, dep: str, query: Mapping[str, str], trigger_id: str | None = None
    ) -> dict[str, Any]:
        self.emu.deployment(org, dep)
        token = query.get("next_page_token")
        if token:
            forward, last = _decode_run_token(token)
        else:
            forward, last = query.get("scan_forward", "").lower() == "true", None
        chosen = [
            r
            for r in self.runs.values()
            if r.deployment_id == dep
            and r.organization_id == org
            and (trigger_id is None or r.trigger_id == trigger_id)
        ]
        chosen.sort(key=lambda r: r.seq, reverse=not forward)
        if last is not None:
            chosen = [r for r in chosen if (r.seq > last if forward else r.seq < last)]
        size = self.emu.config.runs_page_size
        page = chosen[:size]
        answer: dict[str, Any] = {"entries": [r.wire() for r in page]}
        if len(chosen) > size:
            answer["next_page_token"] = _encode_run_token(forward, page[-1].seq)
        return answer

    def logs(self, org: str, dep: str, run_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        self.run(org, dep, run_id)
        return self.emu.logs.ascending_page(run_id, query, self.emu.config.log_page_size)

    def recent_logs(self, org: str, dep: str, run_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        self.run(org, dep, run_id)
        names = ("next_forward_token", "next_backward_token", "start_time", "end_time")
        return self.emu.logs.page(
            run_id, page_size=self.emu.config.log_page_size, **{name: query.get(name) for name in names}
        )

    # ----- triggers ----------------------------------------------------------------------------------

    def trigger(self, org: str, dep: str, trigger_id: str) -> Trigger:
        where = (org, self.emu.deployment(org, dep).deployment_id)
        return _owned(self.triggers, _TRIGGER_ID, trigger_id, where, "trigger")

    def create_trigger(self, org: str, dep: str, body: Mapping[str, Any]) -> dict[str, Any]:
        version = self._version(org, dep, body)
        if body.get("input_service_name") != "datalake":
            raise bad_request("input_service_name must be datalake (the only input service)")
        channel_id = body.get("input_service_id")
        if not isinstance(channel_id, str) or not channel_id:
            raise bad_request("input_service_id (a channel id) is required")
        self.emu.datalake.channel(org, channel_id)
        out_name, out_id = body.get("output_service_name"), body.get("output_service_id")
        if (out_name is None) != (out_id is None):
            raise bad_request("output_service_name and output_service_id go together")
        if out_name is not None and (not isinstance(out_name, str) or not isinstance(out_id, str)):
            raise bad_request("output_service_name and output_service_id must be strings")
        if out_name == "datalake":
            self.emu.datalake.channel(org, str(out_id))
        common = _common(body)
        stamp = now_ts()
        trigger = Trigger(
            trigger_id=new_hex_id("tri"),
            organization_id=org,
            deployment_id=dep,
            model_version=version.version,
            model_version_id=version.version_id,
            input_service_name="datalake",
            input_service_id=channel_id,
            output_service_name=out_name,
            output_service_id=out_id,
            created_at=stamp,
            modified_at=stamp,
            **common,
        )
        self.triggers[trigger.trigger_id] = trigger
        self.emu.store.put("trigger", trigger.trigger_id, trigger.to_dict())
        self.emu.counters["triggers_created"] += 1
        return trigger.wire()

    def list_triggers(self, org: str, dep: str) -> dict[str, Any]:
        self.emu.deployment(org, dep)
        chosen = [t for t in self.triggers.values() if t.deployment_id == dep and t.organization_id == org]
        return {"entries": [t.wire() for t in chosen]}

    def delete_trigger(self, org: str, dep: str, trigger_id: str) -> dict[str, Any]:
        trigger = self.trigger(org, dep, trigger_id)
        self.triggers.pop(trigger.trigger_id, None)
        self.emu.store.delete("trigger", trigger.trigger_id)
        return {"message": f"{trigger.trigger_id} deleted"}

    def trigger_runs(self, org: str, dep: str, trigger_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        self.trigger(org, dep, trigger_id)
        return self.list_runs(org, dep, query, trigger_id)

    def _on_new_file(self, stored: StoredFile) -> None:
        source = self.runs.get(stored.run_id or "")
        for trigger in list(self.triggers.values()):
            if trigger.input_service_id != stored.channel_id:
                continue
            if source is not None and source.trigger_id == trigger.trigger_id:
                continue  # a run's answer never starts its own trigger again
            version = self.emu.versions.get(trigger.model_version_id)
            self._new_run(
                trigger.organization_id,
                trigger.deployment_id,
                version.version if version else trigger.model_version,
                trigger.model_version_id,
                input_data={DATALAKE_OPERATOR: stored.key},
                output_template=trigger.output_template(),
                models=dict(trigger.models),
                retry_count=trigger.retry_count,
                distribution=trigger.distribution,
                user_env_vars=dict(trigger.user_env_vars),
                trigger_id=trigger.trigger_id,
            )


OwnedT = TypeVar("OwnedT", Run, Trigger)


def _owned(
    records: Mapping[str, OwnedT], pattern: re.Pattern[str], key: str, where: tuple[str, str], noun: str
) -> OwnedT:
    """The run or trigger ``key`` of (organization, deployment) ``where``, else 404."""
    found = records.get(key) if pattern.fullmatch(key) else None
    if found is None or (found.organization_id, found.deployment_id) != where:
        raise not_found(f"{noun} {key} not found")
    return found


def _common(body: Mapping[str, Any]) -> dict[str, Any]:
    """What runs and triggers share: environment, models, retry_count, distribution (checked)."""
    environment = body.get("environment")
    if environment is None:
        environment = {}
    if not isinstance(environment, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
    ):
        raise bad_request("environment must be an object of string values")
    models = body.get("models")
    if models is None:
        models = {}
    if (
        not isinstance(models, dict)
        or set(models) - {"alias"}
        or not all(isinstance(v, str) for v in models.values())
    ):
        raise bad_request('models must be {"alias": "<training model id>"}')
    retry_count = body.get("retry_count", DEFAULT_RETRY_COUNT)
    if retry_count is None:
        retry_count = DEFAULT_RETRY_COUNT
    if isinstance(retry_count, bool) or not isinstance(retry_count, int) or not 0 <= retry_count <= 9:
        raise bad_request("retry_count must be a whole number from 0 to 9")
    distribution = body.get("distribution", 0)
    if distribution is None:
        distribution = 0
    if isinstance(distribution, bool) or not isinstance(distribution, int) or distribution < 0:
        raise bad_request("distribution must be a whole number >= 0")
    return {
        "user_env_vars": dict(environment),
        "models": dict(models),
        "retry_count": retry_count,
        "distribution": distribution,
    }


def _encode_run_token(forward: bool, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{'f' if forward else 'b'}:{seq}".encode()).decode().rstrip("=")


def _decode_run_token(token: str) -> tuple[bool, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        direction, _, number = raw.partition(":")
        if direction not in ("f", "b"):
            raise ValueError(direction)
        return direction == "f", int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request("invalid next_page_token") from None
