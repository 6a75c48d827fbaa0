"""Endpoint operators: the stable address of a deployment, pointed at one service at a time.

Blue/green releases create a new service, point the endpoint at it (``AbejaRouteEndpointOperator``
creates the endpoint or switches it, and pushes the ``previous_service_id`` so a later task can
retire or roll back to it) and delete the old service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.links.abeja import AbejaServiceLink
from airflow_provider_abeja.operators._base import (
    DEFAULT_ENDPOINT_ALIAS,
    XCOM_ENDPOINT_ID,
    XCOM_PREVIOUS_SERVICE_ID,
    AbejaDeleteOperator,
    AbejaDeploymentOperator,
    required_id,
)
from airflow_provider_abeja.wait.engine import ServiceStatus

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The endpoint operators' old argument names (DeprecationWarning for one release).
_RENAMED = {"custom_alias": "endpoint_alias", "endpoint": "endpoint_alias"}


class _EndpointOperator(AbejaDeploymentOperator):
    """An endpoint (``endpoint_alias``: its alias, or its id ``pnt-...``) and the service it routes to."""

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        *("endpoint_alias", "service_id"),
    )
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "endpoint_alias", "service_id")
    operator_extra_links = (AbejaServiceLink(),)
    ui_color = "#eef7ee"
    renamed_arguments = _RENAMED
    #: The alias an ``endpoint_alias`` of None stands for (None: it is required).
    default_alias: ClassVar[str | None] = DEFAULT_ENDPOINT_ALIAS

    def __init__(
        self,
        *,
        service_id: str,
        endpoint_alias: str | None = DEFAULT_ENDPOINT_ALIAS,
        check_ready: bool = True,
        **kwargs: Any,
    ) -> None:
        # Each key of the answer is an XCom of its own, and ``output["previous_service_id"]`` is
        # None (not XComNotFound) when there was no previous service: a delete then has nothing to do.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.service_id = service_id
        self.endpoint_alias = endpoint_alias
        self.check_ready = check_ready

    def _prepare(self, context: Context) -> tuple[str, str, str]:
        """The rendered alias and service id, checked, and the organization; the service's links pushed."""
        alias = self.default_alias if self.endpoint_alias is None else self.endpoint_alias
        alias = required_id(alias, "endpoint_alias")
        service_id = required_id(self.service_id, "service_id")
        organization_id = self.resolve_organization_id()
        self.push_service_xcom(context, organization_id, service_id)
        return alias, service_id, organization_id

    def _check_ready(self, organization_id: str, service_id: str) -> None:
        """Refuse to route traffic to a service that is not READY."""
        if not self.check_ready:
            return
        status = self.client.get_service(organization_id, self.deployment_id, service_id).get("status")
        if status != ServiceStatus.READY.value:
            raise AirflowException(
                f"service {service_id} is {status}, not READY: the endpoint was not changed"
            )

    def _switch(self, organization_id: str, endpoint: str, service_id: str, previous: Any) -> None:
        """Point ``endpoint`` at ``service_id`` unless it routes there already (``previous``)."""
        if previous == service_id:
            self.log.warning(
                "Endpoint %s already routes to %s: nothing to change (previous_service_id is the same)",
                endpoint, service_id,
            )  # fmt: skip
        else:
            self.client.update_endpoint(organization_id, self.deployment_id, endpoint, service_id)
            self.log.info("Endpoint %s now routes to %s (was %s)", endpoint, service_id, previous)

    def _find(self, organization_id: str, endpoint: str) -> dict[str, Any]:
        """The endpoint whose alias or id is ``endpoint`` (empty when the deployment has none)."""
        for e in self.client.get_endpoints(organization_id, self.deployment_id)["entries"]:
            if isinstance(e, Mapping) and endpoint in (e.get("custom_alias"), e.get("endpoint_id")):
                return dict(e)
        return {}

    def _create_or_route(self, context: Context, *, switch: bool) -> tuple[dict[str, Any], Any]:
        """Check the service, then create the endpoint, or (``switch``) point it at the service,
        or (not ``switch``) reuse it when it routes there already. Returns the endpoint's
        ``endpoint_id`` (pushed), ``custom_alias`` and ``service_id``, and the service it routed
        to before (None when created; with ``switch`` pushed before anything changes)."""
        alias, service_id, organization_id = self._prepare(context)
        self._check_ready(organization_id, service_id)
        current = self._find(organization_id, alias)
        previous = current.get("service_id")
        if switch:
            context["ti"].xcom_push(key=XCOM_PREVIOUS_SERVICE_ID, value=previous)
        if not current:
            current = self.client.create_endpoint(organization_id, self.deployment_id, service_id, alias)
            self.log.info("Created endpoint %s (%s) -> %s", current.get("endpoint_id"), alias, service_id)
        elif switch:
            self._switch(organization_id, alias, service_id, previous)
        elif previous == service_id:
            self.log.info(
                "Endpoint %s (%s) already routes to %s", current.get("endpoint_id"), alias, service_id
            )
        else:
            raise AirflowFailException(
                f"endpoint {alias} already exists and routes to {previous}: "
                "use AbejaUpdateEndpointOperator to switch it"
            )
        endpoint_id = current.get("endpoint_id") or alias
        context["ti"].xcom_push(key=XCOM_ENDPOINT_ID, value=endpoint_id)
        endpoint = {"endpoint_id": endpoint_id, "custom_alias": current.get("custom_alias", alias)}
        return {**endpoint, "service_id": service_id}, previous


