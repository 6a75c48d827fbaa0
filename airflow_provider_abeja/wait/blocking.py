"""The blocking wait of the operators that do not defer, for services, training jobs and runs.

It needs only a sync client, a logger (stdlib or Airflow 3's structlog), a clock and a sleep
function; each answer goes through ``engine.step``, so the outcomes and messages are the sensor's
and the trigger's. A service wait also copies the service's recent logs into the task log as they
come.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import AbejaError, WaitStoppedError
from airflow_provider_abeja.wait import engine

if TYPE_CHECKING:
    from airflow_provider_abeja.client import APIClient

#: How many (timestamp, message) keys are remembered to drop duplicates across polls.
_SEEN_LIMIT = 5000
#: Where an event without a readable timestamp sorts: first.
_NO_TIME = datetime.min.replace(tzinfo=timezone.utc)


def run_wait(
    kind: engine.ResourceKind,
    client: APIClient,
    organization_id: str,
    outer: str,
    inner: str,
    *,
    logger: Any,
    check_interval: float = 10.0,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop_event: threading.Event | None = None,
    after_read: Callable[[], None] | None = None,
    failure_lines: Callable[[], list[str]] | None = None,
    **rules: Any,
) -> dict[str, Any]:
    """Poll the ``kind`` of resource at the ids until the engine says the wait is over, ``timeout``
    seconds at most (``clock``'s), by the ``rules`` (``target_status``, ``failure_statuses``,
    ``transient_error_budget``: the arguments of ``engine.WaitSpec.build``, the kind's by default).

    Returns the resource on success; raises ``engine.step_error`` otherwise (the kind's failure
    error, ``WaitTimeoutError`` or ``WaitGaveUpError``, with ``failure_lines()``, by default the
    resource's latest log lines, after a failure status or the deadline), or ``WaitStoppedError``
    when ``stop_event`` is set (also before the first poll). With ``stop_event`` the pauses wait
    on it instead of ``sleep``. Negative pauses or timeouts are refused before the first poll.
    """
    if check_interval < 0:
        raise ValueError("check_interval must be >= 0")
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be >= 0 or None")
    deadline, wall = (None, None) if timeout is None else (clock() + timeout, time.time() + timeout)
    ids = (organization_id, outer, inner)
    read = functools.partial(getattr(client, kind.read), *ids)
    failure_lines = failure_lines or functools.partial(engine.read_log_lines, client, kind, ids, logger)
    spec = engine.WaitSpec.build(inner, deadline=deadline, wall_deadline=wall, kind=kind, **rules)
    state = engine.WaitState()
    if stop_event is not None and stop_event.is_set():
        raise WaitStoppedError(spec.resource_id)
    while True:
        observation = engine.observe(read)
        if after_read is not None:
            after_read()
        result = engine.advance(spec, state, observation, clock(), logger)
        state = result.state
        if result.outcome is engine.Outcome.SUCCEEDED:
            return dict(result.service or {})
        if result.done:
            raise engine.step_error(spec, result, failure_lines() if result.wants_logs else [], timeout)
        pause = engine.next_pause(spec, check_interval, clock())
        if stop_event is None:
            sleep(pause)
        elif stop_event.wait(pause):
            raise WaitStoppedError(spec.resource_id, state.last_status)


def wait_for_service_status(
    client: APIClient,
    organization_id: str,
    deployment_id: str,
    service_id: str,
    *,
    logger: Any,
    log_recent_logs: bool = True,
    logs_since: datetime | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Poll ``get_service`` until the target status; raises what the engine decides:
    ``ServiceFailedError`` (with the latest log lines) on a failure status, ``WaitTimeoutError``
    at the deadline (monotonic), ``WaitGaveUpError`` on a permanent error or more than
    ``transient_error_budget`` transient errors in a row.

    ``logs_since`` (a ``newest_log_time`` read before acting): older log events are not copied.
    ``options`` are :func:`run_wait`'s (``target_status``, ``failure_statuses``, ``check_interval``,
    ``timeout``, ``transient_error_budget``, ``stop_event``, ...), as the hook passes them.
    """
    follower = RecentLogFollower(client, (organization_id, deployment_id, service_id), logger, logs_since)

    def failure_lines() -> list[str]:
        if not log_recent_logs:
            follower.poll()
        return list(follower.latest_lines)

    after_read = follower.poll if log_recent_logs else None
    options.update(logger=logger, after_read=after_read, failure_lines=failure_lines)
    return run_wait(engine.SERVICE, client, organization_id, deployment_id, service_id, **options)


#: :func:`run_wait` for a training job: ``(client, organization_id, definition, job_id, **options)``.
wait_for_training_job = functools.partial(run_wait, engine.TRAINING_JOB)
#: :func:`run_wait` for a run: ``(client, organization_id, deployment_id, run_id, **options)``.
wait_for_run = functools.partial(run_wait, engine.RUN)


# -- a service's recent logs ---------------------------------------------------------------------


def iter_recent_logs(
    client: APIClient, organization_id: str, deployment_id: str, service_id: str, **options: Any
) -> Iterator[dict[str, Any]]:
    """Every event of every page, newest first; ``options``: ``start_time`` and ``end_time`` (the
    window), ``max_pages``.

    The first page holds the newest events; ``next_backward_token`` leads to older pages and is
    empty (or repeats, as some log stores do at the end) when there are no more.
    """
    ids, max_pages = (organization_id, deployment_id, service_id), options.pop("max_pages", None)
    token: str | None = None
    seen_tokens: set[str] = set()
    for page_number in itertools.count(1):
        page = client.get_service_recent_logs(*ids, next_backward_token=token, **options)
        events = page.get("events") or []
        yield from (e for e in events if isinstance(e, dict))
        token = page.get("next_backward_token") or None
        if not token or not events or token in seen_tokens or page_number == max_pages:
            return
        seen_tokens.add(token)


def newest_log_time(
    client: APIClient, organization_id: str, deployment_id: str, service_id: str
) -> datetime | None:
    """The platform's timestamp of the service's newest log event (its history ends there)."""
    events = iter_recent_logs(client, organization_id, deployment_id, service_id, max_pages=1)
    return max(filter(None, (parse_timestamp(e.get("timestamp")) for e in events)), default=None)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time of the platform's (``Z`` or an offset; UTC when naive), else None."""
    try:
        parsed = datetime.fromisoformat(value)  # "Z" included
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class RecentLogFollower:
    """Remembers which recent-log events were already copied, so each poll logs only new ones."""

    def __init__(self, client: APIClient, ids: engine.Ids, logger: Any, since: datetime | None) -> None:
        self._client, self._ids, self._log = client, ids, logger
        #: Insertion-ordered keys already seen; the oldest are forgotten past ``_SEEN_LIMIT``.
        self._seen: dict[tuple[str, str], None] = {}
        #: Events up to ``_since`` are history (the platform's clock): not copied again.
        self._newest = self._since = since
        #: The newest messages copied so far, oldest first.
        self.latest_lines: deque[str] = deque(maxlen=engine.MAX_LOG_LINES)
        self._warned = False

    def poll(self) -> None:
        """Fetch events since the newest one seen and log the new ones, oldest first."""
        # Timestamps in the query have second precision: start at the newest second seen and
        # drop what was already logged. The first poll reads only the newest page.
        start = self._newest.replace(microsecond=0) if self._newest else None
        ser, pages = self._ids[2], None if start else 1
        try:
            events = list(iter_recent_logs(self._client, *self._ids, start_time=start, max_pages=pages))
        except AbejaError as exc:
            if not self._warned:
                self._log.warning("Could not read recent logs of service %s: %s", ser, exc)
                self._warned = True
            return
        fresh = []
        for event in events:
            key = (str(event.get("timestamp", "")), str(event.get("message", "")))
            if key in self._seen:
                continue
            self._seen[key] = None
            if len(self._seen) > _SEEN_LIMIT:
                del self._seen[next(iter(self._seen))]
            parsed = parse_timestamp(key[0])
            if self._since is None or parsed is None or parsed > self._since:
                fresh.append((parsed, key[1].rstrip("\n")))
        # Events come newest first; the task log reads best oldest first.
        fresh.sort(key=lambda item: item[0] or _NO_TIME)
        for _, message in fresh:
            self._log.info("[service %s] %s", ser, message)
            self.latest_lines.append(message)
        self._newest = max(filter(None, (self._newest, *(parsed for parsed, _ in fresh))), default=None)
