"""The guarded promotion's comparison against the batch operator, on the same two services (issue 25).

A private emulator serves a handler that takes 20 ms, as blue and green, 4 instances each (200
requests/s per service, 400 for both). The same validation set is sent to both services:

- by two `AbejaBatchRequestOperator` tasks running side by side, one per service (what a DAG would
  do without the comparison), each at its default concurrency (two per instance);
- by one `AbejaCompareServicesOperator` (every input to both, one runner, at its default
  concurrency: two per instance of each service), which also joins and compares the answers.

Throughput is requests answered per second over the whole run, both services together. The
machine is shared, so the two runs alternate, three times each (two with --quick), and the best
of each is compared. Goal: the comparison at >= 0.9 of the two batch operators.

    python bench/compare_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from abeja_emulator import EmulatorHandle, EmulatorProcess

HANDLER_SECONDS = 0.02
INSTANCES = 4
GOAL_RATIO = 0.9

SLEEPY = f"""
import time

def handler(request, context):
    time.sleep({HANDLER_SECONDS})
    return {{"status_code": 200, "content_type": "application/json", "content": b'{{"label": "same"}}'}}
"""


class TI:
    """The part of a task instance the operators use."""

    dag_id, task_id, run_id, map_index, try_number = "bench", "task", "bench", -1, 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def services(handle: EmulatorHandle, code_dir: Path) -> tuple[str, str, str]:
    dep = handle.create_deployment(name="bench-compare")["deployment_id"]
    ver = handle.create_version(dep, version="1.0.0", handler="main:handler", code_dir=str(code_dir))
    made = [handle.create_service(dep, ver["version_id"], instance_number=INSTANCES) for _ in range(2)]
    for service in made:
        handle.wait_for_status(dep, service["service_id"], "READY", timeout=120)
    return dep, made[0]["service_id"], made[1]["service_id"]


def two_batches(dep: str, blue: str, green: str, inputs: list[Any], tmp: Path) -> float:
    from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator

    ops = [
        AbejaBatchRequestOperator(
            task_id=f"batch_{n}",
            deployment_id=dep,
            service_id=service,
            inputs=inputs,
            output_path=str(tmp / f"batch-{n}.jsonl"),
            progress_interval=3600,
        )
        for n, service in enumerate((blue, green))
    ]
    threads = [threading.Thread(target=op.execute, args=({"ti": TI()},)) for op in ops]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 2 * len(inputs) / (time.perf_counter() - started)


def comparison(dep: str, blue: str, green: str, inputs: list[Any], tmp: Path) -> float:
    from airflow_provider_abeja.operators.guarded import AbejaCompareServicesOperator

    op = AbejaCompareServicesOperator(
        task_id="compare",
        deployment_id=dep,
        blue_service_id=blue,
        green_service_id=green,
        inputs=inputs,
        output_path=str(tmp / "compare.jsonl"),
        progress_interval=3600,
    )
    started = time.perf_counter()
    report = op.execute({"ti": TI()})
    elapsed = time.perf_counter() - started
    if report["agreement_rate"] != 1.0 or report["green"]["errors"] or report["blue"]["errors"]:
        raise SystemExit(f"the comparison did not run clean: {report}")
    return 2 * len(inputs) / elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inputs")
    args = parser.parse_args(argv)
    n = 1_000 if args.quick else 5_000
    inputs = [{"i": i} for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp_dir, EmulatorProcess(ready_delay=0.1) as emulator:
        tmp = Path(tmp_dir)
        (tmp / "handler").mkdir()
        (tmp / "handler" / "main.py").write_text(SLEEPY)
        handle = emulator.handle
        os.environ.update(handle.airflow_connection_env("abeja_default"))
        dep, blue, green = services(handle, tmp / "handler")
        capacity = 2 * INSTANCES / HANDLER_SECONDS
        print(f"{n:,} inputs to two services of {INSTANCES} instances x {HANDLER_SECONDS * 1000:.0f} ms")
        runs: dict[str, list[float]] = {"batches": [], "comparison": []}
        for round_ in range(2 if args.quick else 3):
            folder = tmp / f"round-{round_}"
            folder.mkdir()
            runs["batches"].append(two_batches(dep, blue, green, inputs, folder))
            runs["comparison"].append(comparison(dep, blue, green, inputs, folder))
    batches, compared = max(runs["batches"]), max(runs["comparison"])
    ratio = compared / batches
    print("| run | best requests/s | / capacity | every run |")
    print("| --- | ---: | ---: | --- |")
    labels = {"batches": "two batch operators side by side", "comparison": "comparison (one operator)"}
    for name, label in labels.items():
        best = max(runs[name])
        every = ", ".join(f"{rate:.0f}" for rate in runs[name])
        print(f"| {label} | {best:.1f} | {best / capacity:.2f} | {every} |")
    if ratio >= GOAL_RATIO:
        print(f"goal met: the comparison runs at {ratio:.2f} of the batch operators (>= {GOAL_RATIO})")
        return 0
    print(f"GOAL MISSED: the comparison runs at {ratio:.2f} of the batch operators (< {GOAL_RATIO})")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
