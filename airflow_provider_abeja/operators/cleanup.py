"""Cleanup: delete every service this DAG run created, whichever task failed; delete a deployment
version; delete or archive training resources.

A teardown tied to one create only covers the creates that succeeded; ``AbejaDeleteRunServicesOperator``
finds the run's services on the platform by the ``AIRFLOW_ABEJA_CREATED_BY`` marker the create
operator sets, so it also deletes the services of mapped creates and of creates that failed after
making theirs.

Every delete here is idempotent (already gone is success unless ``fail_if_missing=True``). The
platform keeps what is in use (409): a version a service runs, a training version a job ran, a
job definition with versions; jobs and models are never deleted, only archived. The training
deletes archive instead when ``archive_if_in_use`` (the default).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.exceptions import Conflict, InvalidArgumentError
from airflow_provider_abeja.operators._base import (
    CREATED_BY_ENV,
    AbejaConnectionOperator,
    AbejaDeleteOperator,
    AbejaDeploymentOperator,
    _DeleteOperator,
    _TrainingOperator,
    created_in_run,
    required_id,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def _task_ids(value: str | Sequence[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        raise InvalidArgumentError(
            "task_ids", "expected task ids (non-empty strings), or None for every task"
        )
    return frozenset(name.strip() for name in names)


class AbejaDeleteRunServicesOperator(AbejaDeploymentOperator):
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
    ui_color = "#fdecea"

    def __init__(self, *, task_ids: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_ids = task_ids

    def execute(self, context: Context) -> list[str]:
        ti = context["ti"]
        only = _task_ids(self.task_ids)
        organization_id = self.resolve_organization_id()
        services = self.client.get_services(organization_id, self.deployment_id).get("entries") or []
        endpoints = self.client.get_endpoints(organization_id, self.deployment_id).get("entries") or []
        routed = {str(e.get("service_id")) for e in endpoints if isinstance(e, Mapping)}
        doomed = run_services(services, str(ti.dag_id), str(ti.run_id), only)
        deleted: list[str] = []
        failures: list[str] = []
        # Kept: an endpoint serves it (a release).
        kept = [service_id for service_id in doomed if service_id in routed]
        for service_id in (s for s in doomed if s not in routed):
            try:
                if not self.delete_service(organization_id, service_id):
                    self.log.info("Service %s is already gone", service_id)
                    continue
            except Exception as exc:  # try the others first; the retry (or the error) comes after
                failures.append(f"{service_id}: {exc}")
                continue
            self.log.info("Deleted service %s", service_id)
            deleted.append(service_id)
        if failures:
            raise AirflowException(f"could not delete {len(failures)} service(s) of this run: {failures}")
        left = f"kept {', '.join(kept)}, which an endpoint serves" if kept else "none is left"
        self.log.info("Deleted %d service(s) this run created; %s", len(deleted), left)
        return deleted


def run_services(
    services: Sequence[Any], dag_id: str, run_id: str, task_ids: Collection[str] | None = None
) -> list[str]:
    """Ids of the listed services whose creation marker names this DAG run (and one of ``task_ids``)."""
    found = []
    for entry in (e for e in services if isinstance(e, Mapping)):
        task_id = created_in_run((entry.get("user_env_vars") or {}).get(CREATED_BY_ENV), dag_id, run_id)
        if task_id is not None and (task_ids is None or task_id in task_ids):
            found.append(str(entry.get("service_id")))
    return found


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

    template_fields: Sequence[str] = (*AbejaConnectionOperator.template_fields, "job_definition_name")
    none_is_nothing = False
    #: The client's archive call (``delete_call`` None: the platform only archives it).
    archive_call: ClassVar[str]
    #: Archive what the platform keeps because it is in use (409) instead of failing.
    archive_if_in_use = True

    def resource_ids(self) -> list[str]:
        ids = [self.definition_name()]
        if self.id_field is not None:
            ids.append(required_id(getattr(self, self.id_field), self.id_field))
        return ids

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

    :param job_definition_name: the job definition.
    :param fail_if_missing: fail without retries when it does not exist (default: already gone is success).
    :param training_job_id: the job.
    """

    noun, id_field, archive_call = "training job", "training_job_id", "archive_training_job"

    def __init__(self, *, training_job_id: str, **kwargs: Any) -> None:
        super().__init__(training_job_id=training_job_id, **kwargs)


class AbejaArchiveTrainingModelOperator(_TrainingCleanupOperator):
    """Archive a trained model (the platform never deletes models).

    :param job_definition_name: the job definition.
    :param fail_if_missing: fail without retries when it does not exist (default: already gone is success).
    :param model_id: the model.
    """

    noun, id_field, archive_call = "training model", "model_id", "archive_training_model"

    def __init__(self, *, model_id: str, **kwargs: Any) -> None:
        super().__init__(model_id=model_id, **kwargs)


__all__ = [
    "AbejaArchiveTrainingJobOperator",
    "AbejaArchiveTrainingModelOperator",
    "AbejaDeleteDeploymentVersionOperator",
    "AbejaDeleteRunServicesOperator",
    "AbejaDeleteTrainingJobDefinitionOperator",
    "AbejaDeleteTrainingJobDefinitionVersionOperator",
    "run_services",
]
