"""Runs inside the abeja-sdk venv: times ABEJA's own APIClient.request_service on loopback.

The SDK builds the inference URL as ``{scheme}://{organization_id}.{netloc of ABEJA_API_URL}``
(virtual-host style) and reads ABEJA_API_URL at import time. With ABEJA_API_URL =
``http://localhost:PORT`` it calls ``http://<org>.localhost:PORT/...``. Such names do not resolve
on every machine, and /etc/hosts must not be edited, so this process resolves ``*.localhost`` to
127.0.0.1 by wrapping ``socket.getaddrinfo`` (what a hosts entry would do). The SDK's code, its
URL, Host header, sessions and retries are left exactly as shipped.

Usage: python _sdk_child.py PORT CALLS ROUNDS  -> one JSON line {"rates": [...], "cpu_us": [...]}.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


def main() -> None:
    port, calls, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    os.environ["ABEJA_API_URL"] = f"http://localhost:{port}"
    socket.getaddrinfo = _getaddrinfo
    from abeja.services import APIClient  # read ABEJA_API_URL now, as the SDK does

    client = APIClient(credential={"auth_token": "bench-token"})
    payload = {"foo": "bar", "baz": [1, 2, 3]}
    args = ("1234567890123", "9999999999999", "ser-0123456789abcdef")
    for _ in range(min(20, calls)):
        client.request_service(*args, json=payload)
    rates, cpu = [], []
    for _ in range(rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(calls):
            response = client.request_service(*args, json=payload)
            response.content  # noqa: B018
        rates.append(calls / (time.perf_counter() - started))
        cpu.append((time.process_time() - cpu_started) * 1e6 / calls)
    print(json.dumps({"rates": rates, "cpu_us": cpu}))


if __name__ == "__main__":
    main()
