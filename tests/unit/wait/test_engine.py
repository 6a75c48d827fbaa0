"""The wait engine's pure step: one observation in, one decision out (no I/O, no clock); and the
latest log lines a failure or a timeout carries."""

from __future__ import annotations

import pytest

from airflow_provider_abeja.exceptions import HttpError, NotFound, TLSMismatchError
from airflow_provider_abeja.wait.engine import (
    MAX_LOG_LINE_CHARS,
    SERVICE,
    TRAINING_JOB,
    Outcome,
    ResourceKind,
    WaitSpec,
    WaitState,
    latest_log_lines,
    next_pause,
    step,
)

SER = "ser-0123456789abcdef"
UNAVAILABLE = HttpError("unavailable", "", 503, "http://x")


def run(spec: WaitSpec, observations: list[object], now: float = 0.0) -> list:
    state, steps = WaitState(), []
    for observation in observations:
        result = step(spec, state, observation, now)
        state = result.state
        steps.append(result)
    return steps


def test_the_target_is_never_a_failure_status() -> None:
    spec = WaitSpec.build(SER, target_status="STOPPED")
    assert "STOPPED" not in spec.failure_statuses
    (result,) = run(spec, [{"status": "STOPPED"}])
    assert result.outcome is Outcome.SUCCEEDED


def test_an_unknown_status_is_warned_about_once_and_keeps_waiting() -> None:
    steps = run(WaitSpec.build(SER), [{"status": "MYSTERY"}] * 3)
    assert [s.outcome for s in steps] == [Outcome.WAITING] * 3
    warnings = [line for s in steps for line in s.logs if line.level == "warning"]
    assert len(warnings) == 1
    assert "MYSTERY" in warnings[0].args


def test_a_status_line_is_logged_only_when_the_status_changes() -> None:
    steps = run(WaitSpec.build(SER), [{"status": "IN_PROGRESS"}] * 3 + [{"status": "READY"}])
    assert [len(s.logs) for s in steps] == [1, 0, 0, 1]


@pytest.mark.parametrize(
    "error",
    [NotFound("not_found", "", 404, "http://x"), TLSMismatchError("tls", url="https://x", attempts=1)],
)
def test_a_fail_fast_error_ends_the_wait_without_retries(error: Exception) -> None:
    (result,) = run(WaitSpec.build(SER), [error])
    assert (result.outcome, result.retryable) == (Outcome.ERROR, False)


def test_an_unexpected_error_ends_the_wait_but_may_be_retried() -> None:
    (result,) = run(WaitSpec.build(SER), [RuntimeError("bug")])
    assert (result.outcome, result.retryable) == (Outcome.ERROR, True)


def test_the_deadline_is_checked_after_the_observation() -> None:
    spec = WaitSpec.build(SER, deadline=10.0)
    assert step(spec, WaitState(), {"status": "READY"}, 99.0).outcome is Outcome.SUCCEEDED
    late = step(spec, WaitState(), {"status": "IN_PROGRESS"}, 10.0)
    assert late.outcome is Outcome.TIMED_OUT
    assert "last status: IN_PROGRESS" in late.message
    assert next_pause(spec, 4.0, 8.0) == 2.0


def test_a_transient_error_at_the_deadline_times_out_with_its_warning() -> None:
    spec = WaitSpec.build(SER, deadline=10.0)
    waiting = step(spec, WaitState(), {"status": "IN_PROGRESS"}, 0.0)
    late = step(spec, waiting.state, UNAVAILABLE, 10.0)
    assert late.outcome is Outcome.TIMED_OUT
    assert "last status: IN_PROGRESS" in late.message
    assert [line.level for line in late.logs] == ["warning"]


def test_the_first_status_is_logged_even_when_it_is_missing() -> None:
    steps = run(WaitSpec.build(SER), [{}, {}])
    assert [len(s.logs) for s in steps] == [2, 0]  # the status line, the unknown-status warning


def test_statuses_from_a_shared_listing_feed_many_waits() -> None:
    """A listing of many services (one GET per deployment) drives each service's own wait."""
    listing = [{"service_id": "ser-a", "status": "READY"}, {"service_id": "ser-b", "status": "FAILED"}]
    specs = {sid: WaitSpec.build(sid) for sid in ("ser-a", "ser-b")}
    outcomes = {s["service_id"]: step(specs[s["service_id"]], WaitState(), s, 0.0).outcome for s in listing}
    assert outcomes == {"ser-a": Outcome.SUCCEEDED, "ser-b": Outcome.FAILED}


# -- the latest log lines a failure or timeout carries ------------------------------------------------


def test_a_newest_first_answer_becomes_oldest_first_lines() -> None:
    logs = {
        "events": [
            {"message": "third\n", "timestamp": 3},
            {"message": "second", "timestamp": 2},
            {"message": "first", "timestamp": 1},
        ],
        "next_forward_token": "",
    }
    assert latest_log_lines(logs) == ["first", "second", "third"]


def test_only_the_latest_lines_are_kept() -> None:
    logs = {"events": [{"message": f"line {i}"} for i in range(50, 0, -1)]}
    assert latest_log_lines(logs, limit=3) == ["line 48", "line 49", "line 50"]


def test_long_lines_are_cut() -> None:
    (line,) = latest_log_lines({"events": [{"message": "x" * (MAX_LOG_LINE_CHARS + 10)}]})
    assert len(line) == MAX_LOG_LINE_CHARS + 3


@pytest.mark.parametrize("answer", [None, [], {}, {"events": "nope"}, {"events": [{"no": "message"}]}])
def test_malformed_answers_give_no_lines(answer: object) -> None:
    assert latest_log_lines(answer) == []


@pytest.mark.parametrize(
    ("kind", "target", "other", "title"),
    [(SERVICE, "READY", "IN_PROGRESS", "Service"), (TRAINING_JOB, "Complete", "Active", "Training job")],
)
def test_the_status_line_says_what_happened(kind: ResourceKind, target: str, other: str, title: str) -> None:
    spec = WaitSpec.build(SER, kind=kind)

    def lines(status: str) -> list[str]:
        return [line.template % line.args for line in step(spec, WaitState(), {"status": status}, 0.0).logs]

    assert lines(other) == [f"{title} {SER} is {other}; waiting for {target}"]
    assert lines(target) == [f"{title} {SER} is {target}"]
