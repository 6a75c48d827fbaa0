"""Start a process the way the ABEJA Platform starts user code: its environment, its folder, its logs.

One job: launch. On the platform the model proxy starts ABEJA's runtime (`abeja-runtime-python`,
package `abejaruntime`) as a subprocess with the container's environment plus `ABEJA_IPC_PATH` and
`ABEJA_TRAINING_RESULT_DIR`, in the folder that holds the user's code (proxy `subprocess/runtime.go`,
`cmd/service/process.go`). The runtime then reads `HANDLER`, moves into the folder holding `.abeja`
and installs `requirements.txt`. Services (`runtime.py`) and, later, training jobs call
`start_platform_process` with the command they need; nothing here knows about HTTP or sockets.

The emulator's own choices, documented in docs/emulator-conformance.md: only a few variables of the
emulator's environment are passed on (the handler never sees the emulator's secrets), output is
unbuffered so prints reach the recent logs at once, and `pip install` (run by the runtime for
`requirements.txt`) installs into a folder of the instance (`PIP_TARGET`, on `PYTHONPATH`), never
into the emulator's own environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .runtime_fork import PREFORK_SWITCH, ForkServer, ZygoteGone, forkable

RUNTIME_VERSION = "1.1.1"
RUNTIME_SCRIPT = "abeja-runtime-python"
RUNTIME_MODULE = "abejaruntime36.run"
TRAINING_RESULT_DIR_NAME = "abejainc_training_result"  # the proxy's default (util/path/path.go)
#: Of the emulator's environment, what every runtime gets too; OPENBLAS_NUM_THREADS caps the threads
#: numpy's BLAS starts in each runtime (one per core by default, however little the handler computes).
_PASSTHROUGH_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONPATH",
    "SYSTEMROOT",
    "OPENBLAS_NUM_THREADS",
)
_STREAM_LIMIT = 1 << 20
_PR_SET_PDEATHSIG = 1

LogSink = Callable[[str], None]


def runtime_problem() -> str | None:
    """Why `abejaruntime` cannot run handlers in this Python, or None when it can (cheap: no import)."""
    if importlib.util.find_spec("abejaruntime36") is None:
        return (
            f"abejaruntime {RUNTIME_VERSION} is not installed in {sys.executable}: "
            "pip install 'airflow-provider-abeja[emulator]'"
        )
    for module in ("cgi", "numpy"):  # abejaruntime 1.1.1 imports both; cgi is gone from Python 3.13
        if importlib.util.find_spec(module) is None:
            return (
                f"abejaruntime {RUNTIME_VERSION} cannot run on Python "
                f"{sys.version_info.major}.{sys.version_info.minor}: it imports the module {module!r}, "
                "which this Python does not have"
            )
    return None


def runtime_command() -> list[str]:
    """The runtime's console script next to this interpreter, as the proxy runs it; else `-m`."""
    script = Path(sys.executable).with_name(RUNTIME_SCRIPT)
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", RUNTIME_MODULE]


_SCRATCH = re.compile(r"^abeja-(rt|req)-(\d+)-")


def scratch_root() -> str:
    """Where scratch folders go: /dev/shm when writable, else the temporary folder."""
    memory = "/dev/shm"
    return memory if os.path.isdir(memory) and os.access(memory, os.W_OK) else tempfile.gettempdir()


def scratch_dir(kind: str) -> Path:
    """A new private folder (`kind` "rt" or "req") in memory (/dev/shm) when there is one: each
    request writes and reads files (the runtime's protocol), at half the cost there. The name holds
    this process's id, so `sweep_scratch` can remove what a killed emulator left."""
    return Path(tempfile.mkdtemp(prefix=f"abeja-{kind}-{os.getpid()}-", dir=scratch_root()))


