"""Extra links of the training operators: the job, the trained model or the deployment version
in the ABEJA console. The operators push each URL to XCom before they wait; a link reads it back.

The console's routes are not public: the paths mirror the management API's and live here only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_abeja.links.abeja import DEFAULT_CONSOLE_URL

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

XCOM_TRAINING_JOB_URL = "training_job_url"
XCOM_TRAINING_MODEL_URL = "training_model_url"
XCOM_VERSION_URL = "version_url"


def console_url(console: str | None, *parts: str) -> str:
    """``<console>/organizations/...`` with every id percent-encoded (an id cannot change the target)."""
    return (console or DEFAULT_CONSOLE_URL).rstrip("/") + "".join("/" + quote(str(p), safe="") for p in parts)


def training_job_url(console: str | None, org: str, definition: str, job_id: str) -> str:
    return console_url(console, "organizations", org, "training", "definitions", definition, "jobs", job_id)


def training_model_url(console: str | None, org: str, definition: str, model_id: str) -> str:
    return console_url(
        console, "organizations", org, "training", "definitions", definition, "models", model_id
    )


def deployment_version_url(console: str | None, org: str, deployment_id: str, version_id: str) -> str:
    return console_url(console, "organizations", org, "deployments", deployment_id, "versions", version_id)


class _XComLink(BaseOperatorLink):
    xcom_key = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value: Any = XCom.get_value(ti_key=ti_key, key=self.xcom_key)
        return value if isinstance(value, str) else ""


class AbejaTrainingJobLink(_XComLink):
    """ "ABEJA Training Job": the console page of the task's training job."""

    name = "ABEJA Training Job"
    xcom_key = XCOM_TRAINING_JOB_URL


class AbejaTrainingModelLink(_XComLink):
    """ "ABEJA Trained Model": the console page of the model the task registered."""

    name = "ABEJA Trained Model"
    xcom_key = XCOM_TRAINING_MODEL_URL


class AbejaDeploymentVersionLink(_XComLink):
    """ "ABEJA Deployment Version": the console page of the version the task created."""

    name = "ABEJA Deployment Version"
    xcom_key = XCOM_VERSION_URL
