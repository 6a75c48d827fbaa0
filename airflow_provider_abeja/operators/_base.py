"""What every ABEJA operator shares: the fail-fast rule, renamed arguments, the connection and its
hook, the organization fallback, create-once, and the one skeleton of the operators that start
something and wait for it (start, remember, wait in the worker or deferred, complete, cancel on kill).

On Airflow 3.3 and later the id of what a try started goes to the task state store before the try
waits: a retry after a crash reconnects to it (running), returns it (finished) or starts afresh
(failed, stopped, gone); the creation marker (``AIRFLOW_ABEJA_CREATED_BY``) is the net under it.
A wait ends at the sooner of ``timeout`` and ``execution_timeout`` less a margin, so it ends first,
with the engine's one timeout message, in every mode.

Nothing heavy is imported at module import time: the client and the triggers are imported when a
task runs, so that a DAG file importing the operators parses quickly.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from warnings import warn

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator, conf

from airflow_provider_abeja.client.api import DEFAULT_ENDPOINT_ALIAS as DEFAULT_ENDPOINT_ALIAS
from airflow_provider_abeja.client.validation import check_named_argument, check_path_id, text
from airflow_provider_abeja.exceptions import (
    AbejaError,
    HttpError,
    InvalidArgumentError,
    NotFound,
    TransportError,
    WaitStoppedError,
    WaitTimeoutError,
)
from airflow_provider_abeja.hooks.abeja import AbejaHook
from airflow_provider_abeja.links.abeja import console_url, push_service_url, service_console_url
from airflow_provider_abeja.wait.engine import FailFastMixin, Ids, ResourceKind, airflow_error

if TYPE_CHECKING:
    from airflow.sdk.bases.operator import BaseOperatorMeta as _OperatorMeta

    from airflow_provider_abeja.batch.sender import Target
    from airflow_provider_abeja.client import APIClient
else:
    _OperatorMeta = type(BaseOperator)  # Airflow 2's or 3's

#: XCom keys of the service and endpoint operators (docs/architecture.md, "XCom and links").
XCOM_SERVICE_ID = "service_id"
XCOM_ENDPOINT_ID = "endpoint_id"
XCOM_PREVIOUS_SERVICE_ID = "previous_service_id"

#: Environment variable the create operators set on what they make (a service, a training job):
#: ``<dag_id>/<task_id>/<run_id>[/<map_index>]``. A retry finds what its earlier try made by it.
CREATED_BY_ENV = "AIRFLOW_ABEJA_CREATED_BY"

#: Shortest pause between two status checks: a smaller ``check_interval`` is raised to it, so a
#: typo cannot make a wait (or a trigger) hammer the API. The sensor uses the same floor.
MIN_CHECK_INTERVAL = 0.1


#: Seconds before ``execution_timeout`` at which a wait ends (at most this fraction of it).
EXECUTION_TIMEOUT_MARGIN = 5.0
EXECUTION_TIMEOUT_MARGIN_SHARE = 0.1


class WaitInterrupted(AirflowException):
    """The task was killed (``on_kill``) while it was waiting; the remote work goes on."""


def seconds(value: float | timedelta | None, argument: str) -> float | None:
    """A timeout or interval as seconds (None stays None); refuses negative, infinite or NaN
    values and non-numbers."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgumentError(argument, f"expected seconds, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidArgumentError(argument, f"expected seconds, got {value!r}") from None
    if not 0 <= number < math.inf:  # NaN too
        raise InvalidArgumentError(argument, "must be a finite number of seconds, zero or more")
    return number


def wait_settings(
    check_interval: float | timedelta, timeout: float | timedelta | None
) -> tuple[float, float | None]:
    """``check_interval`` and ``timeout`` as seconds, checked where the operator is built.

    ``check_interval`` must be a finite number of seconds above zero (values under
    ``MIN_CHECK_INTERVAL`` are raised to it); ``timeout`` zero or more, or None for no limit.
    Bad values raise ``InvalidArgumentError`` naming the argument (so a DAG fails when parsed,
    not when a trigger refuses its poll interval).
    """
    interval = seconds(check_interval, "check_interval")
    if not interval:  # None or zero
        raise InvalidArgumentError("check_interval", "must be a finite number of seconds above zero")
    return max(interval, MIN_CHECK_INTERVAL), seconds(timeout, "timeout")


