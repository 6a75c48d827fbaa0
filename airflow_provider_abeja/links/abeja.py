"""Extra links: the service an operator created or touched, in the ABEJA console.

The operators push the URL to XCom (key ``service_url``) before they wait, so the link shows even
when the wait fails; the link only reads it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_abeja.links.console import DEFAULT_CONSOLE_URL, SERVICE_PATH, service_console_url

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

XCOM_KEY = "service_url"
#: Where a running operator keeps the URL it pushed (see ``push_service_url``).
_PUSHED = "_abeja_service_url"


def push_service_url(operator: Any, ti: Any, url: str) -> None:
    """Push the console URL to XCom and remember it on the running operator.

    Airflow computes the links in the worker when the task ends; remembering the URL spares that
    step an XCom look-up, which logs an error of its own when a task failed before any service
    existed.
    """
    ti.xcom_push(key=XCOM_KEY, value=url)
    setattr(operator, _PUSHED, url)


def _is_running_provider_operator(operator: Any) -> bool:
    """A live operator of this provider (in the worker), not a deserialised copy (UI, API server)."""
    return any(cls.__module__.startswith("airflow_provider_abeja.") for cls in type(operator).__mro__)


class AbejaServiceLink(BaseOperatorLink):
    """ "ABEJA Service": the console page of the task's service, read from XCom ``service_url``."""

    name = "ABEJA Service"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if _is_running_provider_operator(operator):
            # In the worker: the operator pushed the URL itself, or there is none to show.
            pushed = vars(operator).get(_PUSHED)
            return pushed if isinstance(pushed, str) else ""
        value: Any = XCom.get_value(ti_key=ti_key, key=XCOM_KEY)
        return value if isinstance(value, str) else ""


__all__ = [
    "DEFAULT_CONSOLE_URL",
    "SERVICE_PATH",
    "XCOM_KEY",
    "AbejaServiceLink",
    "push_service_url",
    "service_console_url",
]
