"""The runner: order, completeness, concurrency bound, bounded read-ahead, skip on resume, stop."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.batch.inputs import BatchInput, ListSource
from airflow_provider_abeja.batch.results import iter_records, open_result_store
from airflow_provider_abeja.batch.runner import BatchAborted, BatchRunner, BatchStopped


class Recorder:
    """A process function that sleeps a little and tracks how many calls overlap."""

    def __init__(self, fail_keys: frozenset[Any] = frozenset(), max_sleep: float = 0.003) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.calls: list[Any] = []
        self.fail_keys = fail_keys
        self.max_sleep = max_sleep

    def __call__(self, item: BatchInput) -> dict[str, Any]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.calls.append(item.key)
        time.sleep(random.uniform(0, self.max_sleep))
        with self.lock:
            self.active -= 1
        if item.key in self.fail_keys:
            return {"status": "error", "error": {"type": "X", "message": "boom"}}
        return {"status": "ok", "response": {"echo": item.json}}


def _run(tmp_path: Path, items: list[Any], process: Any, **kwargs: Any) -> tuple[Any, list[dict[str, Any]]]:
    out = tmp_path / "out.jsonl"
    runner = BatchRunner(process, open_result_store(out), **kwargs)
    counts = runner.run(ListSource(items), total=len(items))
    return counts, list(iter_records(out))


def test_every_input_once_in_input_order_with_its_own_response(tmp_path: Path) -> None:
    rec = Recorder()
    counts, records = _run(tmp_path, list(range(300)), rec, concurrency=8)
    assert [r["key"] for r in records] == list(range(300))
    assert all(r["response"] == {"echo": r["key"]} for r in records)
    assert (counts.sent, counts.ok, counts.errors, counts.skipped) == (300, 300, 0, 0)
    assert 1 < rec.peak <= 8


def test_unordered_mode_writes_every_input_once(tmp_path: Path) -> None:
    rec = Recorder(max_sleep=0.005)
    counts, records = _run(tmp_path, list(range(200)), rec, concurrency=6, preserve_order=False)
    assert sorted(r["key"] for r in records) == list(range(200))
    assert all(r["index"] == r["key"] for r in records)
    assert rec.peak <= 6
    assert counts.sent == 200


def test_read_ahead_is_bounded_by_the_window(tmp_path: Path) -> None:
    pulled = 0
    finished = 0
    max_gap = 0
    lock = threading.Lock()

    def source() -> Iterator[BatchInput]:
        nonlocal pulled, max_gap
        for n in range(500):
            with lock:
                pulled += 1
                max_gap = max(max_gap, pulled - finished)
            yield BatchInput(index=n, key=n, json=n)

    def process(item: BatchInput) -> dict[str, Any]:
        nonlocal finished
        time.sleep(0.0005)
        with lock:
            finished += 1
        return {"status": "ok"}

    runner = BatchRunner(process, open_result_store(tmp_path / "o.jsonl"), concurrency=4, window=12)
    runner.run(source())
    assert max_gap <= 12 + 1  # the window plus the one input being looked at


def test_resume_skips_done_keys_and_counts_earlier_results(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = BatchRunner(Recorder(fail_keys=frozenset({1})), open_result_store(out), concurrency=2)
    first.run(ListSource([0, 1, 2]))
    rec = Recorder(fail_keys=frozenset({4}))
    second = BatchRunner(rec, open_result_store(out), concurrency=2)
    counts = second.run(ListSource(list(range(6))), total=6)
    assert sorted(rec.calls) == [3, 4, 5]
    assert (counts.skipped, counts.sent, counts.prior_ok, counts.prior_errors) == (3, 3, 2, 1)
    assert (counts.done_ok, counts.done_errors) == (4, 2)
    assert counts.error_rate == pytest.approx(2 / 6)
    assert [r["key"] for r in iter_records(out)] == [0, 1, 2, 3, 4, 5]


def test_a_raising_process_becomes_an_error_record(tmp_path: Path) -> None:
    def process(item: BatchInput) -> dict[str, Any]:
        if item.key == 2:
            raise RuntimeError("handler bug")
        return {"status": "ok"}

    counts, records = _run(tmp_path, [0, 1, 2, 3], process, concurrency=2)
    assert records[2]["status"] == "error"
    assert records[2]["error"]["message"] == "handler bug"
    assert (counts.ok, counts.errors) == (3, 1)


def test_stop_writes_what_finished_and_raises(tmp_path: Path) -> None:
    stop = threading.Event()

    def process(item: BatchInput) -> dict[str, Any]:
        if item.key == 20:
            stop.set()
        time.sleep(0.001)
        return {"status": "ok"}

    out = tmp_path / "out.jsonl"
    runner = BatchRunner(process, open_result_store(out), concurrency=2, stop=stop)
    with pytest.raises(BatchStopped):
        runner.run(ListSource(list(range(1000))))
    keys = [r["key"] for r in iter_records(out)]
    assert 20 < len(keys) < 1000
    assert keys == list(range(len(keys)))  # a prefix: the retry resumes with no gap and no repeat


def test_progress_lines_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_abeja.batch")
    _run(tmp_path, list(range(50)), Recorder(), concurrency=4)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Batch progress")]
    assert lines[0].startswith("Batch progress: 0/50 (0.0%) done")
    assert lines[-1].startswith("Batch progress: 50/50 (100.0%) done")
    assert "0 errors" in lines[-1]


def test_abort_outcome_is_not_written_and_stops_the_try(tmp_path: Path) -> None:
    def process(item: BatchInput) -> dict[str, Any]:
        if item.key >= 30:
            return {"status": "abort", "error": {"type": "TransportError", "message": "refused"}}
        return {"status": "ok"}

    out = tmp_path / "out.jsonl"
    runner = BatchRunner(process, open_result_store(out), concurrency=3)
    with pytest.raises(BatchAborted, match="refused") as info:
        runner.run(ListSource(list(range(1000))))
    keys = [r["key"] for r in iter_records(out)]
    assert keys == list(range(30))
    assert info.value.counts.aborted >= 1
    assert info.value.counts.sent == 30

    # The retry resumes at the first input that was not written.
    rec = Recorder()
    counts = BatchRunner(rec, open_result_store(out), concurrency=3).run(ListSource(list(range(1000))))
    assert min(rec.calls) == 30
    assert counts.skipped == 30
    assert [r["key"] for r in iter_records(out)] == list(range(1000))
