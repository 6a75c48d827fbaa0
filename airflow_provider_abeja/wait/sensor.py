"""The status sensors: ``AbejaServiceStatusSensor``, ``AbejaTrainingJobSensor`` and ``AbejaRunSensor``.

Poke and reschedule modes read the resource with the hook's sync client, one ``engine.step`` per
poke; deferrable mode pokes once, then hands the wait to the resource's trigger (``wait.trigger``)
with the sensor's timeout as a wall-clock deadline, and reads its event back with
``engine.validate_status_event``. A subclass names its trigger (``trigger=``, which names its
``ResourceKind`` and so the client calls that read it) and takes its two path ids; the rest is the
same for every kind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
)

from airflow_provider_abeja.links.abeja import AbejaServiceLink, push_service_url, service_console_url
from airflow_provider_abeja.wait import engine
from airflow_provider_abeja.wait.trigger import (
    AbejaRunTrigger,
    AbejaServiceStatusTrigger,
    AbejaTrainingJobTrigger,
    StatusTrigger,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_abeja.hooks.abeja import AbejaHook

#: Airflow retries a sensor gets unless the DAG sets ``retries``: waiting is idempotent, and
#: Airflow 3.3.2 can fail a deferred task that already succeeded (apache/airflow#67287).
#: Fail-fast errors and timeouts still end the task at once.
WAIT_RETRIES = 2
#: Extra time the task-level deferral timeout leaves the trigger to report its own timeout event.
_DEFER_TIMEOUT_MARGIN = 60.0
#: Shortest poll interval handed to a trigger (the operators' floor, ``MIN_CHECK_INTERVAL``).
_MIN_POLL_INTERVAL = 0.1
#: The status arguments of the sensors whose trigger takes them (``chooses_statuses``).
_STATUS_ARGUMENTS = ("target_status", "failure_statuses")


class StatusSensor(engine.FailFastMixin, BaseSensorOperator):
    """Succeed when the resource reaches its target status (the kind's unless a subclass takes
    ``target_status``); fail without retries on a failure status (with its latest log lines);
    keep waiting on any other status.

    :param organization_id: defaults to the connection's ``organization_id`` extra.
    :param abeja_conn_id: Airflow connection of the ABEJA Platform.
    :param deferrable: wait in the triggerer instead of a worker slot (default: the
        ``[operators] default_deferrable`` option). The sensor's ``timeout`` becomes the trigger's
        wall-clock deadline and ``poke_interval`` its poll interval.
    :param transient_error_budget: transient API errors in a row (transport, 429, 5xx) tolerated
        before the task fails; the client's own retries come first. In reschedule mode each poke
        is a new task run, so the count starts again at every poke.

    Unless the DAG sets ``retries`` (argument or ``default_args``), the sensor has
    ``WAIT_RETRIES``. Outcomes and messages are the engine's, the same in every mode.
    """

    #: What is watched: nouns, event keys, default target and failure statuses, failure error
    #: (the trigger's: a subclass names only its trigger).
    kind: ClassVar[engine.ResourceKind]
    #: The trigger that waits in deferrable mode.
    trigger_class: ClassVar[type[StatusTrigger]]
    #: A bad id or a fail-fast error in a poke fails the task at once (``soft_fail``: skips it).
    fail_fast_methods = ("execute", "execute_complete", "poke")

    def __init_subclass__(cls, *, trigger: type[StatusTrigger] | None = None, **kwargs: Any) -> None:
        """``class ...(StatusSensor, trigger=...)``: the trigger names the kind, and the kind's path
        ids are templated first, before the subclass's own ``template_fields``."""
        super().__init_subclass__(**kwargs)
        if trigger is not None:
            cls.trigger_class, cls.kind = trigger, trigger.kind
            cls.template_fields = (*cls.kind.path_ids, *cls.__dict__.get("template_fields", ()))

    def __init__(
        self,
        *,
        organization_id: str | None = None,
        abeja_conn_id: str = "abeja_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        transient_error_budget: int = engine.DEFAULT_TRANSIENT_ERROR_BUDGET,
        **kwargs: Any,
    ) -> None:
        # A subclass passes its own id arguments on by name (the kind's path ids) and, where its
        # trigger takes them, the statuses (None: the kind's): kept here, for all.
        path_ids = {name: kwargs.pop(name) for name in self.kind.path_ids[1:] if name in kwargs}
        chooses = self.trigger_class.chooses_statuses
        target, failures = (kwargs.pop(name, None) if chooses else None for name in _STATUS_ARGUMENTS)
        if "retries" not in kwargs and "retries" not in (kwargs.get("default_args") or {}):
            kwargs["retries"] = WAIT_RETRIES
        super().__init__(**kwargs)
        self.organization_id = organization_id
        for name, value in path_ids.items():
            setattr(self, name, value)
        self.abeja_conn_id = abeja_conn_id
        self.deferrable = deferrable
        self.transient_error_budget = transient_error_budget
        # The engine's rules (the target is never a failure), checked where the DAG is parsed.
        spec = engine.WaitSpec.build("", target, failures, transient_error_budget, kind=self.kind)
        self.target_status = spec.target_status if target is None else target
        self.failure_statuses: list[str] = sorted(spec.failure_statuses)
        self._wait_state = engine.WaitState()

    def _push_link(self, context: Context) -> None:
        """Push the console link of the resource, for kinds that have one (none by default)."""

    # -- shared --------------------------------------------------------------------------------

    @cached_property
    def hook(self) -> AbejaHook:
        from airflow_provider_abeja.hooks.abeja import AbejaHook

        return AbejaHook(abeja_conn_id=self.abeja_conn_id)

    @property
    def resource_id(self) -> str:
        return str(getattr(self, self.kind.path_ids[2]))

    def _ids(self) -> engine.Ids:
        """The organization (explicit, else the connection's) and the path ids, checked: a bad or
        missing one fails without retries, naming the argument, before any request is sent."""
        from airflow_provider_abeja.client.validation import check_named_argument, check_path_id

        for name in ("abeja_conn_id", *self.kind.path_ids):  # a template that rendered to nothing
            check_named_argument(getattr(self, name), name)
        organization_id = self.hook.get_organization_id(self.organization_id or None)
        outer, inner = (check_path_id(getattr(self, name), name) for name in self.kind.path_ids[1:])
        return organization_id, outer, inner

    def _spec(self, wall_deadline: float | None = None) -> engine.WaitSpec:
        """What this sensor waits for (no deadline in poke mode: Airflow keeps the sensor's time)."""
        rules = (self.target_status, self.failure_statuses, self.transient_error_budget)
        return engine.WaitSpec.build(self.resource_id, *rules, wall_deadline=wall_deadline, kind=self.kind)

    def poke(self, context: Context) -> bool:
        """One observation through ``engine.step``, as the operators and the trigger do."""
        ids, spec = self._ids(), self._spec()
        observation = engine.observe(lambda: getattr(self.hook.client, self.kind.read)(*ids))
        result = engine.advance(spec, self._wait_state, observation, time.monotonic(), self.log)
        self._wait_state = result.state
        if not result.done:
            return False
        if result.outcome is engine.Outcome.SUCCEEDED:
            return True
        logs = engine.read_log_lines(self.hook.client, self.kind, ids, self.log) if result.wants_logs else []
        error = engine.step_error(spec, result, logs)
        raise engine.airflow_error(error, timeout_exception=AirflowSensorTimeout) from error

    def execute(self, context: Context) -> None:
        self._push_link(context)
        if not self.deferrable:
            started = time.time()
            try:
                super().execute(context)
            except AirflowSensorTimeout:
                # Told as the engine tells it in every other mode. In reschedule mode Airflow counts
                # from the first try, which this run does not know: the deadline shown is then the
                # moment Airflow declared the timeout.
                spec = self._spec(time.time() if self.reschedule else started + float(self.timeout))
                message = engine.timeout_message(spec, self._wait_state.last_status)
                timed_out = engine.Step(engine.Outcome.TIMED_OUT, self._wait_state, message)
                lines = engine.read_log_lines(self.hook.client, self.kind, self._ids(), self.log)
                error = engine.step_error(spec, timed_out, lines, float(self.timeout))
                raise engine.airflow_error(error, timeout_exception=AirflowSensorTimeout) from error
            return
        # One poke first: a resource that is already there needs no triggerer round trip.
        try:
            done = self.poke(context)
        except AirflowFailException as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'})"
                ) from exc
            raise
        if done:
            self.log.info("Success criteria met. Exiting.")
            return
        interval = max(float(self.poke_interval), _MIN_POLL_INTERVAL)
        options = {"end_time": time.time() + float(self.timeout), "abeja_conn_id": self.abeja_conn_id}
        arguments = self.trigger_class.arguments(self._ids(), self._spec(), poll_interval=interval, **options)
        timeout = timedelta(seconds=float(self.timeout) + _DEFER_TIMEOUT_MARGIN)
        self.defer(trigger=self.trigger_class(**arguments), method_name="execute_complete", timeout=timeout)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger: success returns, anything else fails with the trigger's reason."""
        self._push_link(context)
        kind, resource_id, timeout = self.kind, self.resource_id, AirflowSensorTimeout
        event = engine.validate_status_event(event, resource_id, timeout_exception=timeout, kind=kind)
        self.log.info("%s %s reached %s", kind.noun.capitalize(), resource_id, event.get(kind.status_key))


