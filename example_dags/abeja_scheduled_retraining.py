"""Retraining on the platform whenever the labelled data changes: train, register the model, deploy
it, smoke-test it, put it behind the endpoint and retire the old service.

    train -> register_model -> new_version -> deploy_new_version -> smoke_request
        -> check_smoke_answer -> point_endpoint -> old_to_retire -> retire_old_service
    discard_new_service -> discard_new_version  (only when the deploy or something after it failed)

The DAG is scheduled on the Asset ``LABELLED_REVIEWS``: a pipeline that refreshes the labelled
data declares ``outlets=[LABELLED_REVIEWS]`` (as the batch operators declare their output files),
and each refresh starts one run. The sample's training handler reads the file that
``SAMPLE_TRAINING_DATA`` names; on the platform, your job reads the data from where the asset
says (a bucket, a datalake channel) and the asset's URI is that place.

``train`` runs a job of the training job definition ``params.job_definition_name`` (its handler
writes the model to ``ABEJA_TRAINING_RESULT_DIR``); ``register_model`` turns the job's result
into a trained model; ``new_version`` uploads the serving handler (``params.code_dir``, a folder
on the worker) as a new deployment version; the new service runs that version with the model
(``model_id``), and the handler finds the model files at ``ABEJA_TRAINING_RESULT_DIR``.

Failure paths leave nothing running: a failed job fails ``train`` (with the job's log) before any
service exists; a job that outlives ``timeout`` or a killed task stops the job; a new service that
fails its smoke test or the switch is deleted by ``discard_new_service`` and the endpoint keeps
serving the old one; ``discard_new_version`` then deletes the version the run uploaded, so a
failed release leaves no version behind. ``point_endpoint`` creates the endpoint on the first
release and switches it afterwards (pushing the service it routed to, which
``retire_old_service`` deletes). Every task is safe to retry (a retried ``train`` finds its job).

The defaults fit the emulator's sample (job definition ``sample-sentiment``, the sample handler
folder shipped with this provider); on the platform pass your own definition, code folder and
runtime image. Only the connection differs.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, Param, task

from abeja_emulator.sample import SAMPLE_HANDLER_DIR
from airflow_provider_abeja.operators.cleanup import AbejaDeleteDeploymentVersionOperator
from airflow_provider_abeja.operators.endpoint import AbejaRouteEndpointOperator
from airflow_provider_abeja.operators.service import (
    AbejaCreateServiceOperator,
    AbejaDeleteServiceOperator,
    AbejaRequestServiceOperator,
)
from airflow_provider_abeja.operators.training import (
    AbejaCreateDeploymentVersionOperator,
    AbejaCreateTrainingJobOperator,
    AbejaCreateTrainingModelOperator,
)

# Seconds between status checks (the tests set ABEJA_EXAMPLE_CHECK_INTERVAL for the emulator).
CHECK_INTERVAL = float(os.environ.get("ABEJA_EXAMPLE_CHECK_INTERVAL", "10"))
CONN_ID = "abeja_default"  # API URL, credential and organization id: the only thing to change
#: The model's code folder (serving: main:handler; training: train:handler): the emulator's sample
#: model here (the `emulator` extra); your own model's folder on the platform.
SAMPLE_CODE_DIR = SAMPLE_HANDLER_DIR
NEW_SERVICE_ID = "{{ ti.xcom_pull(task_ids='deploy_new_version', key='service_id') }}"
#: The labelled texts the model learns from (the tests point ABEJA_EXAMPLE_LABELLED_REVIEWS elsewhere).
LABELLED_REVIEWS_PATH = os.environ.get(
    "ABEJA_EXAMPLE_LABELLED_REVIEWS", f"{SAMPLE_CODE_DIR}/training_data.jsonl"
)
# [START howto_asset_triggered_retraining]
LABELLED_REVIEWS = Asset(f"file://{LABELLED_REVIEWS_PATH}")
# [END howto_asset_triggered_retraining]

with DAG(
    dag_id="abeja_scheduled_retraining",
    description="On new labelled data: train, register, deploy, smoke test, switch the endpoint, retire old",
    schedule=[LABELLED_REVIEWS],  # a run each time a task with outlets=[LABELLED_REVIEWS] succeeds
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["abeja", "example"],
    doc_md=__doc__,
    # Every ABEJA operator is safe to retry; retries are off here so that a failure shows at once.
    default_args={"abeja_conn_id": CONN_ID, "retries": 0},
    params={
        "job_definition_name": Param("sample-sentiment", type="string"),
        "job_definition_version": Param(1, type="integer", minimum=1),
        "training_environment": Param(
            {"SAMPLE_TRAINING_DATA": LABELLED_REVIEWS_PATH},
            type="object",
            description="Environment of the training job (the sample handler reads SAMPLE_TRAINING_DATA)",
        ),
        "deployment_id": Param("9999999999999", type="string"),
        "code_dir": Param(SAMPLE_CODE_DIR, type="string", description="Serving handler folder on the worker"),
        "handler": Param("main:handler", type="string"),
        "image": Param("abeja-inc/all-cpu:23.02", type="string", description="Runtime image of the version"),
        "endpoint": Param("default", type="string", description="Endpoint alias or id (pnt-...)"),
        "smoke_text": Param("excellent and reliable", type="string"),
        "smoke_expected_label": Param("positive", type="string"),
    },
) as dag:
    # [START howto_train_register_deploy]
    train = AbejaCreateTrainingJobOperator(
        task_id="train",
        job_definition_name="{{ params.job_definition_name }}",
        version_id="{{ params.job_definition_version }}",
        environment="{{ params.training_environment | tojson }}",
        description="{{ dag.dag_id }} {{ run_id }}",
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        timeout=6 * 3600,
    )

    register_model = AbejaCreateTrainingModelOperator(
        task_id="register_model",
        job_definition_name="{{ params.job_definition_name }}",
        training_job_id=train.output["training_job_id"],
        description="{{ dag.dag_id }} {{ run_id }}",
    )

    @task
    def version_name(dag_run: Any = None) -> str:
        """A version string that is new on every run: 1.<date>.<time of the run>."""
        stamp = pendulum.instance(getattr(dag_run, "run_after", None) or dag_run.logical_date)
        return f"1.{stamp:%Y%m%d}.{int(f'{stamp:%H%M%S%f}')}"

    new_version = AbejaCreateDeploymentVersionOperator(
        task_id="new_version",
        deployment_id="{{ params.deployment_id }}",
        version=version_name(),
        code="{{ params.code_dir }}",
        handler="{{ params.handler }}",
        image="{{ params.image }}",
    )

    deploy_new_version = AbejaCreateServiceOperator(
        task_id="deploy_new_version",
        deployment_id="{{ params.deployment_id }}",
        version_id=new_version.output["version_id"],
        model_id=register_model.output["training_model_id"],
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        timeout=1800,
        # Each answer field its own XCom: output["service_id"] is None if no service was made.
        multiple_outputs=True,
    )
    # [END howto_train_register_deploy]

    smoke_request = AbejaRequestServiceOperator(
        task_id="smoke_request",
        deployment_id="{{ params.deployment_id }}",
        service_id=NEW_SERVICE_ID,
        json={"text": "{{ params.smoke_text }}"},
        check_interval=CHECK_INTERVAL,
    )

    @task
    def check_smoke_answer(answer: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fail unless the new model answers the known input as expected."""
        expected = (params or {})["smoke_expected_label"]
        if not isinstance(answer, dict) or answer.get("label") != expected:
            raise ValueError(f"smoke test failed: expected label {expected!r}, got {answer!r}")
        return answer

    point_endpoint = AbejaRouteEndpointOperator(
        task_id="point_endpoint",
        deployment_id="{{ params.deployment_id }}",
        endpoint_alias="{{ params.endpoint }}",
        service_id=NEW_SERVICE_ID,
    )

    @task.short_circuit
    def old_to_retire(switch: dict[str, Any]) -> bool:
        """Retire the old service only if there was one (not on a first release) and it is not the new one."""
        previous = switch.get("previous_service_id")
        return bool(previous) and previous != switch.get("service_id")

    retire_old_service = AbejaDeleteServiceOperator(
        task_id="retire_old_service",
        deployment_id="{{ params.deployment_id }}",
        service_id=point_endpoint.output["previous_service_id"],
    )

    # [START howto_discard_failed_release]
    discard_new_service = AbejaDeleteServiceOperator(
        task_id="discard_new_service",
        deployment_id="{{ params.deployment_id }}",
        # None when the platform refused the service: nothing to delete (a template renders "None").
        service_id=deploy_new_version.output["service_id"],
        trigger_rule="one_failed",
    )

    # The platform keeps a version while a service runs it: delete it once the service is gone
    # (runs only after discard_new_service ran; skipped with it on a good release).
    discard_new_version = AbejaDeleteDeploymentVersionOperator(
        task_id="discard_new_version",
        deployment_id="{{ params.deployment_id }}",
        version_id=new_version.output["version_id"],
    )
    # [END howto_discard_failed_release]

    checked = check_smoke_answer(smoke_request.output)
    deploy_new_version >> smoke_request >> checked >> point_endpoint
    old_to_retire(point_endpoint.output) >> retire_old_service
    [deploy_new_version, smoke_request, checked, point_endpoint] >> discard_new_service >> discard_new_version
