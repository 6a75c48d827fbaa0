"""What a wait is and what its end becomes, the same in every mode.

The statuses of services, training jobs and runs, the pure :func:`step` (one observation in, an outcome
out: no I/O, no clock), the one event a trigger yields and how a resumed task reads it back, and
the fail-fast rule (``exceptions.is_fail_fast``) as Airflow sees it. The blocking wait
(``wait.blocking``), the sensor's poke (``wait.sensor``) and the trigger (``wait.trigger``) all
drive :func:`step`, so one situation gives one outcome and one message whatever the mode.

Only the functions that raise Airflow's exceptions import Airflow (when called), so the statuses
and the step load without it, as the client does.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, ClassVar

from airflow_provider_abeja.exceptions import (
    AbejaError,
    InvalidResponseError,
    RunFailedError,
    ServiceFailedError,
    TrainingJobFailedError,
    WaitGaveUpError,
    WaitTimeoutError,
    is_fail_fast,
    is_transient,
    with_log_lines,
)

#: How many of the latest recent-log lines a failure carries (trigger events live in the database).
MAX_LOG_LINES = 20
#: Each log line is cut to this many characters for the same reason.
MAX_LOG_LINE_CHARS = 1000
#: Transient errors in a row (after the client's own retries) a wait tolerates, in every mode.
DEFAULT_TRANSIENT_ERROR_BUDGET = 5

#: The organization and the two path ids after it (deployment and service, job definition and job, ...).
Ids = tuple[str, str, str]


# -- statuses -----------------------------------------------------------------------------------


class ServiceStatus(StrEnum):
    """Statuses a service reports (a status as the platform spells it: ``str()`` and comparisons
    give that spelling). ``STOPPED`` and ``FAILED`` are this provider's (and the
    emulator's) names: the public material only shows ``IN_PROGRESS`` and ``READY``."""

    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class TrainingJobStatus(StrEnum):
    """The statuses of ABEJA's SDK (``abeja.training.JobStatus``)."""

    PENDING = "Pending"
    ACTIVE = "Active"
    STOPPED = "Stopped"
    COMPLETE = "Complete"
    FAILED = "Failed"


class RunStatus(StrEnum):
    """The statuses of a run: AWS Batch's job states (``SUCCEEDED`` and ``FAILED`` are final)."""

    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


#: A service in one of these runs (or is about to): start has nothing to do, a retry may reuse it.
RUNNING_STATUSES: frozenset[str] = frozenset({ServiceStatus.READY, ServiceStatus.IN_PROGRESS})
#: Statuses after which a service wait fails unless it is waiting for exactly that status.
DEFAULT_FAILURE_STATUSES: frozenset[str] = frozenset({ServiceStatus.FAILED, ServiceStatus.STOPPED})
#: A job in one of these still runs (or is about to).
RUNNING_JOB_STATUSES: frozenset[str] = frozenset({TrainingJobStatus.PENDING, TrainingJobStatus.ACTIVE})
#: A wait for a job's completion fails on these.
FAILED_JOB_STATUSES: frozenset[str] = frozenset({TrainingJobStatus.FAILED, TrainingJobStatus.STOPPED})


@dataclass(frozen=True)
class ResourceKind:
    """What a wait watches. The last path id names it: ``service_id`` is a ``service`` in messages,
    read with the clients' ``get_service`` (``get_service_recent_logs`` for its logs) and reported
    under ``service_status`` in a trigger event (the last word: a training job's is ``job_status``).
    The target's enum holds the statuses it knows (it warns once about any other)."""

    path_ids: tuple[str, str, str]
    target_status: StrEnum
    failure_statuses: frozenset[str]
    #: ``(id, status, log_lines, message)`` -> the fail-fast error of a failure status.
    failed_error: Callable[[str, str, Sequence[str], str], AbejaError]
    #: Statuses in which it still runs (and so is cancelled); empty: cancel in any status.
    cancel_statuses: frozenset[str] = frozenset()
    #: The client call that ends it when a user kills the task (both clients have it), and what
    #: it did, for the log.
    cancel: str = ""
    cancelled: str = ""
    #: A field of the resource whose text explains a failure (appended to the message).
    detail_key: str | None = None

    @property
    def noun(self) -> str:
        return self.path_ids[2].removesuffix("_id").replace("_", " ")

    @property
    def read(self) -> str:
        return "get_" + self.path_ids[2].removesuffix("_id")

    @property
    def known_statuses(self) -> frozenset[str]:
        return frozenset(type(self.target_status))

    @property
    def status_key(self) -> str:
        return self.noun.split()[-1] + "_status"


