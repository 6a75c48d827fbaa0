"""The Training API client against the emulator: a real job runs the sample training handler."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from abeja_emulator.sample import SAMPLE_DEPLOYMENT_ID, SAMPLE_HANDLER_DIR
from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import BadRequest, InvalidArgumentError, NotFound
from tests.integration.training._support import DEFINITION, wait_job

pytestmark = pytest.mark.emulator


def test_job_trains_reports_statistics_and_becomes_a_model(
    client: APIClient, org: str, definition: str
) -> None:
    version = client.get_training_job_definition_version(org, definition, 1)
    assert version["handler"] == "train:handler"
    job = client.create_training_job(
        org, definition, 1, environment={"EXTRA": "1"}, datasets={"train": "1234"}
    )
    assert job["status"] == "Pending"
    done = wait_job(client, org, job["training_job_id"], ("Complete", "Failed"))
    logs = [
        e["message"]
        for e in client.get_training_job_recent_logs(org, definition, job["training_job_id"])["events"]
    ]
    assert done["status"] == "Complete", logs
    assert done["statistics"]["stages"]["train"]["accuracy"] == 1.0
    assert any("training on 12 texts" in line and "'train': '1234'" in line for line in logs)

    archive = client.download_training_result(org, definition, job["training_job_id"])
    assert "params.json" in zipfile.ZipFile(io.BytesIO(archive)).namelist()
    model = client.create_training_model_from_job(
        org, definition, job["training_job_id"], description="weekly"
    )
    assert (
        client.get_training_model(org, definition, model["training_model_id"])["training_job_id"]
        == job["training_job_id"]
    )
    listed = client.get_training_jobs(org, definition)["entries"]
    assert [j["training_job_id"] for j in listed] == [job["training_job_id"]]


def test_failed_job_fails_with_its_traceback(client: APIClient, org: str, definition: str) -> None:
    job = client.create_training_job(org, definition, 1, environment={"SAMPLE_TRAIN_FAIL": "boom"})
    done = wait_job(client, org, job["training_job_id"], ("Complete", "Failed"))
    assert done["status"] == "Failed"
    logs = [
        e["message"]
        for e in client.get_training_job_recent_logs(org, definition, job["training_job_id"])["events"]
    ]
    assert any("training failed on purpose: boom" in line for line in logs)
    assert client.get_training_result(org, definition, job["training_job_id"]) == {"artifacts": {}}


def test_stop_kills_the_handler(client: APIClient, org: str, definition: str, abeja_emulator: Any) -> None:
    job = client.create_training_job(org, definition, 1, environment={"SAMPLE_TRAIN_SECONDS": "600"})
    wait_job(client, org, job["training_job_id"], ("Active",))
    client.stop_training_job(org, definition, job["training_job_id"])
    assert client.get_training_job(org, definition, job["training_job_id"])["status"] == "Stopped"
    counters = abeja_emulator.counters()
    assert counters["training_jobs_running"] == 0
    assert counters["training_processes_running"] == 0
    with pytest.raises(BadRequest):
        client.stop_training_job(org, definition, job["training_job_id"])


def test_service_with_the_trained_model_serves_it(
    client: APIClient, org: str, definition: str, abeja_emulator: Any
) -> None:
    job = client.create_training_job(org, definition, 1)
    wait_job(client, org, job["training_job_id"], ("Complete",))
    model = client.create_training_model_from_job(org, definition, job["training_job_id"])
    version = client.create_deployment_version(
        org, SAMPLE_DEPLOYMENT_ID, "2.0.0-trained", SAMPLE_HANDLER_DIR, handler="main:handler"
    )
    assert abeja_emulator.counters()["versions_created"] == 1
    service = client.create_service(
        org, SAMPLE_DEPLOYMENT_ID, version["version_id"], model_id=model["training_model_id"]
    )
    abeja_emulator.wait_for_status(SAMPLE_DEPLOYMENT_ID, service["service_id"], "READY", timeout=30)
    answer = client.request_service(
        org, SAMPLE_DEPLOYMENT_ID, service["service_id"], json={"text": "reliable"}
    ).json()
    # "reliable" has no weight in the sample's own parameters: only the trained model knows it.
    assert answer["matched"] == ["reliable"]
    assert answer["label"] == "positive"


async def test_async_client_reads_jobs(abeja_emulator: Any, org: str, definition: str) -> None:
    sync = APIClient(abeja_emulator.credential, api_url=abeja_emulator.url)
    async with AsyncAPIClient(abeja_emulator.credential, api_url=abeja_emulator.url) as client:
        job = sync.create_training_job(org, definition, "1")
        got = await client.get_training_job(org, definition, job["training_job_id"])
        assert got["training_job_id"] == job["training_job_id"]
        sync.stop_training_job(org, definition, job["training_job_id"])
        assert (await client.get_training_job(org, definition, job["training_job_id"]))["status"] == "Stopped"
    sync.close()


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda c: c.create_training_job("1", "../x", 1), "job_definition_name"),
        (lambda c: c.create_training_job("1", DEFINITION, 0), "version_id"),
        (lambda c: c.create_training_job("1", DEFINITION, 1, datasets={"a": "x1"}), "datasets"),
        (lambda c: c.get_training_job("1", DEFINITION, "1?x"), "training_job_id"),
        (lambda c: c.create_training_model("1", DEFINITION, b"not an archive"), "model_data"),
        (lambda c: c.create_training_job_definition_version("1", DEFINITION, b"PK..", "no_colon"), "handler"),
        (lambda c: c.create_deployment_version("1", "2", "1.0", "/nonexistent/folder"), "code"),
        (lambda c: c.create_deployment_version("1", "2", "1.0", SAMPLE_HANDLER_DIR, image=""), "image"),
    ],
)
def test_bad_arguments_are_refused_before_sending(
    client: APIClient, call: Any, argument: str, abeja_emulator: Any
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        call(client)
    assert raised.value.argument == argument
    assert abeja_emulator.counters()["requests"] == {}


def test_unknown_definition_is_not_found(client: APIClient, org: str) -> None:
    with pytest.raises(NotFound):
        client.get_training_job_definition(org, "nothing-here")
