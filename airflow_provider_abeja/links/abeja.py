"""Extra links: what an operator created or touched, in the ABEJA console.

The operators push each URL to XCom before they wait, so a link shows even when the wait fails;
a link only reads it back. The console's routes are not public: the paths mirror the management
API's and live here only, so one edit fixes every link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_abeja.get_provider_info import DEFAULT_CONSOLE_URL

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

XCOM_KEY = "service_url"
#: Where a running operator keeps the URL it pushed (see ``push_service_url``).
_PUSHED = "_abeja_service_url"


def console_url(console: str | None, *parts: str) -> str:
    """``<console>/organizations/...`` with every id percent-encoded (an id cannot change the target)."""
    return (console or DEFAULT_CONSOLE_URL).rstrip("/") + "".join("/" + quote(str(p), safe="") for p in parts)


def service_console_url(
    console: str | None, organization_id: str, deployment_id: str, service_id: str
) -> str:
    """The console page of a service."""
    return console_url(
        console, "organizations", organization_id, "deployments", deployment_id, "services", service_id
    )


def push_service_url(operator: Any, ti: Any, url: str) -> None:
    """Push the console URL to XCom and remember it on the running operator.

    Airflow computes the links in the worker when the task ends; remembering the URL spares that
    step an XCom look-up, which logs an error of its own when a task failed before any service
    existed.
    """
    ti.xcom_push(key=XCOM_KEY, value=url)
    setattr(operator, _PUSHED, url)


class XComLink(BaseOperatorLink):
    """A console page whose URL the task pushed to XCom under ``url_key``; a subclass gives its
    button's ``name`` and ``url_key`` as class keywords."""

    name: ClassVar[str]
    url_key: ClassVar[str]

    def __init_subclass__(cls, *, name: str = "", url_key: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:  # a subclass of a link keeps its parent's unless it names its own
            cls.name, cls.url_key = name, url_key

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value: Any = XCom.get_value(ti_key=ti_key, key=self.url_key)
        return value if isinstance(value, str) else ""


class AbejaServiceLink(XComLink, name="ABEJA Service", url_key=XCOM_KEY):
    """ "ABEJA Service": the console page of the task's service, read from XCom ``service_url``."""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # A live operator of this provider (in the worker), not a deserialised copy (UI, API
        # server): it pushed the URL itself, or there is none to show.
        if any(cls.__module__.startswith("airflow_provider_abeja.") for cls in type(operator).__mro__):
            pushed = vars(operator).get(_PUSHED)
            return pushed if isinstance(pushed, str) else ""
        return super().get_link(operator, ti_key=ti_key)