SERVICE = ResourceKind(
    ("organization_id", "deployment_id", "service_id"),
    ServiceStatus.READY,
    DEFAULT_FAILURE_STATUSES,
    ServiceFailedError,
    cancel="delete_service",
    cancelled="deleted",
)
TRAINING_JOB = ResourceKind(
    ("organization_id", "job_definition_name", "training_job_id"),
    TrainingJobStatus.COMPLETE,
    FAILED_JOB_STATUSES,
    TrainingJobFailedError,
    RUNNING_JOB_STATUSES,
    "stop_training_job",
    "stopped",
    "status_message",
)
RUN = ResourceKind(
    ("organization_id", "deployment_id", "run_id"),
    RunStatus.SUCCEEDED,
    frozenset({RunStatus.FAILED}),
    RunFailedError,
)


# -- one observation ----------------------------------------------------------------------------


class Outcome(StrEnum):
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
    target_status: str = SERVICE.target_status.value
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
        target = str(kind.target_status if target_status is None else target_status)
        failures = kind.failure_statuses if failure_statuses is None else failure_statuses
        failures = frozenset(str(s) for s in failures) - {target}
        wall = deadline if wall_deadline is None else wall_deadline
        text = "" if wall is None else datetime.fromtimestamp(wall, timezone.utc).isoformat()
        return cls(str(resource_id), target, failures, int(transient_error_budget), deadline, text, kind)


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
    #: What the wait remembers after this step (a wait that ended before any observation: nothing).
    state: WaitState = field(default_factory=WaitState)
    message: str = ""
    logs: tuple[LogLine, ...] = ()
    service: Mapping[str, Any] | None = None
    retryable: bool = True
    #: The error reading the resource that ended the wait, if one did.
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not Outcome.WAITING

    @property
    def wants_logs(self) -> bool:
        """Whether the resource's latest log lines go with the end: a failure status or the deadline."""
        return self.outcome in (Outcome.FAILED, Outcome.TIMED_OUT)


def observe(read: Callable[[], Mapping[str, Any]]) -> object:
    """What ``read`` answers, or the provider error it raised: an observation for :func:`step`."""
    try:
        return read()
    except AbejaError as exc:
        return exc


def advance(spec: WaitSpec, state: WaitState, observation: object, now: float, logger: Any) -> Step:
    """:func:`step`, its lines logged on ``logger`` (stdlib or structlog): one observation in every mode."""
    result = step(spec, state, observation, now)
    for line in result.logs:
        getattr(logger, line.level)(line.template, *line.args)
    return result


def timeout_message(spec: WaitSpec, last_status: str | None) -> str:
    """The one timeout message (also used by the sensor's poke mode, where Airflow keeps time)."""
    return (
        f"{spec.kind.noun} {spec.resource_id} did not reach {spec.target_status} before the deadline "
        f"({spec.deadline_text}); last status: {last_status}"
    )


