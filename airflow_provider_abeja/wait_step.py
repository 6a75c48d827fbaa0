"""The one wait engine: what a status wait does with one observation of a service or a training job.

Pure (no I/O, no clock, no Airflow): the caller reads the resource (sync client, async client,
or a shared listing of many services) and hands the answer, or the error it got, to
:func:`step` together with the wait's state and the current time. The step says whether the
wait succeeded, failed, timed out, ended in an error, or goes on, with the message and the log
lines to show. The operators' own wait (``hooks/_wait``), the sensor's poke and the trigger all
drive this one function, so the same situation gives the same outcome and message in every mode.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_abeja.exceptions import (
    AbejaError,
    InvalidResponseError,
    WaitGaveUpError,
    WaitTimeoutError,
    is_fail_fast,
    is_transient,
    with_log_lines,
)
from airflow_provider_abeja.status import SERVICE, ResourceKind, StatusEnum

__all__ = [
    "DEFAULT_TRANSIENT_ERROR_BUDGET",
    "SERVICE",
    "LogLine",
    "Outcome",
    "ResourceKind",
    "Step",
    "WaitSpec",
    "WaitState",
    "emit",
    "latest_log_lines",
    "next_pause",
    "step",
    "step_error",
    "timeout_message",
    "with_log_lines",
]

#: How many of the latest recent-log lines a failure carries (trigger events live in the database).
MAX_LOG_LINES = 20
#: Each log line is cut to this many characters for the same reason.
MAX_LOG_LINE_CHARS = 1000
#: Transient errors in a row (after the client's own retries) a wait tolerates, in every mode.
DEFAULT_TRANSIENT_ERROR_BUDGET = 5


class Outcome(StatusEnum):
    """Where one step leaves the wait (the ``status`` of a trigger event)."""

    WAITING = "waiting"
    SUCCEEDED = "success"
    FAILED = "failure"
    TIMED_OUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class LogLine:
    """A line the caller logs: ``getattr(logger, level)(template, *args)``."""

    level: str
    template: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class WaitSpec:
    """What a wait waits for; ``deadline`` is in the caller's clock (None: no deadline)."""

    resource_id: str
    target_status: str = SERVICE.target_status
    failure_statuses: frozenset[str] = SERVICE.failure_statuses
    transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET
    deadline: float | None = None
    #: The deadline as UTC wall-clock time, for messages (the same whatever clock ``deadline`` uses).
    deadline_text: str = ""
    kind: ResourceKind = SERVICE

    @classmethod
    def build(
        cls,
        resource_id: str,
        target_status: str | None = None,
        failure_statuses: Iterable[str] | None = None,
        transient_error_budget: int = DEFAULT_TRANSIENT_ERROR_BUDGET,
        deadline: float | None = None,
        wall_deadline: float | None = None,
        kind: ResourceKind = SERVICE,
    ) -> WaitSpec:
        """A spec with the rules every mode shares: the target is never a failure status.

        ``target_status`` and ``failure_statuses`` default to the ``kind``'s. ``wall_deadline``
        (epoch seconds) names the deadline in messages; it defaults to ``deadline``, for
        callers whose clock is the wall clock.
        """
        if isinstance(failure_statuses, str):
            raise TypeError("failure_statuses must be a collection of statuses, not a string")
        if isinstance(transient_error_budget, bool) or int(transient_error_budget) < 0:
            raise ValueError("transient_error_budget must be >= 0")
        target = kind.target_status if target_status is None else str(target_status)
        failures = kind.failure_statuses if failure_statuses is None else failure_statuses
        return cls(
            resource_id=str(resource_id),
            target_status=target,
            failure_statuses=frozenset(str(s) for s in failures) - {target},
            transient_error_budget=int(transient_error_budget),
            deadline=deadline,
            deadline_text=_utc_text(deadline if wall_deadline is None else wall_deadline),
            kind=kind,
        )


@dataclass(frozen=True)
class WaitState:
    """What a wait remembers between observations."""

    errors_in_a_row: int = 0
    last_status: str | None = None
    polls: int = 0
    warned_statuses: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Step:
    """The result of one observation. ``retryable`` says whether an Airflow retry may help."""

    outcome: Outcome
    state: WaitState
    message: str = ""
    logs: tuple[LogLine, ...] = ()
    service: Mapping[str, Any] | None = None
    retryable: bool = True
    #: The error reading the service that ended the wait, if one did.
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not Outcome.WAITING


