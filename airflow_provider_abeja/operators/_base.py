"""What every ABEJA operator shares: the fail-fast rule, renamed arguments, the connection and its
hook, the organization fallback, create-once, and a wait that ``on_kill`` stops.

Nothing heavy is imported at module import time: the client and the triggers are imported when a
task runs, so that a DAG file importing the operators parses quickly.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from warnings import warn

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator, conf

from airflow_provider_abeja.client.api import DEFAULT_ENDPOINT_ALIAS
from airflow_provider_abeja.client.validation import check_named_argument
from airflow_provider_abeja.exceptions import (
    AbejaError,
    HttpError,
    InvalidArgumentError,
    NotFound,
    TransportError,
    WaitStoppedError,
)
from airflow_provider_abeja.hooks.abeja import AbejaHook
from airflow_provider_abeja.wait.engine import FailFastMixin, airflow_error

if TYPE_CHECKING:
    from airflow.sdk.bases.operator import BaseOperatorMeta as _OperatorMeta

    from airflow_provider_abeja.client import APIClient
else:
    _OperatorMeta = type(BaseOperator)  # Airflow 2's or 3's

__all__ = [
    "CREATED_BY_ENV",
    "DEFAULT_ENDPOINT_ALIAS",
    "AbejaBaseOperator",
    "AbejaConnectionOperator",
    "AbejaDeleteOperator",
    "AbejaDeploymentOperator",
    "AbejaWaitingOperator",
    "WaitInterrupted",
]

#: XCom keys of the service and endpoint operators (docs/architecture.md, "XCom and links").
XCOM_SERVICE_ID = "service_id"
XCOM_ENDPOINT_ID = "endpoint_id"
XCOM_PREVIOUS_SERVICE_ID = "previous_service_id"

#: Environment variable the create operators set on what they make (a service, a training job):
#: ``<dag_id>/<task_id>/<run_id>[/<map_index>]``. A retry finds what its earlier try made by it.
CREATED_BY_ENV = "AIRFLOW_ABEJA_CREATED_BY"

DEFAULT_WAIT_TIMEOUT = 3600.0
#: The instance type a created service runs on unless told otherwise (the client's default too).
DEFAULT_INSTANCE_TYPE = "cpu-0.25"
#: Shortest pause between two status checks: a smaller ``check_interval`` is raised to it, so a
#: typo cannot make a wait (or a trigger) hammer the API. The sensor uses the same floor.
MIN_CHECK_INTERVAL = 0.1
#: ``deferrable``'s default: Airflow's ``[operators] default_deferrable`` option.
DEFAULT_DEFERRABLE = conf.getboolean("operators", "default_deferrable", fallback=False)


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
    from airflow_provider_abeja.client.validation import check_path_id, text

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
    parts = [str(ti.dag_id), str(ti.task_id), str(ti.run_id)]
    map_index = getattr(ti, "map_index", -1)
    if isinstance(map_index, int) and map_index >= 0:
        parts.append(str(map_index))
    return "/".join(parts)


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


@contextlib.contextmanager
def waiting(noun: str, resource_id: str) -> Iterator[None]:
    """The outcome of an operator's own wait, raised as in deferrable mode and the sensor.

    The engine's errors (failure status, timeout, giving up) become their Airflow exception
    (``failfast.airflow_error``); a wait stopped by ``on_kill`` becomes ``WaitInterrupted``.
    """
    try:
        yield
    except WaitStoppedError as exc:
        raise WaitInterrupted(f"stopped waiting for {noun} {resource_id}: the task was killed") from exc
    except AbejaError as exc:
        raise airflow_error(exc) from exc


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


def _checking_named_arguments(execute: Callable[..., Any]) -> Callable[..., Any]:
    """``execute`` preceded by ``check_named_arguments`` (before any I/O or request)."""

    @functools.wraps(execute)
    def checked(self: AbejaBaseOperator, *args: Any, **kwargs: Any) -> Any:
        self.check_named_arguments()
        return execute(self, *args, **kwargs)

    return checked


class AbejaBaseOperator(FailFastMixin, BaseOperator, metaclass=_RenamedArguments):
    """Base of every ABEJA operator: ``execute`` and ``execute_complete`` run under the fail-fast
    rule, the arguments naming something are checked first, old argument names keep working for
    one release, and ``on_kill`` stops a wait."""

    #: Deprecated argument name -> its new name (accepted with a DeprecationWarning).
    renamed_arguments: ClassVar[Mapping[str, str]] = {}
    #: The arguments naming a file, a folder, an id or a target: each ``execute`` first refuses
    #: one that rendered to nothing (``check_named_argument``), fail-fast.
    named_arguments: ClassVar[tuple[str, ...]] = ()
    _stop_waiting: threading.Event | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        execute = cls.__dict__.get("execute")
        if callable(execute):  # wrapped before the fail-fast rule wraps it (the refusal is fail-fast)
            cls.execute = _checking_named_arguments(execute)  # type: ignore[method-assign]
        super().__init_subclass__(**kwargs)

    def check_named_arguments(self) -> None:
        """Refuse any of ``named_arguments`` that rendered to nothing, naming it."""
        for argument in self.named_arguments:
            check_named_argument(getattr(self, argument, None), argument)

    def __init__(self, **kwargs: Any) -> None:
        # An __init__ of its own: Airflow's partial() reads the argument defaults of each class
        # between the operator and BaseOperator, and BaseOperator's own (inlets=None) would win.
        from airflow_provider_abeja.retry_policy import DEFAULT_RETRY_POLICY

        given = kwargs.get("retry_policy") or (kwargs.get("default_args") or {}).get("retry_policy")
        if DEFAULT_RETRY_POLICY is not None and given is None:  # the DAG's own wins
            kwargs["retry_policy"] = DEFAULT_RETRY_POLICY
        super().__init__(**kwargs)

    def _stop_event(self) -> threading.Event:
        # Created on first use, not in __init__: an Event cannot be deep-copied with the DAG.
        if self._stop_waiting is None:
            self._stop_waiting = threading.Event()
        return self._stop_waiting

    def on_kill(self) -> None:
        """Stop waiting: the loop wakes up and the task ends. The remote work is left as it is."""
        self._stop_event().set()
        super().on_kill()


class AbejaConnectionOperator(AbejaBaseOperator):
    """An operator on the platform: the connection, its hook and client, the organization fallback,
    and the create-once and resume helpers.

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

    def create_once(
        self,
        noun: str,
        arguments: dict[str, Any],
        marker: str | None,
        create: Callable[..., dict[str, Any]],
        find: Callable[[str], dict[str, Any] | None],
        stored: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``stored`` (what an earlier try kept in the task state store, when it is still
        usable), else ``find(marker)``'s earlier-try resource, else ``create(**arguments)``'s
        answer, the ``marker`` (if any) added to their environment; ``noun`` names it in the
        log (the ``<noun>_id`` field holds its id).

        The client never re-sends a create, and a lost answer (transport error, 5xx) does not
        say whether the platform made the resource: with a marker, ``find(marker)`` looks for
        it before the error is raised (a task retry looks again).
        """
        if stored is not None:
            return stored
        if marker:
            found = find(marker)
            if found is not None:
                return found
            arguments = {
                **arguments,
                "environment": {**(arguments["environment"] or {}), CREATED_BY_ENV: marker},
            }
        try:
            made = create(**arguments)
            self.log.info("Created %s %s", noun, made.get(noun.replace(" ", "_") + "_id"))
            return made
        except (TransportError, HttpError) as exc:
            if not marker or (isinstance(exc, HttpError) and exc.status_code < 500):
                raise
            self.log.warning("Creating the %s failed (%s); checking whether it was made anyway", noun, exc)
            found = find(marker)
            if found is None:
                raise
            return found

    def resumed_id(self, context: Mapping[str, Any], given: str | None, key: str, noun: str) -> str:
        """The id of what a resumed task was waiting for: ``given`` (the deferral's kwargs), else
        the one this try pushed under ``key`` before deferring (XCom is kept across a deferral;
        ``dag.test()`` on Airflow 3.3 passes only the event)."""
        if given:
            return str(given)
        # This task instance's own map index: a mapped pull without it returns every instance's value.
        ti = context["ti"]
        pushed = ti.xcom_pull(task_ids=self.task_id, key=key, map_indexes=getattr(ti, "map_index", -1))
        if not isinstance(pushed, str) or not pushed:
            raise AirflowException(f"{self.task_id}: resumed without the {noun} it was waiting for")
        return pushed

    def push_link(self, context: Mapping[str, Any], id_key: str, url_key: str, *path: str) -> None:
        """Push a resource's id (the last of ``path``) and the console URL its extra link reads:
        ``<console>/organizations/<path...>``."""
        from airflow_provider_abeja.links.abeja import console_url

        ti = context["ti"]
        ti.xcom_push(key=id_key, value=path[-1])
        ti.xcom_push(key=url_key, value=console_url(self.hook.console_url, "organizations", *path))


class AbejaWaitingOperator(AbejaConnectionOperator):
    """An operator that waits for what it did (a service's status, a training job's end), in the
    worker or, deferred, in the triggerer.

    :param wait_for_completion: wait until the target status (default True).
    :param check_interval: seconds between status checks (above zero; at least 0.1 is used).
    :param timeout: seconds to wait at most (zero or more; None: no limit).
    :param deferrable: wait in the triggerer instead of the worker.
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        check_interval: float | timedelta = 10.0,
        timeout: float | timedelta | None = DEFAULT_WAIT_TIMEOUT,
        deferrable: bool = DEFAULT_DEFERRABLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.check_interval, self.timeout = wait_settings(check_interval, timeout)
        self.deferrable = deferrable

    #: ``(deadline,)`` once ``start_clock`` ran (epoch seconds, None: no deadline).
    _clock: tuple[float | None] | None = None

    def start_clock(self, context: Mapping[str, Any]) -> None:
        """Fix this try's deadline: ``timeout`` from now or ``execution_timeout`` (less a margin),
        the sooner; every wait of the try, in the worker or deferred, ends there."""
        from airflow_provider_abeja.operators._resume import wait_deadline

        self._clock = (wait_deadline(context, self.timeout, self.execution_timeout),)

    def wait_timeout(self) -> float | None:
        """Seconds left to wait (``timeout`` when no clock was started)."""
        if self._clock is None:
            return self.timeout
        deadline = self._clock[0]
        return None if deadline is None else max(0.0, deadline - time.time())

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

    def after_failed_deferral(self, context: Mapping[str, Any]) -> None:
        """What a failed deferral does to the resource the task started (nothing by default)."""

    def defer_to(
        self,
        trigger: Callable[..., Any],
        resume: dict[str, str],
        cancel_on_kill: bool = False,
        **arguments: Any,
    ) -> None:
        """Defer to ``trigger(**arguments)`` polling every ``check_interval``; ``execute_complete``
        resumes with ``resume`` as its kwargs. The deadline is wall-clock (epoch seconds), so a
        triggerer restart does not reset it. ``cancel_on_kill``: the trigger ends the resource
        when a user kills the deferred task."""
        left = self.wait_timeout()
        polling = trigger(
            **arguments,
            poll_interval=self.check_interval,
            end_time=None if left is None else time.time() + left,
            abeja_conn_id=self.abeja_conn_id,
            **({"cancel_on_kill": True} if cancel_on_kill else {}),
        )
        self.defer(trigger=polling, method_name="execute_complete", kwargs=resume)


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
        """Also: every operator on a deployment needs its id."""
        super().check_named_arguments()
        required_id(self.deployment_id, "deployment_id")

    def service_log_lines(self, organization_id: str, service_id: str) -> list[str]:
        """The service's latest log lines (a failed handler's traceback is there), or none: they
        only explain an outcome already known. A service already gone has none; any other error
        reading them is a warning."""
        from airflow_provider_abeja.wait.engine import latest_log_lines

        try:
            return latest_log_lines(
                self.client.get_service_recent_logs(organization_id, self.deployment_id, service_id)
            )
        except NotFound:
            return []
        except Exception as exc:  # never fail (or fail differently) for the logs
            self.log.warning("Could not read the recent logs of service %s: %s", service_id, exc)
            return []

    def log_before_delete(self, organization_id: str, service_id: str) -> None:
        """Copy the service's latest log lines into the task log: deleting it deletes them."""
        from airflow_provider_abeja.exceptions import with_log_lines

        lines = self.service_log_lines(organization_id, service_id)
        if lines:
            self.log.info("%s", with_log_lines(f"Deleting service {service_id}.", lines))

    def push_service_xcom(self, context: Mapping[str, Any], organization_id: str, service_id: str) -> None:
        """Push ``service_id`` and ``service_url`` (console) so the link shows even if a wait fails."""
        from airflow_provider_abeja.links.abeja import push_service_url, service_console_url

        ti = context["ti"]
        ti.xcom_push(key=XCOM_SERVICE_ID, value=service_id)
        url = service_console_url(self.hook.console_url, organization_id, self.deployment_id, service_id)
        push_service_url(self, ti, url)


class AbejaDeleteOperator(AbejaDeploymentOperator):
    """Delete one resource of a deployment (a service, an endpoint, a version). A resource that is already
    gone is success (returns None) unless ``fail_if_missing=True``; otherwise returns the API's
    answer. So is an id that is None (an XCom nobody pushed, such as the ``previous_service_id``
    of a first release): nothing to delete. The service and endpoint delete operators say the
    same things the same way.

    :param fail_if_missing: fail without retries when the resource does not exist (or its id is None).
    """

    ui_color = "#fdecea"
    #: The resource's name (``_`` for spaces in messages; the client's ``delete_<noun>`` deletes it), and the
    #: attribute (and argument) holding its id.
    noun: ClassVar[str]
    id_field: ClassVar[str]

    def __init__(self, *, fail_if_missing: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_if_missing = fail_if_missing

    def execute(self, context: Mapping[str, Any]) -> Any:
        noun = self.noun.replace("_", " ")
        if getattr(self, self.id_field) is None and not self.fail_if_missing:
            self.log.info("No %s to delete: %s is None (nothing was pushed for it)", noun, self.id_field)
            return None
        resource_id = required_id(getattr(self, self.id_field), self.id_field)
        organization_id = self.resolve_organization_id()
        if noun == "service":
            self.log_before_delete(organization_id, resource_id)
        try:
            result = getattr(self.client, f"delete_{self.noun}")(
                organization_id, self.deployment_id, resource_id
            )
        except NotFound as exc:
            if self.fail_if_missing:
                raise AirflowFailException(f"{noun} {resource_id} does not exist: {exc}") from exc
            self.log.info("%s %s is already gone: nothing to delete", noun.capitalize(), resource_id)
            return None
        self.log.info("Deleted %s %s", noun, resource_id)
        return result
