"""Emulator throughput: requests/s through the inference route at 1 and 4 instances.

Starts a private emulator, deploys a trivial handler (and, for scale, a 20 ms handler at 8 instances,
the shape of the batch benchmark), drives it with concurrent keep-alive clients (threads, one
`requests.Session` each) and prints a table. Both the server and the clients share this machine's
cores, so figures are a floor for the emulator itself.

    python bench/emulator_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from abeja_emulator import EmulatorHandle, EmulatorProcess

TRIVIAL = """
def handler(request, context):
    return {"status_code": 200, "content_type": "application/json", "content": [b'{"ok": true}']}
"""

SLEEPY = """
import time

def handler(request, context):
    time.sleep(0.02)
    return {"status_code": 200, "content_type": "application/json", "content": [b'{"ok": true}']}
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (Linux /proc), to show the server's cost per request."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deploy(handle: EmulatorHandle, code_dir: Path, instances: int) -> tuple[str, str]:
    dep = handle.create_deployment(name=f"bench-{code_dir.name}")["deployment_id"]
    ver = handle.create_version(dep, version="1.0.0", handler="main:handler", code_dir=str(code_dir))
    service = handle.create_service(dep, ver["version_id"], instance_number=instances)
    handle.wait_for_status(dep, service["service_id"], "READY", timeout=60)
    return dep, service["service_id"]


def drive(url: str, auth: tuple[str, str], clients: int, seconds: float) -> tuple[int, int, list[float]]:
    """Each client posts in a loop until the time is up; returns ok count, errors, latencies (ms)."""
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    ok = errors = 0
    latencies: list[float] = []

    def client() -> None:
        nonlocal ok, errors
        session = requests.Session()
        mine: list[float] = []
        good = bad = 0
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            try:
                response = session.post(
                    url, data=b'{"x": 1}', auth=auth, timeout=30, headers={"Content-Type": "application/json"}
                )
                if response.status_code == 200:
                    good += 1
                else:
                    bad += 1
            except requests.RequestException:
                bad += 1
            mine.append((time.perf_counter() - began) * 1000)
        with lock:
            ok += good
            errors += bad
            latencies.extend(mine)
        session.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok, errors, latencies


def _row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    """First column left-aligned, the rest right-aligned."""
    out = [cells[0].ljust(widths[0])]
    out += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
    return " ".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs (CI)")
    parser.add_argument("--seconds", type=float, default=None, help="duration of each run")
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.5 if args.quick else 5.0)
    cases = [("trivial", TRIVIAL, 1, 4), ("trivial", TRIVIAL, 4, 8), ("20 ms", SLEEPY, 8, 16)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(ready_delay=0.0) as emulator:
        handle = emulator.handle
        for name, code, instances, clients in cases:
            code_dir = Path(tmp) / f"{name.replace(' ', '')}-{instances}"
            code_dir.mkdir()
            (code_dir / "main.py").write_text(code)
            dep, ser = deploy(handle, code_dir, instances)
            url = handle.inference_url(dep, ser)
            drive(url, handle.auth, clients, 0.3)  # warm up connections
            cpu_before = cpu_seconds(emulator.pid or 0)
            ok, errors, latencies = drive(url, handle.auth, clients, seconds)
            server_us = (cpu_seconds(emulator.pid or 0) - cpu_before) / max(ok + errors, 1) * 1e6
            p50 = statistics.median(latencies) if latencies else float("nan")
            p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
            rows.append((name, instances, clients, ok / seconds, errors, p50, p99, server_us))
    widths = (8, 9, 7, 7, 6, 7, 7, 18)
    head = ("handler", "instances", "clients", "req/s", "errors", "p50 ms", "p99 ms", "server CPU us/req")
    print(_row(head, widths))
    for name, instances, clients, rate, errors, p50, p99, server_us in rows:
        cells = (name, str(instances), str(clients), f"{rate:.0f}", str(errors), f"{p50:.1f}", f"{p99:.1f}")
        cells += (f"{server_us:.0f}",)
        print(_row(cells, widths))
    cost = rows[0][7]
    print(
        f"server (main process) CPU per trivial request: {cost:.0f} us, i.e. ~{1e6 / cost:.0f} req/s per core"
    )
    ideal = 8 / 0.02
    rate = rows[-1][3]
    print(f"20 ms handler at 8 instances: {rate:.0f} req/s = {rate / ideal:.2f} x the ideal {ideal:.0f}")
    print(f"scaling 1 -> 4 instances (trivial): {rows[1][3] / rows[0][3]:.2f} x")
    return 0 if all(r[4] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
