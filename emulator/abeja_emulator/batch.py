"""One attempt of a run, done the way the model proxy's batch mode does (``abeja-runner batch``).

Written after the behaviour of ABEJA's model proxy 2.6.5 (``proxy/proxy_oneshot.go``,
``proxy/converter.go``, ``cmd/batch/process.go``; docs/emulator-conformance.md), not copied: ``INPUT``
becomes the one request, the same runtime a service uses (``runtime.start_instance``: same command,
same environment plus the run's variables; the runtime is not told it is in a run) answers it once,
the answer becomes at most one Datalake file named ``{run_id}_0{ext}`` in the ``OUTPUT`` channel, the
runtime gets SIGINT (SIGKILL after ``STOP_GRACE``) and the attempt "exits" 0 or 1. The emulator's
proxy reads and writes the Datalake in-process, through the code the routes use; the handler gets a
credential of its own, valid for the run's organization while the attempt lasts. No time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import sample
from .errors import ApiError
from .proxy_rules import ProxyError, check_runtime_answer, parse_media_type, read_answer_body, remove_files
from .runtime import HandlerLoadError, Instance, PoolSpec, RuntimeLost, start_instance
from .runtime_process import scratch_dir

if TYPE_CHECKING:
    from .core import Emulator
    from .runs import Run

DATALAKE = "$datalake:1"
#: Seconds the runtime gets between SIGINT and SIGKILL (cmd/batch/process.go).
STOP_GRACE = 25.0
#: Runtime exit codes the proxy takes for success (120: Python's tolerated flush error at exit).
CLEAN_EXITS = (0, 120)
EMPTY_REQUEST: dict[str, Any] = {"method": "", "content_type": "", "headers": None, "contents": None}
#: The proxy's file extension per media type (util/mimetype_helper.go); other text/* ".txt", else ".bin".
EXTENSIONS = {
    "application/javascript": ".js",
    "application/json": ".json",
    "application/pdf": ".pdf",
    "application/x-www-form-urlencoded": ".txt",
    "audio/midi": ".midi",
    "audio/mpeg": ".mpg",
    "audio/ogg": ".oga",
    "audio/wav": ".wav",
    "audio/webm": ".webm",
    "image/bmp": ".bmp",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/svg+xml": ".svg",
    "image/webp": ".webp",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/markdown": ".md",
    "text/plain": ".txt",
    "text/xml": ".xml",
    "video/avi": ".avi",
    "video/mp4": ".mp4",
    "video/ogg": ".ogv",
    "video/quicktime": ".qt",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
}


class AttemptFailed(Exception):
    """The proxy gives up: the message goes to the run's log, the attempt exits 1."""


def extension(content_type: str) -> str:
    if not content_type:
        return ".txt"
    parsed = parse_media_type(content_type)
    known = EXTENSIONS.get(parsed[0] if parsed else "")
    if known:
        return known
    return ".txt" if content_type.lower().startswith("text") else ".bin"


def _text(value: Any) -> str:
    """``input_data`` / ``output_template`` as the JSON text of ``INPUT`` / ``OUTPUT``."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def output_channel(text: str) -> str | None:
    """The ``OUTPUT`` channel, None when nothing is to be uploaded; AttemptFailed when unusable."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise AttemptFailed("[batch] failed to parse OUTPUT") from None
    if not isinstance(value, dict) or DATALAKE not in value:
        return None
    if not isinstance(value[DATALAKE], str):
        raise AttemptFailed(f"[batch] OUTPUT: {DATALAKE} must be a string")
    return str(value[DATALAKE])


