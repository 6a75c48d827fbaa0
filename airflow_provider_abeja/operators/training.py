"""Training operators: run a training job and wait for it, register its model, create a
deployment version from code.

Each is safe to retry, like the service operators: the job operator marks its job with
``AIRFLOW_ABEJA_CREATED_BY=<dag>/<task>/<run>[/<map index>]`` in the job's environment and a
retry finds the job its first try started (running or complete) instead of starting a second
one; the model operator marks the model's ``user_parameters`` the same way; the version
operator reuses a version of the same name. Each returns a small dict (ids, status) that
``.expand()`` can consume, and pushes the ids and console URLs to XCom before it waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.client.training import DEFAULT_HANDLER, DEFAULT_IMAGE
from airflow_provider_abeja.client.validation import mapping_argument as _mapping
from airflow_provider_abeja.client.validation import text as _text
from airflow_provider_abeja.exceptions import AbejaError, Conflict, HttpError, NotFound
from airflow_provider_abeja.links.training import (
    XCOM_TRAINING_JOB_URL,
    XCOM_TRAINING_MODEL_URL,
    XCOM_VERSION_URL,
    AbejaDeploymentVersionLink,
    AbejaTrainingJobLink,
    AbejaTrainingModelLink,
)
from airflow_provider_abeja.operators._base import (
    CREATED_BY_ENV,
    AbejaConnectionOperator,
    AbejaDeploymentOperator,
    AbejaWaitingOperator,
    _TrainingOperator,
    creation_marker,
    environment_argument,
    marked,
    required_id,
)
from airflow_provider_abeja.wait.engine import FAILED_JOB_STATUSES, TRAINING_JOB, Ids, TrainingJobStatus

#: The version the version operator is creating, in the task state store (Airflow 3.3+) from
#: before its create call until the try knows how it ended: a retry that finds it deletes the
#: version (its code may never have arrived) and creates it again.
STORE_VERSION_CREATING = "abeja_version_creating"


class AbejaCreateTrainingJobOperator(_TrainingOperator, AbejaWaitingOperator):
    """Start a training job of a job definition version and wait until it is ``Complete``.

    A job that ends ``Failed`` or ``Stopped`` fails the task without retries, with the job's
    latest log lines. ``on_kill`` stops the job (``stop_on_kill``). A task retry finds the job
    an earlier try started (by ``AIRFLOW_ABEJA_CREATED_BY`` in its environment): a running or
    complete one is reused, a failed or stopped one is replaced; on Airflow 3.3 the job's id also
    goes to the task state store before the wait, and a retry reconnects to it directly. Returns
    ``training_job_id``, ``job_definition_name``, ``job_definition_version``, ``status`` and ``statistics``.

    :param job_definition_name: the job definition.
    :param version_id: the job definition version (a number) to run.
    :param environment: environment variables of the job (mapping or JSON object text).
    :param datasets: ``{alias: dataset_id}`` the job reads.
    :param instance_type: e.g. ``cpu-1`` (the platform's default when None).
    :param description: the job's description.
    :param export_log: include the log in the model (images 19.04 and later).
    :param check_interval: seconds between status checks (default 30; the other waiting arguments
        are ``AbejaWaitingOperator``'s).
    :param stop_on_kill: stop the job when the task is killed (mark failed, mark success, clear; in
        the worker, or deferred on Airflow 3.3 and later) or its wait times out (default True).
        The wait ends at ``timeout`` or shortly before ``execution_timeout``, whichever is sooner.
    :param reuse_existing: find and reuse the job of an earlier try (default True).
    """

    template_fields: Sequence[str] = (
        *AbejaConnectionOperator.template_fields,
        *("job_definition_name", "version_id", "environment", "datasets", "instance_type", "description"),
    )
    template_fields_renderers = {"environment": "json", "datasets": "json"}
    named_arguments = (*_TrainingOperator.named_arguments, "version_id")
    operator_extra_links = (AbejaTrainingJobLink(),)
    kind = TRAINING_JOB
    trigger = "airflow_provider_abeja.triggers.training.AbejaTrainingJobTrigger"
    worker_wait = "wait_for_training_job"
    store_key = "abeja_training_job_id"  # the job's id in the task state store (Airflow 3.3+)
    create_call = "create_training_job"

    def __init__(
        self,
        *,
        job_definition_name: str,
        version_id: int | str,
        environment: Mapping[str, str] | str | None = None,
        datasets: Mapping[str, str] | str | None = None,
        instance_type: str | None = None,
        description: str | None = None,
        export_log: bool | None = None,
        check_interval: float | timedelta = 30.0,
        stop_on_kill: bool = True,
        reuse_existing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(job_definition_name=job_definition_name, check_interval=check_interval, **kwargs)
        self.version_id = version_id
        self.environment = environment
        self.datasets = datasets
        self.instance_type = instance_type
        self.description = description
        self.export_log = export_log
        self.stop_on_kill = stop_on_kill
        self.reuse_existing = reuse_existing

    def arguments(self) -> dict[str, Any]:
        from airflow_provider_abeja.client.training import check_version_number
        from airflow_provider_abeja.client.validation import check_datasets

        self.definition_name()
        reuse = self.reuse_existing
        return {
            "version_id": check_version_number(self.version_id),
            "environment": environment_argument(self.environment, reuse_existing=reuse, noun="job"),
            "datasets": check_datasets(_mapping(self.datasets, "datasets")),
            "instance_type": self.instance_type or None,
            "description": self.description,
            "export_log": self.export_log,
        }

    def summary(self, resource: Mapping[str, Any]) -> Any:
        """Ids, status and statistics (no environment: it may hold secrets)."""
        return {
            "training_job_id": str(resource.get("training_job_id")),
            "job_definition_name": self.definition_name(),
            "job_definition_version": resource.get("job_definition_version"),
            "status": resource.get("status"),
            "statistics": resource.get("statistics"),
        }

    def push_links(self, context: Mapping[str, Any], ids: Ids) -> None:
        path = (ids[0], "training", "definitions", ids[1], "jobs", ids[2])
        self.push_link(context, self.kind.path_ids[2], XCOM_TRAINING_JOB_URL, *path)  # resume reads it

    def find_earlier(self, organization_id: str, arguments: dict[str, Any], marker: str) -> Any:
        """The newest running or complete job an earlier try of this task instance started."""
        entries = self.client.get_training_jobs(organization_id, self.definition_name()).get("entries")
        mine = marked(entries, marker, "environment", "user_parameters")
        for job in mine:
            if job.get("status") not in FAILED_JOB_STATUSES:
                self.log.info(
                    "Reusing training job %s (%s) started by an earlier try (%s=%s)",
                    job.get("training_job_id"), job.get("status"), CREATED_BY_ENV, marker,
                )  # fmt: skip
                return job
        if mine:
            self.log.info("The jobs of earlier tries failed or were stopped: starting a new one")
        return None

    def cancels_on_kill(self) -> bool:
        return self.stop_on_kill

    def after_timeout(self) -> None:
        """Stop the job (``stop_on_kill``): a job nobody waits for any more would run (and bill) on."""
        self.cancel_started("The wait ended before the job did")


class AbejaCreateTrainingModelOperator(_TrainingOperator):
    """Register what a finished training job wrote to ``ABEJA_TRAINING_RESULT_DIR`` as a
    trained model. A retry reuses the model an earlier try registered (marked in its
    ``user_parameters``). Returns ``training_model_id``, ``training_job_id`` and
    ``job_definition_name``; pushes ``training_model_id`` and ``training_model_url``.

    :param job_definition_name: the job definition.
    :param training_job_id: the finished job (e.g. the job operator's ``output["training_job_id"]``).
    :param description: the model's description.
    :param user_parameters: parameters stored with the model.
    :param metrics: metrics stored with the model.
    """

    template_fields: Sequence[str] = (
        *AbejaConnectionOperator.template_fields,
        *("job_definition_name", "training_job_id", "description", "user_parameters", "metrics"),
    )
    named_arguments = (*_TrainingOperator.named_arguments, "training_job_id")
    operator_extra_links = (AbejaTrainingModelLink(),)

    def __init__(
        self,
        *,
        job_definition_name: str,
        training_job_id: str,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | str | None = None,
        metrics: Mapping[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(job_definition_name=job_definition_name, **kwargs)
        self.training_job_id = training_job_id
        self.description = description
        self.user_parameters = user_parameters
        self.metrics = metrics

    def execute(self, context: Mapping[str, Any]) -> Any:
        definition = self.definition_name()
        job_id = required_id(self.training_job_id, "training_job_id")
        parameters = _mapping(self.user_parameters, "user_parameters") or {}
        metrics = _mapping(self.metrics, "metrics")
        organization_id = self.resolve_organization_id()
        marker = creation_marker(context)
        entries = self.client.get_training_models(organization_id, definition).get("entries")
        model = next(iter(marked(entries, marker, "user_parameters")), None)
        if model is not None:
            self.log.info("Reusing model %s registered by an earlier try", model.get("training_model_id"))
        else:
            job = self.client.get_training_job(organization_id, definition, job_id)
            if job.get("status") != TrainingJobStatus.COMPLETE.value:
                raise AirflowFailException(f"training job {job_id} is {job.get('status')}, not Complete")
            model = self.client.create_training_model_from_job(
                organization_id,
                definition,
                job_id,
                description=self.description,
                user_parameters={**parameters, CREATED_BY_ENV: marker},
                metrics=metrics if metrics is not None else job.get("statistics") or None,
            )
            self.log.info("Registered model %s from training job %s", model.get("training_model_id"), job_id)
        model_id = str(model["training_model_id"])
        path = (organization_id, "training", "definitions", definition, "models", model_id)
        self.push_link(context, "training_model_id", XCOM_TRAINING_MODEL_URL, *path)
        return {"training_model_id": model_id, "training_job_id": job_id, "job_definition_name": definition}


class AbejaCreateDeploymentVersionOperator(AbejaDeploymentOperator):
    """Create a deployment version from code (a folder, packed here, or a ``.tar.gz``): the
    version is created with its runtime ``image`` and ``user_parameters``, then the code is
    uploaded to the ``upload_url`` the platform answers. A retry reuses a version of the same
    name, except one whose code upload never ended: a failed create deletes what it made, and on
    Airflow 3.3 a try killed in between is noted in the task state store, so its retry deletes
    that version and creates it again. Returns ``version_id``, ``version`` and ``deployment_id``;
    pushes ``version_id`` and ``version_url``.

    :param version: the version name, new in the deployment (e.g. ``1.4.0``).
    :param code: the handler's folder or a ``.tar.gz`` of it, on the worker.
    :param handler: ``module:function``.
    :param image: the runtime image.
    :param user_parameters: the handler's environment variables.
    """

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        *("version", "code", "handler", "image", "user_parameters"),
    )
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "version", "code", "handler", "image")
    operator_extra_links = (AbejaDeploymentVersionLink(),)
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        version: str,
        code: str,
        handler: str = DEFAULT_HANDLER,
        image: str = DEFAULT_IMAGE,
        user_parameters: Mapping[str, str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.code = code
        self.handler = handler
        self.image = image
        self.user_parameters = user_parameters

    def execute(self, context: Mapping[str, Any]) -> Any:
        from airflow_provider_abeja.client.training import deployment_code, deployment_version_body

        version = str(_text(self.version, "version"))
        parameters = _mapping(self.user_parameters, "user_parameters")
        named = {"version": version, "handler": self.handler, "image": self.image}
        deployment_version_body({**named, "user_parameters": parameters})  # checked before anything is sent
        code = deployment_code(self.code)
        organization_id = self.resolve_organization_id()
        created = self._named(organization_id, version)
        store = context.get("task_state_store")
        if created is not None and store is not None and store.get(STORE_VERSION_CREATING) == version:
            created = self._without_code(organization_id, created)
        if created is not None:
            self.log.info("Version %s exists already (%s): reusing it", version, created.get("version_id"))
        else:
            created = self._create(store, organization_id, version, code, parameters)
        version_id = str(created["version_id"])
        path = (organization_id, "deployments", self.deployment_id, "versions", version_id)
        self.push_link(context, "version_id", XCOM_VERSION_URL, *path)
        return {"version_id": version_id, "version": version, "deployment_id": self.deployment_id}

    def _create(
        self, store: Any, organization_id: str, version: str, code: Any, parameters: Mapping[str, str] | None
    ) -> dict[str, Any]:
        """Create the version and upload its code. On Airflow 3.3 the task state store notes the
        version from before the create until this try knows how it ended, so a retry after a kill
        in between deletes it (its code may never have arrived). A failed create deletes what it
        made (a version the platform refused made nothing)."""
        if store is not None:
            from airflow.sdk.execution_time.context import NEVER_EXPIRE

            store.set(STORE_VERSION_CREATING, version, retention=NEVER_EXPIRE)
        try:
            created: dict[str, Any] = self.client.create_deployment_version(
                organization_id, self.deployment_id, version, code, self.handler, self.image, parameters
            )
        except AbejaError as exc:
            refused = (
                isinstance(exc, HttpError) and 400 <= exc.status_code < 500 and exc.url.endswith("/versions")
            )
            made = None if refused else self._named(organization_id, version)
            if made is not None:  # its code upload failed, or the create's answer was lost
                self._without_code(organization_id, made)
            if store is not None:
                store.delete(STORE_VERSION_CREATING)
            raise
        if store is not None:
            store.delete(STORE_VERSION_CREATING)
        self.log.info("Created version %s (%s) and uploaded its code", version, created.get("version_id"))
        return created

    def _named(self, organization_id: str, version: str) -> dict[str, Any] | None:
        """The deployment's version named ``version``, if there is one."""
        entries = (
            self.client.get_deployment_versions(organization_id, self.deployment_id).get("entries") or []
        )
        named = (dict(e) for e in entries if isinstance(e, Mapping) and e.get("version") == version)
        return next(named, None)

    def _without_code(self, organization_id: str, version: dict[str, Any]) -> dict[str, Any] | None:
        """Delete a version this task created whose code may never have arrived (None: create it
        again); one a service runs (the platform refuses to delete it) has its code."""
        version_id = str(version["version_id"])
        try:
            self.client.delete_deployment_version(organization_id, self.deployment_id, version_id)
        except Conflict:
            return version
        except NotFound:
            pass
        self.log.warning(
            "Deleted version %s (%s): this task created it, and its code upload never ended",
            version.get("version"), version_id,
        )  # fmt: skip
        return None
