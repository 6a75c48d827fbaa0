"""Operators for the service lifecycle: create, update, start, stop, delete, and calling a service.

Each one is safe to retry: create reconnects to the service an earlier try made, start and stop
read the state first, delete treats "already gone" as done. Waits run in the worker (killable)
or, with ``deferrable=True``, in the triggerer.
"""

from __future__ import annotations

import contextlib
import functools
import json as jsonlib
import mimetypes
import os
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowTaskTimeout,
    TaskDeferred,
)

from airflow_provider_abeja.assets import default_outlets
from airflow_provider_abeja.batch.paths import is_file, local_path, object_path, open_binary, publish
from airflow_provider_abeja.batch.sender import Target, is_json
from airflow_provider_abeja.client.validation import mapping_argument as _mapping
from airflow_provider_abeja.client.validation import text as _text
from airflow_provider_abeja.client.validation import whole_number
from airflow_provider_abeja.exceptions import (
    BadRequest,
    HttpError,
    InvalidArgumentError,
    NotFound,
    with_log_lines,
)
from airflow_provider_abeja.links.abeja import AbejaServiceLink
from airflow_provider_abeja.operators._base import (
    CREATED_BY_ENV,
    DEFAULT_ENDPOINT_ALIAS,
    DEFAULT_INSTANCE_TYPE,
    XCOM_SERVICE_ID,
    AbejaDeleteOperator,
    AbejaDeploymentOperator,
    AbejaWaitingOperator,
    WaitInterrupted,
    created_in_run,
    creation_marker,
    environment_argument,
    marked,
    required_id,
    wait_settings,
    waiting,
)
from airflow_provider_abeja.operators._resume import recall, remember
from airflow_provider_abeja.wait.engine import DEFAULT_FAILURE_STATUSES, RUNNING_STATUSES, ServiceStatus

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

_REDACTED = "***"
#: Where the create operator keeps its service's id in the task state store (Airflow 3.3+).
STORE_SERVICE_ID = "abeja_service_id"


# -- argument checks (all run before any request) ---------------------------------------------------


