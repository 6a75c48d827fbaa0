"""Batch concurrency and sharding (issue 15): default concurrency, two workers, a 1,000,000-line shard.

All ratios come from one run on one emulator, so the machine's load affects both sides alike.

1. Default concurrency against a saturating loader. A service of 8 instances with a 20 ms handler;
   the loader is 32 plain threads with a keep-alive session each (4 requests per instance: nothing
   the client does can leave an instance idle). The batch runs at the operator's default,
   `REQUESTS_PER_INSTANCE` x instances. Loader and batch alternate, twice each. Goal >= 0.9.
2. One worker against two. A service of 16 instances with a 50 ms handler (capacity 320/s) and a
   worker of concurrency 4 (80/s at most): the input is split into 2 shards by the split operator's
   code, and each shard runs in its own process (a Celery worker's share), one after the other,
   then both at once. Goal: two workers >= 1.8 x one.
3. Memory: split a 1,000,000-line JSONL into shards, run one 1,000,000-line shard through the batch
   internals (a local no-network `process`), and merge, each in a child process. Peak RSS (VmHWM)
   of each; goal < 200 MiB.

    python bench/batch_concurrency.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from batch_throughput import raw_ceiling  # the saturating loader: plain threads, no batch code

from abeja_emulator import EmulatorHandle, EmulatorProcess
from airflow_provider_abeja.batch.inputs import JsonlSource, ListSource
from airflow_provider_abeja.batch.results import open_result_store
from airflow_provider_abeja.batch.runner import BatchRunner
from airflow_provider_abeja.batch.sender import Sender, Target
from airflow_provider_abeja.batch.shards import SHARD_BODY_FIELD, SHARD_KEY_FIELD, split_jsonl
from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.operators.batch import REQUESTS_PER_INSTANCE

QUIET = logging.getLogger("bench.batch_concurrency")  # no progress lines between the figures
QUIET.setLevel(logging.WARNING)
DEFAULT_GOAL = 0.9
WORKERS_GOAL = 1.8
MEMORY_GOAL_MIB = 200.0

SLEEPY = """
import time

def handler(request, context):
    time.sleep({seconds})
    return {{"status_code": 200, "content_type": "application/json", "content": b'{{"ok": true}}'}}
"""


def deploy(handle: EmulatorHandle, tmp: Path, seconds: float, instances: int) -> tuple[str, str]:
    code = tmp / f"handler-{instances}"
    code.mkdir()
    (code / "main.py").write_text(SLEEPY.format(seconds=seconds))
    dep = handle.create_deployment(name=f"bench-{instances}")["deployment_id"]
    ver = handle.create_version(dep, version="1.0.0", handler="main:handler", code_dir=str(code))
    service = handle.create_service(dep, ver["version_id"], instance_number=instances)
    handle.wait_for_status(dep, service["service_id"], "READY", timeout=120)
    return dep, service["service_id"]


def batch(handle: EmulatorHandle, dep: str, ser: str, n: int, concurrency: int, out: Path) -> float:
    with APIClient(handle.credential, api_url=handle.url, pool_maxsize=max(10, concurrency)) as client:
        sender = Sender(client, Target(handle.organization_id, dep, service_id=ser))
        store = open_result_store(out)
        runner = BatchRunner(sender, store, concurrency=concurrency, progress_interval=3600, log=QUIET)
        counts = runner.run(ListSource([{"i": i} for i in range(n)]), total=n)
    if counts.ok != n:
        raise SystemExit(f"batch at concurrency {concurrency}: {counts.ok} ok of {n}")
    return counts.throughput


def default_concurrency(handle: EmulatorHandle, tmp: Path, quick: bool) -> bool:
    instances, seconds = 8, 0.02
    dep, ser = deploy(handle, tmp, seconds, instances)
    n = 1_500 if quick else 4_000
    window = 3.0 if quick else 8.0
    concurrency = REQUESTS_PER_INSTANCE * instances
    loads, batches = [], []
    for attempt in range(2):
        loads.append(raw_ceiling(handle, dep, ser, clients=4 * instances, seconds=window))
        batches.append(batch(handle, dep, ser, n, concurrency, tmp / f"default-{attempt}.jsonl"))
    ones = batch(handle, dep, ser, n, instances, tmp / "one-per-instance.jsonl")
    load, rate = statistics.mean(loads), statistics.mean(batches)
    print(f"1. {instances} instances x {seconds * 1000:.0f} ms (capacity {instances / seconds:.0f}/s)")
    print("| run | inputs/s | / saturating loader |")
    print("| --- | ---: | ---: |")
    print(f"| saturating loader, {4 * instances} threads | {load:.1f} | 1.00 |")
    print(f"| batch, 1 per instance ({instances}) | {ones:.1f} | {ones / load:.2f} |")
    print(f"| batch, default ({concurrency}) | {rate:.1f} | {rate / load:.2f} |")
    ok = rate >= DEFAULT_GOAL * load
    print(f"default concurrency goal {'met' if ok else 'MISSED'}: {rate / load:.2f} vs >= {DEFAULT_GOAL}")
    return ok


WORKER_CHILD = """
import json, sys, time
from airflow_provider_abeja.batch.inputs import JsonlSource
from airflow_provider_abeja.batch.results import open_result_store
from airflow_provider_abeja.batch.runner import BatchRunner
from airflow_provider_abeja.batch.sender import Sender, Target
from airflow_provider_abeja.client import APIClient

