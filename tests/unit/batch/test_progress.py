"""Progress lines: interval, percent steps, rate and ETA, with a fake clock."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_abeja.batch.runner import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_has_done_total_rate_errors_eta() -> None:
    clock = Clock()
    p = Progress(logging.getLogger("t"), 1000, clock=clock)
    clock.now += 10
    assert p.line(200, 3, skipped=100) == (
        "Batch progress: 300/1000 (30.0%) done, 100 from earlier tries, 20.0/s, 3 errors, ETA 35s"
    )


def test_unknown_total() -> None:
    clock = Clock()
    p = Progress(logging.getLogger("t"), None, clock=clock)
    clock.now += 2
    assert p.line(10, 0) == "Batch progress: 10/? done, 5.0/s, 0 errors, ETA ?"


def test_logs_on_interval_and_on_percent_steps_not_more(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    p = Progress(logging.getLogger("t"), 100, interval=10, percent_step=5, min_gap=1, clock=clock)
    clock.now += 0.5
    assert not p.update(50, 0)  # 50 % but under the minimum gap
    clock.now += 0.6
    assert p.update(50, 0)  # several steps crossed: one line
    clock.now += 1.0
    assert not p.update(52, 0)  # next step is 55 %
    clock.now += 8.0
    assert not p.update(53, 0)
    p2 = p.update(55, 0)
    assert p2  # the 55 % step
    clock.now += 0.5
    assert not p.update(60, 0)  # the 60 % step, but too close to the last line
    clock.now += 0.6
    assert p.update(60, 0)
    clock.now += 10
    assert p.update(56, 0)  # interval
    assert len(caplog.records) == 4