def _boolean(value: Any, argument: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise InvalidArgumentError(argument, f"expected true or false, got {value!r}")


def _redact_environment(service: Any) -> Any:
    """The service dict with environment values hidden: they may be secrets and XCom is readable."""
    if not isinstance(service, Mapping):
        return service
    out = dict(service)
    for key in ("user_env_vars", "merged_env_vars", "environment"):
        env = out.get(key)
        if isinstance(env, Mapping):
            out[key] = {name: _REDACTED for name in env}
    return out


def _service_id_of(service: Mapping[str, Any]) -> str:
    return str(service["service_id"])


def service_ids(create: Any) -> Any:
    """The service id of every instance of a mapped create, for ``.expand(service_id=...)``.

    ``create.output["service_id"]`` (an XCom with its own key) cannot be mapped over; this maps
    the return values (the service dicts): ``.expand(service_id=service_ids(create))``.
    """
    return create.output.map(_service_id_of)


class _ServiceOperator(AbejaDeploymentOperator, AbejaWaitingOperator):
    """A service operator: pushes service id/url, waits or defers (``AbejaWaitingOperator``'s
    arguments), returns the service dict."""

    service_id: Any
    operator_extra_links = (AbejaServiceLink(),)
    ui_color = "#e8f4fd"

    def _prepare(self, context: Context) -> tuple[str, str]:
        """The organization and the rendered ``service_id``, its links pushed; the wait's clock started."""
        self.start_clock(context)
        service_id = str(_text(self.service_id, "service_id"))
        organization_id = self.resolve_organization_id()
        self.push_service_xcom(context, organization_id, service_id)
        return organization_id, service_id

    def _finish(
        self,
        organization_id: str,
        service: Mapping[str, Any],
        *,
        target_status: str,
        failure_statuses: Collection[str] = DEFAULT_FAILURE_STATUSES,
        status_is_current: bool = True,
        logs_since: datetime | None = None,
    ) -> Any:
        """Return at once when not waiting or already there; otherwise wait (or defer).

        ``status_is_current=False`` when ``service`` was read before a state change was asked for:
        its status then says nothing and the wait always polls.
        """
        arrived = status_is_current and service.get("status") == target_status
        if self.wait_for_completion and not arrived:
            service = self.wait_or_defer(
                organization_id, str(service["service_id"]), target_status, failure_statuses, logs_since
            )
        return _redact_environment(service)

    def wait_or_defer(
        self,
        organization_id: str,
        service_id: str,
        target_status: str,
        failure_statuses: Collection[str] = DEFAULT_FAILURE_STATUSES,
        logs_since: datetime | None = None,
    ) -> dict[str, Any]:
        """Poll until the service reaches ``target_status`` and return its last dict, in this
        worker or (``deferrable``) in the triggerer, where ``execute_complete`` resumes with the
        trigger's event (deferring raises ``TaskDeferred`` and never returns).

        The worker's wait is the hook's (which copies the service's recent logs newer than
        ``logs_since`` into the task log), stopped by ``on_kill`` through its ``stop_event``.
        Either way the outcomes and messages are the engine's (``wait_step``): a
        failure status raises ``AirflowFailException`` (no retry) chained from
        ``ServiceFailedError`` with the latest log lines; ``timeout`` seconds raise
        ``AirflowException`` chained from ``WaitTimeoutError``; an error reading the service
        fails as the fail-fast rule says; ``on_kill`` raises ``WaitInterrupted``.
        """
        if self.deferrable:
            from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

            self.defer_to(
                AbejaServiceStatusTrigger,
                {"organization_id": organization_id, "service_id": service_id},
                organization_id=organization_id,
                deployment_id=self.deployment_id,
                service_id=service_id,
                target_status=target_status,
                failure_statuses=sorted({str(s) for s in failure_statuses} - {target_status}),
                cancel_on_kill=self.cancels_on_kill(),
            )
        with waiting("service", service_id):
            return self.hook.wait_for_service_status(
                organization_id,
                self.deployment_id,
                service_id,
                target_status=target_status,
                failure_statuses=failure_statuses,
                check_interval=self.check_interval,
                timeout=self.wait_timeout(),
                stop_event=self._stop_event(),
                logs_since=logs_since,
            )

    def execute_complete(
        self,
        context: Mapping[str, Any],
        event: dict[str, Any] | None = None,
        organization_id: str | None = None,
        service_id: str | None = None,
    ) -> Any:
        """Resume after the trigger: fail loudly on anything but a well-formed success event.

        The ids come from the deferral's kwargs, else (``resumed_id``) from what this try pushed
        before deferring, with the organization resolved again. Returns the fresh service dict.
        """
        from airflow_provider_abeja.wait.engine import validate_status_event

        service_id = self.resumed_id(context, service_id, XCOM_SERVICE_ID, "service")
        organization_id = organization_id or self.resolve_organization_id()
        with self.guard_wait(context, organization_id, service_id):
            self.push_service_xcom(context, organization_id, service_id)  # this process ends the task
            validate_status_event(event, service_id)
            self.log.info("Service %s reached its target status", service_id)
            service = self.client.get_service(organization_id, self.deployment_id, service_id)
            return _redact_environment(service)

    def guard_wait(
        self, context: Mapping[str, Any], organization_id: str, service_id: str
    ) -> contextlib.AbstractContextManager[Any]:
        """What surrounds the end of a wait, in the worker or resumed (nothing by default)."""
        return contextlib.nullcontext()

    def cancels_on_kill(self) -> bool:
        """Whether a user's kill of the deferred task ends the service (the trigger's on_kill)."""
        return False


class AbejaCreateServiceOperator(_ServiceOperator):
    """Create a service (a deployment version running on instances) and wait until it is READY.

    Every argument of ``APIClient.create_service`` is a templated parameter. On a task retry the
    operator first lists the deployment's services and reuses the one an earlier try of the same
    task instance created (found by the ``AIRFLOW_ABEJA_CREATED_BY`` environment variable it sets),
    so a retry never makes a second service. A match that FAILED or was STOPPED is deleted and
    replaced. Returns the service dict (environment values hidden); pushes ``service_id`` and
    ``service_url`` to XCom before waiting.

    :param version_id: the deployment version to run (``ver-...``).
    :param instance_number: instances to start (default 1).
    :param min_instance_number: autoscaling lower bound.
    :param max_instance_number: autoscaling upper bound.
    :param enable_autoscale: turn autoscaling on or off.
    :param instance_type: e.g. ``cpu-0.25`` (default) or ``gpu-1``.
    :param environment: environment variables of the service (mapping or JSON object text).
    :param model_id: a training model to attach.
    :param reuse_existing: look for and reuse the service of an earlier try (default True); when
        False no marker is set and every try creates a new service.
    :param keep_service_on_failure: when the wait fails (timeout, failure status), keep the service.
        By default the operator deletes it and says so in the error (a failed setup skips its
        teardown: nobody else would delete it), unless a task retry follows, which reuses it.
        The wait ends at ``timeout`` or shortly before ``execution_timeout``, whichever is sooner,
        in the worker and deferred alike.
    :param delete_on_kill: when a user kills the task while it waits (mark failed, mark success,
        clear; in the worker, or deferred on Airflow 3.3 and later), delete the service it made
        or reused (default True; False keeps it).

    On Airflow 3.3 the service's id goes to the task state store before the wait: a retry after
    a crash reconnects to it (running) or replaces it (failed, stopped, gone).
    """

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        "version_id",
        "instance_number",
        "min_instance_number",
        "max_instance_number",
        "enable_autoscale",
        "instance_type",
        "environment",
        "model_id",
    )
    template_fields_renderers = {"environment": "json"}
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "version_id", "model_id")
    #: The organization and id of the service this try made or reused (for ``on_kill``).
    _made: tuple[str, str] | None = None

    def __init__(
        self,
        *,
        version_id: str,
        instance_number: int | str = 1,
        min_instance_number: int | str | None = None,
        max_instance_number: int | str | None = None,
        enable_autoscale: bool | str | None = None,
        instance_type: str = DEFAULT_INSTANCE_TYPE,
        environment: Mapping[str, Any] | str | None = None,
        model_id: str | None = None,
        reuse_existing: bool = True,
        keep_service_on_failure: bool = False,
        delete_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.version_id = version_id
        self.instance_number = instance_number
        self.min_instance_number = min_instance_number
        self.max_instance_number = max_instance_number
        self.enable_autoscale = enable_autoscale
        self.instance_type = instance_type
        self.environment = environment
        self.model_id = model_id
        self.reuse_existing = reuse_existing
        self.keep_service_on_failure = keep_service_on_failure
        self.delete_on_kill = delete_on_kill

    def create_arguments(self) -> dict[str, Any]:
        """The rendered arguments of ``create_service``, normalised and checked as the client
        checks them, so that nothing (not even the look-up for an earlier try's service) is sent
        with arguments the client would refuse; raises ``InvalidArgumentError``."""
        from airflow_provider_abeja.client.validation import check_sizing, whole_number

        def count(argument: str) -> int | None:
            value = getattr(self, argument)
            return None if value is None else whole_number(value, argument, 1)

        if not isinstance(self.instance_type, str):
            raise InvalidArgumentError(
                "instance_type", f"expected a name, got {type(self.instance_type).__name__}"
            )
        model_id = _text(self.model_id, "model_id", optional=True)
        reuse = self.reuse_existing
        arguments = {
            "version_id": required_id(self.version_id, "version_id"),
            "instance_number": count("instance_number"),
            "min_instance_number": count("min_instance_number"),
            "max_instance_number": count("max_instance_number"),
            "enable_autoscale": _boolean(self.enable_autoscale, "enable_autoscale"),
            "instance_type": _text(self.instance_type, "instance_type"),
            "environment": environment_argument(self.environment, reuse_existing=reuse, noun="service"),
            "model_id": None if model_id is None else required_id(model_id, "model_id"),
        }
        check_sizing(arguments)
        return arguments

    def execute(self, context: Context) -> Any:
        self.start_clock(context)
        self.deployment_id = required_id(self.deployment_id, "deployment_id")
        arguments = self.create_arguments()
        organization_id = self.resolve_organization_id()
        marker = creation_marker(context) if self.reuse_existing else None
        find = functools.partial(self._own_service, organization_id, version_id=arguments["version_id"])
        service = self.create_once(
            "service",
            arguments,
            marker,
            create=functools.partial(self.client.create_service, organization_id, self.deployment_id),
            find=find,
            stored=self._stored_service(context, organization_id) if marker else None,
        )
        service_id = str(service["service_id"])
        self._made = (organization_id, service_id)
        if marker:
            remember(context, STORE_SERVICE_ID, service_id)
        self.push_service_xcom(context, organization_id, service_id)
        with self.guard_wait(context, organization_id, service_id):
            return self._finish(organization_id, service, target_status=ServiceStatus.READY.value)

    @contextlib.contextmanager
    def guard_wait(self, context: Mapping[str, Any], organization_id: str, service_id: str) -> Iterator[None]:
        """Delete the service when the wait fails, and add what happened to it to the error.

        A create used as a setup that fails makes Airflow skip its teardown: without this the
        service would stay up. Kept instead: with ``keep_service_on_failure``; when a task retry
        will follow (it reuses the service); when the task was killed (``on_kill`` deletes
        it, unless ``delete_on_kill=False``). Deferring (``TaskDeferred``) is not a failure.
        """
        self._made = (organization_id, service_id)  # resumed after a deferral: on_kill's too
        try:
            yield
        except (TaskDeferred, WaitInterrupted):
            raise
        except (Exception, AirflowTaskTimeout) as exc:
            if self.keep_service_on_failure:
                note = f"service {service_id} is kept (keep_service_on_failure=True) and may still be running"
            elif self._retry_will_reuse(context, exc):
                note = f"service {service_id} is kept for the task's next try, which reuses it"
            else:
                note = self._delete_after_failure(organization_id, service_id)
            self.log.error("The wait for service %s failed: %s", service_id, note)
            if isinstance(exc, AirflowTaskTimeout):
                raise
            # The same class (a fail-fast error stays one), with the note in its message.
            kind = type(exc) if isinstance(exc, AirflowException) else AirflowException
            raise kind(f"{exc}; {note}") from exc

    def cancels_on_kill(self) -> bool:
        return self.delete_on_kill

    def on_kill(self) -> None:
        """Stop waiting and, with ``delete_on_kill``, delete the service this try made or reused."""
        super().on_kill()
        if self._made is None or not self.delete_on_kill:
            return
        from airflow_provider_abeja.wait.cancel import cancel
        from airflow_provider_abeja.wait.engine import SERVICE

        organization_id, service_id = self._made
        note = cancel(self.client, SERVICE, (organization_id, self.deployment_id, service_id))
        self.log.warning("The task was killed: %s", note)

    def _stored_service(self, context: Mapping[str, Any], organization_id: str) -> dict[str, Any] | None:
        """The service an earlier try stored (task state store) if it still runs: a retry after a
        crash reconnects to it without listing the deployment's services."""
        service_id = recall(context, STORE_SERVICE_ID)
        if service_id is None:
            return None
        try:
            service = self.client.get_service(organization_id, self.deployment_id, service_id)
        except NotFound:
            service = {"status": "gone"}
        if service.get("status") not in RUNNING_STATUSES:
            self.log.info("The service of an earlier try (%s) is %s", service_id, service.get("status"))
            return None
        self.log.info("Reconnecting to service %s started by an earlier try (task state store)", service_id)
        return service

    def after_failed_deferral(self, context: Mapping[str, Any]) -> None:
        """Delete the service as after a failed wait (``guard_wait``'s rule, the same notes)."""
        service_id = self.resumed_id(context, None, XCOM_SERVICE_ID, "service")
        if self.keep_service_on_failure:
            note = f"service {service_id} is kept (keep_service_on_failure=True)"
        elif self._retry_will_reuse(context, AirflowException("the deferral failed")):
            note = f"service {service_id} is kept for the task's next try, which reuses it"
        else:
            note = self._delete_after_failure(self.resolve_organization_id(), service_id)
        self.log.error("The deferral of service %s failed: %s", service_id, note)

    def _retry_will_reuse(self, context: Mapping[str, Any], exc: BaseException) -> bool:
        if not self.reuse_existing or isinstance(exc, AirflowFailException):
            return False
        try_number = getattr(context["ti"], "try_number", None)
        return isinstance(try_number, int) and try_number <= (self.retries or 0)

    def _delete_after_failure(self, organization_id: str, service_id: str) -> str:
        self.log_before_delete(organization_id, service_id)
        try:
            self.client.delete_service(organization_id, self.deployment_id, service_id)
        except NotFound:
            return f"service {service_id} is already gone"
        except Exception as exc:  # the original failure matters more: report, do not mask it
            return (
                f"deleting service {service_id} failed too ({type(exc).__name__}: {exc}); it may still be "
                "running: a run-scoped cleanup task (AbejaDeleteRunServicesOperator) deletes it"
            )
        return f"service {service_id} was deleted (keep_service_on_failure=True keeps it)"

    def _own_service(self, organization_id: str, marker: str, version_id: str) -> dict[str, Any] | None:
        """The running service made for this task instance, if any.

        Its other services (FAILED, STOPPED, or of another version because the DAG changed between
        tries) are deleted: they belong to this task instance and would otherwise be left behind.
        """
        entries = self.client.get_services(organization_id, self.deployment_id).get("entries")
        mine = marked(entries, marker, "user_env_vars")
        keep: dict[str, Any] | None = None
        for entry in mine:
            service_id, status = str(entry.get("service_id")), entry.get("status")
            version = entry.get("model_version_id")
            if version and version != version_id:
                reason = f"runs version {version}, not {version_id}"
            elif status not in RUNNING_STATUSES:
                reason = f"is {status}"
            elif keep is None:
                keep = dict(entry)
                self.log.info(
                    "Reusing service %s (%s) made for this task instance (%s=%s) instead of creating one",
                    service_id, status, CREATED_BY_ENV, marker,
                )  # fmt: skip
                continue
            else:
                self.log.warning("Another service of this task instance is still there: %s", service_id)
                continue
            self.log.warning("Service %s of an earlier try %s: deleting it", service_id, reason)
            self.log_before_delete(organization_id, service_id)
            with contextlib.suppress(NotFound):
                self.client.delete_service(organization_id, self.deployment_id, service_id)
        return keep


class AbejaUpdateServiceOperator(_ServiceOperator):
    """Update a service (instances, autoscaling, environment, ...) and wait until it is READY again.

    A stopped service is updated without waiting: it stays stopped and takes the change when it is
    started.

    :param service_id: the service (``ser-...``).
    :param payload: the fields to change, as ``APIClient.update_service`` takes them (a mapping or
        JSON object text; templated, rendered as JSON).

    Returns the service dict (environment values hidden); pushes ``service_id`` / ``service_url``.
    """

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        "service_id",
        "payload",
    )
    template_fields_renderers = {"payload": "json"}
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "service_id")

    def __init__(self, *, service_id: str, payload: Mapping[str, Any] | str, **kwargs: Any):
        super().__init__(**kwargs)
        self.service_id = service_id
        self.payload = payload

    def execute(self, context: Context) -> Any:
        payload = _mapping(self.payload, "payload")
        if not payload:
            raise InvalidArgumentError("payload", "nothing to update")
        organization_id, service_id = self._prepare(context)
        before = self.client.get_service(organization_id, self.deployment_id, service_id)
        service = self.client.update_service(organization_id, self.deployment_id, service_id, payload=payload)
        self.log.info("Updated service %s (%s)", service_id, ", ".join(sorted(payload)))
        if before.get("status") == ServiceStatus.STOPPED.value:
            # A stopped service is not redeployed: it takes the change when it is started.
            self.log.info("Service %s is stopped: not waiting; the update applies when it starts", service_id)
            return _redact_environment(service)
        # The answer may still show the old status: always look again when waiting.
        return self._finish(
            organization_id, service, target_status=ServiceStatus.READY.value, status_is_current=False
        )


