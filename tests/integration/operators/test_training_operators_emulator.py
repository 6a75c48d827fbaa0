"""The training operators and sensor against the emulator: poke and deferrable, failures with
the job's log, retries that find their job, on_kill stopping the job."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from abeja_emulator.sample import SAMPLE_DEPLOYMENT_ID, SAMPLE_HANDLER_DIR
from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.exceptions import TransportError
from airflow_provider_abeja.operators.service import WaitInterrupted
from airflow_provider_abeja.operators.training import (
    STORE_VERSION_CREATING,
    AbejaCreateDeploymentVersionOperator,
    AbejaCreateTrainingJobOperator,
    AbejaCreateTrainingModelOperator,
)
from airflow_provider_abeja.sensors.training import AbejaTrainingJobSensor
from tests._context import FakeTI
from tests.integration.operators._support import run_operator
from tests.integration.operators.test_kill_emulator import HAS_STORE, FakeStore, needs_store
from tests.integration.training._support import poll, wait_job

pytestmark = pytest.mark.emulator


def job_operator(**kwargs: Any) -> AbejaCreateTrainingJobOperator:
    kwargs.setdefault("check_interval", 0.1)
    kwargs.setdefault("timeout", 120)
    return AbejaCreateTrainingJobOperator(
        task_id="train", job_definition_name="sentiment", version_id=1, **kwargs
    )


@pytest.mark.parametrize("deferrable", [False, True])
def test_job_runs_to_complete_then_model_and_version(
    emulator: Any, definition: str, context: dict[str, Any], ti: FakeTI, deferrable: bool
) -> None:
    result = run_operator(job_operator(deferrable=deferrable), context)
    assert result["status"] == "Complete"
    assert result["statistics"]["stages"]["train"]["accuracy"] == 1.0
    job_id = result["training_job_id"]
    assert ti.xcoms["training_job_id"] == job_id
    assert ti.xcoms["training_job_url"].endswith(f"/training/definitions/sentiment/jobs/{job_id}")

    register = AbejaCreateTrainingModelOperator(
        task_id="register", job_definition_name=definition, training_job_id=job_id
    )
    model = register.execute(context)
    assert model["training_job_id"] == job_id
    assert ti.xcoms["training_model_id"] == model["training_model_id"]
    again = register.execute(context)  # a retry registers nothing new
    assert again == model
    assert emulator.counters()["training_models_created"] == 1

    version_op = AbejaCreateDeploymentVersionOperator(
        task_id="version", deployment_id=SAMPLE_DEPLOYMENT_ID, version="9.0.0", code=SAMPLE_HANDLER_DIR
    )
    version = version_op.execute(context)
    assert version_op.execute(context) == version  # a retry reuses the version
    assert emulator.counters()["versions_created"] == 1
    assert ti.xcoms["version_id"] == version["version_id"]


@pytest.mark.parametrize("deferrable", [False, True])
def test_failed_job_fails_the_task_with_its_log(
    emulator: Any, definition: str, context: dict[str, Any], deferrable: bool
) -> None:
    op = job_operator(deferrable=deferrable, environment={"SAMPLE_TRAIN_FAIL": "no data"})
    with pytest.raises(AirflowFailException, match="training failed on purpose: no data"):
        run_operator(op, context)
    assert emulator.counters()["training_jobs_running"] == 0


def test_a_retry_finds_the_job_of_its_first_try(
    emulator: Any, definition: str, context: dict[str, Any]
) -> None:
    first = job_operator(wait_for_completion=False).execute(context)
    second = run_operator(job_operator(), context)  # same task instance: a retry
    assert second["training_job_id"] == first["training_job_id"]
    assert emulator.counters()["training_jobs_created"] == 1
    other = run_operator(job_operator(), {"ti": FakeTI(run_id="another_run")})
    assert other["training_job_id"] != first["training_job_id"]


@pytest.mark.parametrize("fault", [{"status": 500}, {"drop_connection": True}])
def test_lost_answer_on_job_creation_starts_exactly_one_job(
    emulator: Any, definition: str, context: dict[str, Any], fault: dict[str, Any]
) -> None:
    # The platform starts the job, then the answer is lost (500 or a dropped connection).
    emulator.inject_fault("create_training_job", when="after", times=1, **fault)
    first = run_operator(job_operator(), context)
    assert first["status"] == "Complete"
    retried = run_operator(job_operator(), context)  # and a task retry on top of it
    assert retried["training_job_id"] == first["training_job_id"]
    counters = emulator.counters()
    assert counters["training_jobs_created"] == 1
    assert counters["requests"]["create_training_job"] == 1  # the client never re-sent the POST


def test_a_retry_after_a_failed_job_trains_again(
    emulator: Any, definition: str, context: dict[str, Any]
) -> None:
    with pytest.raises(AirflowFailException):
        run_operator(job_operator(environment={"SAMPLE_TRAIN_FAIL": "once"}), context)
    assert run_operator(job_operator(), context)["status"] == "Complete"
    assert emulator.counters()["training_jobs_created"] == 2


def test_on_kill_stops_the_job(emulator: Any, definition: str, context: dict[str, Any], ti: FakeTI) -> None:
    op = job_operator(environment={"SAMPLE_TRAIN_SECONDS": "600"})
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        job_id = poll(lambda: ti.xcoms.get("training_job_id"))
        wait_job(client, emulator.organization_id, job_id, ("Active",))
        op.on_kill()
        worker.join(30)
        assert client.get_training_job(emulator.organization_id, definition, job_id)["status"] == "Stopped"
    assert isinstance(outcome[0], WaitInterrupted)
    assert emulator.counters()["training_processes_running"] == 0


@pytest.mark.parametrize("deferrable", [False, True])
def test_sensor_waits_for_complete_and_fails_on_failed(
    emulator: Any, definition: str, context: dict[str, Any], deferrable: bool
) -> None:
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        good = client.create_training_job(emulator.organization_id, definition, 1)["training_job_id"]
        bad = client.create_training_job(
            emulator.organization_id, definition, 1, environment={"SAMPLE_TRAIN_FAIL": "sensor"}
        )["training_job_id"]

    def sensor(job_id: str) -> AbejaTrainingJobSensor:
        return AbejaTrainingJobSensor(
            task_id="watch",
            job_definition_name=definition,
            training_job_id=job_id,
            poke_interval=0.1,
            timeout=60,
            deferrable=deferrable,
        )

    run_operator(sensor(good), context)
    with pytest.raises(AirflowFailException, match="training failed on purpose: sensor"):
        run_operator(sensor(bad), context)


class Killed(BaseException):
    """The worker SIGKILLed: nothing of the try runs after the moment it is raised."""


UPLOAD_FAILED = TransportError("connection reset", url="upload", attempts=3)


@pytest.mark.parametrize(
    ("fault", "stored"),
    [
        pytest.param(Killed(), True, marks=needs_store, id="killed"),
        pytest.param(UPLOAD_FAILED, True, marks=needs_store, id="upload failed"),
        pytest.param(UPLOAD_FAILED, False, id="upload failed, no store"),
    ],
)
def test_a_version_whose_code_an_earlier_try_never_uploaded_is_made_again(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, fault: BaseException, stored: bool
) -> None:
    """SIGKILLed (or its upload failed) between the version's create and its code upload: the
    failed try deletes the version itself, the retry of a killed one does (the task state store
    says its code may never have arrived); either way the retry creates it with its code, and a
    version found without that note is reused as before."""
    store, uploads = FakeStore(), []
    context = {"task_state_store": store} if stored else {}
    send = APIClient._call

    def killed_before_upload(client: APIClient, name: str, args: Any) -> Any:
        if name == "upload_deployment_code":
            if not uploads:
                uploads.append(None)
                raise fault
            uploads.append(args["upload_url"])
        return send(client, name, args)

    monkeypatch.setattr(APIClient, "_call", killed_before_upload)
    version_op = AbejaCreateDeploymentVersionOperator(
        task_id="version", deployment_id=SAMPLE_DEPLOYMENT_ID, version="9.0.1", code=SAMPLE_HANDLER_DIR
    )
    with pytest.raises(BaseException) as first_try:
        version_op.execute({"ti": FakeTI("version"), **context})
    assert first_try.value is fault or first_try.value.__cause__ is fault
    retry = {"ti": FakeTI("version", try_number=2), **context}
    version = version_op.execute(retry)
    assert version_op.execute(retry) == version  # the code arrived: reused from now on
    assert (emulator.counters()["versions_created"], emulator.counters()["versions_deleted"]) == (2, 1)
    assert len(uploads) == 2  # the killed try's, then the retry's, to its new version
    assert f"/{version['version_id']}/" in uploads[1]
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        listed = client.get_deployment_versions(emulator.organization_id, SAMPLE_DEPLOYMENT_ID)["entries"]
    assert [v["version_id"] for v in listed if v["version"] == "9.0.1"] == [version["version_id"]]
    assert store.values == {}


@needs_store
def test_a_noted_version_that_a_service_runs_is_reused(emulator: Any) -> None:
    """The note of a killed try, but a service runs the version (so its code arrived): the
    platform refuses to delete it and the retry reuses it."""
    version_op = AbejaCreateDeploymentVersionOperator(
        task_id="version", deployment_id=SAMPLE_DEPLOYMENT_ID, version="9.0.2", code=SAMPLE_HANDLER_DIR
    )
    created = version_op.execute({"ti": FakeTI("version")})
    emulator.create_service(SAMPLE_DEPLOYMENT_ID, created["version_id"])
    store = FakeStore()
    store.values = {STORE_VERSION_CREATING: "9.0.2"}
    assert version_op.execute({"ti": FakeTI("version", try_number=2), "task_state_store": store}) == created
    assert (emulator.counters()["versions_created"], emulator.counters()["versions_deleted"]) == (1, 0)


def test_a_create_the_platform_refused_deletes_nothing(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another DAG created the version between this try's look-up and its create: the platform
    refuses (400), and that version, not this task's, is left alone."""
    version_op = AbejaCreateDeploymentVersionOperator(
        task_id="version", deployment_id=SAMPLE_DEPLOYMENT_ID, version="9.0.3", code=SAMPLE_HANDLER_DIR
    )
    theirs = emulator.create_version(SAMPLE_DEPLOYMENT_ID, "9.0.3", code_dir=SAMPLE_HANDLER_DIR)
    looked_up, named = [], version_op._named

    def listed_before_they_created_it(*args: Any) -> Any:
        looked_up.append(args)
        return None if len(looked_up) == 1 else named(*args)

    monkeypatch.setattr(version_op, "_named", listed_before_they_created_it)
    store = FakeStore()
    with pytest.raises(AirflowFailException, match="400"):
        version_op.execute({"ti": FakeTI("version"), **({"task_state_store": store} if HAS_STORE else {})})
    assert emulator.counters()["versions_deleted"] == 0
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        listed = client.get_deployment_versions(emulator.organization_id, SAMPLE_DEPLOYMENT_ID)["entries"]
    assert [v["version_id"] for v in listed if v["version"] == "9.0.3"] == [theirs["version_id"]]
    assert store.values == {}
