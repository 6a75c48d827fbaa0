"""Run-scoped cleanup: delete every service this DAG run created, whichever task failed.

A teardown tied to one create only covers the creates that succeeded; this one finds the run's
services on the platform by the ``AIRFLOW_ABEJA_CREATED_BY`` marker the create operator sets, so
it also deletes the services of mapped creates and of creates that failed after making theirs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.exceptions import InvalidArgumentError, NotFound
from airflow_provider_abeja.operators._base import CREATED_BY_ENV, AbejaDeploymentOperator, created_in_run

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
            self.log_before_delete(organization_id, service_id)
            try:
                self.client.delete_service(organization_id, self.deployment_id, service_id)
            except NotFound:
                self.log.info("Service %s is already gone", service_id)
                continue
            except Exception as exc:  # try the others first; the retry (or the error) comes after
                failures.append(f"{service_id}: {exc}")
                continue
            self.log.info("Deleted service %s", service_id)
            deleted.append(service_id)
        if failures:
            raise AirflowException(f"could not delete {len(failures)} service(s) of this run: {failures}")
        if kept:
            self.log.info(
                "Deleted %d service(s) this run created; kept %s, which an endpoint serves",
                len(deleted),
                ", ".join(kept),
            )
        else:
            self.log.info("Deleted %d service(s) this run created; none is left", len(deleted))
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


__all__ = ["AbejaDeleteRunServicesOperator", "run_services"]