class _StateChangeOperator(_ServiceOperator):
    """Start or stop a service: read its state first, send the change unless it is there already,
    and treat the platform's 400 as success when the service got there meanwhile."""

    template_fields: Sequence[str] = (*AbejaDeploymentOperator.template_fields, "service_id")
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "service_id")
    #: The verb (``start``, ``stop``: the client's ``<verb>_service`` sends the change), the
    #: statuses that need no change, and the status to wait for.
    verb: ClassVar[str]
    past: ClassVar[str]
    state: ClassVar[str]
    done: ClassVar[Collection[str]]
    status_current_after_refusal: ClassVar[bool]
    target_status: ClassVar[str]
    failure_statuses: ClassVar[Collection[str]] = DEFAULT_FAILURE_STATUSES

    def __init__(self, *, service_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service_id = service_id

    def refused(self, service_id: str, status: Any, exc: BadRequest) -> None:
        """Raise this operator's own error when the platform refused the change and the service
        is not there either (the 400 itself by default)."""

    def execute(self, context: Context) -> Any:
        organization_id, service_id = self._prepare(context)
        service = self.client.get_service(organization_id, self.deployment_id, service_id)
        status, since, current = service.get("status"), None, True
        if status in self.done:
            self.log.info(
                "Service %s is already %s (%s): nothing to %s", service_id, self.state, status, self.verb
            )
        else:
            since, current = self._log_history_end(organization_id, service_id), False
            try:
                send_change = getattr(self.client, f"{self.verb}_service")
                send_change(organization_id, self.deployment_id, service_id)
                self.log.info("%s service %s", self.past.capitalize(), service_id)
            except BadRequest as exc:
                service = self.client.get_service(organization_id, self.deployment_id, service_id)
                if service.get("status") not in self.done:
                    self.refused(service_id, service.get("status"), exc)
                    raise
                self.log.info("Service %s was %s by someone else meanwhile", service_id, self.past)
                current = self.status_current_after_refusal
        return self._finish(
            organization_id,
            service,
            target_status=self.target_status,
            failure_statuses=self.failure_statuses,
            status_is_current=current,
            logs_since=since,
        )

    def _log_history_end(self, organization_id: str, service_id: str) -> datetime | None:
        """Where the service's log history ends, read before acting: the wait copies only newer lines."""
        if not self.wait_for_completion or self.deferrable:
            return None
        try:
            return self.hook.newest_log_time(organization_id, self.deployment_id, service_id)
        except Exception as exc:  # the logs are a courtesy: never fail the task for them
            self.log.warning("Could not read the recent logs of service %s: %s", service_id, exc)
            return None


class AbejaStartServiceOperator(_StateChangeOperator):
    """Start a stopped service; a service that is already running (or starting) is success.

    Reads the state first, and treats the platform's "already running" 400 (another actor
    started it in between) as success too. Waits until READY unless ``wait_for_completion=False``.

    :param service_id: the service (``ser-...``).
    """

    verb, past, state = "start", "started", "running"
    done = RUNNING_STATUSES
    target_status = ServiceStatus.READY.value
    status_current_after_refusal = False


class AbejaStopServiceOperator(_StateChangeOperator):
    """Stop a running service; a service that is already stopped is success.

    Reads the state first, and treats the platform's "not running" 400 as success when the
    service is STOPPED by then. Waits until STOPPED unless ``wait_for_completion=False``.

    :param service_id: the service (``ser-...``).
    """

    verb, past, state = "stop", "stopped", "stopped"
    done = frozenset({ServiceStatus.STOPPED.value})
    target_status = ServiceStatus.STOPPED.value
    failure_statuses = (ServiceStatus.FAILED.value,)
    status_current_after_refusal = True

    def refused(self, service_id: str, status: Any, exc: BadRequest) -> None:
        raise AirflowException(f"service {service_id} cannot be stopped in status {status}: {exc}") from exc


class AbejaDeleteServiceOperator(AbejaDeleteOperator):
    """Delete a service. A service that is already gone is success unless ``fail_if_missing=True``.

    Returns the API's answer (``{"message": ...}``), or None when the service was already gone.

    :param service_id: the service (``ser-...``).
    """

    template_fields: Sequence[str] = (*AbejaDeploymentOperator.template_fields, "service_id")
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "service_id")
    noun = "service"
    id_field = "service_id"

    def __init__(self, *, service_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service_id = service_id


# -- calling a service ------------------------------------------------------------------------------


class AbejaRequestServiceOperator(AbejaDeploymentOperator):
    """Send one inference request to a service (or to an endpoint) and keep its answer.

    The target is ``service_id``, or ``endpoint_alias`` (``"default"`` for the deployment's default
    endpoint): exactly one of them. For an endpoint, XCom ``service_id`` / ``service_url`` name the
    service that answered (the platform's ``X-Abeja-Service-Id`` header).

    The body is ``json``, ``data`` (text or bytes), or the file at ``input_path`` (streamed, never
    read into memory); at most one of them. ``input_path`` and ``output_path`` are paths or URLs
    Airflow's object storage understands (``/data/x.png``, ``file://...``, ``s3://...`` with
    ``storage_conn_id``), so a task on any worker reads and writes the same files. While the service
    answers 503 (not ready yet) the request is repeated every ``check_interval`` seconds until
    ``timeout``.

    The answer is streamed to disk, never held whole in memory:

    - without ``output_path``: a JSON answer up to ``max_xcom_bytes`` becomes the return value
      (XCom). A larger or non-JSON answer fails the task with a message naming ``output_path``.
    - with ``output_path``: the answer (any type) is written there (atomically: a failed call leaves
      no partial file; on an object store, one upload of the finished answer) and the path is the
      return value; XCom ``content_type`` holds its type.

    A 4xx/5xx answer fails the task with the service's own message and its latest log lines (a
    handler's traceback; not after a 401, 403 or 404, when no model ran). A fixed ``output_path`` is
    declared as an Airflow Asset (outlet); the OpenLineage provider, when installed, gets the input
    and output files and the service.

    :param service_id: the service to call (``ser-...``).
    :param endpoint_alias: the endpoint to call instead, by alias (``default``: the deployment's
        default endpoint) or id (``pnt-...``).
    :param json: a JSON body.
    :param data: a text or bytes body.
    :param input_path: a file to send as the body (path or object storage URL).
    :param content_type: the body's content type (default: JSON, text, bytes or guessed from
        ``input_path``).
    :param output_path: where to write the answer (path or object storage URL).
    :param storage_conn_id: Airflow connection of the object store holding ``input_path`` and
        ``output_path``.
    :param max_xcom_bytes: the largest JSON answer returned without ``output_path`` (default 1 MiB).
    :param check_interval: seconds between two tries while the service answers 503 (default 5).
    :param timeout: seconds to keep trying while it answers 503 (default 600; None: no limit).
    """

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        "service_id",
        "endpoint_alias",
        "json",
        "data",
        "input_path",
        "content_type",
        "output_path",
    )
    template_fields_renderers = {"json": "json"}
    named_arguments = (
        *AbejaDeploymentOperator.named_arguments,
        *("service_id", "endpoint_alias", "input_path", "output_path", "storage_conn_id"),
    )
    operator_extra_links = (AbejaServiceLink(),)
    renamed_arguments = {"ready_timeout": "timeout"}

    def __init__(
        self,
        *,
        service_id: str | None = None,
        endpoint_alias: str | None = None,
        json: Any = None,
        data: str | bytes | None = None,
        input_path: str | None = None,
        content_type: str | None = None,
        output_path: str | None = None,
        storage_conn_id: str | None = None,
        max_xcom_bytes: int = 1024 * 1024,
        check_interval: float | timedelta = 5.0,
        timeout: float | timedelta | None = 600.0,
        **kwargs: Any,
    ) -> None:
        default_outlets(kwargs, output_path)
        super().__init__(**kwargs)
        self.service_id = service_id
        self.endpoint_alias = endpoint_alias
        self.json = json
        self.data = data
        self.input_path = input_path
        self.content_type = content_type
        self.output_path = output_path
        self.storage_conn_id = storage_conn_id
        self.max_xcom_bytes = whole_number(max_xcom_bytes, "max_xcom_bytes")
        self.check_interval, self.timeout = wait_settings(check_interval, timeout)

    def execute(self, context: Context) -> Any:
        service_id = _text(self.service_id, "service_id", optional=True)
        alias = _text(self.endpoint_alias, "endpoint_alias", optional=True)
        if (service_id is None) == (alias is None):
            raise InvalidArgumentError("service_id", "give exactly one of service_id and endpoint_alias")
        given = [name for name in ("json", "data", "input_path") if getattr(self, name) is not None]
        if len(given) > 1:
            raise InvalidArgumentError(given[1], f"give only one of json, data, input_path (got {given})")
        source = self._storage(self.input_path, "input_path")
        if source is not None and not is_file(source):
            raise InvalidArgumentError("input_path", f"no such file: {self.input_path}")
        output = self._storage(self.output_path, "output_path")
        organization_id = self.resolve_organization_id()
        target = Target(organization_id, self.deployment_id, service_id=service_id, endpoint_alias=alias)
        if service_id:
            self.push_service_xcom(context, organization_id, service_id)
        # A local answer is written next to the output, so that the final rename is atomic.
        local_output = local_path(output) if output is not None else None
        target_dir = os.path.dirname(os.path.abspath(local_output)) if local_output else None
        if target_dir:
            os.makedirs(target_dir, exist_ok=True)
        handle, part = tempfile.mkstemp(prefix=".abeja-response-", dir=target_dir)
        os.close(handle)
        try:
            response = self._call_until_ready(target, source, part)
            content_type = response.headers.get("Content-Type", "")
            size = os.path.getsize(part)
            answered_by = response.headers.get("X-Abeja-Service-Id")
            if alias and answered_by:
                self.push_service_xcom(context, organization_id, answered_by)
            self.log.info(
                "The %s answered %s (%s, %d bytes; service %s)",
                target.describe(), response.status_code, content_type, size, answered_by or service_id,
            )  # fmt: skip
            if output is not None:
                publish(part, output)
                context["ti"].xcom_push(key="content_type", value=content_type)
                return self.output_path
            return self._json_result(part, content_type, size)
        finally:
            if os.path.exists(part):
                os.unlink(part)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Input and output files (when given) and the service, for the OpenLineage provider."""
        from airflow_provider_abeja.lineage import operator_lineage

        return operator_lineage(
            self,
            inputs=[self.input_path],
            outputs=[self.output_path],
            service_id=self.service_id,
            endpoint_alias=self.endpoint_alias,
        )

    def _storage(self, value: str | None, argument: str) -> Any:
        """`value` as an object storage path (None stays None)."""
        return None if value is None else object_path(value, conn_id=self.storage_conn_id, argument=argument)

    def _call_until_ready(self, target: Target, source: Any, part: str) -> Any:
        """The answer, asking again every ``check_interval`` while the target answers 503."""
        what = target.describe()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        stop = self._stop_event()
        while True:
            try:
                return self._call_once(target, source, part)
            except HttpError as exc:
                if exc.status_code != 503:
                    raise AirflowException(self._failure_message(target, exc)) from exc
                if deadline is not None and time.monotonic() >= deadline:
                    raise AirflowException(
                        f"the {what} was still not ready (503) after {self.timeout}s: {exc}"
                    ) from exc
                self.log.info("The %s is not ready yet (503); trying again in %ss", what, self.check_interval)
            pause = self.check_interval
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            if stop.wait(pause):
                raise WaitInterrupted(f"stopped calling the {what}: the task was killed")

    def _failure_message(self, target: Target, exc: HttpError) -> str:
        """What the target answered, with the service's latest log lines (a handler's traceback)
        unless the platform refused the request before any model ran (401, 403, 404)."""
        message = f"the {target.describe()} answered {exc}"
        if exc.status_code in (401, 403, 404):
            return message
        service_id = target.service_id
        if not service_id:  # the endpoint's service (a later switch may have moved it: rare)
            try:
                alias = target.endpoint_alias or DEFAULT_ENDPOINT_ALIAS
                endpoint = self.client.get_endpoint(target.organization_id, self.deployment_id, alias)
                service_id = str(endpoint["service_id"])
            except Exception as error:  # the logs are a courtesy
                self.log.warning("Could not find the service of the %s: %s", target.describe(), error)
                return message
        return with_log_lines(message, self.service_log_lines(target.organization_id, service_id))

    def _call_once(self, target: Target, source: Any, part: str) -> Any:
        """One call, its answer streamed into ``part``; the input file is opened anew per call."""
        data: IO[bytes] | str | bytes | None = self.data
        content_type = self.content_type or None
        with contextlib.ExitStack() as files:
            if source is not None:
                data = files.enter_context(open_binary(source))
                guessed = mimetypes.guess_type(str(self.input_path))[0]
                content_type = content_type or guessed or "application/octet-stream"
            elif data is not None and content_type is None:
                content_type = "application/octet-stream" if isinstance(data, bytes) else "text/plain"
            sink = files.enter_context(open(part, "wb"))
            return target.send(
                self.client, data=data, json=self.json, content_type=content_type, stream_to=sink
            )

    def _json_result(self, part: str, content_type: str, size: int) -> Any:
        if not is_json(content_type):
            raise AirflowFailException(
                f"the service answered {content_type or 'an untyped body'} ({size} bytes), which is not "
                "JSON: set output_path to keep it in a file"
            )
        if size > self.max_xcom_bytes:
            raise AirflowFailException(
                f"the JSON answer is {size} bytes, more than max_xcom_bytes={self.max_xcom_bytes}: "
                "set output_path to keep it in a file, or raise max_xcom_bytes"
            )
        with open(part, "rb") as answer:
            try:
                return jsonlib.load(answer)
            except ValueError as exc:
                raise AirflowException(
                    f"the service answered {content_type} that is not valid JSON: {exc}"
                ) from exc


__all__ = [
    "CREATED_BY_ENV",
    "AbejaCreateServiceOperator",
    "AbejaDeleteServiceOperator",
    "AbejaRequestServiceOperator",
    "AbejaStartServiceOperator",
    "AbejaStopServiceOperator",
    "AbejaUpdateServiceOperator",
    "created_in_run",
    "creation_marker",
    "service_ids",
]
