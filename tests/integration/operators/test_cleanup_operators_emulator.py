"""The version and training cleanup operators against the emulator: deletes are idempotent (already
gone is success), what the platform keeps because it is in use is refused or archived instead."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from abeja_emulator.sample import SAMPLE_HANDLER_DIR, SAMPLE_JOB_DEFINITION
from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.exceptions import Conflict
from airflow_provider_abeja.operators.cleanup import (
    AbejaArchiveTrainingJobOperator,
    AbejaArchiveTrainingModelOperator,
    AbejaDeleteDeploymentVersionOperator,
    AbejaDeleteTrainingJobDefinitionOperator,
    AbejaDeleteTrainingJobDefinitionVersionOperator,
)
from tests.integration.operators._support import SAMPLE_DEPLOYMENT, ready_service, run_operator

pytestmark = pytest.mark.emulator


@pytest.fixture
def client(emulator: Any) -> Any:
    with APIClient(emulator.credential, api_url=emulator.url) as made:
        yield made


def version_ids(emulator: Any) -> list[str]:
    return [v["version_id"] for v in emulator.state()["versions"] if v["deployment_id"] == SAMPLE_DEPLOYMENT]


def test_a_deployment_version_is_deleted_once_and_kept_while_a_service_runs_it(emulator, client, context):
    made = emulator.create_version(SAMPLE_DEPLOYMENT, "9.9.9", code_dir=SAMPLE_HANDLER_DIR)["version_id"]
    service = ready_service(emulator, made)
    op = AbejaDeleteDeploymentVersionOperator(task_id="d", deployment_id=SAMPLE_DEPLOYMENT, version_id=made)
    with pytest.raises(Conflict, match="is used by service"):
        run_operator(op, context)
    assert made in version_ids(emulator)
    client.delete_service(emulator.organization_id, SAMPLE_DEPLOYMENT, service)
    assert run_operator(op, context) == {"message": f"{made} deleted"}
    assert made not in version_ids(emulator)
    assert run_operator(op, context) is None  # already gone
    strict = AbejaDeleteDeploymentVersionOperator(
        task_id="d", deployment_id=SAMPLE_DEPLOYMENT, version_id=made, fail_if_missing=True
    )
    with pytest.raises(AirflowFailException, match=r"deployment version .* does not exist"):
        run_operator(strict, context)
    assert emulator.counters()["versions_deleted"] == 1


def test_training_resources_are_deleted_or_archived_as_the_platform_allows(emulator, client, context):
    org, name = emulator.organization_id, "cleanup-sentiment"
    client.create_training_job_definition(org, name)
    client.create_training_job_definition_version(org, name, SAMPLE_HANDLER_DIR, "train:handler")
    client.create_training_job_definition_version(org, name, SAMPLE_HANDLER_DIR, "train:handler")
    job = client.create_training_job(org, name, 1)["training_job_id"]
    client.stop_training_job(org, name, job)

    def version(number: int, **options: Any) -> Any:
        return AbejaDeleteTrainingJobDefinitionVersionOperator(
            task_id="v", job_definition_name=name, version_id=number, **options
        )

    assert run_operator(version(2), context) == {"message": "deleted"}
    assert run_operator(version(2), context) is None  # already gone
    with pytest.raises(Conflict, match="used by training job"):
        run_operator(version(1, archive_if_in_use=False), context)
    assert run_operator(version(1), context)["archived"] is True  # a job ran it: archived instead
    assert client.get_training_job_definition_version(org, name, 1)["archived"] is True
    archived_job = run_operator(
        AbejaArchiveTrainingJobOperator(task_id="j", job_definition_name=name, training_job_id=job), context
    )
    assert archived_job == {"message": f"{name}:{job} archived", "archived": True}
    assert client.get_training_job(org, name, job)["archived"] is True
    definition = AbejaDeleteTrainingJobDefinitionOperator(task_id="d", job_definition_name=name)
    assert run_operator(definition, context)["archived"] is True  # it still has a version
    assert client.get_training_job_definition(org, name)["archived"] is True
    empty = AbejaDeleteTrainingJobDefinitionOperator(task_id="d", job_definition_name="cleanup-empty")
    client.create_training_job_definition(org, "cleanup-empty")
    assert run_operator(empty, context) == {"message": "cleanup-empty deleted"}
    assert run_operator(empty, context) is None


def test_a_trained_model_is_archived(emulator, client, context):
    org = emulator.organization_id
    model = client.create_training_model(org, SAMPLE_JOB_DEFINITION, SAMPLE_HANDLER_DIR)["training_model_id"]
    op = AbejaArchiveTrainingModelOperator(
        task_id="m", job_definition_name=SAMPLE_JOB_DEFINITION, model_id=model
    )
    assert run_operator(op, context)["archived"] is True
    assert client.get_training_model(org, SAMPLE_JOB_DEFINITION, model)["archived"] is True
    missing = AbejaArchiveTrainingModelOperator(
        task_id="m", job_definition_name=SAMPLE_JOB_DEFINITION, model_id="1000000000000", fail_if_missing=True
    )
    with pytest.raises(AirflowFailException, match=r"training model .* does not exist"):
        run_operator(missing, context)
