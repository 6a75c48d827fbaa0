"""The status triggers: ``AbejaServiceStatusTrigger``, ``AbejaTrainingJobTrigger`` and ``AbejaRunTrigger``.

A trigger leases a shared async client (``wait.pool``), feeds what its watch observes to
``engine.step`` on the triggerer's event loop until the wait is over, and yields exactly one
event (``engine.status_event``), which the deferred task reads back with
``engine.validate_status_event``. A subclass names its kind (which also names the client calls
that read it), its stored class path and its path ids (the options after them are
``StatusTrigger``'s); the rest is the same for every kind.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_abeja.exceptions import is_fail_fast
from airflow_provider_abeja.wait import engine, pool
from airflow_provider_abeja.wait.pool import ClientLease

#: Seconds a trigger waits for recent logs before sending its event without them.
LOG_FETCH_TIMEOUT = 15.0


def _coerce_end_time(end_time: float | datetime.datetime | None) -> float | None:
    if isinstance(end_time, datetime.datetime):
        if end_time.tzinfo is None:
            raise ValueError("end_time: a datetime must be timezone-aware")
        return end_time.timestamp()
    if isinstance(end_time, bool) or not isinstance(end_time, (int, float, type(None))):
        raise TypeError(f"end_time must be epoch seconds (a number) or None, not {type(end_time).__name__}")
    return None if end_time is None else float(end_time)


class StatusTrigger(BaseTrigger):
    """Poll one resource until its target status (``success``), a failure status (``failure``,
    with its latest log lines), ``end_time`` (``timeout``) or an error the wait cannot get past
    (``error``).

    :param organization_id: organization of the resource (already resolved: the triggerer does
        not fall back to the connection's organization).
    :param outer, inner: the kind's ``path_ids`` after the organization (``deployment_id`` and
        ``service_id``, ``job_definition_name`` and ``training_job_id``, ...), named so by each subclass.
    :param target_status: the only status that counts as success (None: the kind's).
    :param failure_statuses: statuses that end the wait with a ``failure`` event (None: the
        kind's; the target is never one of them). Any other status keeps the trigger waiting,
        with one warning per unknown status.
    :param poll_interval: seconds between polls (+- ``POLL_JITTER``; None: ``default_poll_interval``).
    :param end_time: wall-clock deadline in epoch seconds (``None``: no deadline). It is part of
        the serialized kwargs, so a triggerer restart keeps the same deadline.
    :param abeja_conn_id: Airflow connection of the ABEJA Platform.
    :param transient_error_budget: how many transient errors in a row (transport failures,
        429, 5xx) are tolerated before an ``error`` event; a successful poll resets the count.
        Permanent errors (401, 403, 404, ...) give an ``error`` event at once.
    :param cancel_on_kill: when a user kills the deferred task (mark failed, mark success,
        clear), end the resource (``on_kill``: a training job is stopped, a service deleted).
        Airflow calls ``on_kill`` only for a user's action, never when a triggerer restarts or
        hands the trigger to another triggerer (Airflow 3.3 and later; earlier versions never
        call it).
    """

    #: What is watched: nouns, event keys, default target and failure statuses, failure error.
    kind: ClassVar[engine.ResourceKind]
    #: Whether ``target_status`` and ``failure_statuses`` are arguments (serialized) or the kind's.
    chooses_statuses: ClassVar[bool] = False
    #: Where the triggerer imports the class from: part of every stored trigger row, so it never changes.
    classpath: ClassVar[str]
    #: Seconds between polls when ``poll_interval`` is not given.
    default_poll_interval: ClassVar[float] = 10.0

    def __init__(
        self,
        organization_id: str,
        outer: str,
        inner: str,
        poll_interval: float | None = None,
        end_time: float | datetime.datetime | None = None,
        abeja_conn_id: str = "abeja_default",
        transient_error_budget: int = engine.DEFAULT_TRANSIENT_ERROR_BUDGET,
        cancel_on_kill: bool = False,
        *,
        target_status: str | None = None,
        failure_statuses: Iterable[str] | None = None,
    ) -> None:
        """The path ids in the kind's order, then the options above (the statuses where a subclass
        takes them; None: the kind's)."""
        super().__init__()
        if cancel_on_kill and not self.kind.cancel:
            raise TypeError(f"a {self.kind.noun} cannot be cancelled: no cancel_on_kill")
        self.poll_interval = pool.poll_interval(
            self.default_poll_interval if poll_interval is None else poll_interval
        )
        self._ids: engine.Ids = (str(organization_id), str(outer), str(inner))
        for name, value in zip(self.kind.path_ids, self._ids, strict=True):
            setattr(self, name, value)
        self.end_time = _coerce_end_time(end_time)
        # The engine's rules (the target is never a failure status, the budget >= 0), checked once.
        # The statuses and the budget live there only, as the engine reads them.
        rules = (target_status, failure_statuses, transient_error_budget)
        self._spec = engine.WaitSpec.build(self._ids[2], *rules, deadline=self.end_time, kind=self.kind)
        self.abeja_conn_id = str(abeja_conn_id)
        self.cancel_on_kill = bool(cancel_on_kill)

    @classmethod
    def arguments(cls, ids: engine.Ids, spec: engine.WaitSpec, **options: Any) -> dict[str, Any]:
        """The constructor's keyword arguments (JSON only) for a wait on ``ids`` by ``spec`` with
        ``options`` (``poll_interval``, ``end_time``, ``abeja_conn_id``, ``cancel_on_kill``): what
        :meth:`serialize` stores and what a deferring sensor builds its trigger from
        (``cancel_on_kill`` only when set, so older stored triggers read the same)."""
        kwargs: dict[str, Any] = dict(zip(cls.kind.path_ids, ids, strict=True))
        if cls.chooses_statuses:  # the target is never a failure status
            kwargs.update(target_status=spec.target_status, failure_statuses=sorted(spec.failure_statuses))
        if options.pop("cancel_on_kill", False):
            kwargs["cancel_on_kill"] = True
        return kwargs | options | {"transient_error_budget": spec.transient_error_budget}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-only kwargs; the deadline travels as epoch seconds."""
        names = ("poll_interval", "end_time", "abeja_conn_id", "cancel_on_kill")
        return self.classpath, self.arguments(self._ids, self._spec, **{n: getattr(self, n) for n in names})

    async def on_kill(self) -> None:
        """With ``cancel_on_kill``, end the resource: a user killed the deferred task.

        Airflow (3.3 and later) awaits this only after a user's mark failed, mark success or clear;
        ``cleanup``, which also runs when a triggerer stops, cancels nothing.
        """
        if self.cancel_on_kill:
            # Shielded: the triggerer may cancel the trigger's task again while on_kill awaits (a busy
            # triggerer's next cancel round); the stop or delete must still be sent and finished.
            await asyncio.shield(pool.background(self._cancel()))

    async def _cancel(self) -> None:
        from airflow_provider_abeja.wait.cancel import acancel

        lease = await pool.lease_client(self.abeja_conn_id)
        try:
            note = await acancel(lease.client, self.kind, self._ids)
        finally:
            await lease.release()
        self.log.warning("The task was killed while deferred: %s", note)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until an outcome, then yield one event. The client lease ends before the yield,
        shielded from a cancellation. An error leasing or waiting (connection lookup,
        credentials, ids: nothing a later poll would fix) is an ``error`` event."""
        lease: ClientLease | None = None
        try:
            lease = await pool.lease_client(self.abeja_conn_id)
            event = await self._wait(lease)
        except asyncio.CancelledError:
            self.log.info("Stopped waiting for %s %s (cancelled)", self.kind.noun, self._ids[2])
            raise
        except Exception as exc:
            message = f"could not watch {self.kind.noun} {self._ids[2]}: {exc}"
            failed = engine.Step(engine.Outcome.ERROR, message=message, retryable=not is_fail_fast(exc))
            event = engine.status_event(self._ids[2], failed, None, self.kind)
        finally:
            if lease is not None:
                await asyncio.shield(lease.release())
        yield TriggerEvent(event)

    async def _wait(self, lease: ClientLease) -> dict[str, Any]:
        spec, state = self._spec, engine.WaitState()
        # The waits on one deployment share one listing per poll interval (``pool.Watch``).
        with pool.Watch(lease, self.kind, self._ids, self.poll_interval) as watch:
            while True:
                result = engine.advance(spec, state, await watch.observe(), time.time(), self.log)
                if result.done:
                    break
                state = result.state
                await asyncio.sleep(engine.next_pause(spec, pool.jittered(self.poll_interval), time.time()))
        lines = await self._log_lines(lease) if result.wants_logs else []
        return engine.status_event(self._ids[2], result, lines, self.kind)

    async def _log_lines(self, lease: ClientLease) -> list[str]:
        """The latest log lines, or none when they cannot be read in LOG_FETCH_TIMEOUT.

        The lines only decorate an outcome that is already known: a slow log API must not hold
        back a failure or push a timeout event far past its deadline.
        """
        try:
            read_logs = lease.read(f"{self.kind.read}_recent_logs", *self._ids)
            return engine.latest_log_lines(await asyncio.wait_for(read_logs, timeout=LOG_FETCH_TIMEOUT))
        except Exception as exc:  # asyncio.TimeoutError too
            why = f"not read within {LOG_FETCH_TIMEOUT}s" if isinstance(exc, asyncio.TimeoutError) else exc
            self.log.warning("Could not read recent logs of %s %s: %s", self.kind.noun, self._ids[2], why)
            return []


class AbejaServiceStatusTrigger(StatusTrigger):
    """Poll a service until it reaches ``target_status``, a failure status, or ``end_time``.

    :param organization_id: organization of the service (already resolved: the triggerer does
        not fall back to the connection's organization).
    :param deployment_id: deployment of the service.
    :param service_id: the service to watch.
    :param target_status: the only status that counts as success.
    :param failure_statuses: statuses that end the wait with a ``failure`` event (default
        ``FAILED`` and ``STOPPED``; the target is never one of them).

    ``poll_interval``, ``end_time``, ``abeja_conn_id``, ``transient_error_budget`` and
    ``cancel_on_kill`` (deletes the service) are ``StatusTrigger``'s, the same for every kind.
    """

    kind = engine.SERVICE
    chooses_statuses = True
    classpath = "airflow_provider_abeja.triggers.service.AbejaServiceStatusTrigger"

    def __init__(
        self,
        organization_id: str,
        deployment_id: str,
        service_id: str,
        target_status: str = engine.ServiceStatus.READY.value,
        failure_statuses: Iterable[str] | None = None,
        *args: Any,
        **options: Any,
    ) -> None:
        ids = (organization_id, deployment_id, service_id)
        super().__init__(
            *ids, *args, target_status=target_status, failure_statuses=failure_statuses, **options
        )


class AbejaTrainingJobTrigger(StatusTrigger):
    """Poll ``training_job_id`` until it completes (``success``), fails or stops (``failure``,
    with its latest log lines), ``end_time`` passes (``timeout``) or an error repeats (``error``).

    ``poll_interval``, ``end_time`` (epoch seconds; None: no deadline), ``abeja_conn_id``,
    ``transient_error_budget`` and ``cancel_on_kill`` (stops a running job) are
    ``StatusTrigger``'s, the same for every kind of resource.
    """

    kind = engine.TRAINING_JOB
    default_poll_interval = 30.0
    classpath = "airflow_provider_abeja.triggers.training.AbejaTrainingJobTrigger"

    def __init__(
        self, organization_id: str, job_definition_name: str, training_job_id: str, *args: Any, **options: Any
    ) -> None:
        super().__init__(organization_id, job_definition_name, training_job_id, *args, **options)


class AbejaRunTrigger(StatusTrigger):
    """Poll ``run_id`` until it SUCCEEDED (``success``), FAILED (``failure``, with its latest log
    lines), ``end_time`` passes (``timeout``) or an error repeats (``error``).

    ``poll_interval``, ``end_time`` (epoch seconds; None: no deadline), ``abeja_conn_id`` and
    ``transient_error_budget`` are ``StatusTrigger``'s, the same for every kind of resource.
    """

    kind = engine.RUN
    classpath = "airflow_provider_abeja.triggers.runs.AbejaRunTrigger"

    def __init__(
        self, organization_id: str, deployment_id: str, run_id: str, *args: Any, **options: Any
    ) -> None:
        super().__init__(organization_id, deployment_id, run_id, *args, **options)
