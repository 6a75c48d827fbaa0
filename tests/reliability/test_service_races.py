"""Deletes racing stops, starts and updates of the same services, then a SIGKILL and a restart.

Issue 22's "done when": 50 services; after the race no runtime process of a deleted service runs
(real processes: every process on the machine whose environment names the service), every counter is
exact (each service deleted once, however many DELETEs raced), and after the emulator is killed and
restarted on the same state folder no deleted service comes back, not even as STOPPED.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.reliability._emulator import (
    DEPLOYMENT_ID,
    ORGANIZATION_ID,
    VERSION_ID,
    VERSION_ID_2,
    EmulatorServer,
)

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

SERVICES = 50
DELETED = 40  # the first 40 are deleted (twice, racing); the last 10 only see stop/start/update
RACERS = 5  # calls fired at one service at once
ALLOWED = {200, 400, 404}  # a lost race is a 400 (not running / running) or a 404 (gone), never a 500
SERVICES_PATH = f"/organizations/{ORGANIZATION_ID}/deployments/{DEPLOYMENT_ID}/services"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    # Spawned runtimes: `service_processes` finds them by /proc/<pid>/environ, which holds the
    # environment a process was exec'd with (a forked runtime's is its zygote's).
    monkeypatch.setenv("ABEJA_EMULATOR_PREFORK", "0")
    state = tmp_path / "state"
    with EmulatorServer(ready_delay=0.2, extra_args=["--state-dir", str(state)]) as emulator:
        yield emulator


def service_processes(service_ids: set[str]) -> dict[int, str]:
    """pid -> service id of every live process whose environment has ABEJA_SERVICE_ID of one of them."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # exited, not yet reaped: nothing runs
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):  # gone meanwhile, or not ours
            continue
        for item in environ:
            if item.startswith(b"ABEJA_SERVICE_ID="):
                service_id = item.split(b"=", 1)[1].decode()
                if service_id in service_ids:
                    found[int(entry.name)] = service_id
    return found


def _calls(server: EmulatorServer, service_id: str, delete: bool) -> list[Callable[[], int]]:
    base = f"{server.url}{SERVICES_PATH}/{service_id}"
    auth = server.handle.auth

    def call(method: str, suffix: str = "", body: dict[str, object] | None = None) -> Callable[[], int]:
        return lambda: requests.request(method, base + suffix, json=body, auth=auth, timeout=60).status_code

    racers = [
        call("POST", "/stop"),
        call("POST", "/start"),
        call("PATCH", body={"version_id": VERSION_ID_2}),
    ]
    if delete:
        return [call("DELETE"), call("DELETE"), *racers]
    return [*racers, call("PATCH", body={"instance_number": 2}), call("POST", "/stop")]


def _race(server: EmulatorServer, service_ids: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Fire RACERS calls at each service at once (a barrier per service); (call index, status)."""
    results: dict[str, list[tuple[int, int]]] = {s: [] for s in service_ids}
    lock = threading.Lock()

    def run(service_id: str, index: int, call: Callable[[], int], barrier: threading.Barrier) -> None:
        barrier.wait(timeout=60)
        status = call()
        with lock:
            results[service_id].append((index, status))

    with ThreadPoolExecutor(max_workers=SERVICES * RACERS) as pool:
        futures = []
        for position, service_id in enumerate(service_ids):
            calls = _calls(server, service_id, delete=position < DELETED)
            barrier = threading.Barrier(len(calls))
            futures += [pool.submit(run, service_id, i, c, barrier) for i, c in enumerate(calls)]
        for future in futures:
            future.result()
    return results


def test_deletes_racing_stop_start_update_leave_no_process_no_double_count_no_resurrection(
    server: EmulatorServer,
) -> None:
    handle = server.handle
    created = [handle.create_service(DEPLOYMENT_ID, VERSION_ID)["service_id"] for _ in range(SERVICES)]
    for service_id in created:
        handle.wait_for_status(DEPLOYMENT_ID, service_id, "READY", timeout=60)
    assert len(service_processes(set(created))) >= SERVICES  # every service has its runtime

    results = _race(server, created)

    deleted, kept = set(created[:DELETED]), set(created[DELETED:])
    for service_id, answers in results.items():
        statuses = Counter(status for _, status in answers)
        assert set(statuses) <= ALLOWED, (service_id, answers)
        if service_id in deleted:
            deletes = sorted(status for index, status in answers if index < 2)
            assert deletes == [200, 404], (service_id, answers)  # one DELETE wins, the other is 404
    assert service_processes(deleted) == {}
    counters = handle.counters()
    assert (counters["services_created"], counters["services_deleted"]) == (SERVICES, DELETED)
    assert counters["services_total"] == SERVICES - DELETED
    states = {s["service_id"]: s["status"] for s in handle.state()["services"]}
    assert set(states) == kept
    stopped = {ser for ser, status in states.items() if status == "STOPPED"}
    assert service_processes(stopped) == {}  # a stop racing an update never leaves a STOPPED service running

    # SIGKILL the server alone (no clean shutdown); its runtimes die with it (PR_SET_PDEATHSIG)
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.running
    server.start()

    listed = requests.get(
        server.url + SERVICES_PATH,
        auth=server.handle.auth,
        timeout=30,
    ).json()["entries"]
    assert {s["service_id"] for s in listed} == kept  # 0 resurrections, as STOPPED or otherwise
    assert service_processes(deleted) == {}
    for service_id in deleted:
        answer = requests.get(
            server.url
            + f"/organizations/{ORGANIZATION_ID}/deployments/{DEPLOYMENT_ID}/services/{service_id}",
            auth=server.handle.auth,
            timeout=30,
        )
        assert answer.status_code == 404