def step(spec: WaitSpec, state: WaitState, observation: object, now: float) -> Step:
    """Apply one observation (the resource's JSON, or the error reading it raised) at time ``now``.

    A transient error (transport, 408/425/429, 5xx, a garbled answer) costs one unit of the
    budget and keeps waiting; more than ``transient_error_budget`` in a row end the wait with a
    retryable error. Any other error ends it at once (not retryable when the fail-fast table
    says so). A status is success only when it is the target; a failure status fails; any other
    status, known or not (one warning per unknown status), keeps waiting until the deadline.
    """
    sid, kind, budget, target = spec.resource_id, spec.kind, spec.transient_error_budget, spec.target_status
    noun, title = kind.noun, kind.noun.capitalize()
    resource = observation if isinstance(observation, Mapping) else None
    logs: list[LogLine] = []
    if resource is None:
        exc = observation
        if not isinstance(exc, BaseException):
            exc = InvalidResponseError("invalid_response", f"{noun} is not a JSON object", 200, f"get {noun}")
        if not is_transient(exc):
            message = f"cannot get {noun} {sid}: {exc}"
            return Step(Outcome.ERROR, state, message, retryable=not is_fail_fast(exc), error=exc)
        state = replace(state, errors_in_a_row=state.errors_in_a_row + 1)
        errors = state.errors_in_a_row
        if errors > budget:
            message = f"giving up on {noun} {sid} after {errors} transient errors in a row (budget {budget})"
            return Step(Outcome.ERROR, state, f"{message}; last: {exc}", error=exc)
        template = f"Transient error %d/%d polling {noun} %s: %s"
        logs.append(LogLine("warning", template, (errors, budget, sid, exc)))
    else:
        status = None if (raw := resource.get("status")) is None else str(raw)
        changed = status != state.last_status or state.polls == 0
        state = replace(state, errors_in_a_row=0, last_status=status, polls=state.polls + 1)
        if status == target:
            reached = (LogLine("info", f"{title} %s is %s", (sid, status)),)
            return Step(Outcome.SUCCEEDED, state, f"{noun} {sid} reached status {status}", reached, resource)
        if changed:
            logs.append(LogLine("info", f"{title} %s is %s; waiting for %s", (sid, status, target)))
        if status in spec.failure_statuses:
            message = f"{noun} {sid} reached failure status {status} while waiting for {target}"
            detail = resource.get(kind.detail_key) if kind.detail_key else None
            message += f": {detail}" if detail else ""
            return Step(Outcome.FAILED, state, message, tuple(logs), resource, retryable=False)
        if status not in kind.known_statuses and str(status) not in state.warned_statuses:
            state = replace(state, warned_statuses=state.warned_statuses | {str(status)})
            template = f"{title} %s reports unknown status %r: still waiting for %s"
            logs.append(LogLine("warning", template, (sid, status, target)))
    if spec.deadline is not None and now >= spec.deadline:
        return Step(Outcome.TIMED_OUT, state, timeout_message(spec, state.last_status), tuple(logs), resource)
    return Step(Outcome.WAITING, state, "", tuple(logs), resource)


def next_pause(spec: WaitSpec, interval: float, now: float) -> float:
    """The pause before the next poll: ``interval``, cut so the last poll lands on the deadline."""
    return interval if spec.deadline is None else min(interval, max(0.0, spec.deadline - now))


def latest_log_lines(recent_logs: Any, limit: int = MAX_LOG_LINES) -> list[str]:
    """The latest ``limit`` messages of a ``recentlogs`` answer, oldest first.

    The platform lists events newest first; a missing or malformed body gives no lines rather
    than an error, because the log lines only decorate an outcome that is already known.
    """
    events = recent_logs.get("events") if isinstance(recent_logs, Mapping) else None
    if not isinstance(events, list):
        return []
    messages = (event.get("message") if isinstance(event, Mapping) else event for event in events[:limit])
    texts = [str(message).rstrip("\n") for message in messages if message is not None][::-1]
    return [text[:MAX_LOG_LINE_CHARS] + "..." if len(text) > MAX_LOG_LINE_CHARS else text for text in texts]


def read_log_lines(client: Any, kind: ResourceKind, ids: Sequence[str], logger: Any) -> list[str]:
    """The latest log lines read with a sync client, or none (with a warning): they only decorate
    an outcome that is already known. The sensor and the blocking training wait read them so."""
    try:
        return latest_log_lines(getattr(client, f"{kind.read}_recent_logs")(*ids))
    except Exception as exc:
        logger.warning("Could not read recent logs of %s %s: %s", kind.noun, ids[2], exc)
        return []


# -- the end of a wait: the provider's error, the trigger's event, Airflow's exception ------------


def step_error(
    spec: WaitSpec, done: Step, log_lines: Sequence[str] = (), timeout: float | None = None
) -> AbejaError:
    """The provider error for a wait that ended without success; every mode raises this one."""
    sid, kind, last = spec.resource_id, spec.kind, done.state.last_status
    if done.outcome is Outcome.FAILED:
        return kind.failed_error(sid, str(last), log_lines, done.message)
    text = with_log_lines(done.message, log_lines, kind.noun)
    if done.outcome is Outcome.TIMED_OUT:
        return WaitTimeoutError(sid, last, timeout, message=text)
    error = WaitGaveUpError(sid, text, done.retryable)  # an ERROR: nothing else ends a wait
    error.__cause__ = done.error
    return error


#: The ``status`` values an event may carry: the outcomes that end a wait.
EVENT_STATUSES: frozenset[str] = frozenset(o.value for o in Outcome if o is not Outcome.WAITING)


