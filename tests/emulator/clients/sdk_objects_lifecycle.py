"""Runs inside the abeja-sdk 2.3.6 venv: the SDK's high-level training objects (``abeja.training``
Client, JobDefinition(s), JobDefinitionVersion(s), Job(s), Model(s)) and its deployments, services
and endpoints clients, unchanged, through a whole lifecycle on the emulator. One named step a line
(``_steps``); steps the platform refuses return the refusal.

Environment: ABEJA_API_URL, ABEJA_ORGANIZATION_ID, SDK_CREDENTIAL (JSON), HANDLER_DIR (the sample
handler: train.py, training_data.jsonl, main.py), WORK_DIR.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import zipfile

import requests
from _steps import poll, run, step

ORG = os.environ["ABEJA_ORGANIZATION_ID"]
CREDENTIAL = json.loads(os.environ["SDK_CREDENTIAL"])
HANDLER_DIR = os.environ["HANDLER_DIR"]
WORK = os.environ["WORK_DIR"]
#: HTTP Basic, as the SDK signs its requests (``user-`` and the user id).
AUTH = (f"user-{CREDENTIAL['user_id']}", CREDENTIAL["personal_access_token"])


def refused(call):  # type: ignore[no-untyped-def]
    """The status and error of a call the platform must refuse (an HttpError of the SDK)."""
    from abeja.exceptions import HttpError

    try:
        call()
    except HttpError as exc:
        return {"status": exc.status_code, "error": exc.error, "description": exc.error_description}
    return {"status": 200}


def fetch(url: str) -> requests.Response:
    """A pre-signed URL is fetched without the credential, as the SDK fetches it."""
    answer = requests.get(url, timeout=30)
    answer.raise_for_status()
    return answer


def training() -> str:
    from abeja.common.docker_image_name import DockerImageName
    from abeja.common.instance_type import InstanceType
    from abeja.training import Client

    definitions = Client(organization_id=ORG, credential=CREDENTIAL).job_definitions()
    files = [os.path.join(HANDLER_DIR, name) for name in ("train.py", "training_data.jsonl")]
    image = DockerImageName.parse("abeja-inc/all-cpu:19.10")
    definition_id = step(
        "definition_create", lambda: definitions.create("clients-sentiment").job_definition_id
    )
    step("definition_get_by_id", lambda: definitions.get(definition_id).name)
    step("definitions_list", lambda: [d.name for d in definitions.list()])
    step("definitions_total", lambda: len(definitions.list()))
    definition = definitions.get("clients-sentiment")
    versions = definition.job_definition_versions()
    step("version_create", lambda: versions.create(files, "train:handler", image).job_definition_version_id)
    step("versions_total", lambda: len(versions.list()))
    step("version_update", lambda: versions.update(1, "first").description)
    jobs = definition.jobs()
    cpu = InstanceType.parse("cpu-1")
    job_id = step("job_create", lambda: jobs.create(job_definition_version_id=1, instance_type=cpu).job_id)
    finished = step(
        "job_complete",
        lambda: (
            poll(lambda: jobs.get(job_id), lambda j: j.status.value not in ("Pending", "Active")).status.value
        ),
    )
    step("job_definition_of_job", lambda: jobs.get(job_id).job_definition.name)
    stopped = jobs.create(job_definition_version_id=1, instance_type=cpu).job_id

    def stop() -> str:
        jobs.stop(stopped)
        return str(jobs.get(stopped).status.value)

    step("job_stop", stop)
    step("jobs_total", lambda: len(jobs.list()))
    step("jobs_listed", lambda: sorted(j.job_id for j in jobs.list()) == sorted([job_id, stopped]))

    def artifacts() -> list[str]:
        uri = jobs.get_artifacts(job_id).download_uri
        result = zipfile.ZipFile(io.BytesIO(fetch(uri).content))
        result.extractall(os.path.join(WORK, "result"))
        return sorted(result.namelist())

    step("job_artifacts", artifacts)
    models = definition.models()

    def model_create() -> str:
        archive = shutil.make_archive(os.path.join(WORK, "model"), "zip", os.path.join(WORK, "result"))
        with open(archive, "rb") as data:
            return str(models.create(data, job_id=job_id, description=finished).model_id)

    model_id = step("model_create", model_create)
    step("models_list", lambda: [m.model_id for m in models.list()] == [model_id])
    step("models_total", lambda: len(models.list()))
    step("model_update", lambda: models.update(model_id, "trained by the SDK").description)
    step(
        "model_download",
        lambda: sorted(
            zipfile.ZipFile(io.BytesIO(fetch(models.get_download_uri(model_id)).content)).namelist()
        ),
    )
    return model_id


def training_cleanup() -> None:
    from abeja.common.docker_image_name import DockerImageName
    from abeja.training import Client

    definitions = Client(organization_id=ORG, credential=CREDENTIAL).job_definitions()
    definition = definitions.get("clients-sentiment")
    versions, jobs, models = definition.job_definition_versions(), definition.jobs(), definition.models()
    job_id = next(iter(jobs.list())).job_id
    model_id = next(iter(models.list())).model_id
    step("version_in_use_delete_refused", lambda: refused(lambda: versions.delete(1)))

    def unused_version() -> int:
        files = [os.path.join(HANDLER_DIR, "train.py")]
        made = versions.create(files, "train:handler", DockerImageName.parse("abeja-inc/all-cpu:19.10"))
        versions.delete(made.job_definition_version_id)
        return len(versions.list())

    step("unused_version_deleted", unused_version)

    def archive_version() -> list[bool]:
        versions.archive(1)
        archived = [versions.get(1).archived, len(versions.list(filter_archived=True))]
        versions.unarchive(1)
        return [*archived, versions.get(1).archived]

    step("version_archive", archive_version)

    def archive_job() -> list[object]:
        jobs.archive(job_id)
        return [jobs.get(job_id).archived, len(jobs.list(filter_archived=True))]

    step("job_archive", archive_job)

    def archive_model() -> list[object]:
        models.archive(model_id)
        archived = [models.get(model_id).archived, len(models.list(filter_archived=True))]
        models.unarchive(model_id)
        return [*archived, models.get(model_id).archived]

    step("model_archive", archive_model)
    step("definition_delete_refused", lambda: refused(lambda: definitions.delete("clients-sentiment")))

    def archive_definition() -> list[object]:
        definitions.archive("clients-sentiment")
        return [definitions.get("clients-sentiment").archived, len(definitions.list(filter_archived=True))]

    step("definition_archive", archive_definition)

    def empty_definition() -> dict[str, object]:
        definitions.create("clients-empty")
        definitions.delete("clients-empty")
        return refused(lambda: definitions.get("clients-empty"))

    step("empty_definition_deleted", empty_definition)


def deployment(model_id: str) -> None:
    from abeja.deployments import APIClient as Deployments
    from abeja.endpoints import APIClient as Endpoints
    from abeja.services import APIClient as Services

    deployments = Deployments(credential=CREDENTIAL)
    services, endpoints = Services(credential=CREDENTIAL), Endpoints(credential=CREDENTIAL)
    dep = step(
        "deployment_create",
        lambda: deployments.create_deployment(ORG, "clients-release", description="made by the SDK")[
            "deployment_id"
        ],
    )
    step("deployment_description", lambda: deployments.get_deployment(ORG, dep)["description"])
    step(
        "deployment_patch",
        lambda: deployments.patch_deployment(ORG, dep, "clients-release-2", {"TIER": "canary"})[
            "default_environment"
        ],
    )

    def version_upload() -> str:
        version = deployments.create_deployment_version(
            ORG, dep, "1.0.0", "main:handler", "abeja-inc/all-cpu:19.10"
        )
        archive = shutil.make_archive(os.path.join(WORK, "code"), "gztar", root_dir=HANDLER_DIR, base_dir=".")
        with open(archive, "rb") as file:
            requests.put(version["upload_url"], data=file, timeout=30).raise_for_status()
        return str(version["version_id"])

    version_id = step("deployment_version_upload", version_upload)
    step(
        "deployment_versions_list",
        lambda: [v["version_id"] for v in deployments.get_deployment_versions(ORG, dep)["entries"]],
    )
    ser = step(
        "service_create",
        lambda: services.create_service(ORG, dep, version_id, model_id=model_id)["service_id"],
    )
    step(
        "service_ready",
        lambda: poll(
            lambda: services.get_service(ORG, dep, ser)["status"], lambda s: s in ("READY", "FAILED")
        ),
    )
    infer = f"{os.environ['ABEJA_API_URL']}/_inference/{ORG}/deployments/{dep}/services/{ser}"
    step(
        "service_answers",
        lambda: requests.post(infer, json={"text": "great"}, auth=AUTH, timeout=30).json()["label"],
    )
    step(
        "endpoint_create",
        lambda: endpoints.create_endpoint(ORG, dep, ser, custom_alias="default")["service_id"],
    )
    step("endpoints_list", lambda: [e["service_id"] for e in endpoints.get_endpoints(ORG, dep)["entries"]])
    step("service_recent_logs", lambda: len(services.get_service_recent_logs(ORG, dep, ser)["events"]) > 0)

    def version_download() -> list[str]:
        uri = deployments.download_deployment_version(ORG, dep, version_id)["download_uri"]
        with tarfile.open(fileobj=io.BytesIO(fetch(uri).content)) as archive:
            return sorted(os.path.basename(n) for n in archive.getnames() if n.endswith(".py"))

    step("deployment_version_download", version_download)
    step(
        "deployment_version_in_use_delete_refused",
        lambda: refused(lambda: deployments.delete_deployment_version(ORG, dep, version_id)),
    )
    step("deployment_in_use_delete_refused", lambda: refused(lambda: deployments.delete_deployment(ORG, dep)))
    step("endpoint_delete", lambda: endpoints.delete_endpoint(ORG, dep, "default")["message"])
    step("service_stop", lambda: services.stop_service(ORG, dep, ser)["message"])
    step("service_delete", lambda: services.delete_service(ORG, dep, ser)["message"])
    step(
        "deployment_version_delete",
        lambda: deployments.delete_deployment_version(ORG, dep, version_id)["message"],
    )
    step("deployment_delete", lambda: deployments.delete_deployment(ORG, dep)["message"])
    step("deployment_gone", lambda: refused(lambda: deployments.get_deployment(ORG, dep)))


def lifecycle() -> None:
    model_id = training()
    deployment(model_id)
    training_cleanup()


if __name__ == "__main__":
    run(lifecycle)