def sweep_scratch() -> None:
    """Remove the scratch folders of emulators that are no longer running (killed without clean-up)."""
    root = scratch_root()
    for name in os.listdir(root):
        match = _SCRATCH.match(name)
        if match is None or _alive(int(match.group(2))):
            continue
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class InstanceFolders:
    """The folders of one instance, all under `root` (deleted with the instance)."""

    root: Path

    @property
    def ipc_path(self) -> Path:
        return self.root / "ipc.sock"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def site(self) -> Path:
        return self.root / "site-packages"

    @property
    def training_result(self) -> Path:
        return self.root / TRAINING_RESULT_DIR_NAME

    def create(self) -> InstanceFolders:
        for folder in (self.tmp, self.site, self.training_result):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def shared_environment() -> dict[str, str]:
    """The part of every instance's environment that comes from the emulator's own."""
    env = {key: os.environ[key] for key in _PASSTHROUGH_ENV if key in os.environ}
    bin_dir = str(Path(sys.executable).parent)  # `pip` and the runtime's script live here
    env["PATH"] = os.pathsep.join(p for p in (bin_dir, env.get("PATH", "")) if p)
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def platform_environment(
    folders: InstanceFolders,
    *,
    user_parameters: Mapping[str, str],
    platform: Mapping[str, str],
    handler: str | None = None,
    ipc: bool = True,
) -> dict[str, str]:
    """The environment user code gets: user parameters, then the platform's variables.

    `platform` holds what the platform puts in the container (ABEJA_ORGANIZATION_ID,
    ABEJA_DEPLOYMENT_ID, ABEJA_SERVICE_ID, ABEJA_MODEL_VERSION, ...); the proxy's own variables
    (ABEJA_IPC_PATH when `ipc`, ABEJA_TRAINING_RESULT_DIR) and `HANDLER` come last and win.
    """
    env = shared_environment()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folders.site), env.get("PYTHONPATH", "")) if p)
    env.update(TMPDIR=str(folders.tmp), PIP_TARGET=str(folders.site))
    env.update(user_parameters)
    env.update(platform)
    env["ABEJA_TRAINING_RESULT_DIR"] = str(folders.training_result)
    if ipc:
        env["ABEJA_IPC_PATH"] = str(folders.ipc_path)
    if handler is not None:
        env["HANDLER"] = handler
    return env


class RunningProcess(Protocol):
    """What the emulator uses of a started process: spawned (asyncio's) or forked (`ForkedProcess`)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...


class PlatformProcess:
    """A started process whose stdout and stderr lines go to a log sink."""

    def __init__(self, process: RunningProcess, pumps: list[asyncio.Task[None]]) -> None:
        self.process = process
        self._pumps = pumps

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def wait(self) -> int:
        """The exit code, once the process has exited and its output is read."""
        code = await self.process.wait()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.gather(*self._pumps), 1.0)
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(Exception):
            await self.wait()


def _detached() -> dict[str, Any]:
    """Popen options that keep signals meant for the emulator away from its processes.

    A Ctrl-C or a stop of the emulator's process group would otherwise reach the runtimes first,
    and the emulator would take their exit for a crash. On Linux they get their own session and die
    with the emulator (PR_SET_PDEATHSIG); elsewhere they stay in its group.
    """
    if not sys.platform.startswith("linux"):
        return {}
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return {}

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return {"start_new_session": True, "preexec_fn": die_with_parent}


async def _pump(stream: asyncio.StreamReader, sink: LogSink) -> None:
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line longer than the limit: take what is buffered
            line = await stream.read(_STREAM_LIMIT)
        if not line:
            return
        sink(line.decode("utf-8", errors="replace").rstrip("\r\n"))


async def start_platform_process(
    command: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    sink: LogSink,
    prefork: bool = False,
) -> PlatformProcess:
    """Start `command` in `cwd` with exactly `env`; every output line goes to `sink`.

    `prefork` (the runtime's own command): forked from the zygote when it can be
    (`runtime_fork.forkable`), else spawned. OSError when it cannot start (no such folder or program).
    """
    server = _ForkServers.get() if prefork and forkable(env, shared_environment()) else None
    if server is not None and forkable(env, server.env):
        with contextlib.suppress(ZygoteGone):
            forked, stdout, stderr = await server.spawn(command, cwd=str(cwd), env=env, limit=_STREAM_LIMIT)
            return _pumped(forked, stdout, stderr, sink)
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=str(cwd),
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=_STREAM_LIMIT,
        **_detached(),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    return _pumped(process, process.stdout, process.stderr, sink)


def _pumped(
    process: RunningProcess, stdout: asyncio.StreamReader, stderr: asyncio.StreamReader, sink: LogSink
) -> PlatformProcess:
    return PlatformProcess(process, [asyncio.create_task(_pump(stream, sink)) for stream in (stdout, stderr)])


class _ForkServers:
    """The zygote of this process's running event loop: one at a time, started on first use."""

    current: ForkServer | None = None
    broken = False  # a zygote ended without forking once: this Python cannot run one

    @classmethod
    def get(cls) -> ForkServer | None:
        if cls.broken or os.environ.get(PREFORK_SWITCH) == "0" or not hasattr(os, "pidfd_open"):
            return None
        server, loop = cls.current, asyncio.get_running_loop()
        if server is not None and (server.loop is not loop or not server.alive):
            cls.broken = not server.alive and server.forked == 0
            server.close()
            cls.current = server = None
            if cls.broken:
                return None
        if server is None:
            cls.current = server = ForkServer(shared_environment(), **_detached())
        return server