def status_event(
    resource_id: str, result: Step, log_lines: list[str] | None = None, kind: ResourceKind = SERVICE
) -> dict[str, Any]:
    """The event for a wait that ended with ``result`` (JSON only: it is stored in the database)."""
    event: dict[str, Any] = {
        "status": result.outcome.value,
        kind.path_ids[2]: resource_id,
        kind.status_key: result.state.last_status,
        "message": result.message,
    }
    if result.outcome is not Outcome.SUCCEEDED:
        event["log_lines"] = list(log_lines or [])
    if result.outcome is Outcome.ERROR:
        event["retryable"] = result.retryable
    return event


def validate_status_event(
    event: Any,
    expected_service_id: str,
    *,
    timeout_exception: type[Exception] | None = None,
    kind: ResourceKind = SERVICE,
) -> dict[str, Any]:
    """Return a well-formed ``success`` event; raise what the wait in a worker would have raised.

    No event, not a dict, an unknown ``status`` or another resource's event: ``AirflowException``
    (something is wrong with the deferral itself). Otherwise the event's :func:`step_error` (the
    kind's failure error with the latest log lines, ``WaitTimeoutError`` or ``WaitGaveUpError``,
    fail-fast unless the event says ``retryable``), mapped by :func:`airflow_error`.
    """
    from airflow.providers.common.compat.sdk import AirflowException

    noun, expected = kind.noun, expected_service_id
    if event is None:
        raise AirflowException(f"no trigger event received while waiting for {noun} {expected}")
    if not isinstance(event, Mapping):
        raise AirflowException(
            f"unexpected trigger event for {noun} {expected}: {type(event).__name__} instead of a dict"
        )
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise AirflowException(f"unexpected trigger event status {status!r} for {noun} {expected}")
    resource_id = event.get(kind.path_ids[2])
    if resource_id != expected:
        raise AirflowException(f"trigger event is for {noun} {resource_id!r}, expected {expected!r}")
    if status == Outcome.SUCCEEDED:
        return dict(event)
    lines = [str(line) for line in raw] if isinstance(raw := event.get("log_lines"), list) else []
    state = WaitState(last_status=None if (last := event.get(kind.status_key)) is None else str(last))
    message = str(event.get("message") or f"{noun} {resource_id}: {status}")
    done = Step(Outcome(status), state, message, retryable=event.get("retryable") is not False)
    error = step_error(WaitSpec(str(resource_id), kind=kind), done, lines)
    raise airflow_error(error, timeout_exception=timeout_exception) from error


#: :func:`validate_status_event` for a training job's event.
validate_training_event = functools.partial(validate_status_event, kind=TRAINING_JOB)
#: :func:`validate_status_event` for a run's event.
validate_run_event = functools.partial(validate_status_event, kind=RUN)


def airflow_error(exc: BaseException, *, timeout_exception: type[Exception] | None = None) -> Exception:
    """The Airflow exception a task raises for ``exc`` (raise it ``from exc``).

    Fail-fast errors give ``AirflowFailException`` (no retry), a wait's timeout gives
    ``timeout_exception`` (sensors pass ``AirflowSensorTimeout``), anything else
    ``AirflowException`` (the task's retries apply; also the default ``timeout_exception``). The
    message is the error's own.
    """
    from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

    if isinstance(exc, WaitTimeoutError):
        return (timeout_exception or AirflowException)(str(exc))
    return (AirflowFailException if is_fail_fast(exc) else AirflowException)(str(exc))


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Raise ``AirflowFailException`` for a fail-fast error; let every other error through.

    Also catches a plain ``AirflowException`` raised ``from`` a fail-fast error (an operator
    that words the error its own way): the rule, not the wording, decides about retries.
    """
    from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

    try:
        yield
    except (AbejaError, AirflowException) as exc:
        cause = exc.__cause__ if type(exc) is AirflowException else exc
        if cause is not None and is_fail_fast(cause):
            raise AirflowFailException(str(exc)) from cause
        raise


class FailFastMixin:
    """Mixed into every operator and sensor of this provider: the methods Airflow calls run under
    :func:`fail_fast`, whatever the task's own code catches or words. The one fail-fast mechanism."""

    #: The methods wrapped wherever a subclass defines them.
    fail_fast_methods: ClassVar[tuple[str, ...]] = ("execute", "execute_complete")

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.fail_fast_methods:
            method = cls.__dict__.get(name)
            if callable(method):
                wrapped = fail_fast()(method)  # a context manager is also a decorator
                wrapped.__abeja_fail_fast__ = True  # type: ignore[attr-defined]
                setattr(cls, name, wrapped)
