"""Cleanup: delete a deployment version; delete or archive training resources; delete every service
this DAG run created, whichever task failed; stop the training jobs a DAG run started.

A teardown tied to one create only covers the creates that succeeded; ``AbejaDeleteRunServicesOperator``
finds the run's services on the platform by the ``AIRFLOW_ABEJA_CREATED_BY`` marker the create
operator sets, so it also deletes the services of mapped creates and of creates that failed after
making theirs; ``AbejaStopRunTrainingJobsOperator`` does the same for training jobs (stopping
those that still run).

Every delete here is idempotent (already gone is success unless ``fail_if_missing=True``). The
platform keeps what is in use (409): a version a service runs, a training version a job ran, a
job definition with versions; jobs and models are never deleted, only archived. The training
deletes archive instead when ``archive_if_in_use`` (the default).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.exceptions import Conflict, HttpError, InvalidArgumentError, NotFound
from airflow_provider_abeja.operators._base import (
    CREATED_BY_ENV,
    AbejaConnectionOperator,
    AbejaDeleteOperator,
    AbejaDeploymentOperator,
    _DeleteOperator,
    _TrainingOperator,
    created_in_run,
)
from airflow_provider_abeja.wait.engine import RUNNING_JOB_STATUSES

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AbejaDeleteDeploymentVersionOperator(AbejaDeleteOperator):
    """Delete a deployment version (its code). Already gone is success unless ``fail_if_missing=True``.

    The platform refuses (409) while a service runs the version: delete the service first (a
    release that failed after its deploy: ``discard_new_service``, then this).

    :param version_id: the version (``ver-...``).
    """

    noun, id_field = "deployment version", "version_id"

    def __init__(self, *, version_id: str, **kwargs: Any) -> None:
        super().__init__(version_id=version_id, **kwargs)


class _TrainingCleanupOperator(_DeleteOperator, _TrainingOperator):
    """Delete, or archive, one resource of a job definition (the definition itself without
    ``id_field``). Already gone is success (returns None) unless ``fail_if_missing=True``.

    A subclass declares its ``noun``, ``id_field`` and client calls, and takes its id argument
    (templated and checked as ``id_field`` says).

    :param job_definition_name: the job definition.
    :param fail_if_missing: fail without retries when the resource does not exist.
    """

    none_is_nothing = False
    outer_field = "job_definition_name"
    #: The client's archive call (``delete_call`` None: the platform only archives it).
    archive_call: ClassVar[str]
    #: Archive what the platform keeps because it is in use (409) instead of failing.
    archive_if_in_use = True

    def describe(self, ids: list[str]) -> str:
        return f"{self.noun} {'/'.join(ids)}"

    def delete(self, organization_id: str, ids: list[str], label: str) -> Any:
        try:
            if self.delete_call is not None:
                return super().delete(organization_id, ids, label)
        except Conflict as exc:
            if not self.archive_if_in_use:
                raise
            self.log.info("The platform keeps %s (%s): archiving it instead", label, exc)
        result = getattr(self.client, self.archive_call)(organization_id, *ids)
        self.log.info("Archived %s", label)
        return {**result, "archived": True}


class AbejaDeleteTrainingJobDefinitionOperator(_TrainingCleanupOperator):
    """Delete a training job definition; one that still has versions is archived instead
    (``archive_if_in_use``). Returns the API's answer (with ``"archived": True`` when archived).

    :param job_definition_name: the job definition.
    :param archive_if_in_use: archive what the platform keeps because it is in use (default True).
    :param fail_if_missing: fail without retries when it does not exist (default: already gone is success).
    """

    noun = "job definition"
    delete_call = "delete_training_job_definition"
    archive_call = "archive_training_job_definition"

    def __init__(self, *, archive_if_in_use: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.archive_if_in_use = archive_if_in_use


class AbejaDeleteTrainingJobDefinitionVersionOperator(_TrainingCleanupOperator):
    """Delete a job definition version; one a job ran is archived instead (``archive_if_in_use``).

    :param job_definition_name: the job definition.
    :param archive_if_in_use: archive what the platform keeps because it is in use (default True).
    :param fail_if_missing: fail without retries when it does not exist (default: already gone is success).
    :param version_id: the version (a number).
    """

    noun, id_field = "job definition version", "version_id"
    delete_call = "delete_training_job_definition_version"
    archive_call = "archive_training_job_definition_version"

    def __init__(self, *, version_id: int | str, archive_if_in_use: bool = True, **kwargs: Any) -> None:
        super().__init__(version_id=version_id, **kwargs)
        self.archive_if_in_use = archive_if_in_use


class AbejaArchiveTrainingJobOperator(_TrainingCleanupOperator):
    """Archive a training job (the platform never deletes jobs).

    The platform refuses (400) a job that still runs: stop it first (``AbejaStopRunTrainingJobsOperator``
    stops those of a run).

    :param training_job_id: the job.
    """

    noun, id_field, archive_call = "training job", "training_job_id", "archive_training_job"

    def __init__(self, *, training_job_id: str, **kwargs: Any) -> None:
        super().__init__(training_job_id=training_job_id, **kwargs)


class AbejaArchiveTrainingModelOperator(_TrainingCleanupOperator):
    """Archive a trained model (the platform never deletes models).

    :param model_id: the model.
    """

    noun, id_field, archive_call = "training model", "model_id", "archive_training_model"

    def __init__(self, *, model_id: str, **kwargs: Any) -> None:
        super().__init__(model_id=model_id, **kwargs)


def _task_ids(value: str | Sequence[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        raise InvalidArgumentError(
            "task_ids", "expected task ids (non-empty strings), or None for every task"
        )
    return frozenset(name.strip() for name in names)


#: A DAG run's dag id and run id, and the task ids whose creations count (None: every task).
_RunScope = tuple[str, str, Collection[str] | None]


class _RunTeardownOperator(AbejaConnectionOperator):
    """A run-wide teardown: it ends what this DAG run's tasks (``task_ids``: only these) made,
    found by their creation marker (``made_in_run``), each one tried before one failure raises
    (a retry may get through)."""

    ui_color = "#fdecea"
    #: What it ends, its verb and past (as ``delete``, ``deleted``), and what the run did to make it.
    noun: ClassVar[str]
    verbs: ClassVar[tuple[str, str, str]]

    def __init__(self, *, task_ids: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_ids = task_ids

    def execute(self, context: Context) -> list[str]:
        ti = context["ti"]
        run = (str(ti.dag_id), str(ti.run_id), _task_ids(self.task_ids))
        organization_id = self.resolve_organization_id()
        doomed, left = self.to_end(organization_id, run)
        verb, past, made = self.verbs
        ended: list[str] = []
        failures: list[str] = []
        for resource_id in doomed:
            try:
                if not self.end(organization_id, resource_id):
                    self.log.info("%s %s is already gone or over", self.noun.capitalize(), resource_id)
                    continue
            except Exception as exc:
                failures.append(f"{resource_id}: {exc}")
                continue
            self.log.info("%s %s %s", past.capitalize(), self.noun, resource_id)
            ended.append(resource_id)
        if failures:
            raise AirflowException(f"could not {verb} {len(failures)} {self.noun}(s) of this run: {failures}")
        self.log.info("%s %d %s(s) this run %s; %s", past.capitalize(), len(ended), self.noun, made, left)
        return ended

    def to_end(self, organization_id: str, run: _RunScope) -> tuple[list[str], str]:
        """The ids of what ``run`` made that this ends, and what is left (said in the closing line)."""
        raise NotImplementedError

    def end(self, organization_id: str, resource_id: str) -> bool:
        """End one; False when it was already gone or over."""
        raise NotImplementedError


class AbejaDeleteRunServicesOperator(_RunTeardownOperator, AbejaDeploymentOperator):
    """Delete the services this DAG run's create tasks made in one deployment (a run-wide teardown).

    Use it as a teardown without setups, ``cleanup.as_teardown()``, at the end of the DAG: it then
    runs once everything upstream is done, whatever failed, and the run's state still reflects the
    failure. (Tied to setups, Airflow skips it when every setup failed.)

    Idempotent: a service already gone is skipped, and a second run finds nothing left. A service
    an endpoint routes to is kept (it carries traffic; delete or re-point the endpoint first).
    Services created with ``reuse_existing=False`` carry no marker and are not found.

    :param deployment_id: the deployment to clean (one operator per deployment).
    :param task_ids: only services of these create tasks (default: every task of the run).

    Returns the ids of the services it deleted.
    """

    template_fields: Sequence[str] = (*AbejaDeploymentOperator.template_fields, "task_ids")
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "task_ids")
    noun, verbs = "service", ("delete", "deleted", "created")

    def to_end(self, organization_id: str, run: _RunScope) -> tuple[list[str], str]:
        """The run's services but those an endpoint serves (a release keeps what it released)."""
        services = self.client.get_services(organization_id, self.deployment_id).get("entries") or []
        endpoints = self.client.get_endpoints(organization_id, self.deployment_id).get("entries") or []
        routed = {str(e.get("service_id")) for e in endpoints if isinstance(e, Mapping)}
        doomed = run_services(services, *run)
        kept = [service_id for service_id in doomed if service_id in routed]
        left = f"kept {', '.join(kept)}, which an endpoint serves" if kept else "none is left"
        return [service_id for service_id in doomed if service_id not in routed], left

    def end(self, organization_id: str, resource_id: str) -> bool:
        return self.delete_service(organization_id, resource_id)


