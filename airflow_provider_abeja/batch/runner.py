"""The concurrent runner: stream inputs, keep `concurrency` requests in flight, write each result once.

Worker threads only call `process` (the `Sender`); the calling thread reads the input, skips the keys
already done, submits, and is the single writer of the result store. At most `window` inputs are held
at any time (submitted, running, or finished and waiting for their turn), so memory follows the
concurrency, not the input size.

An outcome with status "abort" (the service is unreachable, see `sender`) is not written: the runner
stops sending, writes what finished, and raises `BatchAborted`, leaving those inputs for a retry.

With `preserve_order` (the default) results are written in input order: a slow input holds back the
writing of later ones (never their sending) until `window` inputs are pending. Without it, results are
written as they complete (each record carries `index`, the input's position, to sort by).

`Progress` writes the task log's progress lines: done / total, rate, errors, ETA, at a sane interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any

from airflow_provider_abeja.batch.inputs import BatchInput
from airflow_provider_abeja.batch.results import ResultStore
from airflow_provider_abeja.batch.sender import error_fields

logger = logging.getLogger("airflow_provider_abeja.batch")

Process = Callable[[BatchInput], dict[str, Any]]
Pending = tuple[BatchInput, "Future[dict[str, Any]]"]


def _duration(seconds: float) -> str:
    hours, rest = divmod(max(0, round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class Progress:
    """Logs every `interval` seconds, and when another `percent_step` % of the total is done.

    Percent steps are not logged closer than `min_gap` seconds apart, so a fast small batch does not
    flood the log; the runner writes the first and last lines itself, with `log`.
    """

    logger: Any
    total: int | None
    _: KW_ONLY
    interval: float = 10.0
    percent_step: float = 5.0
    min_gap: float = 1.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.started = self.clock()
        self._last_log = self.started
        self._next_percent = self.percent_step

    def line(self, sent: int, errors: int, skipped: int = 0) -> str:
        """`sent` inputs sent by this try (the rate), `skipped` found done by an earlier one."""
        elapsed = self.clock() - self.started
        rate = sent / elapsed if elapsed > 0 else 0.0
        done = skipped + sent
        if self.total:
            eta = _duration(max(0, self.total - done) / rate) if rate > 0 else "?"
            head = f"{done}/{self.total} ({100.0 * done / self.total:.1f}%)"
        else:
            head, eta = f"{done}/?", "?"
        extra = f", {skipped} from earlier tries" if skipped else ""
        return f"Batch progress: {head} done{extra}, {rate:.1f}/s, {errors} errors, ETA {eta}"

    def update(self, sent: int, errors: int, skipped: int = 0) -> bool:
        """Log a line if one is due; returns whether it did."""
        now = self.clock()
        since = now - self._last_log
        pct = 100.0 * (skipped + sent) / self.total if self.total else 0.0
        step_due = self.total and since >= self.min_gap and pct >= self._next_percent
        if since < self.interval and not step_due:
            return False
        while self.total and self._next_percent <= pct:
            self._next_percent += self.percent_step
        self._last_log = now
        self.log(sent, errors, skipped)
        return True

    def log(self, sent: int, errors: int, skipped: int = 0) -> None:
        """Log a line now (the first and the last one of a run)."""
        self.logger.info("%s", self.line(sent, errors, skipped))


class BatchStopped(RuntimeError):
    """The run was asked to stop (task killed); everything finished so far is in the output."""


class BatchAborted(RuntimeError):
    """The service could not take requests (an outcome with status "abort"); a retry resumes."""

    def __init__(self, message: str, counts: BatchCounts) -> None:
        super().__init__(message)
        self.counts = counts


@dataclass
class BatchCounts:
    """What one try did, and what the output holds overall."""

    total: int | None
    skipped: int = 0
    sent: int = 0
    ok: int = 0
    errors: int = 0
    prior_ok: int = 0
    prior_errors: int = 0
    aborted: int = 0
    duration: float = 0.0

    @property
    def done_ok(self) -> int:
        return self.prior_ok + self.ok

    @property
    def done_errors(self) -> int:
        return self.prior_errors + self.errors

    @property
    def error_rate(self) -> float:
        done = self.done_ok + self.done_errors
        return self.done_errors / done if done else 0.0

    @property
    def throughput(self) -> float:
        return self.sent / self.duration if self.duration > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "done_ok": self.done_ok,
            "done_errors": self.done_errors,
            "error_rate": round(self.error_rate, 6),
            "throughput": round(self.throughput, 2),
            "duration": round(self.duration, 3),
        }


def _safe(process: Process, item: BatchInput) -> dict[str, Any]:
    try:
        return process(item)
    except Exception as exc:  # the store must get a record for every input, whatever went wrong
        return {"status": "error", **error_fields(exc)}


@dataclass
class BatchRunner:
    """Runs `process` over a stream of inputs with bounded concurrency; see the module docstring.

    `window` is how many inputs may be held at once; 0 picks a default for `preserve_order`.
    """

    process: Process
    store: ResultStore
    _: KW_ONLY
    concurrency: int
    preserve_order: bool = True
    window: int = 0
    progress_interval: float = 10.0
    log: Any = logger
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        # Unordered: a few spare inputs keep workers busy while the writer catches up.
        # Ordered: room for slow inputs to finish late without starving the workers.
        default_window = self.concurrency * (8 if self.preserve_order else 2)
        self.window = max(self.concurrency, self.window or default_window)

    def run(self, inputs: Iterable[BatchInput], total: int | None = None) -> BatchCounts:
        counts = BatchCounts(total=total, prior_ok=self.store.prior_ok, prior_errors=self.store.prior_errors)
        started = time.monotonic()
        done = self.store.done
        progress: Progress | None = None
        pending: deque[Pending] = deque()
        source = iter(inputs)
        exhausted = False
        abort_reason: list[str] = []

        def write(item: BatchInput, result: dict[str, Any]) -> None:
            if result.get("status") == "abort":
                counts.aborted += 1
                if not abort_reason:
                    error = result.get("error") or {}
                    abort_reason.append(f"input {item.key!r}: {error.get('message', 'service unavailable')}")
                return
            self.store.write({"key": item.key, "index": item.index, **result})
            ok = result.get("status") == "ok"
            counts.sent, counts.ok, counts.errors = counts.sent + 1, counts.ok + ok, counts.errors + (not ok)

        def write_finished() -> None:
            """Write the finished results that may be written: all of them, or in order the leading ones."""
            for _ in range(len(pending)):  # one look at each: a future may finish meanwhile
                item, future = pending.popleft()
                if future.done() and not future.cancelled():
                    write(item, future.result())
                elif self.preserve_order:
                    pending.appendleft((item, future))
                    return
                else:
                    pending.append((item, future))

        executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="abeja-batch")
        try:
            while True:
                while not (exhausted or abort_reason or self.stop.is_set()) and len(pending) < self.window:
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                        break
                    if len(done) and item.key in done:
                        counts.skipped += 1
                        continue
                    pending.append((item, executor.submit(_safe, self.process, item)))
                if progress is None:
                    progress = Progress(self.log, total, interval=self.progress_interval)
                    progress.log(0, counts.done_errors, counts.skipped)
                if not pending:
                    break
                # In order, only the oldest input's result can be written next.
                futures = [pending[0][1]] if self.preserve_order else [future for _, future in pending]
                wait(futures, timeout=min(self.progress_interval, 1.0), return_when=FIRST_COMPLETED)
                write_finished()
                progress.update(counts.sent, counts.done_errors, counts.skipped)
            if abort_reason:
                raise BatchAborted(
                    f"the service did not take requests ({abort_reason[0]}); stopped after "
                    f"{counts.sent} results, {counts.aborted} input(s) left for a retry",
                    counts,
                )
            if self.stop.is_set() and not exhausted:
                raise BatchStopped(f"stopped after {counts.sent} inputs; the rest is left for a retry")
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            # Whatever finished is written, even when the loop broke off: a retry will not redo it.
            write_finished()
            counts.duration = time.monotonic() - started
            self.store.close()
        if progress is not None:
            progress.log(counts.sent, counts.done_errors, counts.skipped)
        return counts
