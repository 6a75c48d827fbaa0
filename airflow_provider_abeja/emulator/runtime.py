"""Model instances as worker processes: spawn, route one request at a time to each, restart, stop.

Each instance is `python -u worker.py` with its version's environment, so versions never share
module state or env vars, and a handler that crashes or leaks takes down only its own instance.
Idle workers wait in a FIFO queue: `instance_number` workers serve that many requests at once and
further requests queue in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import marshal
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
_HEADER = struct.Struct("!I")
_PASSTHROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "PYTHONPATH", "SYSTEMROOT")
_STREAM_LIMIT = 1 << 20

LogSink = Callable[[str], None]


class HandlerLoadError(Exception):
    """The handler could not be imported; the message is the worker's traceback."""


class InstanceUnavailable(Exception):
    """The pool is closed or not started: nothing can serve the request."""


class InstanceCrashed(InstanceUnavailable):
    """The instance died while serving the request."""


@dataclass(frozen=True)
class PoolSpec:
    """Everything an instance needs: where the code lives, what to call, its environment."""

    code_dir: str
    handler: str
    env: dict[str, str]
    context: dict[str, Any] = field(default_factory=dict)
    startup_timeout: float = 60.0

    def process_env(self) -> dict[str, str]:
        base = {k: os.environ[k] for k in _PASSTHROUGH_ENV if k in os.environ}
        base.update(self.env)
        base["PYTHONDONTWRITEBYTECODE"] = "1"
        return base


class Worker:
    """One instance process and its framed pipe protocol."""

    def __init__(self, process: asyncio.subprocess.Process, index: int) -> None:
        self.process = process
        self.index = index
        self.log_task: asyncio.Task[None] | None = None

    async def read_frame(self) -> Any:
        assert self.process.stdout is not None
        try:
            header = await self.process.stdout.readexactly(_HEADER.size)
            (size,) = _HEADER.unpack(header)
            return marshal.loads(await self.process.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, EOFError, ValueError) as exc:
            raise InstanceUnavailable(f"instance {self.index} exited") from exc

    async def call(self, frame: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        payload = marshal.dumps(frame)
        try:
            self.process.stdin.write(_HEADER.pack(len(payload)) + payload)
            await self.process.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise InstanceUnavailable(f"instance {self.index} exited") from exc
        answer = await self.read_frame()
        if not isinstance(answer, dict):
            raise InstanceUnavailable(f"instance {self.index} sent a malformed answer")
        return answer

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(Exception):
            await self.process.wait()
        if self.log_task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.log_task, 1.0)


async def _pump_logs(stream: asyncio.StreamReader, sink: LogSink) -> None:
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line longer than the limit: take what is buffered
            line = await stream.read(_STREAM_LIMIT)
        if not line:
            return
        sink(line.decode("utf-8", errors="replace").rstrip("\r\n"))


async def spawn_worker(spec: PoolSpec, index: int, sink: LogSink) -> Worker:
    """Start one instance and wait for its handler to import (HandlerLoadError if it cannot)."""
    context = dict(spec.context, instance_index=index)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            str(WORKER_SCRIPT),
            spec.code_dir,
            spec.handler,
            json.dumps(context),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=spec.process_env(),
            limit=_STREAM_LIMIT,
        )
    except OSError as exc:
        raise HandlerLoadError(f"cannot start instance: {exc}") from exc
    worker = Worker(process, index)
    assert process.stderr is not None
    worker.log_task = asyncio.create_task(_pump_logs(process.stderr, sink))
    try:
        hello = await asyncio.wait_for(worker.read_frame(), spec.startup_timeout)
    except (InstanceUnavailable, asyncio.TimeoutError) as exc:
        await worker.kill()
        raise HandlerLoadError(f"instance {index} did not start: {exc}") from exc
    except BaseException:
        await worker.kill()
        raise
    if not (isinstance(hello, dict) and hello.get("ready")):
        await worker.kill()
        error = hello.get("error") if isinstance(hello, dict) else None
        raise HandlerLoadError(str(error or "handler failed to load"))
    return worker


class InstancePool:
    """`size` workers of one service; `request` borrows an idle one, FIFO."""

    def __init__(self, spec: PoolSpec, size: int, sink: LogSink) -> None:
        self.spec = spec
        self.size = size
        self._sink = sink
        self._idle: asyncio.Queue[Worker | None] = asyncio.Queue()
        self._workers: set[Worker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = asyncio.Event()
        self._closed = False
        self.in_flight = 0
        self.served = 0
        self.max_in_flight = 0

    @property
    def usable(self) -> bool:
        """Started and not closed: it can serve requests."""
        return self._started.is_set() and not self._closed

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    async def start(self) -> None:
        results = await asyncio.gather(
            *(spawn_worker(self.spec, i, self._sink) for i in range(self.size)), return_exceptions=True
        )
        workers = [r for r in results if isinstance(r, Worker)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures or self._closed:
            await asyncio.gather(*(w.kill() for w in workers))
            if failures:
                if isinstance(failures[0], HandlerLoadError):
                    raise failures[0]
                raise HandlerLoadError(repr(failures[0]))
            raise InstanceUnavailable("pool closed while starting")
        for worker in workers:
            self._workers.add(worker)
            self._idle.put_nowait(worker)
        self._started.set()

    async def request(self, frame: dict[str, Any], wait_start: float = 60.0) -> dict[str, Any]:
        if self._closed:
            raise InstanceUnavailable("service is not running")
        if not self._started.is_set():
            try:
                await asyncio.wait_for(self._started.wait(), wait_start)
            except asyncio.TimeoutError:
                raise InstanceUnavailable("instances are still starting") from None
        worker = await self._idle.get()
        if worker is None:
            self._idle.put_nowait(None)
            raise InstanceUnavailable("service is not running")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = await worker.call(frame)
        except InstanceUnavailable as exc:
            self._replace(worker)
            raise InstanceCrashed(str(exc)) from exc
        except BaseException:
            self._replace(worker)
            raise
        finally:
            self.in_flight -= 1
        self.served += 1
        if self._closed:
            await worker.kill()
        else:
            self._idle.put_nowait(worker)
        return answer

    def _replace(self, worker: Worker) -> None:
        """A worker died or was abandoned mid-request: kill it and start a fresh one."""
        self._workers.discard(worker)
        code = worker.process.returncode
        if not self._closed:
            self._sink(
                f"[emulator] instance {worker.index} stopped unexpectedly (exit code {code}); restarting"
            )
        task = asyncio.ensure_future(self._respawn(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respawn(self, dead: Worker) -> None:
        await dead.kill()
        if self._closed:
            return
        try:
            worker = await spawn_worker(self.spec, dead.index, self._sink)
        except HandlerLoadError as exc:
            self._sink(f"[emulator] instance {dead.index} failed to restart: {exc}")
            return
        if self._closed:
            await worker.kill()
            return
        self._workers.add(worker)
        self._idle.put_nowait(worker)

    async def close(self) -> None:
        self._closed = True
        self._idle.put_nowait(None)
        self._started.set()
        workers = list(self._workers)
        self._workers.clear()
        await asyncio.gather(*(w.kill() for w in workers), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
