"""Extra links of the run, trigger and Datalake operators: the run, the platform trigger or the
channel in the ABEJA console (URLs pushed by the operators, read back from XCom)."""

from __future__ import annotations

from typing import Any

from airflow_provider_abeja.links.abeja import XComLink, console_url

XCOM_RUN_URL = "run_url"
XCOM_TRIGGER_URL = "trigger_url"
XCOM_CHANNEL_URL = "channel_url"


def push_run_link(operator: Any, ti: Any, organization_id: str, deployment_id: str, run_id: str) -> None:
    """Push ``run_id`` and the run's console URL (before any wait, so the link shows if it fails)."""
    ti.xcom_push(key="run_id", value=run_id)
    path = ("organizations", organization_id, "deployments", deployment_id, "runs", run_id)
    ti.xcom_push(key=XCOM_RUN_URL, value=console_url(operator.hook.console_url, *path))


def push_channel_link(operator: Any, ti: Any, organization_id: str, channel_id: str) -> None:
    """Push the channel's console URL."""
    url = console_url(operator.hook.console_url, "organizations", organization_id, "channels", channel_id)
    ti.xcom_push(key=XCOM_CHANNEL_URL, value=url)


class AbejaRunLink(XComLink, name="ABEJA Run", url_key=XCOM_RUN_URL):
    """ "ABEJA Run": the console page of the task's run."""


class AbejaTriggerLink(XComLink, name="ABEJA Trigger", url_key=XCOM_TRIGGER_URL):
    """ "ABEJA Trigger": the console page of the platform trigger the task created."""


class AbejaChannelLink(XComLink, name="ABEJA Channel", url_key=XCOM_CHANNEL_URL):
    """ "ABEJA Channel": the console page of the Datalake channel the task wrote to or read from."""
