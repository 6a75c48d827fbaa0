"""Start and steer a real emulator process for the reliability suite.

A thin launcher over the emulator's own CLI (``python -m airflow_provider_abeja.emulator``) and its
control API: the suite needs process-level knobs (TLS with ``--ssl-certfile``, a state directory,
restarts on the same port, sentinel credentials, the server's captured output for the secrets
search), and every process started here is stopped by its own id (its process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests

ORGANIZATION_ID = "1234567890123"
DEPLOYMENT_ID = "9999999999999"
VERSION_ID = "ver-5a3d1e0000000001"
VERSION_ID_2 = "ver-5a3d1e0000000002"
BAD_VERSION_ID = "ver-bad0000000000001"
USER_ID = "1111111111111"
PERSONAL_ACCESS_TOKEN = "emulator-token"
LISTEN_MESSAGE = "ABEJA Platform emulator listening on"


class EmulatorServer:
    """One emulator process: start, control API helpers, restart, stop (by pid, process group)."""

    def __init__(
        self,
        *,
        ready_delay: float = 0.2,
        extra_args: Sequence[str] = (),
        command: Sequence[str] | None = None,
        user_id: str = USER_ID,
        token: str = PERSONAL_ACCESS_TOKEN,
        control_verify: bool | str = True,
    ) -> None:
        self.ready_delay = ready_delay
        self.extra_args = list(extra_args)
        self.command = list(command) if command else None
        self.user_id = user_id
        self.token = token
        self.url = ""
        self.organization_id = ORGANIZATION_ID
        self._process: subprocess.Popen[str] | None = None
        self._output: list[str] = []
        self._reader: threading.Thread | None = None
        self._port = 0
        self._control_verify = control_verify
        self._control = self._new_control_session()

    # ------------------------------------------------------------------ process

    @property
    def credential(self) -> dict[str, str]:
        return {"user_id": self.user_id, "personal_access_token": self.token}

    @property
    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return "".join(self._output)

    def _argv(self) -> list[str]:
        base = self.command or [sys.executable, "-m", "airflow_provider_abeja.emulator"]
        return [
            *base,
            "--port",
            str(self._port),
            "--ready-delay",
            str(self.ready_delay),
            "--user-id",
            self.user_id,
            "--personal-access-token",
            self.token,
            "--exit-with-parent",  # a killed test run leaves no server behind
            *self.extra_args,
        ]

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        self._process = subprocess.Popen(
            self._argv(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = threading.Event()

        def read() -> None:
            assert self._process is not None
            assert self._process.stdout is not None
            for line in self._process.stdout:
                self._output.append(line)
                if LISTEN_MESSAGE in line and not found.is_set():
                    self.url = line.split(LISTEN_MESSAGE, 1)[1].strip()
                    found.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not found.wait(timeout):
            self.stop()
            raise RuntimeError(f"emulator did not start:\n{self.output}")
        self._port = int(self.url.rsplit(":", 1)[1])
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                health = f"{self.url}/_emulator/health"
                if self._control.get(health, timeout=2, verify=self._control_verify).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"emulator not healthy:\n{self.output}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # Our keep-alive connection would hold up the server's graceful shutdown.
        self._control.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        self._control.close()
        self._control = self._new_control_session()

    def _new_control_session(self) -> requests.Session:
        return requests.Session()

    def restart(self) -> None:
        """Stop and start again on the same port (state survives only with ``--state-dir``)."""
        self.stop()
        self.start()

    # ------------------------------------------------------------------ control API

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        # verify per request: a session's verify loses against REQUESTS_CA_BUNDLE in the environment
        response = self._control.request(
            method, f"{self.url}/_emulator/{path}", json=body, timeout=10, verify=self._control_verify
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def counters(self) -> dict[str, Any]:
        return self._call("GET", "counters")  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")  # type: ignore[no-any-return]

    def inject_fault(self, **spec: Any) -> str:
        return self._call("POST", "faults", spec)["fault_id"]  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "config", settings)  # type: ignore[no-any-return]

    def airflow_connection(self, **extra: Any) -> dict[str, Any]:
        """A JSON connection for ``AIRFLOW_CONN_<ID>`` pointing at this emulator."""
        return {
            "conn_type": "abeja",
            "host": self.url,
            "login": self.user_id,
            "password": self.token,
            "extra": {"organization_id": self.organization_id, **extra},
        }
