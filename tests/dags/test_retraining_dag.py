"""The retraining example, run with `dag.test()` against the emulator: it trains for real
(a job runs the sample training handler), registers the model, deploys a service with it and
switches the endpoint; its failure paths leave no service, no version and no running job behind. Its asset
trigger runs under a real scheduler in tests/standalone/test_asset_triggered_retraining_standalone.py."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

DEPLOYMENT = "9999999999999"
V1 = "ver-5a3d1e0000000001"
RETRAINING = "abeja_scheduled_retraining"


def services(handle: Any) -> dict[str, str]:
    return {s["service_id"]: s["status"] for s in handle.state()["services"]}


def endpoints(handle: Any) -> dict[str, str]:
    return {e["custom_alias"]: e["service_id"] for e in handle.state()["endpoints"]}


def old_service_behind_default_endpoint(handle: Any) -> str:
    """What a previous release left: a READY service behind the `default` endpoint."""
    old = handle.create_service(DEPLOYMENT, V1)["service_id"]
    handle.wait_for_status(DEPLOYMENT, old)
    with APIClient(handle.credential, api_url=handle.url) as client:
        client.create_endpoint(handle.organization_id, DEPLOYMENT, old, "default")
    return str(old)


def versions(handle: Any) -> list[str]:
    return sorted(v["version_id"] for v in handle.state()["versions"] if v["deployment_id"] == DEPLOYMENT)


def nothing_running_but(handle: Any, *service_ids: str) -> None:
    counters = handle.counters()
    assert counters["training_jobs_running"] == 0
    assert counters["training_processes_running"] == 0
    assert set(services(handle)) == set(service_ids)


def test_retraining_trains_registers_deploys_and_retires_the_old_service(run_dag: Any) -> None:
    handle = run_dag.emulator
    old = old_service_behind_default_endpoint(handle)

    result = run_dag(RETRAINING)

    assert result.state == "success", result.task_states
    job = result.returns["train"]
    assert job["status"] == "Complete"
    model = result.returns["register_model"]
    assert model["training_job_id"] == job["training_job_id"]
    deployed = result.returns["deploy_new_version"]
    assert deployed["model_version_id"] == result.returns["new_version"]["version_id"]
    assert deployed["models"] == {"alias": model["training_model_id"]}
    # "reliable" has no weight in the sample's own parameters: the trained model answers it.
    assert result.returns["check_smoke_answer"]["matched"] == ["excellent", "reliable"]
    assert endpoints(handle) == {"default": deployed["service_id"]}
    assert result.returns["point_endpoint"]["previous_service_id"] == old
    assert result.task_states["discard_new_version"] == "skipped"  # a good release keeps its version
    assert result.returns["new_version"]["version_id"] in versions(handle)
    nothing_running_but(handle, deployed["service_id"])
    counters = handle.counters()
    assert (
        counters["training_jobs_created"],
        counters["training_models_created"],
        counters["versions_created"],
    ) == (
        1,
        1,
        1,
    )


def first_release_checks(handle: Any, result: Any) -> None:
    """No endpoint yet: the first release creates it and retires nothing. Checked on the run as
    shipped (a fresh emulator, the default params) in test_example_dags.py, which is this path."""
    deployed = result.returns["deploy_new_version"]
    switch = result.returns["point_endpoint"]
    assert (switch["created"], switch["previous_service_id"]) == (True, None)
    assert endpoints(handle) == {"default": deployed["service_id"]}
    assert result.task_states["retire_old_service"] == "skipped"
    nothing_running_but(handle, deployed["service_id"])


def test_a_failed_training_job_deploys_nothing(run_dag: Any) -> None:
    handle = run_dag.emulator
    old = old_service_behind_default_endpoint(handle)

    result = run_dag(RETRAINING, training_environment={"SAMPLE_TRAIN_FAIL": "bad data"})

    assert result.state == "failed"
    assert result.task_states["train"] == "failed"
    assert result.task_states["deploy_new_version"] == "upstream_failed"
    assert endpoints(handle) == {"default": old}
    nothing_running_but(handle, old)
    assert handle.counters()["services_created"] == 1  # only the old one, made by the test


def test_a_failed_smoke_test_discards_the_new_service(run_dag: Any) -> None:
    handle = run_dag.emulator
    old = old_service_behind_default_endpoint(handle)
    before = versions(handle)

    result = run_dag(RETRAINING, smoke_expected_label="negative")

    assert result.state == "failed"
    assert result.task_states["check_smoke_answer"] == "failed"
    assert result.task_states["discard_new_service"] == "success"
    assert result.task_states["point_endpoint"] == "upstream_failed"
    assert endpoints(handle) == {"default": old}
    nothing_running_but(handle, old)
    assert result.task_states["discard_new_version"] == "success", result.task_states
    assert versions(handle) == before


def test_a_failed_deploy_leaves_no_version_behind(run_dag: Any) -> None:
    """The platform refuses the new service (an injected 400): the run uploaded a version, and
    discards it once the (absent) service is gone."""
    handle = run_dag.emulator
    old = old_service_behind_default_endpoint(handle)
    before = versions(handle)
    handle.inject_fault("create_service", status=400, times=1)

    result = run_dag(RETRAINING)

    assert result.state == "failed", result.task_states
    assert result.task_states["new_version"] == "success"
    assert result.task_states["deploy_new_version"] == "failed", result.task_states
    assert result.task_states["discard_new_version"] == "success", result.task_states
    assert handle.counters()["versions_created"] == 1
    assert versions(handle) == before
    assert endpoints(handle) == {"default": old}
    nothing_running_but(handle, old)