class AbejaCreateEndpointOperator(_EndpointOperator):
    """Create an endpoint (alias ``endpoint_alias``, default ``default``) that routes to ``service_id``.

    Idempotent: when the alias already routes to the same service, that endpoint is reused (so a
    retry after a lost answer succeeds); when it routes elsewhere the task fails and says to use
    ``AbejaUpdateEndpointOperator``. Returns ``{"endpoint_id", "custom_alias", "service_id"}`` and
    pushes ``endpoint_id``, ``service_id`` and ``service_url``.

    :param endpoint_alias: the new endpoint's alias (default ``default``: the deployment's default endpoint).
    :param service_id: the service to route to (``ser-...``).
    :param check_ready: refuse unless the service is READY (default True).
    """

    def execute(self, context: Context) -> dict[str, Any]:
        return self._create_or_route(context, switch=False)[0]


class AbejaUpdateEndpointOperator(_EndpointOperator):
    """Point an existing endpoint at ``service_id``.

    Checks first that the target is READY (``check_ready``), then pushes ``previous_service_id``
    (before changing anything, so a rollback task can use it even if the switch fails),
    ``endpoint_id`` and ``service_id``. Nothing is sent when the endpoint already routes there.
    Returns ``{"endpoint_id", "service_id", "previous_service_id"}``.

    A retry after a first try whose switch went through sees the endpoint on the target already:
    its ``previous_service_id`` is then the target itself (logged as a warning).

    :param endpoint_alias: the endpoint's alias or id (``pnt-...``); it must exist.
    :param service_id: the service to route to (``ser-...``).
    :param check_ready: refuse unless the service is READY (default True).
    """

    default_alias = None

    def __init__(self, *, endpoint_alias: str, **kwargs: Any) -> None:
        super().__init__(endpoint_alias=endpoint_alias, **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        endpoint, service_id, organization_id = self._prepare(context)
        current = self.client.get_endpoint(organization_id, self.deployment_id, endpoint)
        endpoint_id = current.get("endpoint_id") or endpoint
        previous = current.get("service_id")
        ti = context["ti"]
        ti.xcom_push(key=XCOM_ENDPOINT_ID, value=endpoint_id)
        ti.xcom_push(key=XCOM_PREVIOUS_SERVICE_ID, value=previous)
        self._check_ready(organization_id, service_id)
        self._switch(organization_id, endpoint, service_id, previous)
        return {"endpoint_id": endpoint_id, "service_id": service_id, "previous_service_id": previous}


class AbejaRouteEndpointOperator(_EndpointOperator):
    """Point the endpoint ``endpoint_alias`` at ``service_id``, creating it if needed.

    Creates the endpoint (with that alias) when the deployment has none by that alias or id,
    switches it when it routes elsewhere, and sends nothing when it already routes there, so a
    retry is safe. Checks first that the target is READY (``check_ready``). Pushes
    ``previous_service_id`` (None when the endpoint was created) before changing anything, and
    ``endpoint_id``. Returns ``{"endpoint_id", "custom_alias", "service_id",
    "previous_service_id", "created"}``.

    A retry after a first try whose switch went through sees the endpoint on the target already:
    its ``previous_service_id`` is then the target itself, as with ``AbejaUpdateEndpointOperator``.

    :param endpoint_alias: the endpoint's alias (default ``default``: the deployment's default
        endpoint) or id (``pnt-...``).
    :param service_id: the service to route to (``ser-...``).
    :param check_ready: refuse unless the service is READY (default True).
    """

    def execute(self, context: Context) -> dict[str, Any]:
        endpoint, previous = self._create_or_route(context, switch=True)
        return {**endpoint, "previous_service_id": previous, "created": previous is None}


class AbejaDeleteEndpointOperator(AbejaDeleteOperator):
    """Delete an endpoint. Already gone is success unless ``fail_if_missing=True``.

    :param endpoint_alias: the endpoint's alias or id (``pnt-...``).
    """

    renamed_arguments = _RENAMED
    noun, id_field = "endpoint", "endpoint_alias"

    def __init__(self, *, endpoint_alias: str, **kwargs: Any) -> None:
        super().__init__(endpoint_alias=endpoint_alias, **kwargs)
