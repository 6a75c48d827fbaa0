"""Service instances: one ABEJA runtime (`abejaruntime`) per instance, driven as the model proxy does.

Each instance is `abeja-runtime-python` started by `runtime_process.start_platform_process`, reached
over its unix socket with the proxy's frames (`AB E9 A0 01`, a big-endian uint32 length, a JSON
document; proxy `proxy/converter.go`, `proxy/proxy.go`). One connection per instance, one request at
a time on it; idle instances wait in a FIFO queue, so `instance_number` instances serve that many
requests at once and the others queue in arrival order. A runtime that exits is never restarted: the
pool reports it (`on_lost`) and the service goes down, as the proxy shuts down with its runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .proxy_rules import content_paths, remove_files
from .runtime_process import (
    InstanceFolders,
    LogSink,
    PlatformProcess,
    platform_environment,
    runtime_command,
    scratch_dir,
    start_platform_process,
)

FRAME_MAGIC = b"\xab\xe9\xa0\x01"
_LENGTH = struct.Struct(">I")
_POLL = 0.01  # seconds between looks for the runtime's socket (the proxy looks every second)
_KEPT_LINES = 500  # start-up output kept to name the cause when the runtime does not come up
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")

LostCallback = Callable[[int, "int | None"], None]


class HandlerLoadError(Exception):
    """The runtime did not come up (bad handler, import error, failed requirements install)."""


class InstanceUnavailable(Exception):
    """The pool is closed or not started: nothing can serve the request."""


class RuntimeLost(InstanceUnavailable):
    """The runtime went away while serving the request."""


class HandlerTimeout(Exception):
    """No answer within the proxy's timeout; the instance stays busy until the runtime answers."""


@dataclass(frozen=True)
class PoolSpec:
    """Everything an instance needs: its code, its handler, its environment."""

    code_dir: str
    handler: str
    user_parameters: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] = field(default_factory=dict)
    #: A trained model's files, copied to the instance's ABEJA_TRAINING_RESULT_DIR (as the proxy does).
    model_dir: str | None = None
    startup_timeout: float = 120.0


def encode_frame(document: Any) -> bytes:
    payload = json.dumps(document).encode("utf-8")
    return FRAME_MAGIC + _LENGTH.pack(len(payload)) + payload


class RuntimeConnection(asyncio.Protocol):
    """The proxy's connection to one runtime: one request document out, one answer document back."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[bytes] | None = None
        self._lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) < 8 or self._waiter is None or self._waiter.done():
            return
        (length,) = _LENGTH.unpack_from(self._buffer, 4)
        if len(self._buffer) >= 8 + length:
            document = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            self._waiter.set_result(document)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionResetError("the runtime closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    async def exchange(self, frame: bytes) -> bytes:
        if self._lost is not None or self._transport is None:
            raise ConnectionResetError("the runtime is gone")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(frame)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Instance:
    """One runtime process and the proxy's single connection to it."""

    def __init__(
        self, index: int, process: PlatformProcess, folders: InstanceFolders, connection: RuntimeConnection
    ) -> None:
        self.index = index
        self.process = process
        self.folders = folders
        self._connection = connection
        self.watcher: asyncio.Task[None] | None = None

    async def call(self, content_list: dict[str, Any]) -> dict[str, Any]:
        """Send one request document, read the answer document; RuntimeLost when the runtime is gone."""
        try:
            answer = json.loads(await self._connection.exchange(encode_frame(content_list)))
        except (ConnectionError, OSError, ValueError) as exc:
            raise RuntimeLost(f"instance {self.index}: {exc!r}") from exc
        if not isinstance(answer, dict):
            raise RuntimeLost(f"instance {self.index} sent a malformed answer")
        return answer

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        self._connection.close()
        await self.process.kill()
        shutil.rmtree(self.folders.root, ignore_errors=True)


async def start_instance(spec: PoolSpec, index: int, sink: LogSink) -> Instance:
    """Start one runtime and connect to it once its socket is there (HandlerLoadError if it dies first)."""
    folders = InstanceFolders(scratch_dir("rt")).create()
    if spec.model_dir:
        shutil.copytree(spec.model_dir, folders.training_result, dirs_exist_ok=True)
    env = platform_environment(
        folders, user_parameters=spec.user_parameters, platform=spec.platform, handler=spec.handler
    )
    output: list[str] = []

    def remember(line: str) -> None:
        if len(output) < _KEPT_LINES:
            output.append(line)
        sink(line)

    try:
        process = await start_platform_process(
            runtime_command(), cwd=spec.code_dir, env=env, sink=remember, prefork=True
        )
    except OSError as exc:
        shutil.rmtree(folders.root, ignore_errors=True)
        raise HandlerLoadError(f"cannot start the runtime in {spec.code_dir}: {exc}") from exc
    try:
        connection = await asyncio.wait_for(_connect(process, folders), spec.startup_timeout)
    except BaseException as exc:
        await process.kill()
        shutil.rmtree(folders.root, ignore_errors=True)
        if isinstance(exc, asyncio.TimeoutError):
            raise HandlerLoadError(f"the runtime was not ready after {spec.startup_timeout:g}s") from None
        if isinstance(exc, HandlerLoadError):
            cause = next((line for line in output if _EXCEPTION_LINE.match(line)), None)
            raise HandlerLoadError(f"{exc}: {cause}" if cause else str(exc)) from None
        raise
    return Instance(index, process, folders, connection)


