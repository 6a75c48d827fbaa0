"""Extra links of the training operators: the job, the trained model or the deployment version
in the ABEJA console (URLs pushed by the operators, read back from XCom)."""

from __future__ import annotations

from airflow_provider_abeja.links.abeja import XComLink

XCOM_TRAINING_JOB_URL = "training_job_url"
XCOM_TRAINING_MODEL_URL = "training_model_url"
XCOM_VERSION_URL = "version_url"


class AbejaTrainingJobLink(XComLink, name="ABEJA Training Job", url_key=XCOM_TRAINING_JOB_URL):
    """ "ABEJA Training Job": the console page of the task's training job."""


class AbejaTrainingModelLink(XComLink, name="ABEJA Trained Model", url_key=XCOM_TRAINING_MODEL_URL):
    """ "ABEJA Trained Model": the console page of the model the task registered."""


class AbejaDeploymentVersionLink(XComLink, name="ABEJA Deployment Version", url_key=XCOM_VERSION_URL):
    """ "ABEJA Deployment Version": the console page of the version the task created."""
