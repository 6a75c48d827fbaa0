"""Operators for the service lifecycle: create, update, start, stop, delete, and calling a service.

Each one is safe to retry: create reconnects to the service an earlier try made, start and stop
read the state first, delete treats "already gone" as done. Waits run in the worker (killable)
or, with ``deferrable=True``, in the triggerer.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import math
import mimetypes
import os
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, AirflowTaskTimeout

from airflow_provider_abeja.assets import default_outlets
from airflow_provider_abeja.batch.paths import is_file, open_binary, publish
from airflow_provider_abeja.batch.sender import Target, is_json
from airflow_provider_abeja.client.api import DEFAULT_INSTANCE_TYPE
from airflow_provider_abeja.client.validation import check_sizing, check_update_payload, whole_number
from airflow_provider_abeja.client.validation import mapping_argument as _mapping
from airflow_provider_abeja.client.validation import text as _text
from airflow_provider_abeja.exceptions import (
    BadRequest,
    HttpError,
    InvalidArgumentError,
    with_log_lines,
)
from airflow_provider_abeja.links.abeja import AbejaServiceLink
from airflow_provider_abeja.operators._base import (
    CREATED_BY_ENV,
    AbejaDeleteOperator,
    AbejaDeploymentOperator,
    AbejaWaitingOperator,
    WaitInterrupted,
    environment_argument,
    marked,
    required_id,
    wait_settings,
)
from airflow_provider_abeja.wait.engine import (
    RUNNING_STATUSES,
    SERVICE,
    Ids,
    ServiceStatus,
)


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
    arguments; the wait in the worker copies the service's recent logs into the task log),
    returns the service dict (environment values hidden)."""

    kind = SERVICE
    trigger = "airflow_provider_abeja.triggers.service.AbejaServiceStatusTrigger"
    worker_wait = "wait_for_service_status"
    operator_extra_links = (AbejaServiceLink(),)
    ui_color = "#e8f4fd"

    def summary(self, resource: Mapping[str, Any]) -> Any:
        """The service dict with environment values hidden: they may be secrets and XCom is readable."""
        out = dict(resource)
        for key in ("user_env_vars", "merged_env_vars", "environment"):
            if isinstance(env := out.get(key), Mapping):
                out[key] = dict.fromkeys(env, "***")
        return out

    def push_links(self, context: Mapping[str, Any], ids: Ids) -> None:
        self.push_service_xcom(context, ids[0], ids[2])


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
        *("version_id", "instance_number", "min_instance_number", "max_instance_number", "enable_autoscale"),
        *("instance_type", "environment", "model_id"),
    )
    template_fields_renderers = {"environment": "json"}
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "version_id", "model_id")
    store_key = "abeja_service_id"  # the service's id in the task state store (Airflow 3.3+)
    create_call = "create_service"

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

    def arguments(self) -> dict[str, Any]:
        """The rendered arguments of ``create_service``, normalised and checked as the client
        checks them, so that nothing (not even the look-up for an earlier try's service) is sent
        with arguments the client would refuse; raises ``InvalidArgumentError``."""

        def count(argument: str) -> int | None:
            value = getattr(self, argument)
            return None if value is None else whole_number(value, argument, 1)

        reuse = self.reuse_existing
        arguments = {
            "version_id": required_id(self.version_id, "version_id"),
            "instance_number": count("instance_number"),
            "min_instance_number": count("min_instance_number"),
            "max_instance_number": count("max_instance_number"),
            "enable_autoscale": self.enable_autoscale,
            "instance_type": self.instance_type,  # a name, as check_sizing (the client's) requires
            "environment": environment_argument(self.environment, reuse_existing=reuse, noun="service"),
            "model_id": None if self.model_id is None else required_id(self.model_id, "model_id"),
        }
        check_sizing(arguments)  # also refuses an enable_autoscale other than a boolean or its text
        if self.enable_autoscale is not None:
            arguments["enable_autoscale"] = str(self.enable_autoscale).strip().lower() == "true"
        return arguments

    @contextlib.contextmanager
    def guard_wait(self, context: Mapping[str, Any], ids: Ids) -> Iterator[None]:
        """Delete the service when the wait fails, and add what happened to it to the error.

        A create used as a setup that fails makes Airflow skip its teardown: without this the
        service would stay up. Kept instead: with ``keep_service_on_failure``; when a task retry
        will follow (it reuses the service); when the task was killed (``on_kill`` deletes
        it, unless ``delete_on_kill=False``). Deferring (``TaskDeferred``) is not a failure.
        """
        try:
            yield
        except WaitInterrupted:  # deferring (TaskDeferred) is not an Exception either
            raise
        except (Exception, AirflowTaskTimeout) as exc:
            note = self._failure_note(context, exc, ids)
            self.log.error("The wait for service %s failed: %s", ids[2], note)
            if isinstance(exc, AirflowTaskTimeout):
                raise
            # The same class (a fail-fast error stays one), with the note in its message.
            kind = type(exc) if isinstance(exc, AirflowException) else AirflowException
            raise kind(f"{exc}; {note}") from exc

    def cancels_on_kill(self) -> bool:
        return self.delete_on_kill

    def after_failed_deferral(self, context: Mapping[str, Any]) -> None:
        """Delete the service as after a failed wait (``guard_wait``'s rule, the same notes)."""
        ids = self.resume(context, None)
        note = self._failure_note(context, AirflowException("the deferral failed"), ids)
        self.log.error("The deferral of service %s failed: %s", ids[2], note)

    def _failure_note(self, context: Mapping[str, Any], exc: BaseException, ids: Ids) -> str:
        """What happens to the service after a failed wait: kept, or deleted (and how it went)."""
        organization_id, _, service_id = ids
        if self.keep_service_on_failure:
            return f"service {service_id} is kept (keep_service_on_failure=True) and may still be running"
        tries = getattr(context["ti"], "try_number", None)
        retry = isinstance(tries, int) and tries <= (self.retries or 0) and self.reuse_existing
        if retry and not isinstance(exc, AirflowFailException):
            return f"service {service_id} is kept for the task's next try, which reuses it"
        try:
            if not self.delete_service(organization_id, service_id):
                return f"service {service_id} is already gone"
        except Exception as error:  # the original failure matters more: report, do not mask it
            return (
                f"deleting service {service_id} failed too ({type(error).__name__}: {error}); it may still "
                "be running: a run-scoped cleanup task (AbejaDeleteRunServicesOperator) deletes it"
            )
        return f"service {service_id} was deleted (keep_service_on_failure=True keeps it)"

    def find_earlier(self, organization_id: str, arguments: dict[str, Any], marker: str) -> Any:
        """The running service made for this task instance, if any.

        Its other services (FAILED, STOPPED, or of another version because the DAG changed between
        tries) are deleted: they belong to this task instance and would otherwise be left behind.
        """
        entries = self.client.get_services(organization_id, self.deployment_id).get("entries")
        version_id, keep = arguments["version_id"], None
        for entry in marked(entries, marker, "user_env_vars"):
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
            self.delete_service(organization_id, service_id)
        return keep