async def _connect(process: PlatformProcess, folders: InstanceFolders) -> RuntimeConnection:
    """Wait for the socket as the proxy does (subprocess/runtime.go WaitUntilStarted), then dial it."""
    path = str(folders.ipc_path)
    while True:
        if process.returncode is not None:
            code = await process.wait()
            raise HandlerLoadError(f"the runtime exited with code {code} before it was ready")
        if folders.ipc_path.exists():
            with contextlib.suppress(ConnectionRefusedError, FileNotFoundError):  # bound, not listening yet
                _, connection = await asyncio.get_running_loop().create_unix_connection(
                    RuntimeConnection, path
                )
                return connection
        await asyncio.sleep(_POLL)


class InstancePool:
    """`size` runtimes of one service; `request` borrows an idle one, FIFO."""

    def __init__(self, spec: PoolSpec, size: int, sink: LogSink, on_lost: LostCallback) -> None:
        self.spec = spec
        self.size = size
        self._sink = sink
        self._on_lost = on_lost
        self._idle: asyncio.Queue[Instance | None] = asyncio.Queue()
        self._instances: set[Instance] = set()
        self._started = asyncio.Event()
        self._closed = False
        self.data_dir = scratch_dir("req")
        self.in_flight = 0
        self.served = 0
        self.max_in_flight = 0

    @property
    def usable(self) -> bool:
        """Started and not closed: it can serve requests."""
        return self._started.is_set() and not self._closed

    @property
    def worker_pids(self) -> list[int]:
        return [instance.process.pid for instance in self._instances]

    async def start(self) -> None:
        results = await asyncio.gather(
            *(start_instance(self.spec, i, self._sink) for i in range(self.size)), return_exceptions=True
        )
        instances = [r for r in results if isinstance(r, Instance)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures or self._closed:
            await asyncio.gather(*(instance.stop() for instance in instances))
            if failures:
                if isinstance(failures[0], HandlerLoadError):
                    raise failures[0]
                raise HandlerLoadError(repr(failures[0]))
            raise InstanceUnavailable("pool closed while starting")
        for instance in instances:
            self._instances.add(instance)
            instance.watcher = asyncio.create_task(self._watch(instance))
            self._idle.put_nowait(instance)
        self._started.set()

    async def _watch(self, instance: Instance) -> None:
        """A runtime that exits on its own takes its instance down: reported, never respawned."""
        code = await instance.process.wait()
        if self._closed or instance not in self._instances:
            return
        self._instances.discard(instance)
        self._sink(f"[emulator] instance {instance.index}: the runtime exited with code {code}")
        self._on_lost(instance.index, code)
        instance.watcher = None  # stop() must not cancel this very task
        await instance.stop()

    async def request(self, content_list: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The runtime's answer document; HandlerTimeout after `timeout` seconds (the call goes on)."""
        if self._closed:
            raise InstanceUnavailable("service is not running")
        if not self._started.is_set():  # READY kept across an emulator restart: instances still starting
            try:
                await asyncio.wait_for(self._started.wait(), self.spec.startup_timeout)
            except asyncio.TimeoutError:
                raise InstanceUnavailable("instances are still starting") from None
        instance = await self._idle.get()
        if instance is None:
            self._idle.put_nowait(None)
            raise InstanceUnavailable("service is not running")
        task = asyncio.ensure_future(self._serve(instance, content_list))
        try:
            done, _ = await asyncio.wait((task,), timeout=timeout)
        except asyncio.CancelledError:
            task.add_done_callback(_discard_answer)
            raise
        if not done:  # the call goes on; its answer is thrown away when it comes
            task.add_done_callback(_discard_answer)
            raise HandlerTimeout(f"no answer within {timeout:g}s")
        return task.result()

    async def _serve(self, instance: Instance, content_list: dict[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = await instance.call(content_list)
        except BaseException:
            await self._drop(instance)
            raise
        finally:
            self.in_flight -= 1
            remove_files(content_paths(content_list))
        self.served += 1
        if self._closed:
            await instance.stop()
        else:
            self._idle.put_nowait(instance)
        return answer

    async def _drop(self, instance: Instance) -> None:
        """The connection broke mid-request: the runtime is gone (or will be), and so is the instance."""
        if instance in self._instances and not self._closed:
            self._instances.discard(instance)
            code = None
            with contextlib.suppress(asyncio.TimeoutError):
                code = await asyncio.wait_for(asyncio.shield(instance.process.wait()), 2.0)
            self._sink(f"[emulator] instance {instance.index}: lost the runtime (exit code {code})")
            self._on_lost(instance.index, code)
        await instance.stop()

    async def close(self) -> None:
        """Stop every instance. A cancelled caller (a delete cancelling a redeploy that was closing
        the previous pool) still waits for the stops: they must never be dropped half-way, or the
        runtimes keep running with no pool left to own them."""
        self._closed = True
        self._idle.put_nowait(None)
        self._started.set()
        instances = list(self._instances)
        self._instances.clear()
        stopping = asyncio.gather(*(instance.stop() for instance in instances), return_exceptions=True)
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            await stopping
            raise
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _discard_answer(task: asyncio.Future[dict[str, Any]]) -> None:
    """The client is gone (timeout): remove the answer file the runtime wrote."""
    if not task.cancelled() and task.exception() is None:
        path = task.result().get("path")
        if isinstance(path, str):
            remove_files([path])
