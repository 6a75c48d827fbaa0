"""Runtimes forked from a zygote that has already imported numpy (`runtime_zygote.py`).

Every service instance is a fresh `abejaruntime` process, and most of its start-up is importing
numpy; the emulator starts hundreds of them in a test run. A zygote per emulator imports it once and
forks each instance, which then takes the instance's environment, folder and arguments before
running the runtime's console script, as a spawned one would (docs/emulator-conformance.md says
what this keeps and when the emulator spawns instead). A forked runtime is the zygote's child: the
emulator signals it through a pidfd and learns its exit status from the zygote.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Set to 0 to spawn service runtimes instead of forking them from a zygote (docs/emulator-conformance.md).
PREFORK_SWITCH = "ABEJA_EMULATOR_PREFORK"
ZYGOTE = Path(__file__).with_name("runtime_zygote.py")
_MAX_MESSAGE = 1 << 16
_READ_SIZE = 1 << 16
#: Read when a process starts (by Python, the C library, the loader, numpy and its BLAS), so a
#: forked child cannot take them from its own environment: a runtime whose value differs from the
#: zygote's is spawned. PYTHONPATH is the exception: the child computes `sys.path` from its own.
_READ_AT_START = re.compile(
    r"^(PYTHON(?!PATH$)|LANG|LC_|HOME$|LD_|MALLOC|GLIBC_|OMP_|OPENBLAS|GOTO|MKL_|NPY_|NUMPY_|BLIS_)"
)


def forkable(env: Mapping[str, str], zygote_env: Mapping[str, str]) -> bool:
    """Whether a child of a zygote started with `zygote_env` can be exactly what a process started
    with `env` would be: the same values of what is read at start, and a PYTHONPATH of absolute
    entries that ends with the zygote's (`runtime_zygote.python_path` then computes `sys.path`)."""
    keys = {key for key in (*env, *zygote_env) if _READ_AT_START.match(key)}
    if any(env.get(key) != zygote_env.get(key) for key in keys):
        return False
    entries = env.get("PYTHONPATH", "").split(os.pathsep)
    own = zygote_env.get("PYTHONPATH", "").split(os.pathsep) if zygote_env.get("PYTHONPATH") else []
    return all(os.path.isabs(entry) for entry in entries) and entries[len(entries) - len(own) :] == own


class ZygoteGone(Exception):
    """The zygote exited (or could not start): the runtime is to be spawned instead."""


class ForkedProcess:
    """A runtime forked by the zygote, with the members of `asyncio.subprocess.Process` the emulator uses."""

    def __init__(self, pid: int, pidfd: int, loop: asyncio.AbstractEventLoop) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._exit: asyncio.Future[int] = loop.create_future()

    def send_signal(self, signum: int) -> None:
        if self.returncode is not None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    def exited(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            os.close(self._pidfd)
            self._exit.set_result(code)


class ForkServer:
    """One zygote, started with `env`, serving the event loop that started it."""

    def __init__(self, env: Mapping[str, str], **popen: Any) -> None:
        self.env = dict(env)
        self.loop = asyncio.get_running_loop()
        self.forked = 0
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._zygote = subprocess.Popen(
                [sys.executable, str(ZYGOTE), str(theirs.fileno())],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()],
                **popen,
            )
        except BaseException:
            self._socket.close()
            raise
        finally:
            theirs.close()
        self._socket.setblocking(False)  # never wait on a zygote that waits on the loop to read
        self._replies: collections.deque[asyncio.Future[ForkedProcess]] = collections.deque()
        self._children: dict[int, ForkedProcess] = {}
        self.loop.add_reader(self._socket.fileno(), self._receive)

    @property
    def alive(self) -> bool:
        return self._socket.fileno() != -1

    async def spawn(
        self, argv: Sequence[str], *, cwd: str, env: Mapping[str, str], limit: int
    ) -> tuple[ForkedProcess, asyncio.StreamReader, asyncio.StreamReader]:
        """Fork `argv` (the runtime's command) in `cwd` with exactly `env`; the process, its stdout
        and stderr. OSError for a missing folder; ZygoteGone when the zygote is not there."""
        if not os.path.isdir(cwd):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cwd)
        request = json.dumps({"argv": list(argv), "cwd": cwd, "env": dict(env)}).encode()
        stdout, stdout_w = os.pipe()
        stderr, stderr_w = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        reply: asyncio.Future[ForkedProcess] = self.loop.create_future()
        try:
            try:
                while True:
                    try:
                        socket.send_fds(self._socket, [request], [stdin, stdout_w, stderr_w])
                        break
                    except BlockingIOError:  # the zygote is behind; the loop reads its notices meanwhile
                        await asyncio.sleep(0.01)
                    except OSError as exc:
                        raise ZygoteGone(repr(exc)) from None
                self._replies.append(reply)
            finally:
                for fd in (stdin, stdout_w, stderr_w):
                    os.close(fd)
            process = await reply
        except BaseException:
            for fd in (stdout, stderr):
                os.close(fd)
            raise
        self.forked += 1
        return process, self._reader(stdout, limit), self._reader(stderr, limit)

    def _reader(self, fd: int, limit: int) -> asyncio.StreamReader:
        """A stream of the pipe `fd`, which it owns and closes once, at its end.

        Read by a loop reader rather than `connect_read_pipe`: made without awaiting, so a start
        cancelled (its service deleted) never leaves a pipe half connected, which the transport
        and the file object would both close, the second time perhaps another descriptor by then.
        """
        reader = asyncio.StreamReader(limit=limit, loop=self.loop)
        os.set_blocking(fd, False)

        def readable() -> None:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                reader.feed_data(data)
                return
            self.loop.remove_reader(fd)
            os.close(fd)
            reader.feed_eof()

        self.loop.add_reader(fd, readable)
        return reader

    def _receive(self) -> None:
        try:
            message, fds, _, _ = socket.recv_fds(self._socket, _MAX_MESSAGE, 1, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            message, fds = b"", []
        if not message:
            self.close()
            return
        document = json.loads(message)
        if "exit" in document:
            child = self._children.pop(document["exit"], None)
            if child is not None:
                child.exited(document["code"])
            return
        process = ForkedProcess(document["pid"], fds[0], self.loop)
        self._children[process.pid] = process
        reply = self._replies.popleft()
        if reply.done():  # the start was cancelled: the runtime goes at once
            process.kill()
        else:
            reply.set_result(process)

    def close(self) -> None:
        """Stop serving; the zygote ends at the end of its socket, and its children with it."""
        if not self.alive:
            return
        self.loop.remove_reader(self._socket.fileno())
        self._socket.close()
        self._zygote.poll()
        for reply in self._replies:
            if not reply.done():
                reply.set_exception(ZygoteGone("the runtime zygote exited"))
        self._replies.clear()
        for child in self._children.values():
            child.exited(-signal.SIGKILL)  # what the zygote's end does to it (PR_SET_PDEATHSIG)
        self._children.clear()