class AbejaServiceStatusSensor(StatusSensor, trigger=AbejaServiceStatusTrigger):
    """Wait until an ABEJA Platform service reaches ``target_status``.

    :param deployment_id: deployment of the service (templated).
    :param service_id: the service to watch (templated).
    :param organization_id: organization (templated); defaults to the connection's
        ``organization_id`` extra.
    :param target_status: the only status that counts as success (templated).
    :param failure_statuses: statuses that fail the task at once, without retries (default
        ``FAILED`` and ``STOPPED``; the target is never a failure).

    ``abeja_conn_id``, ``deferrable``, ``transient_error_budget`` and the default retries are
    ``StatusSensor``'s, the same for every kind of resource.
    """

    template_fields: Sequence[str] = ("target_status",)
    ui_color = "#e8f4ea"
    # The wait is the task a user watches for minutes: it links to the service's console page.
    operator_extra_links = (AbejaServiceLink(),)

    def __init__(
        self,
        *,
        deployment_id: str,
        service_id: str,
        target_status: str = engine.ServiceStatus.READY.value,
        failure_statuses: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.update(target_status=target_status, failure_statuses=failure_statuses)
        super().__init__(deployment_id=deployment_id, service_id=service_id, **kwargs)

    def _push_link(self, context: Context) -> None:
        ti = context.get("ti")
        if ti is not None:  # always there in Airflow; a bare context (a direct call) has no link
            push_service_url(self, ti, service_console_url(self.hook.console_url, *self._ids()))


class AbejaTrainingJobSensor(StatusSensor, trigger=AbejaTrainingJobTrigger):
    """Succeed when the training job is ``Complete``; fail without retries when it ends
    ``Failed`` or ``Stopped`` (with its latest log lines).

    :param job_definition_name: the job definition.
    :param training_job_id: the job to watch.

    The other arguments and the default retries are ``StatusSensor``'s.
    """

    ui_color = "#fdf3e8"

    def __init__(self, *, job_definition_name: str, training_job_id: str, **kwargs: Any) -> None:
        super().__init__(job_definition_name=job_definition_name, training_job_id=training_job_id, **kwargs)


class AbejaRunSensor(StatusSensor, trigger=AbejaRunTrigger):
    """Succeed when the run ``SUCCEEDED``; fail without retries when it ends ``FAILED`` (with its
    latest log lines). Runs started by a platform trigger are watched the same way.

    :param deployment_id: the deployment of the run.
    :param run_id: the run to watch.

    The other arguments and the default retries are ``StatusSensor``'s.
    """

    ui_color = "#eef4e8"

    def __init__(self, *, deployment_id: str, run_id: str, **kwargs: Any) -> None:
        super().__init__(deployment_id=deployment_id, run_id=run_id, **kwargs)

    def _push_link(self, context: Context) -> None:
        from airflow_provider_abeja.links.runs import push_run_link

        ti = context.get("ti")
        if ti is not None:
            push_run_link(self, ti, *self._ids())
