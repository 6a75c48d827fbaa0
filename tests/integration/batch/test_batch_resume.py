"""A batch killed with SIGKILL mid-run resumes: every input exactly once in the output.

The killed child runs the operator's internals (no Airflow import, so it starts fast); the resume is
the operator itself, reading what the child left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from tests._context import FakeTI

from .conftest import SAMPLE_DEPLOYMENT, write_jsonl

pytestmark = pytest.mark.emulator

CHILD = Path(__file__).with_name("_kill_child.py")


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_mid_run_then_resume_writes_every_input_exactly_once(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str]
) -> None:
    service_id = make_service(instances=4)
    # Killed after 100 lines: 400 inputs leave room for the kill to land mid-run (the child writes
    # a few lines per poll) and keep the resume, which sends the rest, short.
    n = 400
    rows = [{"id": f"r{i:05d}", "text": "good day", "sleep_ms": 5} for i in range(n)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    log = (tmp_path / "child.log").open("wb")
    child = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            emulator.url,
            emulator.organization_id,
            service_id,
            str(source),
            str(output),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "BATCH_CHILD_CREDENTIAL": json.dumps(emulator.credential)},
    )
    try:
        deadline = time.monotonic() + 60
        while _complete_lines(output) < 100:
            assert child.poll() is None, (tmp_path / "child.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the child wrote nothing in 60 s"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        log.close()
    assert child.returncode == -signal.SIGKILL
    written_before = _complete_lines(output)
    assert written_before < n, "the child finished before it was killed: nothing to resume"
    # What a kill in the middle of a write leaves: a torn last line.
    with output.open("ab") as fh:
        fh.write(b'{"key":"r00099","index":99,"sta')

    op = AbejaBatchRequestOperator(
        task_id="batch",
        deployment_id=SAMPLE_DEPLOYMENT,
        service_id=service_id,
        input_path=str(source),
        output_path=str(output),
        key_field="id",
        concurrency=4,
    )
    summary = op.execute({"ti": FakeTI()})

    records = [json.loads(line) for line in output.read_text().splitlines()]
    counts = Counter(r["key"] for r in records)
    assert set(counts) == {row["id"] for row in rows}
    assert max(counts.values()) == 1
    assert all(r["status"] == "ok" for r in records)
    assert summary["skipped"] == written_before
    assert summary["sent"] == n - written_before
    assert (summary["done_ok"], summary["done_errors"]) == (n, 0)
    # Inputs in flight when the child died were served but never recorded: sent again, bounded.
    served = emulator.metrics(service_id)["served"]
    assert n <= served <= n + 4 * 8
