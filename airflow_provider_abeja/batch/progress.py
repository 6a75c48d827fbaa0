"""Progress lines for the task log: done / total, rate, errors, ETA, at a sane interval."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Logs every `interval` seconds, and when another `percent_step` % of the total is done.

    Percent steps are not logged closer than `min_gap` seconds apart, so a fast small batch does not
    flood the log; the first and last lines are always written by the caller (`start`, `finish`).
    """

    def __init__(
        self,
        logger: Any,
        total: int | None,
        *,
        interval: float = 10.0,
        percent_step: float = 5.0,
        min_gap: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.total = total
        self.interval = interval
        self.percent_step = percent_step
        self.min_gap = min_gap
        self.clock = clock
        self.started = clock()
        self._last_log = self.started
        self._next_percent = percent_step

    def line(self, sent: int, errors: int, skipped: int = 0) -> str:
        """`sent` inputs sent by this try (the rate), `skipped` found done by an earlier one."""
        elapsed = self.clock() - self.started
        rate = sent / elapsed if elapsed > 0 else 0.0
        done = skipped + sent
        if self.total:
            pct = 100.0 * done / self.total
            remaining = max(0, self.total - done)
            eta = _duration(remaining / rate) if rate > 0 else "?"
            head = f"{done}/{self.total} ({pct:.1f}%)"
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
