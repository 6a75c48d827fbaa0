"""Emulator throughput: requests/s through the inference route at 1 and 4 instances.

Starts a private emulator, deploys a trivial handler (and, for scale, a 20 ms handler at 8 instances,
the shape of the batch benchmark), drives it with concurrent keep-alive clients (threads, one
`requests.Session` each) and prints a table. Both the server and the clients share this machine's
cores, so figures are a floor for the emulator itself.

    python bench/emulator_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from airflow_provider_abeja.emulator import EmulatorHandle, EmulatorProcess

TRIVIAL = """
def handler(request, context):
    return {"status_code": 200, "content_type": "application/json", "content": b'{"ok": true}'}
"""

SLEEPY = """
import time

def handler(request, context):
    time.sleep(0.02)
    return {"status_code": 200, "content_type": "application/json", "content": b'{"ok": true}'}
"""


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
            ok, errors, latencies = drive(url, handle.auth, clients, seconds)
            p50 = statistics.median(latencies) if latencies else float("nan")
            p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
            rows.append((name, instances, clients, ok / seconds, errors, p50, p99))
    head = ("handler", "instances", "clients", "req/s", "errors", "p50 ms", "p99 ms")
    print(f"{head[0]:<8} {head[1]:>9} {head[2]:>7} {head[3]:>9} {head[4]:>6} {head[5]:>7} {head[6]:>7}")
    for name, instances, clients, rate, errors, p50, p99 in rows:
        print(f"{name:<8} {instances:>9} {clients:>7} {rate:>9.0f} {errors:>6} {p50:>7.1f} {p99:>7.1f}")
    ideal = 8 / 0.02
    rate = rows[-1][3]
    print(f"20 ms handler at 8 instances: {rate:.0f} req/s = {rate / ideal:.2f} x the ideal {ideal:.0f}")
    print(f"scaling 1 -> 4 instances (trivial): {rows[1][3] / rows[0][3]:.2f} x")
    return 0 if all(r[4] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