credential, url, org, dep, ser, shard, out, concurrency = sys.argv[1:9]
with APIClient(json.loads(credential), api_url=url, pool_maxsize=10) as client:
    runner = BatchRunner(
        Sender(client, Target(org, dep, service_id=ser)), open_result_store(out),
        concurrency=int(concurrency), progress_interval=3600,
    )
    counts = runner.run(JsonlSource(shard, key_field="key", payload_field="body"))
print(json.dumps({"ok": counts.ok, "seconds": counts.duration}))
"""


def run_workers(handle: EmulatorHandle, dep: str, ser: str, shards: list[Path], out: Path) -> float:
    """Run each shard in its own process at once; returns the wall time."""
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [
                sys.executable, "-c", WORKER_CHILD, json.dumps(handle.credential), handle.url,
                handle.organization_id, dep, ser, str(shard), str(out / f"{shard.stem}.out.jsonl"), "4",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for shard in shards
    ]  # fmt: skip
    for child in children:
        stdout, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"worker failed: {stdout}")
    return time.perf_counter() - started


def two_workers(handle: EmulatorHandle, tmp: Path, quick: bool) -> bool:
    instances, seconds = 16, 0.05
    dep, ser = deploy(handle, tmp, seconds, instances)
    n = 800 if quick else 2_400
    source = tmp / "workers-input.jsonl"
    source.write_text("".join(json.dumps({"id": f"k{i}", "i": i}) + "\n" for i in range(n)))
    shards = [path for path, _ in split_jsonl(JsonlSource(source, key_field="id"), tmp / "workers-shards", 2)]
    one = tmp / "one"
    one.mkdir()
    alone = sum(run_workers(handle, dep, ser, [shard], one) for shard in shards)
    both = tmp / "both"
    both.mkdir()
    together = run_workers(handle, dep, ser, shards, both)
    speedup = alone / together
    print(f"2. {instances} instances x {seconds * 1000:.0f} ms; {n:,} inputs in 2 shards, concurrency 4")
    print(f"   one worker (shards in turn): {n / alone:.1f}/s; two workers at once: {n / together:.1f}/s")
    ok = speedup >= WORKERS_GOAL
    print(f"two-worker goal {'met' if ok else 'MISSED'}: {speedup:.2f}x vs >= {WORKERS_GOAL}x")
    return ok


PEAK_RSS = """
def peak_rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0
"""

MEMORY_CHILD = (
    PEAK_RSS
    + """