def made_in_run(
    entries: Any, dag_id: str, run_id: str, task_ids: Collection[str] | None, *fields: str
) -> list[Mapping[str, Any]]:
    """The listed entries whose creation marker (in one of their ``fields``) names this DAG run
    (and one of ``task_ids``)."""
    found = []
    for entry in (e for e in entries or [] if isinstance(e, Mapping)):
        markers = ((entry.get(f) or {}).get(CREATED_BY_ENV) for f in fields)
        task_id = next((t for m in markers if (t := created_in_run(m, dag_id, run_id))), None)
        if task_id is not None and (task_ids is None or task_id in task_ids):
            found.append(entry)
    return found


def run_services(
    services: Sequence[Any], dag_id: str, run_id: str, task_ids: Collection[str] | None = None
) -> list[str]:
    """Ids of the listed services whose creation marker names this DAG run (and one of ``task_ids``)."""
    return [
        str(e.get("service_id")) for e in made_in_run(services, dag_id, run_id, task_ids, "user_env_vars")
    ]


class AbejaStopRunTrainingJobsOperator(_RunTeardownOperator, _TrainingOperator):
    """Stop the training jobs this DAG run's job tasks started that still run (a run-wide teardown).

    The teardown of the reschedule pattern: ``AbejaCreateTrainingJobOperator`` with
    ``wait_for_completion=False``, ``AbejaTrainingJobSensor`` with ``mode="reschedule"``, then
    this with ``.as_teardown()``: it runs however the sensor ended (failed, marked, timed out)
    and stops what the run left running. Jobs are found by the ``AIRFLOW_ABEJA_CREATED_BY``
    marker the job operator sets (not with ``reuse_existing=False``).

    Idempotent: a job already over (complete, failed, stopped) or gone is left as it is.

    :param job_definition_name: the job definition (one operator per definition).
    :param task_ids: only jobs of these tasks (default: every task of the run).

    Returns the ids of the jobs it stopped.
    """

    template_fields: Sequence[str] = (*_TrainingOperator.template_fields, "task_ids")
    named_arguments = (*_TrainingOperator.named_arguments, "task_ids")
    noun, verbs = "training job", ("stop", "stopped", "started")

    def to_end(self, organization_id: str, run: _RunScope) -> tuple[list[str], str]:
        """The run's jobs that still run."""
        jobs = self.client.get_training_jobs(organization_id, self.definition_name()).get("entries")
        mine = made_in_run(jobs, *run, "environment", "user_parameters")
        running = [
            str(job.get("training_job_id")) for job in mine if job.get("status") in RUNNING_JOB_STATUSES
        ]
        return running, "none is left running"

    def end(self, organization_id: str, resource_id: str) -> bool:
        """Stop the job; False when it is gone or has ended since it was listed."""
        ids = (organization_id, self.definition_name(), resource_id)
        try:
            self.client.stop_training_job(*ids)
        except NotFound:
            return False
        except HttpError:  # refused: it may have ended since it was listed
            status = self.client.get_training_job(*ids).get("status")
            if status in RUNNING_JOB_STATUSES:
                raise
            self.log.info("Training job %s has ended (%s)", resource_id, status)
            return False
        return True
