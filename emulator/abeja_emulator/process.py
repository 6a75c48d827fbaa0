"""EmulatorProcess: run the CLI in a child process group, wait for health, stop it and its workers."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import requests

from .config import DEFAULT_ORGANIZATION_ID, DEFAULT_PERSONAL_ACCESS_TOKEN, DEFAULT_USER_ID
from .handle import EmulatorHandle

_URL = re.compile(r"listening on (https?://\S+)")


class EmulatorStartError(RuntimeError):
    """The emulator did not come up; the message carries the tail of its output."""


class EmulatorProcess:
    """`abeja-emulator` in a subprocess (own process group, output in a log file).

    `restart()` keeps the port and the state dir, so a client pointed at `.url` reaches the new process.
    """

    def __init__(
        self,
        port: int = 0,
        ready_delay: float | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        *,
        host: str = "127.0.0.1",
        organization_id: str = DEFAULT_ORGANIZATION_ID,
        sample: bool = True,
        startup_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        exit_with_parent: bool = True,
        verify: bool | str = True,
    ) -> None:
        self.port = port
        self.host = host
        self.ready_delay = ready_delay
        self.state_dir = str(state_dir) if state_dir is not None else None
        self.extra_args = list(extra_args)
        self.organization_id = organization_id
        self.sample = sample
        self.startup_timeout = startup_timeout
        self.env = env
        self.exit_with_parent = exit_with_parent
        self.verify = verify
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = tempfile.mkdtemp(prefix="abeja-emulator-")
        self.log_path = Path(self._log_dir) / "emulator.log"
        self._handle: EmulatorHandle | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def handle(self) -> EmulatorHandle:
        if self._handle is None:
            raise RuntimeError("emulator is not started")
        return self._handle

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "abeja_emulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        cmd += ["--organization", self.organization_id]
        if self.ready_delay is not None:
            cmd += ["--ready-delay", str(self.ready_delay)]
        if self.state_dir is not None:
            cmd += ["--state-dir", self.state_dir]
        if not self.sample:
            cmd.append("--no-sample")
        if self.exit_with_parent:
            cmd.append("--exit-with-parent")
        return cmd + self.extra_args

    def start(self) -> EmulatorProcess:
        if self._process is not None and self._process.poll() is None:
            return self
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        url = ""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmulatorStartError(
                    f"emulator exited with {self._process.returncode}:\n{self.read_log()}"
                )
            if not url:
                match = _URL.search(self.read_log())
                url = match.group(1) if match else ""
            if url:
                try:
                    if requests.get(f"{url}/_emulator/health", timeout=2, verify=self.verify).ok:
                        break
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        else:
            raise EmulatorStartError(
                f"emulator not healthy after {self.startup_timeout}s:\n{self.read_log()}"
            )
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self._handle = EmulatorHandle(
            url, self.organization_id, DEFAULT_USER_ID, DEFAULT_PERSONAL_ACCESS_TOKEN, verify=self.verify
        )

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole group (server and workers), SIGKILL what is left after `timeout`."""
        process, self._process = self._process, None
        if self._handle is not None:
            self._handle.close()
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self) -> EmulatorProcess:
        """Stop, then start on the same port with the same state dir."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
