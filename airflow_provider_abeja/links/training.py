"""Extra links of the training operators: the job, the trained model or the deployment version
in the ABEJA console (URLs pushed by the operators, read back from XCom)."""

from __future__ import annotations

from airflow_provider_abeja.links.abeja import XComLink, console_url

XCOM_TRAINING_JOB_URL = "training_job_url"
XCOM_TRAINING_MODEL_URL = "training_model_url"
XCOM_VERSION_URL = "version_url"


def training_job_url(console: str | None, org: str, definition: str, job_id: str) -> str:
    return console_url(console, "organizations", org, "training", "definitions", definition, "jobs", job_id)


def training_model_url(console: str | None, org: str, definition: str, model_id: str) -> str:
    return console_url(
        console, "organizations", org, "training", "definitions", definition, "models", model_id
    )


def deployment_version_url(console: str | None, org: str, deployment_id: str, version_id: str) -> str:
    return console_url(console, "organizations", org, "deployments", deployment_id, "versions", version_id)


class AbejaTrainingJobLink(XComLink):
    """ "ABEJA Training Job": the console page of the task's training job."""

    name = "ABEJA Training Job"
    url_key = XCOM_TRAINING_JOB_URL


class AbejaTrainingModelLink(XComLink):
    """ "ABEJA Trained Model": the console page of the model the task registered."""

    name = "ABEJA Trained Model"
    url_key = XCOM_TRAINING_MODEL_URL


class AbejaDeploymentVersionLink(XComLink):
    """ "ABEJA Deployment Version": the console page of the version the task created."""

    name = "ABEJA Deployment Version"
    url_key = XCOM_VERSION_URL
