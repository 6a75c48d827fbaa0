"""A reference driver for ABEJA's runtime, written from the model proxy's Go sources, for the tests only.

It shares no code with the emulator: it starts `abeja-runtime-python` the way the proxy's
`subprocess/runtime.go` does, waits for the socket, sends the proxy's frame (`AB E9 A0 01`, a
big-endian uint32 length, the JSON content list of `entity/entity.go`) with each body in a file, and
turns the runtime's answer into what the proxy would send (`convert/default_converter.go`,
`proxy/handlers.go`). The conformance tests compare the emulator's HTTP answers with it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAGIC = b"\xab\xe9\xa0\x01"


class ReferenceRuntime:
    """One runtime process for one handler; `call` sends one request and returns (status, type, body)."""

    def __init__(self, code_dir: Path, handler: str, env: dict[str, str] | None = None) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="ref-rt-"))
        self.socket_path = self.work / "s.sock"
        script = Path(sys.executable).with_name("abeja-runtime-python")
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "ABEJA_IPC_PATH": str(self.socket_path),
            "ABEJA_TRAINING_RESULT_DIR": str(self.work / "result"),
            "HANDLER": handler,
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [str(script)], cwd=code_dir, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.connection: socket.socket | None = None

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runtime exited with {self.process.returncode}")
            if self.socket_path.exists():
                try:
                    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    connection.connect(str(self.socket_path))
                except (ConnectionRefusedError, FileNotFoundError):
                    connection.close()
                else:
                    self.connection = connection
                    return
            time.sleep(0.02)
        raise RuntimeError("runtime not ready")

    def exit_code(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.read().decode("utf-8", "replace")

    def _file(self, data: bytes) -> str:
        handle, path = tempfile.mkstemp(dir=self.work)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        return path

    def raw_call(
        self, method: str, content_type: str, headers: dict[str, str], parts: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """parts: [{"body": bytes, "content_type"?: str, "file_name"?: str, "form_name"?: str}]."""
        contents = []
        for part in parts:
            content = {"path": self._file(part["body"])}
            content.update({k: v for k, v in part.items() if k != "body"})
            contents.append(content)
        document = {
            "method": method,
            "content_type": content_type,
            "headers": [{"key": k.lower(), "values": [v]} for k, v in sorted(headers.items())],
            "contents": contents,
        }
        payload = json.dumps(document).encode()
        assert self.connection is not None
        self.connection.sendall(MAGIC + struct.pack(">I", len(payload)) + payload)
        head = self._read(8)
        assert head[:4] == MAGIC
        return json.loads(self._read(struct.unpack(">I", head[4:])[0]))  # type: ignore[no-any-return]

    def _read(self, size: int) -> bytes:
        assert self.connection is not None
        data = b""
        while len(data) < size:
            chunk = self.connection.recv(size - len(data))
            if not chunk:
                raise ConnectionError("runtime closed the connection")
            data += chunk
        return data

    def call(
        self, method: str, content_type: str, headers: dict[str, str], parts: list[dict[str, Any]]
    ) -> tuple[int, str, bytes]:
        """What the proxy answers for the runtime's answer (a success, or its error JSON)."""
        answer = self.raw_call(method, content_type, headers, parts)
        status = answer.get("status_code", 200)
        if answer.get("error_message") is not None:
            return status, "application/json", b'{"status":"' + answer["error_message"].encode() + b'"}'
        for value in (answer.get("metadata") or {}).values():
            if not isinstance(value, str):  # Go cannot decode it into map[string]string
                kind = "number" if isinstance(value, (int, float)) else type(value).__name__
                message = (
                    "Internal Server Error: unexpected error of Read IPC response body error: json: cannot"
                    f" unmarshal {kind} into Go struct field Response.metadata of type string"
                )
                return 500, "application/json", b'{"status":"' + message.encode() + b'"}'
        body = b""
        if answer.get("path"):
            body = Path(answer["path"]).read_bytes()
            os.unlink(answer["path"])
        return status, answer.get("content_type") or "application/json", body

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.work, ignore_errors=True)