import json, pathlib, sys, time
step, source, work, key_field, body_field = sys.argv[1:6]
work = pathlib.Path(work)
started = time.perf_counter()
if step == "split":
    from airflow_provider_abeja.batch.inputs import JsonlSource
    from airflow_provider_abeja.batch.shards import split_jsonl
    result = [n for _, n in split_jsonl(JsonlSource(pathlib.Path(source)), work, 2)]
elif step == "batch":
    from airflow_provider_abeja.batch.inputs import JsonlSource
    from airflow_provider_abeja.batch.results import open_result_store
    from airflow_provider_abeja.batch.runner import BatchRunner
    def process(item):
        return {"status": "ok", "response": {"n": item.json["n"]}}
    source = JsonlSource(source, key_field=key_field, payload_field=body_field)
    counts = BatchRunner(process, open_result_store(str(work / "out.jsonl")), concurrency=8,
                         progress_interval=3600).run(source)
    result = counts.sent
else:
    from airflow_provider_abeja.batch.shards import merge_shards
    out = work / "out.jsonl"
    manifest = merge_shards([{"output_path": str(out), "inputs": int(source)}], [out])
    result = [manifest["duplicates"], manifest["missing"]]
print(json.dumps({"rss_mib": peak_rss_mib(), "result": result, "seconds": time.perf_counter() - started}))
"""
)


def child(step: str, source: str, work: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, step, source, str(work), SHARD_KEY_FIELD, SHARD_BODY_FIELD],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{step} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def memory(tmp: Path, quick: bool) -> bool:
    lines = 100_000 if quick else 1_000_000
    source = tmp / "memory-input.jsonl"
    with source.open("w") as fh:
        for i in range(lines):
            fh.write(json.dumps({"n": i, "text": f"input number {i} with a few words of text"}) + "\n")
    work = tmp / "memory-work"
    split = child("split", str(source), work)
    # The shard under test holds every line: split in one shard's worth by joining the two halves.
    shard = work / "shard-all.jsonl"
    with shard.open("wb") as out:
        for part in sorted(work.glob("shard-0*.jsonl")):
            out.write(part.read_bytes())
    ran = child("batch", str(shard), work)
    merged = child("merge", str(lines), work)
    print(f"3. memory, {lines:,}-line input and shard: peak RSS of each step in a child process")
    print(f"   split into 2 shards : {split['rss_mib']:6.1f} MiB in {split['seconds']:.1f}s")
    print(f"   batch of the shard  : {ran['rss_mib']:6.1f} MiB in {ran['seconds']:.1f}s")
    print(f"   merge and check     : {merged['rss_mib']:6.1f} MiB in {merged['seconds']:.1f}s")
    correct = sum(split["result"]) == lines and ran["result"] == lines and merged["result"] == [0, 0]
    peak = max(split["rss_mib"], ran["rss_mib"], merged["rss_mib"])
    ok = correct and peak < MEMORY_GOAL_MIB
    if not correct:
        print(f"MEMORY RUN WRONG: split {split['result']}, sent {ran['result']}, merge {merged['result']}")
    print(f"memory goal {'met' if ok else 'MISSED'}: peak {peak:.0f} MiB vs < {MEMORY_GOAL_MIB:.0f} MiB")
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer inputs, 100,000-line memory input")
    parser.add_argument("--only", choices=("default", "workers", "memory"), help="run one part")
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="abeja-concurrency-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        if args.only in (None, "default", "workers"):
            with EmulatorProcess(ready_delay=0.1) as emulator:
                if args.only in (None, "default"):
                    ok = default_concurrency(emulator.handle, tmp, args.quick) and ok
                if args.only in (None, "workers"):
                    ok = two_workers(emulator.handle, tmp, args.quick) and ok
        if args.only in (None, "memory"):
            ok = memory(tmp, args.quick) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
