"""AbejaHook: the one place where an Airflow connection becomes an ABEJA Service API client.

Operators, the sensor and triggers get their client, organization id, console URL and the
blocking wait helpers from here. The client modules are imported lazily, so that a DAG file
importing an operator does not pay for requests/httpx at parse time. Airflow 2.11 and 3.x
differences are resolved through common-compat (1.22 or later).
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_abeja.client.credentials import scrub, secret_forms
from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_abeja.hooks._settings import (
    ClientSettings,
    ConnectionFieldError,
    settings_from_connection,
)
from airflow_provider_abeja.wait import blocking as _wait

if TYPE_CHECKING:
    from airflow_provider_abeja.client import APIClient, AsyncAPIClient

__all__ = ["AbejaHook", "ClientSettings", "ConnectionFieldError"]


#: (connect, read) seconds of a connection test at most: an answer within seconds, whatever happens.
TEST_TIMEOUT = (3.0, 5.0)


async def _amask_secret(secret: str) -> None:
    """Register a secret with the masker from a coroutine (``amask_secret`` exists on Airflow 3.1+)."""
    try:
        from airflow.sdk.log import amask_secret as _amask
    except ImportError:  # Airflow 2.11: the masker is in-process and synchronous
        mask_secret(secret)
        return
    await _amask(secret)


def _test_timeout(timeout: float | tuple[float, float] | None) -> tuple[float, float]:
    """The connection's timeout capped by ``TEST_TIMEOUT`` (which also stands in for "off")."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout or 0.0, timeout or 0.0)
    return min(connect or TEST_TIMEOUT[0], TEST_TIMEOUT[0]), min(read or TEST_TIMEOUT[1], TEST_TIMEOUT[1])