def required_path(value: Any, argument: str) -> str:
    """A required path argument, rendered: refused when missing (``None`` is not the path "None")."""
    if value is None:
        raise InvalidArgumentError(argument, "is required")
    check_named_argument(value, argument)
    return str(value)


def required_id(value: Any, argument: str) -> str:
    """A required path id (rendered): text, then the client's path-id rules, checked before the
    operator's own look-ups send anything."""
    return check_path_id(text(value, argument), argument)


def environment_argument(value: Any, *, reuse_existing: bool, noun: str) -> dict[str, str] | None:
    """A create operator's rendered ``environment``, checked as the client checks it. With
    ``reuse_existing`` the operator sets ``CREATED_BY_ENV`` itself, to find its ``noun`` on a
    retry: the DAG may not set it too."""
    from airflow_provider_abeja.client.validation import coerce_environment

    environment = coerce_environment(value)
    if environment and CREATED_BY_ENV in environment and reuse_existing:
        raise InvalidArgumentError(
            "environment", f"{CREATED_BY_ENV} is set by the operator to find its {noun} on a retry"
        )
    return environment


def creation_marker(context: Mapping[str, Any]) -> str:
    """``<dag_id>/<task_id>/<run_id>[/<map_index>]``: the same for every try of one task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    mapped = [str(map_index)] if isinstance(map_index, int) and map_index >= 0 else []
    return "/".join([str(ti.dag_id), str(ti.task_id), str(ti.run_id), *mapped])


def created_in_run(marker: Any, dag_id: str, run_id: str) -> str | None:
    """The task id in a ``creation_marker`` made in this DAG run, else None.

    Dag and task ids cannot hold ``/``; a run id can, so everything between the task id and an
    optional trailing map index is the run id.
    """
    if not isinstance(marker, str):
        return None
    dag, _, rest = marker.partition("/")
    task_id, _, run = rest.partition("/")
    if dag != dag_id or not task_id:
        return None
    if run == run_id:
        return task_id
    head, _, map_index = run.rpartition("/")
    return task_id if head == run_id and map_index.isdigit() else None


def marked(entries: Any, marker: str, *fields: str) -> list[dict[str, Any]]:
    """The listed entries carrying ``marker`` in one of their ``fields`` mappings, newest first."""
    found = [
        dict(e)
        for e in entries or []
        if isinstance(e, Mapping) and marker in ((e.get(f) or {}).get(CREATED_BY_ENV) for f in fields)
    ]
    return sorted(found, key=lambda e: str(e.get("created_at", "")), reverse=True)


class _RenamedArguments(_OperatorMeta):
    """Accepts an operator's old argument names (``renamed_arguments``) with a DeprecationWarning.

    Renamed before the operator's ``__init__`` (and Airflow's check for missing arguments) runs.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        for old, new in getattr(cls, "renamed_arguments", {}).items():
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{cls.__name__}: give {new}, not both {new} and {old}")
                # ``warn`` itself: Airflow replaces this module's ``warnings`` (it defines an ``__init__``).
                warn(
                    f"{cls.__name__}: the argument {old!r} is deprecated, use {new!r}",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
        return super().__call__(*args, **kwargs)


class AbejaBaseOperator(FailFastMixin, BaseOperator, metaclass=_RenamedArguments):
    """Base of every ABEJA operator: ``execute`` and ``execute_complete`` run under the fail-fast
    rule, the arguments naming something are checked first, old argument names keep working for
    one release, and ``on_kill`` stops a wait."""

    #: Deprecated argument name -> its new name (accepted with a DeprecationWarning).
    renamed_arguments: ClassVar[Mapping[str, str]] = {}
    #: The arguments naming a file, a folder, an id or a target: each ``execute`` first refuses
    #: one that rendered to nothing (``check_named_argument``), fail-fast.
    named_arguments: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        execute = cls.__dict__.get("execute")
        if callable(execute):  # wrapped before the fail-fast rule wraps it (the refusal is fail-fast)

            @functools.wraps(execute)
            def checked(self: AbejaBaseOperator, *args: Any, **options: Any) -> Any:
                self.check_named_arguments()  # before any I/O or request
                return execute(self, *args, **options)

            cls.execute = checked  # type: ignore[method-assign,assignment]
        super().__init_subclass__(**kwargs)

    def check_named_arguments(self) -> None:
        """Refuse any of ``named_arguments`` that rendered to nothing, naming it."""
        for argument in self.named_arguments:
            check_named_argument(getattr(self, argument, None), argument)

    def _path(self, value: Any, argument: str = "input_path", conn_id: str | None = None) -> Any:
        """``value`` as an object storage path (plain paths become absolute ``file://`` URLs) on
        ``conn_id`` or the operator's ``storage_conn_id``; None stays None."""
        from airflow_provider_abeja.batch.paths import object_path

        conn_id = conn_id or getattr(self, "storage_conn_id", None)
        return None if value is None else object_path(value, conn_id=conn_id, argument=argument)

    def __init__(self, **kwargs: Any) -> None:
        # An __init__ of its own: Airflow's partial() reads the argument defaults of each class
        # between the operator and BaseOperator, and BaseOperator's own (inlets=None) would win.
        from airflow_provider_abeja.retry_policy import DEFAULT_RETRY_POLICY

        given = kwargs.get("retry_policy") or (kwargs.get("default_args") or {}).get("retry_policy")
        if DEFAULT_RETRY_POLICY is not None and given is None:  # the DAG's own wins
            kwargs["retry_policy"] = DEFAULT_RETRY_POLICY
        super().__init__(**kwargs)

    @cached_property
    def _stop_event(self) -> threading.Event:
        # Created on first use, not in __init__: an Event cannot be deep-copied with the DAG.
        return threading.Event()

    def on_kill(self) -> None:
        """Stop waiting: the loop wakes up and the task ends. The remote work is left as it is."""
        self._stop_event.set()
        super().on_kill()


class AbejaConnectionOperator(AbejaBaseOperator):
    """An operator on the platform: the connection, its hook and client, the organization fallback,
    the id a resumed task waited for, and console links.

    :param abeja_conn_id: the Airflow connection (``conn_type`` ``abeja``).
    :param organization_id: defaults to the connection's ``organization_id`` extra.
    """

    template_fields: Sequence[str] = ("abeja_conn_id", "organization_id")
    named_arguments: ClassVar[tuple[str, ...]] = ("abeja_conn_id", "organization_id")

    def __init__(
        self,
        *,
        organization_id: str | None = None,
        abeja_conn_id: str = AbejaHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organization_id = organization_id
        self.abeja_conn_id = abeja_conn_id

    @cached_property
    def hook(self) -> AbejaHook:
        return AbejaHook(abeja_conn_id=self.abeja_conn_id)

    @property
    def client(self) -> APIClient:
        return self.hook.client

    def resolve_organization_id(self) -> str:
        """The explicit organization id, else the connection's (a clear error when neither is set)."""
        return self.hook.get_organization_id(self.organization_id or None)

    def push_link(self, context: Mapping[str, Any], id_key: str, url_key: str, *path: str) -> None:
        """Push a resource's id (the last of ``path``) and the console URL its extra link reads:
        ``<console>/organizations/<path...>``."""
        ti = context["ti"]
        ti.xcom_push(key=id_key, value=path[-1])
        ti.xcom_push(key=url_key, value=console_url(self.hook.console_url, "organizations", *path))


class AbejaWaitingOperator(AbejaConnectionOperator):
    """An operator that starts something and waits for it (a service's status, a training job's
    or a run's end): one skeleton for every kind, as dbt Cloud's and Databricks' operators have.

    A subclass names its ``kind`` (ids, statuses, client calls), its trigger, worker wait and
    create call, and fills in ``arguments`` (checked before anything is sent), ``find_earlier``
    (what an earlier try made), ``summary`` (what the task returns), ``push_links`` and, when it
    ends its resource on a kill or a timeout, ``cancels_on_kill`` / ``after_timeout``.

    :param wait_for_completion: wait until the target status (default True).
    :param check_interval: seconds between status checks (above zero; at least 0.1 is used).
    :param timeout: seconds to wait at most (zero or more, default an hour; None: no limit).
    :param deferrable: wait in the triggerer instead of the worker.
    """

    #: What is waited for: its ids (the last one is also its XCom key), statuses and client calls.
    kind: ClassVar[ResourceKind]
    #: The status trigger's classpath, imported when the task defers.
    trigger: ClassVar[str]
    #: The ``wait.blocking`` function of the wait in the worker.
    worker_wait: ClassVar[str]
    #: The client call that makes the resource: ``(organization_id, outer id, **arguments)``.
    create_call: ClassVar[str]
    #: The task state store key of the resource a try started (None: not stored).
    store_key: ClassVar[str | None] = None
    #: Whether a retry looks for (and the store keeps) what an earlier try started.
    reuse_existing: bool = True
    #: ``(organization, outer id, id)`` of what this try started or resumed (for ``on_kill``).
    _started: Ids | None = None
    #: The try's deadline once ``start_clock`` ran (epoch seconds; ``math.inf``: none).
    _deadline: float | None = None

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        check_interval: float | timedelta = 10.0,
        timeout: float | timedelta | None = 3600.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.check_interval, self.timeout = wait_settings(check_interval, timeout)
        self.deferrable = deferrable

    # -- what a subclass fills in

    def arguments(self) -> dict[str, Any]:
        """The rendered arguments of the create call, checked as the client checks them: nothing
        (not even a look-up for an earlier try's resource) is sent with arguments it would refuse."""
        raise NotImplementedError

    def find_earlier(self, organization_id: str, arguments: dict[str, Any], marker: str) -> Any:
        """The resource an earlier try of this task instance made (found by ``marker``) and that
        this try may reuse, else None."""
        raise NotImplementedError

    def summary(self, resource: Mapping[str, Any]) -> Any:
        """What the task returns for the resource (never its environment: it may hold secrets)."""
        return dict(resource)

    def push_links(self, context: Mapping[str, Any], ids: Ids) -> None:
        """Push the resource's id and console URL (before any wait, so the link shows if it fails)."""

    def cancels_on_kill(self) -> bool:
        """Whether a user's kill ends the resource (``on_kill`` in the worker, the trigger's deferred)."""
        return False

    def after_timeout(self) -> None:
        """What a wait's timeout (or a failed deferral) does to the resource (nothing by default)."""

    def guard_wait(self, context: Mapping[str, Any], ids: Ids) -> contextlib.AbstractContextManager[Any]:
        """What surrounds the wait and its end, in the worker or resumed (nothing by default)."""
        return contextlib.nullcontext()

    # -- the skeleton: start, remember, wait (in the worker or deferred), complete, cancel on kill

    def execute(self, context: Mapping[str, Any]) -> Any:
        self.start_clock(context)
        arguments = self.arguments()
        organization_id = self.resolve_organization_id()
        resource = self.create_once(context, organization_id, arguments)
        self._started = ids = self.ids(organization_id, str(resource[self.kind.path_ids[2]]))
        store = context.get("task_state_store")
        if store is not None and self.store_key and self.reuse_existing:
            from airflow.sdk.execution_time.context import NEVER_EXPIRE

            store.set(self.store_key, ids[2], retention=NEVER_EXPIRE)
        self.push_links(context, ids)
        return self.finish(context, ids, resource)

    def ids(self, organization_id: str, resource_id: str) -> Ids:
        """The resource's path ids: the organization, this operator's outer id, ``resource_id``."""
        outer = self.kind.path_ids[1]  # deployment_id or job_definition_name: an argument too
        return organization_id, required_id(getattr(self, outer), outer), resource_id

    def create_once(
        self, context: Mapping[str, Any], organization_id: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        """What an earlier try kept in the task state store (``stored``), else what it made
        (``find_earlier``), else the answer of the create call, the creation marker (with
        ``reuse_existing``) added to the resource's environment. The first try after a clear
        reuses nothing its cleared try was still waiting for (``_clear.ended_after_clear``).

        The client never re-sends a create, and a lost answer (transport error, 5xx) does not
        say whether the platform made the resource: with a marker, ``find_earlier`` looks for
        it before the error is raised (a task retry looks again).
        """
        noun, outer = self.kind.noun, self.ids(organization_id, "")[1]
        marker = creation_marker(context) if self.reuse_existing else None
        if marker:
            from airflow_provider_abeja.operators._clear import ended_after_clear

            if not ended_after_clear(self, context, organization_id):
                found = self.stored(context, organization_id) or self.find_earlier(
                    organization_id, arguments, marker
                )
                if found is not None:
                    return dict(found)
            arguments["environment"] = {**(arguments["environment"] or {}), CREATED_BY_ENV: marker}
        try:
            made: dict[str, Any] = getattr(self.client, self.create_call)(organization_id, outer, **arguments)
            self.log.info("Created %s %s", noun, made.get(self.kind.path_ids[2]))
            return made
        except (TransportError, HttpError) as exc:
            if not marker or (isinstance(exc, HttpError) and exc.status_code < 500):
                raise
            self.log.warning("Creating the %s failed (%s); checking whether it was made anyway", noun, exc)
            found = self.find_earlier(organization_id, arguments, marker)
            if found is None:
                raise
            return dict(found)

    def finish(
        self,
        context: Mapping[str, Any],
        ids: Ids,
        resource: Mapping[str, Any],
        *,
        status_is_current: bool = True,
        **wait_options: Any,
    ) -> Any:
        """The summary at once when not waiting or already there, else after ``wait_or_defer``.
        ``status_is_current=False`` when ``resource`` was read before a change was asked for: its
        status then says nothing and the wait always polls."""
        target = wait_options.get("target_status") or self.kind.target_status
        with self.guard_wait(context, ids):
            if self.wait_for_completion and not (status_is_current and resource.get("status") == target):
                resource = self.wait_or_defer(ids, **wait_options)
            return self.summary(resource)

    def wait_or_defer(
        self,
        ids: Ids,
        target_status: str | None = None,
        failure_statuses: Collection[str] | None = None,
        **worker_options: Any,
    ) -> dict[str, Any]:
        """Poll until the target status (None: the kind's) and return the resource, in this worker
        (``wait.blocking``, stopped by ``on_kill``) or, deferred, in the triggerer, where
        ``execute_complete`` resumes with the trigger's event (deferring raises ``TaskDeferred``).
        Either way the outcomes and messages are the engine's: a failure status fails without
        retries, with the latest log lines; the deadline raises ``AirflowException`` chained from
        ``WaitTimeoutError`` (after ``after_timeout``); ``on_kill`` raises ``WaitInterrupted``."""
        if self.deferrable:  # the deadline is wall-clock, so a triggerer restart does not reset it
            module, _, name = self.trigger.rpartition(".")
            left = self.wait_timeout()
            trigger = getattr(importlib.import_module(module), name)(
                *ids,  # then the statuses: None is the kind's, and the trigger's rules make them valid
                target_status=target_status,
                failure_statuses=failure_statuses,
                poll_interval=self.check_interval,
                end_time=None if left is None else time.time() + left,
                abeja_conn_id=self.abeja_conn_id,
                **({"cancel_on_kill": True} if self.cancels_on_kill() else {}),
            )
            resume = {"organization_id": ids[0], self.kind.path_ids[2]: ids[2]}
            self.defer(trigger=trigger, method_name="execute_complete", kwargs=resume)
        from airflow_provider_abeja.wait import blocking

        try:
            return getattr(blocking, self.worker_wait)(  # type: ignore[no-any-return]
                self.client,
                *ids,
                logger=self.log,
                check_interval=self.check_interval,
                timeout=self.wait_timeout(),
                stop_event=self._stop_event,
                target_status=target_status,
                failure_statuses=failure_statuses,
                **worker_options,
            )
        except WaitStoppedError as exc:
            what = f"{self.kind.noun} {ids[2]}"
            raise WaitInterrupted(f"stopped waiting for {what}: the task was killed") from exc
        except AbejaError as exc:  # the engine's errors, raised as in deferrable mode and the sensor
            if isinstance(exc, WaitTimeoutError):  # a resource nobody waits for any more would run on
                self.after_timeout()
            raise airflow_error(exc) from exc

    def execute_complete(
        self,
        context: Mapping[str, Any],
        event: dict[str, Any] | None = None,
        organization_id: str | None = None,
        **resumed: str | None,
    ) -> Any:
        """Resume after the trigger: fail loudly on anything but a well-formed success event.

        The ids come from the deferral's kwargs, else (``resume``) from what this try pushed
        before deferring. Returns the fresh summary.
        """
        from airflow_provider_abeja.wait.engine import validate_status_event

        ids = self.resume(context, resumed.get(self.kind.path_ids[2]), organization_id)
        with self.guard_wait(context, ids):
            self.push_links(context, ids)  # this process ends the task
            if isinstance(event, Mapping) and event.get("status") == "timeout":
                self.after_timeout()
            validate_status_event(event, ids[2], kind=self.kind)
            self.log.info("%s %s reached its target status", self.kind.noun.capitalize(), ids[2])
            return self.summary(getattr(self.client, self.kind.read)(*ids))

    def read_stored(
        self, context: Mapping[str, Any], organization_id: str
    ) -> tuple[str, dict[str, Any] | None] | None:
        """The id an earlier try kept in the task state store and its resource read again (None
        when it is gone); None when nothing is stored."""
        store = context.get("task_state_store")
        resource_id = store.get(self.store_key) if store is not None and self.store_key else None
        if not isinstance(resource_id, str) or not resource_id:
            return None
        try:
            return resource_id, dict(
                getattr(self.client, self.kind.read)(*self.ids(organization_id, resource_id))
            )
        except NotFound:
            return resource_id, None

    def stored(self, context: Mapping[str, Any], organization_id: str) -> dict[str, Any] | None:
        """The resource an earlier try stored (task state store) while it still runs or has
        finished well: a retry after a crash reconnects to it (None: start afresh)."""
        found = self.read_stored(context, organization_id)
        if found is None:
            return None
        (resource_id, resource), noun = found, self.kind.noun
        status = resource.get("status") if resource is not None else "gone"
        if resource is None or status not in self.kind.known_statuses - self.kind.failure_statuses:
            self.log.info("The %s of an earlier try (%s) is %s", noun, resource_id, status)
            return None
        self.log.info("Reconnecting to %s %s of an earlier try (task state store)", noun, resource_id)
        return resource

    def start_clock(self, context: Mapping[str, Any]) -> None:
        """Fix this try's deadline: ``timeout`` from now or ``execution_timeout`` (less a margin),
        the sooner; every wait of the try, in the worker or deferred, ends there."""
        now = time.time()
        self._deadline = math.inf if self.timeout is None else now + self.timeout
        if self.execution_timeout is not None:  # Airflow times a deferred task from this start_date too
            started = getattr(context.get("ti"), "start_date", None)
            start = started.timestamp() if isinstance(started, datetime) else now
            limit = self.execution_timeout.total_seconds()
            margin = min(EXECUTION_TIMEOUT_MARGIN, limit * EXECUTION_TIMEOUT_MARGIN_SHARE)
            self._deadline = min(self._deadline, start + limit - margin)

    def wait_timeout(self) -> float | None:
        """Seconds left to wait (``timeout`` when no clock was started)."""
        if self._deadline is None:
            return self.timeout
        return None if self._deadline == math.inf else max(0.0, self._deadline - time.time())

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Airflow resumes a deferral it failed itself (``__fail__``: the trigger ran past
        ``execution_timeout``, e.g. while no triggerer ran it) without the trigger's event: what
        the task started is then handled as after a wait's timeout (``after_failed_deferral``)."""
        if next_method == "__fail__":
            try:
                self.after_failed_deferral(context)
            except Exception as exc:  # the deferral's own error is the one to raise
                self.log.warning("Could not end what the task started: %r", exc)
        return super().resume_execution(next_method, next_kwargs, context)

    def resume(
        self, context: Mapping[str, Any], given: str | None, organization_id: str | None = None
    ) -> Ids:
        """The ids of what a resumed task was waiting for, kept for ``on_kill``: ``given`` (the
        deferral's kwargs), else the id this try pushed before deferring (XCom is kept across a
        deferral; ``dag.test()`` on Airflow 3.3 passes only the event); the organization resolved
        again unless given."""
        if not given:
            # This task instance's own map index: a mapped pull without it returns every instance's value.
            ti, key = context["ti"], self.kind.path_ids[2]
            given = ti.xcom_pull(task_ids=self.task_id, key=key, map_indexes=getattr(ti, "map_index", -1))
            if not isinstance(given, str) or not given:
                raise AirflowException(
                    f"{self.task_id}: resumed without the {self.kind.noun} it was waiting for"
                )
        self._started = self.ids(organization_id or self.resolve_organization_id(), str(given))
        return self._started

    def after_failed_deferral(self, context: Mapping[str, Any]) -> None:
        """What a failed deferral does to the resource the task started: ``after_timeout``."""
        self.resume(context, None)
        self.after_timeout()

    def on_kill(self) -> None:
        """Stop waiting and end what this try started or resumed (``cancel_started``)."""
        super().on_kill()
        self.cancel_started("The task was killed")

    def cancel_started(self, why: str) -> None:
        """End what this try started or resumed, when ``cancels_on_kill`` says so; log ``why``."""
        if self._started is not None and self.cancels_on_kill():
            from airflow_provider_abeja.wait.cancel import cancel

            self.log.warning("%s: %s", why, cancel(self.client, self.kind, self._started))


class AbejaDeploymentOperator(AbejaConnectionOperator):
    """An operator on one deployment's services or endpoints, and its service links.

    :param deployment_id: the deployment the service or endpoint belongs to.
    """

    template_fields: Sequence[str] = (*AbejaConnectionOperator.template_fields, "deployment_id")
    named_arguments: ClassVar[tuple[str, ...]] = (*AbejaConnectionOperator.named_arguments, "deployment_id")

    def __init__(self, *, deployment_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id

    def check_named_arguments(self) -> None:
        """Also: every operator on a deployment needs its id (kept as checked: stripped, as text)."""
        super().check_named_arguments()
        self.deployment_id = required_id(self.deployment_id, "deployment_id")

    def service_log_lines(self, organization_id: str, service_id: str) -> list[str]:
        """The service's latest log lines (a failed handler's traceback is there), or none (with a
        warning): they only explain an outcome already known."""
        from airflow_provider_abeja.wait.engine import SERVICE, read_log_lines

        return read_log_lines(
            self.client, SERVICE, (organization_id, self.deployment_id, service_id), self.log
        )

    def target_service_id(self, target: Target) -> str:
        """The service ``target`` calls: its own, else the one its endpoint routes to now."""
        if target.service_id:
            return target.service_id
        alias = target.endpoint_alias or DEFAULT_ENDPOINT_ALIAS
        return str(
            self.client.get_endpoint(target.organization_id, target.deployment_id, alias)["service_id"]
        )

    def log_before_delete(self, organization_id: str, service_id: str) -> None:
        """Copy the service's latest log lines into the task log: deleting it deletes them."""
        from airflow_provider_abeja.exceptions import with_log_lines

        lines = self.service_log_lines(organization_id, service_id)
        if lines:
            self.log.info("%s", with_log_lines(f"Deleting service {service_id}.", lines))

    def delete_service(self, organization_id: str, service_id: str) -> bool:
        """Delete the service (``log_before_delete`` first); False when it was already gone."""
        self.log_before_delete(organization_id, service_id)
        try:
            self.client.delete_service(organization_id, self.deployment_id, service_id)
        except NotFound:
            return False
        return True

    def push_service_xcom(self, context: Mapping[str, Any], organization_id: str, service_id: str) -> None:
        """Push ``service_id`` and ``service_url`` (console) so the link shows even if a wait fails."""
        ti = context["ti"]
        ti.xcom_push(key=XCOM_SERVICE_ID, value=service_id)
        url = service_console_url(self.hook.console_url, organization_id, self.deployment_id, service_id)
        push_service_url(self, ti, url)


class _TrainingOperator(AbejaConnectionOperator):
    """An operator on one training job definition (the training and training cleanup operators).

    :param job_definition_name: the job definition.
    """

    ui_color = "#fdf3e8"
    template_fields: Sequence[str] = (*AbejaConnectionOperator.template_fields, "job_definition_name")
    named_arguments = (*AbejaConnectionOperator.named_arguments, "job_definition_name")

    def __init__(self, *, job_definition_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_definition_name = job_definition_name

    def definition_name(self) -> str:
        return required_id(self.job_definition_name, "job_definition_name")


class _DeleteOperator(AbejaConnectionOperator):
    """Delete one resource. A resource that is already gone is success (returns None) unless
    ``fail_if_missing=True``; otherwise returns the API's answer. Every delete operator says the
    same things the same way.

    A subclass names the resource (``noun``), the attribute and argument holding its id
    (``id_field``: templated and checked) and how its ids are found (``resource_ids``).

    :param fail_if_missing: fail without retries when the resource does not exist.
    """

    ui_color = "#fdecea"
    noun: ClassVar[str]
    id_field: ClassVar[str | None] = None
    #: The attribute holding the id its path starts with, after the organization's.
    outer_field: ClassVar[str]
    #: The client call that deletes it, ``(organization_id, *resource_ids())`` (default ``delete_<noun>``).
    delete_call: ClassVar[str | None] = None
    #: Whether an id that is None (an XCom nobody pushed) means nothing to delete.
    none_is_nothing: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.id_field is not None and cls.id_field not in cls.named_arguments:
            cls.template_fields = (*cls.template_fields, cls.id_field)
            cls.named_arguments = (*cls.named_arguments, cls.id_field)

    def __init__(self, *, fail_if_missing: bool = False, **kwargs: Any) -> None:
        # A subclass passes its own id argument on by name (``id_field``): kept here, for all
        # (a subclass that keeps it itself passes nothing).
        kept = {name: kwargs.pop(name) for name in (self.id_field,) if name in kwargs}
        super().__init__(**kwargs)
        self.fail_if_missing = fail_if_missing
        for name, value in kept.items():
            setattr(self, name, value)

    def resource_ids(self) -> list[str]:
        """The resource's ids after the organization (``outer_field``'s, then ``id_field``'s), checked."""
        fields = [self.outer_field] if self.id_field is None else [self.outer_field, self.id_field]
        return [required_id(getattr(self, field), field) for field in fields]

    def describe(self, ids: list[str]) -> str:
        return f"{self.noun} {ids[-1]}"

    def execute(self, context: Mapping[str, Any]) -> Any:
        missing = self.id_field is not None and getattr(self, self.id_field) is None
        if missing and self.none_is_nothing and not self.fail_if_missing:
            self.log.info("No %s to delete: %s is None (nothing was pushed for it)", self.noun, self.id_field)
            return None
        ids = self.resource_ids()
        label, organization_id = self.describe(ids), self.resolve_organization_id()
        try:
            return self.delete(organization_id, ids, label)
        except NotFound as exc:
            if self.fail_if_missing:
                raise AirflowFailException(f"{label} does not exist: {exc}") from exc
            self.log.info("%s is already gone: nothing to delete", label.capitalize())
            return None

    def delete(self, organization_id: str, ids: list[str], label: str) -> Any:
        result = getattr(self.client, self.delete_call or f"delete_{self.noun.replace(' ', '_')}")(
            organization_id, *ids
        )
        self.log.info("Deleted %s", label)
        return result


class AbejaDeleteOperator(AbejaDeploymentOperator, _DeleteOperator):
    """Delete one resource of a deployment (a service, an endpoint, a version, a trigger). An id
    that is None (an XCom nobody pushed, such as the ``previous_service_id`` of a first release)
    is nothing to delete, unless ``fail_if_missing=True``.

    :param fail_if_missing: fail without retries when the resource does not exist (or its id is None).
    """

    outer_field = "deployment_id"