def _write(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def build_request(emu: Emulator, run: Run, folder: Path) -> dict[str, Any]:
    """``INPUT`` -> the runtime's request document (proxy/converter.go)."""
    text = _text(run.input_data)
    if not text:
        return dict(EMPTY_REQUEST)
    try:
        value = json.loads(text)
    except ValueError:
        raise AttemptFailed("[batch] failed to parse INPUT") from None
    if isinstance(value, dict) and isinstance(value.get(DATALAKE), str):
        channel_id, _, file_id = value[DATALAKE].partition("/")
        try:
            stored = emu.datalake.stored(channel_id, file_id)
            if stored.organization_id != run.organization_id:
                raise ApiError(403, f"channel {channel_id} belongs to another organization")
            data = emu.datalake.read_bytes(stored)
        except (ApiError, OSError) as exc:
            raise AttemptFailed(f"[batch] failed to get the input file {value[DATALAKE]}: {exc}") from None
        content = {"path": _write(folder, "input", data), "metadata": dict(stored.metadata)}
        return {
            "method": "POST",
            "content_type": stored.content_type or "application/octet-stream",
            "headers": None,
            "contents": [content],
        }
    content = {"path": _write(folder, "input", text.encode("utf-8"))}
    return {"method": "POST", "content_type": "application/json", "headers": None, "contents": [content]}


def _spec(emu: Emulator, run: Run, token: str) -> PoolSpec:
    version = emu.versions.get(run.model_version_id)
    deployment = emu.deployments.get(run.deployment_id)
    if version is None:
        raise AttemptFailed(f"[batch] version {run.model_version_id} no longer exists")
    parameters: dict[str, str] = dict(deployment.default_environment) if deployment else {}
    parameters.update(version.user_parameters)
    parameters.update(run.user_env_vars)
    platform = {
        "ABEJA_ORGANIZATION_ID": run.organization_id,
        "ABEJA_DEPLOYMENT_ID": run.deployment_id,
        "ABEJA_RUN_ID": run.run_id,
        "ABEJA_MODEL_ID": run.models.get("alias") or run.deployment_id,
        "ABEJA_MODEL_VERSION": version.version,
        "ABEJA_MODEL_VERSION_ID": version.version_id,
        "ABEJA_API_URL": emu.public_url,
        "PLATFORM_AUTH_TOKEN": token,
        "INPUT": _text(run.input_data),
        "OUTPUT": _text(run.output_template),
    }
    code = version.source_dir or version.code_dir or sample.SAMPLE_HANDLER_DIR
    return PoolSpec(code, version.handler, parameters, platform, emu.training.model_folder(run.models))


def deliver(emu: Emulator, run: Run, answer: dict[str, Any], channel: str | None) -> None:
    """The runtime's answer -> at most one Datalake file; AttemptFailed when the run must fail."""
    log = emu.runs.log
    try:
        check_runtime_answer(answer)
        if answer.get("error_message") is not None:
            raise AttemptFailed(
                f"[batch] the handler answered an error (status {answer.get('status_code')}): "
                f"{answer['error_message']}"
            )
        content_type = answer.get("content_type")
        if content_type is not None:
            parsed = parse_media_type(content_type)
            if parsed is None or parsed[0] == "multipart/form-data":
                raise AttemptFailed(f"[batch] Content-Type: [{content_type}] is not supported")
        body = read_answer_body(answer)
    except ProxyError as exc:
        raise AttemptFailed(f"[batch] {exc.message}") from None
    finally:
        path = answer.get("path")
        if isinstance(path, str):
            remove_files([path])
    status = answer.get("status_code")
    status = 200 if status is None else int(status)
    if not body:
        log(run, "[batch] runtime didn't return body.")
    elif channel is not None:
        media = content_type or ""
        metadata = {
            key.lower(): value
            for key, value in (answer.get("metadata") or {}).items()
            if key.lower().startswith("x-abeja-meta-")
        }
        name = f"{run.run_id}_0{extension(media)}"
        metadata["x-abeja-meta-filename"] = name
        try:
            uploaded = emu.datalake.upload(
                channel, body, media, metadata, conflict_target="filename", run_id=run.run_id
            )
        except ApiError as exc:
            raise AttemptFailed(
                f"[batch] failed to upload the output to channel {channel}: {exc.status} {exc}"
            ) from None
        log(run, f"[batch] uploaded {name} to channel {channel} as file {uploaded['file_id']}")
    if status > 299:
        raise AttemptFailed(f"[batch] the handler answered status {status}")


async def stop_runtime(instance: Instance) -> int | None:
    """SIGINT, then SIGKILL after STOP_GRACE; the runtime's exit code (None when killed)."""
    process = instance.process.process
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        code: int | None = await asyncio.wait_for(instance.process.wait(), STOP_GRACE)
    except asyncio.TimeoutError:
        code = None
    await instance.stop()
    return code


async def run_attempt(emu: Emulator, run: Run) -> int:
    """One attempt; the batch proxy's exit status (0 success, 1 failure)."""
    log = emu.runs.log
    folder = scratch_dir("req")
    token = _grant(emu, run)
    instance: Instance | None = None
    try:
        channel = output_channel(_text(run.output_template))
        request = build_request(emu, run, folder)
        if emu.runtime_problem:
            raise AttemptFailed(f"[batch] {emu.runtime_problem}")
        log(run, f"[batch] starting the runtime for run {run.run_id} (attempt {run.attempts})")
        try:
            instance = await start_instance(_spec(emu, run, token), 0, lambda line: log(run, line))
        except HandlerLoadError as exc:
            raise AttemptFailed(f"[batch] the runtime did not start: {exc}") from None
        try:
            answer = await instance.call(request)
        except RuntimeLost as exc:
            raise AttemptFailed(f"[batch] lost the runtime: {exc}") from None
        failure: AttemptFailed | None = None
        try:
            deliver(emu, run, answer, channel)
        except AttemptFailed as exc:
            failure = exc
        code, instance = await stop_runtime(instance), None
        if failure is not None:
            raise failure
        if code not in CLEAN_EXITS:
            raise AttemptFailed(f"[batch] the runtime exited with code {code}")
        return 0
    except AttemptFailed as exc:
        log(run, str(exc))
        return 1
    finally:
        if instance is not None:
            await instance.stop()
        _revoke(emu, token)
        shutil.rmtree(folder, ignore_errors=True)


def _grant(emu: Emulator, run: Run) -> str:
    """A bearer token for the run's organization only, valid while the attempt lasts."""
    token = f"run-{secrets.token_urlsafe(24)}"
    emu.config.bearer_tokens[token] = {"organizations": [run.organization_id], "run_id": run.run_id}
    emu.auth.reconfigure(emu.config)
    return token


def _revoke(emu: Emulator, token: str) -> None:
    if emu.config.bearer_tokens.pop(token, None) is not None:
        emu.auth.reconfigure(emu.config)