def _utc_text(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat()


def emit(step_result: Step, logger: Any) -> None:
    """Log a step's lines on any logger with ``info`` / ``warning`` (stdlib or structlog)."""
    for line in step_result.logs:
        getattr(logger, line.level)(line.template, *line.args)


def timeout_message(spec: WaitSpec, last_status: str | None) -> str:
    """The one timeout message (also used by the sensor's poke mode, where Airflow keeps time)."""
    return (
        f"{spec.kind.noun} {spec.resource_id} did not reach {spec.target_status} before the deadline "
        f"({spec.deadline_text}); last status: {last_status}"
    )


def step(spec: WaitSpec, state: WaitState, observation: object, now: float) -> Step:
    """Apply one observation (the service's JSON, or the error reading it raised) at time ``now``.

    A transient error (transport, 408/425/429, 5xx, a garbled answer) costs one unit of the
    budget and keeps waiting; more than ``transient_error_budget`` in a row end the wait with a
    retryable error. Any other error ends it at once (not retryable when the fail-fast table
    says so). A status is success only when it is the target; a failure status fails; any other
    status, known or not (one warning per unknown status), keeps waiting until the deadline.
    """
    sid, noun = spec.resource_id, spec.kind.noun
    if isinstance(observation, Mapping):
        return _status_step(spec, state, observation, now)
    exc = observation
    if not isinstance(exc, BaseException):
        exc = InvalidResponseError("invalid_response", f"{noun} is not a JSON object", 200, f"get {noun}")
    if not is_transient(exc):
        message = f"cannot get {noun} {sid}: {exc}"
        return Step(Outcome.ERROR, state, message, retryable=not is_fail_fast(exc), error=exc)
    errors = state.errors_in_a_row + 1
    state = replace(state, errors_in_a_row=errors)
    if errors > spec.transient_error_budget:
        message = (
            f"giving up on {noun} {sid} after {errors} transient errors in a row "
            f"(budget {spec.transient_error_budget}); last: {exc}"
        )
        return Step(Outcome.ERROR, state, message, error=exc)
    budget = spec.transient_error_budget
    template = f"Transient error %d/%d polling {noun} %s: %s"
    log = LogLine("warning", template, (errors, budget, sid, exc))
    return _deadline_step(spec, state, now, (log,))


def _status_step(spec: WaitSpec, state: WaitState, service: Mapping[str, Any], now: float) -> Step:
    sid, target, kind = spec.resource_id, spec.target_status, spec.kind
    noun, title = kind.noun, kind.noun.capitalize()
    raw = service.get("status")
    status = None if raw is None else str(raw)
    logs: list[LogLine] = []
    if status != state.last_status or state.polls == 0:
        logs.append(LogLine("info", f"{title} %s is %s; waiting for %s", (sid, status, target)))
    state = replace(state, errors_in_a_row=0, last_status=status, polls=state.polls + 1)
    if status == target:
        return Step(Outcome.SUCCEEDED, state, f"{noun} {sid} reached status {status}", tuple(logs), service)
    if status in spec.failure_statuses:
        message = f"{noun} {sid} reached failure status {status} while waiting for {target}"
        detail = service.get(kind.detail_key) if kind.detail_key else None
        if detail:
            message += f": {detail}"
        return Step(Outcome.FAILED, state, message, tuple(logs), service, retryable=False)
    if status not in kind.known_statuses and str(status) not in state.warned_statuses:
        state = replace(state, warned_statuses=state.warned_statuses | {str(status)})
        template = f"{title} %s reports unknown status %r: still waiting for %s"
        logs.append(LogLine("warning", template, (sid, status, target)))
    return _deadline_step(spec, state, now, tuple(logs), service)


def _deadline_step(
    spec: WaitSpec,
    state: WaitState,
    now: float,
    logs: tuple[LogLine, ...],
    service: Mapping[str, Any] | None = None,
) -> Step:
    if spec.deadline is not None and now >= spec.deadline:
        return Step(Outcome.TIMED_OUT, state, timeout_message(spec, state.last_status), logs, service)
    return Step(Outcome.WAITING, state, "", logs, service)


def next_pause(spec: WaitSpec, interval: float, now: float) -> float:
    """The pause before the next poll: ``interval``, cut so the last poll lands on the deadline."""
    if spec.deadline is None:
        return interval
    return min(interval, max(0.0, spec.deadline - now))


def step_error(
    spec: WaitSpec, done: Step, log_lines: Sequence[str] = (), timeout: float | None = None
) -> AbejaError:
    """The provider error for a wait that ended without success; every mode raises this one.

    ``airflow_provider_abeja.failfast.airflow_error`` turns it into the task's Airflow exception.
    """
    sid, kind = spec.resource_id, spec.kind
    last = done.state.last_status
    if done.outcome is Outcome.FAILED:
        return kind.failed_error(sid, str(last), log_lines, done.message)
    if done.outcome is Outcome.TIMED_OUT:
        message = with_log_lines(done.message, log_lines, kind.noun)
        return WaitTimeoutError(sid, last, timeout, message=message)
    if done.outcome is Outcome.ERROR:
        error = WaitGaveUpError(sid, done.message, done.retryable)
        error.__cause__ = done.error
        return error
    raise ValueError(f"the wait did not end without success: {done.outcome}")


def latest_log_lines(recent_logs: Any, limit: int = MAX_LOG_LINES) -> list[str]:
    """The latest ``limit`` messages of a ``recentlogs`` answer, oldest first.

    The platform lists events newest first; a missing or malformed body gives no lines rather
    than an error, because the log lines only decorate an outcome that is already known.
    """
    if not isinstance(recent_logs, Mapping):
        return []
    events = recent_logs.get("events")
    if not isinstance(events, list):
        return []
    lines: list[str] = []
    for event in events[:limit]:
        message = event.get("message") if isinstance(event, Mapping) else event
        if message is None:
            continue
        text = str(message).rstrip("\n")
        if len(text) > MAX_LOG_LINE_CHARS:
            text = text[:MAX_LOG_LINE_CHARS] + "..."
        lines.append(text)
    lines.reverse()
    return lines