class AbejaHook(BaseHook):
    """Interact with the ABEJA Platform Service API through an ``abeja`` connection.

    :param abeja_conn_id: the Airflow connection id (type ``abeja``).
    :param timeout: request timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retry_count: retries of idempotent calls; overrides the ``max_retry_count`` extra.
    """

    conn_name_attr = "abeja_conn_id"
    default_conn_name = "abeja_default"
    conn_type = "abeja"
    hook_name = "ABEJA Platform"

    def __init__(
        self,
        abeja_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retry_count: int | None = None,
    ) -> None:
        super().__init__()
        self.abeja_conn_id = abeja_conn_id
        self.timeout = timeout
        self.max_retry_count = max_retry_count

    # -- connection -> settings ---------------------------------------------------------------

    def _settings_from(self, conn: Any, extra: dict[str, Any]) -> ClientSettings:
        return settings_from_connection(
            self.abeja_conn_id, conn, extra, timeout=self.timeout, max_retry_count=self.max_retry_count
        )

    @functools.cached_property
    def settings(self) -> ClientSettings:
        """The connection's validated settings; its secrets, in every form, are registered with the masker."""
        conn = self.get_connection(self.abeja_conn_id)
        settings = self._settings_from(conn, conn.extra_dejson)
        for secret in secret_forms(settings.credential_object.secrets):
            mask_secret(secret)
        return settings

    async def aget_settings(self) -> ClientSettings:
        """``settings`` read without blocking the event loop.

        Always reads the connection afresh, then fills the ``settings`` cache, so that
        ``get_organization_id()`` and ``console_url`` afterwards need no blocking lookup.
        """
        conn = await get_async_connection(self.abeja_conn_id, self)
        settings = self._settings_from(conn, await get_async_extra_dejson(conn))
        for secret in secret_forms(settings.credential_object.secrets):
            await _amask_secret(secret)
        self.__dict__["settings"] = settings
        return settings

    # -- clients -------------------------------------------------------------------------------

    @functools.cached_property
    def client(self) -> APIClient:
        """One ``APIClient`` per hook, built on first use and reused (connection pooling)."""
        from airflow_provider_abeja.client import APIClient

        return APIClient(**self.settings.client_kwargs())

    def get_conn(self) -> APIClient:
        """The Airflow-conventional accessor for ``client``."""
        return self.client

    async def get_async_client(self) -> AsyncAPIClient:
        """A new ``AsyncAPIClient`` with the connection's settings; the caller closes it (``aclose``)."""
        from airflow_provider_abeja.client import AsyncAPIClient

        settings = await self.aget_settings()
        return AsyncAPIClient(**settings.client_kwargs())

    def close(self) -> None:
        """Close the pooled HTTP session if one was opened."""
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()

    # -- connection-derived values ---------------------------------------------------------------

    def get_organization_id(self, explicit: str | None = None) -> str:
        """``explicit`` when given, else the connection's ``organization_id`` extra."""
        if explicit:
            return str(explicit)
        org = self.settings.organization_id
        if not org:
            raise InvalidArgumentError(
                "organization_id",
                f"not given and connection '{self.abeja_conn_id}' has no extra 'organization_id'",
            )
        return org

    @property
    def console_url(self) -> str:
        """Base URL of the ABEJA console (extra ``console_url``), for extra links."""
        return self.settings.console_url

    # -- test button ------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One read-only call: list the deployments of the connection's organization.

        With extra ``deployment_id`` it lists that deployment's services instead (a call every
        credential that may run services can make). Messages never carry a secret.
        """
        from airflow_provider_abeja.client import APIClient

        try:
            settings = self.settings
            org = self.get_organization_id()
            # An answer within seconds, even from an unreachable host: short timeouts, no retries.
            test = {"timeout": _test_timeout(settings.timeout), "max_retry_count": 0}
            with APIClient(**{**settings.client_kwargs(), **test}) as client:
                if settings.deployment_id:
                    entries = client.get_services(org, settings.deployment_id).get("entries") or []
                    what = f"{len(entries)} service(s) in deployment {settings.deployment_id}"
                else:
                    deployments = client.get_deployments(org).get("entries") or []
                    what = f"{len(deployments)} deployment(s)"
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            known = self.__dict__.get("settings")  # None when the connection could not be read
            return False, message if known is None else scrub(message, known.credential_object.secrets)
        return True, (
            f"Connected to {settings.api_url} as a {settings.credential_kind} credential: "
            f"organization {org} has {what}"
        )

    # -- waiting ------------------------------------------------------------------------------------

    def newest_log_time(self, organization_id: str, deployment_id: str, service_id: str) -> datetime | None:
        """The timestamp of the service's newest log event: a later wait copies only newer lines."""
        return _wait.newest_log_time(self.client, organization_id, deployment_id, service_id)

    def wait_for_service_status(
        self, organization_id: str | None, deployment_id: str, service_id: str, **options: Any
    ) -> dict[str, Any]:
        """Block until the service reports ``target_status`` (default ``READY``) and return the service dict.

        The one wait engine decides (``wait.engine.step``): ``ServiceFailedError`` (with the latest log
        lines) on a failure status, ``WaitTimeoutError`` once ``timeout`` seconds (monotonic)
        have passed, ``WaitGaveUpError`` on an error reading the service that is permanent or
        follows ``transient_error_budget`` others. Unknown statuses keep the wait going, with one
        warning each. Setting ``stop_event`` (from another thread, e.g. an operator's
        ``on_kill``) ends the wait within moments with ``WaitStoppedError``; the service itself
        is left as it is. ``options`` are those of ``wait.blocking.wait_for_service_status``.
        """
        org = self.get_organization_id(organization_id)
        return _wait.wait_for_service_status(
            self.client, org, deployment_id, service_id, logger=self.log, **options
        )

    # -- Airflow 2 form ------------------------------------------------------------------------------
    # Airflow 3.2+ reads the form from the provider info (conn-fields, ui-field-behaviour) and
    # never calls these; older versions do. Both are built from that same provider info.

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the connection form, as copies."""
        return {key.replace("-", "_"): copy.deepcopy(value) for key, value in UI_FIELD_BEHAVIOUR.items()}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields as form widgets (needs the webserver's Flask-AppBuilder and WTForms)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import PasswordField, StringField
        from wtforms.validators import Optional

        kinds = {True: (PasswordField, BS3PasswordFieldWidget), False: (StringField, BS3TextFieldWidget)}

        def form_field(spec: dict[str, Any]) -> Any:
            # Every value is typed as text: the hook validates it and names the field on error.
            field, widget = kinds[spec["schema"].get("format") == "password"]
            label = lazy_gettext(spec["label"])
            return field(label, widget=widget(), validators=[Optional()], description=spec["description"])

        return {name: form_field(spec) for name, spec in CONN_FIELDS.items()}