class _ExistingServiceOperator(_ServiceOperator):
    """An operator on an existing service, ``service_id`` (update, start, stop)."""

    template_fields: Sequence[str] = (*AbejaDeploymentOperator.template_fields, "service_id")
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "service_id")

    def __init__(self, *, service_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service_id = service_id

    def _prepare(self, context: Mapping[str, Any]) -> Ids:
        """The rendered ``service_id``'s ids, its links pushed; the wait's clock started."""
        self.start_clock(context)
        service_id = str(_text(self.service_id, "service_id"))
        ids = self.ids(self.resolve_organization_id(), service_id)
        self.push_links(context, ids)
        return ids


class AbejaUpdateServiceOperator(_ExistingServiceOperator):
    """Update a service (instances, autoscaling, environment, ...) and wait until it is READY again.

    A stopped service is updated without waiting: it stays stopped and takes the change when it is
    started.

    :param service_id: the service (``ser-...``).
    :param payload: the fields to change, as ``APIClient.update_service`` takes them (a mapping or
        JSON object text; templated, rendered as JSON).

    Returns the service dict (environment values hidden); pushes ``service_id`` / ``service_url``.
    """

    template_fields: Sequence[str] = (*_ExistingServiceOperator.template_fields, "payload")
    template_fields_renderers = {"payload": "json"}

    def __init__(self, *, payload: Mapping[str, Any] | str, **kwargs: Any):
        super().__init__(**kwargs)
        self.payload = payload

    def execute(self, context: Mapping[str, Any]) -> Any:
        payload = _mapping(self.payload, "payload")
        if not payload:
            raise InvalidArgumentError("payload", "nothing to update")
        check_update_payload(payload)  # before the service is read
        ids = self._prepare(context)
        before = self.client.get_service(*ids)
        service = self.client.update_service(*ids, payload=payload)
        self.log.info("Updated service %s (%s)", ids[2], ", ".join(sorted(payload)))
        if before.get("status") == ServiceStatus.STOPPED.value:
            # A stopped service is not redeployed: it takes the change when it is started.
            self.log.info("Service %s is stopped: not waiting; the update applies when it starts", ids[2])
            return self.summary(service)
        # The answer may still show the old status: always look again when waiting (for READY).
        return self.finish(context, ids, service, status_is_current=False)


class _StateChangeOperator(_ExistingServiceOperator):
    """Start or stop a service: read its state first, send the change unless it is there already,
    and treat the platform's 400 as success when the service got there meanwhile (otherwise the
    task fails without retries, naming the status the service is in)."""

    #: The verb (``start``, ``stop``: the client's ``<verb>_service`` sends the change), the
    #: statuses that need no change, and the statuses the wait ends on (None: the kind's).
    verb: ClassVar[str]
    past: ClassVar[str]
    state: ClassVar[str]
    done: ClassVar[Collection[str]]
    status_current_after_refusal: ClassVar[bool] = False
    target_status: ClassVar[str | None] = None
    failure_statuses: ClassVar[Collection[str] | None] = None

    def execute(self, context: Mapping[str, Any]) -> Any:
        ids = self._prepare(context)
        service_id, service = ids[2], self.client.get_service(*ids)
        status, since, current = service.get("status"), None, True
        if status in self.done:
            self.log.info(
                "Service %s is already %s (%s): nothing to %s", service_id, self.state, status, self.verb
            )
        else:
            since, current = self._log_history_end(ids), False
            try:
                getattr(self.client, f"{self.verb}_service")(*ids)
                self.log.info("%s service %s", self.past.capitalize(), service_id)
            except BadRequest as exc:
                service = self.client.get_service(*ids)
                if (status := service.get("status")) not in self.done:  # refused: a fail-fast 400
                    raise AirflowException(
                        f"service {service_id} cannot be {self.past} in status {status}: {exc}"
                    ) from exc
                self.log.info("Service %s was %s by someone else meanwhile", service_id, self.past)
                current = self.status_current_after_refusal
        statuses = {"target_status": self.target_status, "failure_statuses": self.failure_statuses}
        return self.finish(context, ids, service, status_is_current=current, logs_since=since, **statuses)

    def _log_history_end(self, ids: Ids) -> datetime | None:
        """Where the service's log history ends, read before acting: the wait copies only newer lines."""
        if not self.wait_for_completion or self.deferrable:
            return None
        try:
            return self.hook.newest_log_time(*ids)
        except Exception as exc:  # the logs are a courtesy: never fail the task for them
            self.log.warning("Could not read the recent logs of service %s: %s", ids[2], exc)
            return None


class AbejaStartServiceOperator(_StateChangeOperator):
    """Start a stopped service; a service that is already running (or starting) is success.

    Reads the state first, and treats the platform's "already running" 400 (another actor
    started it in between) as success too. Waits until READY unless ``wait_for_completion=False``.

    :param service_id: the service (``ser-...``).
    """

    verb, past, state = "start", "started", "running"
    done = RUNNING_STATUSES


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


class AbejaDeleteServiceOperator(AbejaDeleteOperator):
    """Delete a service. A service that is already gone is success unless ``fail_if_missing=True``.

    Returns the API's answer (``{"message": ...}``), or None when the service was already gone.

    :param service_id: the service (``ser-...``).
    """

    noun, id_field = "service", "service_id"

    def __init__(self, *, service_id: str, **kwargs: Any) -> None:
        super().__init__(service_id=service_id, **kwargs)

    def delete(self, organization_id: str, ids: list[str], label: str) -> Any:
        self.log_before_delete(organization_id, ids[-1])  # deleting it deletes its logs
        return super().delete(organization_id, ids, label)


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
        *("service_id", "endpoint_alias", "json", "data", "input_path", "content_type", "output_path"),
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

    def execute(self, context: Mapping[str, Any]) -> Any:
        service_id = _text(self.service_id, "service_id", optional=True)
        alias = _text(self.endpoint_alias, "endpoint_alias", optional=True)
        if (service_id is None) == (alias is None):
            raise InvalidArgumentError("service_id", "give exactly one of service_id and endpoint_alias")
        given = [name for name in ("json", "data", "input_path") if getattr(self, name) is not None]
        if len(given) > 1:
            raise InvalidArgumentError(given[1], f"give only one of json, data, input_path (got {given})")
        source = self._path(self.input_path, "input_path")
        if source is not None and not is_file(source):
            raise InvalidArgumentError("input_path", f"no such file: {self.input_path}")
        output = self._path(self.output_path, "output_path")
        organization_id = self.resolve_organization_id()
        target = Target(organization_id, self.deployment_id, service_id=service_id, endpoint_alias=alias)
        if service_id:
            self.push_service_xcom(context, organization_id, service_id)
        # The answer goes to a file of its own, published whole or not at all.
        with tempfile.TemporaryDirectory(prefix="abeja-response-") as folder:
            part = os.path.join(folder, "answer")
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

    def _call_until_ready(self, target: Target, source: Any, part: str) -> Any:
        """The answer, asking again every ``check_interval`` while the target answers 503."""
        what = target.describe()
        deadline = time.monotonic() + (math.inf if self.timeout is None else self.timeout)
        while True:
            try:
                return self._call_once(target, source, part)
            except HttpError as exc:
                if exc.status_code != 503:
                    raise AirflowException(self._failure_message(target, exc)) from exc
                if time.monotonic() >= deadline:
                    raise AirflowException(
                        f"the {what} was still not ready (503) after {self.timeout}s: {exc}"
                    ) from exc
                self.log.info("The %s is not ready yet (503); trying again in %ss", what, self.check_interval)
            if self._stop_event.wait(max(0.0, min(self.check_interval, deadline - time.monotonic()))):
                raise WaitInterrupted(f"stopped calling the {what}: the task was killed")

    def _failure_message(self, target: Target, exc: HttpError) -> str:
        """What the target answered, with the service's latest log lines (a handler's traceback)
        unless the platform refused the request before any model ran (401, 403, 404)."""
        message = f"the {target.describe()} answered {exc}"
        if exc.status_code in (401, 403, 404):
            return message
        try:  # an endpoint's service now (a later switch may have moved it: rare)
            service_id = self.target_service_id(target)
        except Exception as error:  # the logs are a courtesy
            self.log.warning("Could not find the service of the %s: %s", target.describe(), error)
            return message
        return with_log_lines(message, self.service_log_lines(target.organization_id, service_id))

    def _call_once(self, target: Target, source: Any, part: str) -> Any:
        """One call, its answer streamed into ``part``; the input file is opened anew per call."""
        data: IO[bytes] | str | bytes | None = self.data
        content_type = self.content_type or None
        with contextlib.ExitStack() as files:
            if source is not None:  # the client sends application/octet-stream when no type is known
                data = files.enter_context(open_binary(source))
                content_type = content_type or mimetypes.guess_type(str(self.input_path))[0]
            elif isinstance(data, str) and content_type is None:
                content_type = "text/plain"
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
        try:
            return jsonlib.loads(Path(part).read_bytes())
        except ValueError as exc:
            raise AirflowException(
                f"the service answered {content_type} that is not valid JSON: {exc}"
            ) from exc
