"""Batch inference throughput and memory (issue 7).

Throughput: a private emulator serves a handler that takes 20 ms on 8 instances, so its capacity is
8 / 0.02 = 400 inputs/s. In one run this measures, side by side:

- a sequential loop (`APIClient.request_service` one input after the other): the baseline;
- a raw ceiling: plain threads, one keep-alive `requests.Session` each, hammering the same service
  with no batch machinery at all; what this machine and emulator can serve;
- the batch runner (`Sender` + `BatchRunner` + JSONL store) at concurrency 8, 16 and 32.

Goal: the batch at >= 0.85 of capacity. When the raw ceiling itself is under that, the emulator (or
the shared machine) is the limit and the batch is judged against the ceiling instead; both ratios
are printed.

Memory: the batch internals over a 1,000,000-line JSONL input in a subprocess (a local no-network
`process`, so the run takes seconds, not 40 minutes at 400/s), then a resume over the same input with
all 1,000,000 keys already in the output. Peak RSS (VmHWM) of each; goal < 200 MiB.

    python bench/batch_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from abeja_emulator import EmulatorHandle, EmulatorProcess
from airflow_provider_abeja.batch.inputs import ListSource
from airflow_provider_abeja.batch.results import open_result_store
from airflow_provider_abeja.batch.runner import BatchRunner
from airflow_provider_abeja.batch.sender import Sender, Target
from airflow_provider_abeja.client import APIClient

HANDLER_SECONDS = 0.02
INSTANCES = 8
CAPACITY = INSTANCES / HANDLER_SECONDS
GOAL_RATIO = 0.85
MEMORY_GOAL_MIB = 200.0

SLEEPY = f"""
import time

def handler(request, context):
    time.sleep({HANDLER_SECONDS})
    return {{"status_code": 200, "content_type": "application/json", "content": b'{{"ok": true}}'}}
"""


def deploy(handle: EmulatorHandle, code_dir: Path) -> tuple[str, str]:
    dep = handle.create_deployment(name="bench-batch")["deployment_id"]
    ver = handle.create_version(dep, version="1.0.0", handler="main:handler", code_dir=str(code_dir))
    service = handle.create_service(dep, ver["version_id"], instance_number=INSTANCES)
    handle.wait_for_status(dep, service["service_id"], "READY", timeout=120)
    return dep, service["service_id"]


def sequential(client: APIClient, org: str, dep: str, ser: str, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        client.request_service(org, dep, ser, json={"i": i})
    return n / (time.perf_counter() - started)


def raw_ceiling(handle: EmulatorHandle, dep: str, ser: str, clients: int, seconds: float) -> float:
    url = handle.inference_url(dep, ser)
    stop_at = time.monotonic() + seconds
    counts = [0] * clients

    def drive(slot: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                session.post(url, json={"i": slot}, auth=handle.auth, timeout=30).raise_for_status()
                counts[slot] += 1

    threads = [threading.Thread(target=drive, args=(slot,)) for slot in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def batch(client: APIClient, org: str, dep: str, ser: str, n: int, concurrency: int, out: Path) -> float:
    sender = Sender(client, Target(org, dep, service_id=ser))
    runner = BatchRunner(sender, open_result_store(out), concurrency=concurrency, progress_interval=3600)
    counts = runner.run(ListSource([{"i": i} for i in range(n)]), total=n)
    if counts.ok != n:
        raise SystemExit(f"batch at concurrency {concurrency}: {counts.ok} ok of {n}")
    return counts.throughput


def async_batch(handle: EmulatorHandle, dep: str, ser: str, n: int, concurrency: int, out: Path) -> float:
    """The alternative design, for comparison: one `httpx.AsyncClient`, `concurrency` tasks, same records."""
    import asyncio

    import httpx

    from airflow_provider_abeja.batch.results import encode_record
    from airflow_provider_abeja.batch.sender import decode_body

    async def run() -> float:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        started = time.perf_counter()
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(auth=handle.auth, limits=limits, timeout=30) as client:
            with out.open("ab") as fh:

                async def worker() -> None:
                    while not queue.empty():
                        i = queue.get_nowait()
                        response = await client.post(handle.inference_url(dep, ser), json={"i": i})
                        response.raise_for_status()
                        body = decode_body(response.headers.get("Content-Type", ""), response.content)
                        fh.write(encode_record({"key": i, "index": i, "status": "ok", **body}))

                await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)

    return asyncio.run(run())


# -- memory: a child process per measurement ----------------------------------------------------------

# VmHWM (peak RSS of this process image), not ru_maxrss: Linux carries ru_maxrss over fork + exec,
# so a child would report at least its parent's size.
PEAK_RSS = """
def peak_rss_mib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

MEMORY_CHILD = (
    PEAK_RSS
    + """
import json, sys, time
from airflow_provider_abeja.batch.inputs import JsonlSource
from airflow_provider_abeja.batch.results import open_result_store
from airflow_provider_abeja.batch.runner import BatchRunner

source, output = sys.argv[1], sys.argv[2]

def process(item):
    return {"status": "ok", "response": {"n": item.json["n"]}}

started = time.perf_counter()
store = open_result_store(output)
opened = time.perf_counter() - started
counts = BatchRunner(process, store, concurrency=8, progress_interval=3600).run(JsonlSource(source))
print(json.dumps({
    "rss_mib": peak_rss_mib(),
    "sent": counts.sent, "skipped": counts.skipped, "seconds": time.perf_counter() - started,
    "open_seconds": opened, "done_keys_mib": store.done.nbytes / 2**20,
}))
"""
)


