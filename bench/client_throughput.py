"""Client throughput and upload memory, side by side, in one run.

1. Starts a fast HTTP/1.1 keep-alive server on loopback in its own process (``_http_server.py``).
2. Times sequential ``request_service`` calls (small JSON body, small JSON answer) for
   - this provider's ``APIClient`` (path-style inference route on loopback),
   - a bare ``requests.Session`` loop posting the same body to the same URL with the same headers,
   - ABEJA's ``abeja-sdk==2.3.6``, installed by this script into ``bench/.venv-abeja-sdk`` and run
     there in a subprocess (see ``_sdk_child.py`` for how its virtual-host URL reaches loopback).
   Ours and the bare loop alternate in many short rounds inside this process and the median
   round counts, so that load from other processes hits both alike. The client CPU time per
   call is printed too: on a busy machine it is the steadier figure.
3. In fresh processes, sends one large sparse file (512 MiB; 128 MiB with ``--quick``) through
   ``request_service`` to the same server, which discards the body, and reports the peak RSS
   above the process's baseline (``_upload_child.py``).

Goals (from the issue): ours >= 0.9 x the bare session; upload peak < 64 MiB above baseline.

Usage: ``python bench/client_throughput.py [--quick] [--calls N] [--rounds R] [--no-sdk]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
SDK_VENV = HERE / ".venv-abeja-sdk"
SDK_REQUIREMENT = "abeja-sdk==2.3.6"
ORG, DEP, SER = "1234567890123", "9999999999999", "ser-0123456789abcdef"
PAYLOAD = {"foo": "bar", "baz": [1, 2, 3]}
THROUGHPUT_GOAL = 0.9
MEMORY_GOAL_MIB = 64


class Server:
    """The loopback server process; ``stats()`` asks it how many connections it accepted."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "_http_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def _command(self, word: str) -> str:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def reset(self) -> None:
        self._command("RESET")

    def stats(self) -> dict[str, int]:
        line = self._command("STATS")
        return json.loads(line.removeprefix("STATS "))  # type: ignore[no-any-return]

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def sdk_python() -> tuple[Path | None, str]:
    """The SDK venv's python, creating the venv and installing the SDK when needed."""
    python = SDK_VENV / "bin" / "python"
    check = [str(python), "-c", "import abeja.services, abeja; print(abeja.VERSION)"]
    if python.exists():
        found = subprocess.run(check, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == "2.3.6":
            return python, "abeja-sdk 2.3.6"
    print(f"installing {SDK_REQUIREMENT} into {SDK_VENV.relative_to(HERE.parent)} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SDK_REQUIREMENT],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-1:] or [str(exc)]
        return None, f"unavailable ({tail[0]})"
    found = subprocess.run(check, capture_output=True, text=True)
    if found.returncode != 0:
        return None, "unavailable (import failed)"
    return python, "abeja-sdk 2.3.6"


def timed(loop: Callable[[int], None], calls: int) -> tuple[float, float]:
    """Calls per second (wall clock) and CPU microseconds per call of this process."""
    started, cpu = time.perf_counter(), time.process_time()
    loop(calls)
    return calls / (time.perf_counter() - started), (time.process_time() - cpu) * 1e6 / calls


def throughput(server: Server, calls: int, rounds: int, sdk: Path | None) -> dict[str, dict[str, Any]]:
    from airflow_provider_abeja.client import APIClient

    ours = APIClient({"auth_token": "bench-token"}, api_url=server.url)
    url = f"{server.url}/_inference/{ORG}/deployments/{DEP}/services/{SER}"
    session = requests.Session()
    headers = {"Authorization": "Bearer bench-token"}

    def ours_loop(n: int) -> None:
        for _ in range(n):
            ours.request_service(ORG, DEP, SER, json=PAYLOAD).content  # noqa: B018

    def bare_loop(n: int) -> None:
        for _ in range(n):
            response = session.post(url, json=PAYLOAD, headers=headers, timeout=(10, 60))
            response.raise_for_status()
            response.content  # noqa: B018

    loops = {"ours": ours_loop, "bare": bare_loop}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    cpu: dict[str, list[float]] = {name: [] for name in loops}
    connections: dict[str, int] = dict.fromkeys(loops, 0)
    for loop in loops.values():
        loop(min(200, calls))  # warm-up: connection, imports, caches
    for index in range(rounds):
        order = list(loops) if index % 2 == 0 else list(reversed(loops))
        for name in order:
            server.reset()
            rate, cpu_us = timed(loops[name], calls)
            rates[name].append(rate)
            cpu[name].append(cpu_us)
            connections[name] += server.stats()["connections"]
    ours.close()
    session.close()

    results = {
        name: {
            "rates": values,
            "median": statistics.median(values),
            "cpu_us": statistics.median(cpu[name]),
            "connections": connections[name],
        }
        for name, values in rates.items()
    }
    results["ours"]["calls"] = results["bare"]["calls"] = calls * rounds
    if sdk is not None:
        sdk_calls = max(50, calls // 4)  # it opens a connection per call: far slower
        server.reset()
        out = subprocess.run(
            [str(sdk), str(HERE / "_sdk_child.py"), str(server.port), str(sdk_calls), str(rounds)],
            capture_output=True,
            text=True,
            check=True,
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
        values = child["rates"]
        results["sdk"] = {
            "rates": values,
            "median": statistics.median(values),
            "cpu_us": statistics.median(child["cpu_us"]),
            "connections": server.stats()["connections"],
            "calls": sdk_calls * rounds + min(20, sdk_calls),
        }
    return results


def upload_memory(server: Server, size_mib: int, sdk: Path | None) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="abeja-bench-") as folder:
        path = Path(folder) / "upload.bin"
        with path.open("wb") as handle:
            handle.truncate(size_mib * 1024 * 1024)  # sparse: no disk, same bytes on the wire
        with path.open("rb") as handle:  # warm the page cache so that no client pays for it
            while handle.read(8 * 1024 * 1024):
                pass
        children = [
            ("ours", Path(sys.executable)),
            ("bare", Path(sys.executable)),
            ("control", Path(sys.executable)),
        ]
        if sdk is not None:
            children.append(("sdk", sdk))
        for name, python in children:
            env = dict(os.environ)
            env.setdefault("PYTHONPATH", str(HERE.parent))
            server.reset()
            out = subprocess.run(
                [
                    str(python),
                    str(HERE / "_upload_child.py"),
                    "--client",
                    name,
                    "--port",
                    str(server.port),
                    "--file",
                    str(path),
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            if out.returncode != 0:
                rows.append({"client": name, "error": (out.stderr.strip().splitlines() or ["failed"])[-1]})
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["server_bytes"] = server.stats()["bytes"]
            rows.append(row)
    return rows


def report(
    results: dict[str, dict[str, Any]], memory: list[dict[str, Any]], size_mib: int, sdk_note: str
) -> bool:
    names = {
        "ours": "airflow-provider-abeja APIClient",
        "bare": "bare requests.Session",
        "sdk": sdk_note,
        "control": "control: bare, file read whole",
    }
    print("\nSequential request_service calls on loopback (small JSON in, small JSON out)")
    print(
        f"{'client':<36} {'calls/s (median)':>16} {'min':>8} {'max':>8} {'CPU us/call':>12} "
        f"{'new TCP conns':>14} {'calls':>7}"
    )
    for key in ("ours", "bare", "sdk"):
        if key not in results:
            continue
        row = results[key]
        print(
            f"{names[key]:<36} {row['median']:>16.0f} {min(row['rates']):>8.0f} {max(row['rates']):>8.0f} "
            f"{row['cpu_us']:>12.0f} {row['connections']:>14} {row['calls']:>7}"
        )
    if "sdk" not in results:
        print(f"{'abeja-sdk 2.3.6':<36} {sdk_note}")
    ok = True
    ratio = results["ours"]["median"] / results["bare"]["median"]
    verdict = "meets" if ratio >= THROUGHPUT_GOAL else "MISSES"
    ok &= ratio >= THROUGHPUT_GOAL
    cpu_ratio = results["bare"]["cpu_us"] / results["ours"]["cpu_us"]
    print(
        f"\nours / bare session: {ratio:.2f} calls/s ({verdict} the goal >= {THROUGHPUT_GOAL}); "
        f"{cpu_ratio:.2f} by client CPU per call"
    )
    if "sdk" in results:
        sdk_cpu = results["sdk"]["cpu_us"] / results["ours"]["cpu_us"]
        print(
            f"ours / abeja-sdk:    {results['ours']['median'] / results['sdk']['median']:.2f} calls/s; "
            f"{sdk_cpu:.2f} by client CPU per call"
        )
    print("(new TCP conns: connections the server accepted during the timed rounds, after warm-up)")

    print(f"\nPeak memory sending a {size_mib} MiB file through request_service (fresh process each)")
    print(
        f"{'client':<36} {'baseline MiB':>12} {'peak above baseline MiB':>24} {'seconds':>8} "
        f"{'server got MiB':>15}"
    )
    for row in memory:
        label = names.get(row["client"], row["client"])
        if "error" in row:
            print(f"{label:<36} error: {row['error']}")
            continue
        print(
            f"{label:<36} {row['baseline_kib'] / 1024:>12.1f} {row['above_baseline_kib'] / 1024:>24.2f} "
            f"{row['seconds']:>8.2f} {(row['server_bytes'] - 7) / 2**20:>15.1f}"
        )
    ours_row = next((r for r in memory if r["client"] == "ours" and "error" not in r), None)
    if ours_row is None:
        ok = False
        print("ours: no memory figure")
    else:
        above = ours_row["above_baseline_kib"] / 1024
        ok &= above < MEMORY_GOAL_MIB
        verdict = "meets" if above < MEMORY_GOAL_MIB else "MISSES"
        print(f"ours: {above:.1f} MiB above baseline ({verdict} the goal < {MEMORY_GOAL_MIB} MiB)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and a 128 MiB upload")
    parser.add_argument("--calls", type=int, help="calls per round (default 1000, quick 300)")
    parser.add_argument("--rounds", type=int, help="rounds (default 15, quick 10)")
    parser.add_argument("--upload-mib", type=int, help="upload size in MiB (default 512, quick 128)")
    parser.add_argument("--no-sdk", action="store_true", help="skip abeja-sdk (no install)")
    args = parser.parse_args()
    calls = args.calls or (300 if args.quick else 1000)
    rounds = args.rounds or (10 if args.quick else 15)
    size_mib = args.upload_mib or (128 if args.quick else 512)

    sdk, sdk_note = (None, "skipped (--no-sdk)") if args.no_sdk else sdk_python()
    server = Server()
    try:
        results = throughput(server, calls, rounds, sdk)
        memory = upload_memory(server, size_mib, sdk)
    finally:
        server.stop()
    ok = report(results, memory, size_mib, sdk_note)
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "client_throughput.json").write_text(
        json.dumps({"throughput": results, "memory": memory, "upload_mib": size_mib}, indent=2)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