def memory_run(source: Path, output: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(source), str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def baseline_rss() -> float:
    code = PEAK_RSS + "import airflow_provider_abeja.batch\nprint(peak_rss_mib())"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)


def throughput(tmp: Path, quick: bool) -> bool:
    n = 2_000 if quick else 20_000
    seq_n = 100 if quick else 400
    code = tmp / "handler"
    code.mkdir()
    (code / "main.py").write_text(SLEEPY)
    with EmulatorProcess(ready_delay=0.1) as emulator:
        handle = emulator.handle
        dep, ser = deploy(handle, code)
        org = handle.organization_id
        print(f"capacity: {INSTANCES} instances / {HANDLER_SECONDS * 1000:.0f} ms = {CAPACITY:.0f} inputs/s")
        print(f"{n:,} inputs per batch run, {seq_n} in the sequential loop")
        with APIClient(handle.credential, api_url=handle.url, pool_maxsize=32) as client:
            seq = sequential(client, org, dep, ser, seq_n)
            ceiling = raw_ceiling(handle, dep, ser, clients=16, seconds=3 if quick else 8)
            rows = []
            for concurrency in (8, 16, 32):
                rate = batch(client, org, dep, ser, n, concurrency, tmp / f"out-{concurrency}.jsonl")
                rows.append((concurrency, rate))
        async_rate = async_batch(handle, dep, ser, n, 32, tmp / "out-async.jsonl")
    print("| run | inputs/s | / capacity | / ceiling | / sequential |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| sequential loop | {seq:.1f} | {seq / CAPACITY:.2f} | {seq / ceiling:.2f} | 1.0 |")
    ratio = ceiling / CAPACITY
    print(f"| raw ceiling (16 threads) | {ceiling:.1f} | {ratio:.2f} | 1.00 | {ceiling / seq:.1f} |")
    for concurrency, rate in rows:
        print(
            f"| batch, concurrency {concurrency} | {rate:.1f} | {rate / CAPACITY:.2f} | "
            f"{rate / ceiling:.2f} | {rate / seq:.1f} |"
        )
    label = "async client, 32 tasks (not used)"
    print(
        f"| {label} | {async_rate:.1f} | {async_rate / CAPACITY:.2f} | "
        f"{async_rate / ceiling:.2f} | {async_rate / seq:.1f} |"
    )
    best = max(rate for _, rate in rows)
    if best >= GOAL_RATIO * CAPACITY:
        print(f"throughput goal met: {best:.0f}/s >= {GOAL_RATIO} x {CAPACITY:.0f}/s")
        return True
    if ceiling < GOAL_RATIO * CAPACITY and best >= GOAL_RATIO * ceiling:
        print(
            f"emulator-limited: the raw ceiling on this machine is {ceiling:.0f}/s "
            f"({ceiling / CAPACITY:.2f} of capacity); the batch reaches {best / ceiling:.2f} of it"
        )
        return True
    print(f"THROUGHPUT GOAL MISSED: best {best:.0f}/s, ceiling {ceiling:.0f}/s, of {CAPACITY:.0f}/s")
    return False


def memory(tmp: Path, quick: bool) -> bool:
    lines = 100_000 if quick else 1_000_000
    source = tmp / "memory-input.jsonl"
    with source.open("w") as fh:
        for i in range(lines):
            fh.write(json.dumps({"n": i, "text": f"input number {i} with a few words of text"}) + "\n")
    output = tmp / "memory-output.jsonl"
    base = baseline_rss()
    fresh = memory_run(source, output)
    resumed = memory_run(source, output)
    print(f"memory, {lines:,}-line input: peak RSS of a child (interpreter + imports alone: {base:.0f} MiB)")
    print(f"  fresh run : {fresh['rss_mib']:6.1f} MiB, {fresh['sent']:,} sent in {fresh['seconds']:.1f}s")
    print(
        f"  resume    : {resumed['rss_mib']:6.1f} MiB, {resumed['skipped']:,} skipped in "
        f"{resumed['seconds']:.1f}s (reading the output: {resumed['open_seconds']:.1f}s, "
        f"done keys {resumed['done_keys_mib']:.1f} MiB)"
    )
    ok = True
    if fresh["sent"] != lines or resumed["skipped"] != lines or resumed["sent"] != 0:
        ok = False
        print("MEMORY RUN WRONG: not every line was sent once and skipped on resume")
    peak = max(fresh["rss_mib"], resumed["rss_mib"])
    if peak < MEMORY_GOAL_MIB:
        print(f"memory goal met: peak {peak:.0f} MiB < {MEMORY_GOAL_MIB:.0f} MiB")
    else:
        ok = False
        print(f"MEMORY GOAL MISSED: peak {peak:.0f} MiB")
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2,000 inputs and a 100,000-line memory input")
    parser.add_argument("--only", choices=("throughput", "memory"), help="run one half")
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="abeja-batch-bench-") as tmp_dir:
        if args.only in (None, "throughput"):
            ok = throughput(Path(tmp_dir), args.quick) and ok
        if args.only in (None, "memory"):
            ok = memory(Path(tmp_dir), args.quick) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
