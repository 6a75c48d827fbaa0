"""Every example DAG, run end to end with `dag.test()` against the emulator: success and failure paths.

Outcomes are asserted on the emulator (its counters, its services and endpoints), not only on task
states: a teardown that "succeeded" without deleting anything would still fail these tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.testing import DagRunResult
from tests.dags.test_retraining_dag import RETRAINING, first_release_checks

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

DEPLOYMENT = "9999999999999"
V1 = "ver-5a3d1e0000000001"
V2 = "ver-5a3d1e0000000002"
BAD = "ver-bad0000000000001"
DEPLOY_INVOKE = "abeja_deploy_invoke_teardown"
BLUE_GREEN = "abeja_blue_green_swap"
BATCH = "abeja_batch_inference"
BATCH_SAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "data" / "batch_inputs.jsonl"
GUARDED = "abeja_guarded_blue_green"


def example_dag_files() -> list[Path]:
    """Every example DAG file, found at collection time: a new DAG is run without editing this test."""
    folder = Path(__file__).resolve().parents[2] / "example_dags"
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def services(handle: Any) -> dict[str, str]:
    """service id -> status of every service the emulator still has."""
    return {s["service_id"]: s["status"] for s in handle.state()["services"]}


def endpoints(handle: Any) -> dict[str, str]:
    """custom alias -> service id of every endpoint."""
    return {e["custom_alias"]: e["service_id"] for e in handle.state()["endpoints"]}


def blue_behind_default_endpoint(handle: Any, version_id: str = V1) -> str:
    """What a previous release left: a READY service behind the `default` endpoint."""
    blue = handle.create_service(DEPLOYMENT, version_id)["service_id"]
    handle.wait_for_status(DEPLOYMENT, blue)
    with APIClient(handle.credential, api_url=handle.url) as client:
        client.create_endpoint(handle.organization_id, DEPLOYMENT, blue, "default")
    return str(blue)


# -- every DAG ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", example_dag_files(), ids=lambda p: Path(p).stem)
def test_example_dag_file_parses_into_a_documented_dag(path: Path, example_dagbag: Any) -> None:
    errors = {f: e for f, e in example_dagbag.import_errors.items() if Path(f).name == path.name}
    assert not errors
    dags = [d for d in example_dagbag.dags.values() if Path(d.fileloc).name == path.name]
    assert dags, f"{path.name} defines no DAG"
    for dag in dags:
        assert "abeja" in dag.tags
        assert dag.doc_md, f"{dag.dag_id} has no documentation"


@pytest.mark.parametrize("path", example_dag_files(), ids=lambda p: Path(p).stem)
def test_example_status_waits_survive_a_spurious_failure(path: Path, example_dagbag: Any) -> None:
    """Waiting is idempotent: no example turns off the sensor's retries (apache/airflow#67287)."""
    from airflow_provider_abeja.sensors.service import WAIT_RETRIES, AbejaServiceStatusSensor

    dags = [d for d in example_dagbag.dags.values() if Path(d.fileloc).name == path.name]
    for dag in dags:
        for task in dag.tasks:
            cls = getattr(task, "operator_class", type(task))
            if not (isinstance(cls, type) and issubclass(cls, AbejaServiceStatusSensor)):
                continue
            if hasattr(task, "partial_kwargs"):  # mapped: the sensor's __init__ runs per map index
                explicit = task.partial_kwargs.get("retries", (dag.default_args or {}).get("retries"))
                retries = WAIT_RETRIES if explicit is None else explicit
            else:
                retries = task.retries
            assert retries >= 1, f"{dag.dag_id}.{task.task_id} waits without retries"


def blue_green_first_release_checks(handle: Any, result: DagRunResult) -> None:
    """No endpoint yet: the first release creates it, and there is no blue to retire."""
    green = result.returns["green_up"]["service_id"]
    assert result.returns["swap_endpoint"]["created"] is True
    assert result.returns["swap_endpoint"]["previous_service_id"] is None
    assert result.task_states["retire_blue"] == "skipped"
    assert endpoints(handle) == {"default": green}
    assert services(handle) == {green: "READY"}


def batch_sample_checks(handle: Any, result: DagRunResult) -> None:
    """The sample input scored in input order, to ``<output_dir>/<run id>/results.jsonl``."""
    summary = result.returns["batch_inference"]
    assert (summary["total"], summary["ok"], summary["errors"]) == (200, 200, 0)
    assert summary["concurrency"] == 4  # 2 per instance, instance_number=2 from the params
    results = Path(summary["output_path"])
    assert results.parent.parent == Path(os.environ["ABEJA_EXAMPLE_OUTPUT_DIR"])  # the default output_dir
    records = [json.loads(line) for line in results.read_text().splitlines()]
    expected = [json.loads(line)["id"] for line in BATCH_SAMPLE.read_text().splitlines()]
    assert [r["key"] for r in records] == expected
    assert {r["response"]["label"] for r in records} == {"positive", "negative"}
    assert services(handle) == {}  # the teardown deleted the service


#: What the run as shipped (a fresh emulator, the default params) must have done, beyond succeeding
#: and leaking nothing, for the DAGs whose default run is one of their tested paths: one run each.
def guarded_promotion_checks(handle: Any, result: DagRunResult) -> None:
    """Green passed: promoted, blue retired."""
    assert endpoints(handle) == {"default": result.returns["green_up"]["service_id"]}
    assert len(services(handle)) == 1


AS_SHIPPED: dict[str, Callable[[Any, DagRunResult], None]] = {
    GUARDED: guarded_promotion_checks,
    BLUE_GREEN: blue_green_first_release_checks,
    RETRAINING: first_release_checks,
    BATCH: batch_sample_checks,
}


@pytest.mark.parametrize("path", example_dag_files(), ids=lambda p: Path(p).stem)
def test_example_dag_succeeds_with_its_default_params(path: Path, example_dagbag: Any, run_dag: Any) -> None:
    """The defaults target the emulator's sample deployment: every DAG runs as shipped (and does
    what ``AS_SHIPPED`` says for its first release or its sample input)."""
    handle = run_dag.emulator
    dags = [d for d in example_dagbag.dags.values() if Path(d.fileloc).name == path.name]
    assert dags, f"{path.name} defines no DAG (import errors: {example_dagbag.import_errors})"
    for dag in dags:
        handle.reset()
        if dag.dag_id == GUARDED:  # it guards a release: there must be one to guard
            blue_behind_default_endpoint(handle)
        result = run_dag(dag.dag_id)
        assert result.state == "success", result.task_states
        # Nothing left running that no endpoint routes to: no leaked services.
        routed = set(endpoints(handle).values())
        leaked = {sid: st for sid, st in services(handle).items() if sid not in routed}
        assert not leaked, f"{dag.dag_id} left services behind: {leaked}"
        if dag.dag_id in AS_SHIPPED:
            AS_SHIPPED[dag.dag_id](handle, result)


# -- DAG 1: deploy, invoke, teardown --------------------------------------------------------------


def test_deploy_invoke_teardown_answers_and_deletes_its_service(run_dag: Any) -> None:
    handle = run_dag.emulator
    result = run_dag(DEPLOY_INVOKE, text="a great and excellent day")

    assert result.state == "success", result.task_states
    answer = result.returns["invoke"]
    assert answer["label"] == "positive"
    assert answer["model_version"] == "1.0.0"
    counters = handle.counters()
    assert counters["services_created"] == 1
    assert counters["services_deleted"] == 1
    assert counters["inference_requests"] == 1
    assert services(handle) == {}


def test_deploy_invoke_teardown_deletes_the_service_when_the_invocation_fails(run_dag: Any) -> None:
    handle = run_dag.emulator
    handle.inject_fault("request_service", status=500)

    result = run_dag(DEPLOY_INVOKE)

    assert result.state == "failed"
    assert result.task_states["invoke"] == "failed"
    assert result.task_states["delete_service"] == "success"
    counters = handle.counters()
    assert counters["services_created"] == 1
    assert counters["services_deleted"] == 1
    assert services(handle) == {}


def test_deploy_invoke_teardown_deletes_a_service_that_never_becomes_ready(run_dag: Any) -> None:
    handle = run_dag.emulator

    result = run_dag(DEPLOY_INVOKE, version_id=BAD)

    assert result.state == "failed"
    assert result.task_states["wait_until_ready"] == "failed"
    assert result.task_states["invoke"] == "upstream_failed"
    assert result.task_states["delete_service"] == "success"
    assert handle.counters()["services_deleted"] == 1
    assert services(handle) == {}


# -- DAG 3: blue/green ------------------------------------------------------------------------------


def test_blue_green_swaps_the_endpoint_and_retires_blue(run_dag: Any) -> None:
    handle = run_dag.emulator
    blue = blue_behind_default_endpoint(handle)

    result = run_dag(BLUE_GREEN)

    assert result.state == "success", result.task_states
    green = result.returns["green_up"]["service_id"]
    assert endpoints(handle) == {"default": green}
    assert services(handle) == {green: "READY"}
    assert blue != green
    assert result.returns["swap_endpoint"]["previous_service_id"] == blue
    assert result.returns["swap_endpoint"]["created"] is False


@pytest.mark.parametrize(
    "conf",
    [{"smoke_expected_label": "negative"}, {"green_version_id": BAD}],
    ids=["smoke-test-fails", "green-never-ready"],
)
def test_blue_green_rollback_keeps_the_endpoint_on_blue(run_dag: Any, conf: dict[str, str]) -> None:
    handle = run_dag.emulator
    blue = blue_behind_default_endpoint(handle)

    result = run_dag(BLUE_GREEN, **conf)

    assert result.state == "failed"
    assert result.task_states["rollback_green"] == "success"
    assert result.task_states["swap_endpoint"] == "upstream_failed"
    assert result.task_states["retire_blue"] == "upstream_failed"
    # Traffic stays on blue, green is gone: exactly one service, the old one.
    assert endpoints(handle) == {"default": blue}
    assert services(handle) == {blue: "READY"}
    counters = handle.counters()
    assert counters["services_created"] == 2  # blue (by the test) and green
    assert counters["services_deleted"] == 1  # green
    assert counters["requests"].get("update_endpoint", 0) == 0


# The first release (no endpoint yet): ``blue_green_first_release_checks``, on the run as shipped.


# -- DAG 2: scheduled retraining: tests/dags/test_retraining_dag.py --------------------------------


@pytest.mark.parametrize("path", example_dag_files(), ids=lambda p: Path(p).stem)
def test_example_dag_takes_the_organization_and_credentials_from_the_connection(path: Path) -> None:
    """Only the connection differs between emulator and platform: no organization or secret in code."""
    from abeja_emulator.config import (
        DEFAULT_ORGANIZATION_ID,
        DEFAULT_PERSONAL_ACCESS_TOKEN,
        DEFAULT_USER_ID,
    )

    source = path.read_text()
    for value in (DEFAULT_ORGANIZATION_ID, DEFAULT_USER_ID, DEFAULT_PERSONAL_ACCESS_TOKEN, "127.0.0.1"):
        assert value not in source, f"{path.name} hard-codes {value!r}"


# -- DAG 4: mapped versions -------------------------------------------------------------------------

MAPPED = "abeja_mapped_versions"


def test_mapped_versions_answers_once_per_version_and_deletes_every_service(run_dag: Any) -> None:
    handle = run_dag.emulator

    result = run_dag(MAPPED, text="a great and excellent day")

    assert result.state == "success", result.task_states
    invokes = {i: s for (task, i), s in result.map_states.items() if task == "invoke"}
    assert invokes == {0: "success", 1: "success"}
    counters = handle.counters()
    assert counters["services_created"] == 2
    assert counters["services_deleted"] == 2
    assert counters["inference_requests"] == 2
    assert services(handle) == {}


def test_mapped_versions_deletes_a_failed_versions_service_too(run_dag: Any) -> None:
    handle = run_dag.emulator

    result = run_dag(MAPPED, version_ids=[V1, BAD])

    assert result.state == "failed"
    waits = {i: s for (task, i), s in result.map_states.items() if task == "wait_until_ready"}
    assert waits == {0: "success", 1: "failed"}
    assert result.task_states["cleanup"] == "success"
    assert handle.counters()["services_created"] == 2
    assert services(handle) == {}


def test_deploy_invoke_teardown_deletes_the_service_of_a_create_that_failed_after_making_it(
    run_dag: Any,
) -> None:
    """The platform made the service, then the create failed (an error answer after the fact)."""
    handle = run_dag.emulator
    handle.inject_fault("create_service", status=400, when="after", times=1)

    result = run_dag(DEPLOY_INVOKE)

    assert result.state == "failed"
    assert result.task_states["create_service"] == "failed"
    assert handle.counters()["services_created"] == 1
    assert result.task_states["delete_service"] == "success"
    assert services(handle) == {}


# -- batch inference (its sample input: ``batch_sample_checks``, on the run as shipped) ------------


def test_batch_inference_over_the_error_threshold_fails_and_still_tears_down(
    run_dag: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"id": f"x{n}", "nothing": "to score"}) + "\n" for n in range(10)))

    result = run_dag(BATCH, output_dir=str(tmp_path / "out"), input_path=str(bad), max_error_rate=0.5)

    assert result.state == "failed"
    assert result.task_states["batch_inference"] == "failed"
    assert result.task_states["delete_service"] == "success"
    assert services(run_dag.emulator) == {}
    errors = next((tmp_path / "out").glob("*/results.errors.jsonl"))
    assert len(errors.read_text().splitlines()) == 10


# -- DAGs started by new data: one platform run per file ------------------------------------------

RUN_HANDLER_TEXT = '{"text": "a great and excellent day"}'


def _channels(handle: Any) -> tuple[APIClient, str, str]:
    client = APIClient(handle.credential, api_url=handle.url)
    org = handle.organization_id
    made = [client.create_channel(org, name)["channel"]["channel_id"] for name in ("input", "output")]
    return client, made[0], made[1]


def test_runs_from_new_files_runs_each_file_and_collects_the_answers(run_dag: Any, tmp_path: Path) -> None:
    """The watcher's events as a manual run gets them (``file_ids``): one run per file, answers downloaded."""
    handle = run_dag.emulator
    handle.configure(run_step_delay=0.01)
    client, source, output = _channels(handle)
    file_ids = [
        client.upload_channel_file(source, RUN_HANDLER_TEXT, "application/json", {"filename": f"in{i}.json"})[
            "file_id"
        ]
        for i in range(3)
    ]
    result = run_dag(
        "abeja_runs_from_new_files",
        input_channel_id=source,
        output_channel_id=output,
        file_ids=file_ids,
        output_dir=str(tmp_path / "answers"),
    )
    assert result.state == "success", result.task_states
    assert result.returns["summary"]["runs"] == 3
    assert result.returns["summary"]["succeeded"] == 3
    written = [Path(p.removeprefix("file://")) for p in result.returns["summary"]["outputs"]]
    assert len(written) == 3
    assert all('"label": "positive"' in p.read_text().replace('":"', '": "') for p in written)
    assert handle.counters()["requests"].get("create_run") == 3


def test_platform_trigger_runs_each_uploaded_file_and_removes_the_trigger(
    run_dag: Any, tmp_path: Path
) -> None:
    handle = run_dag.emulator
    handle.configure(run_step_delay=0.01)
    result = run_dag("abeja_platform_trigger_runs", output_dir=str(tmp_path / "answers"))
    assert result.state == "success", result.task_states
    assert result.returns["summary"]["runs"] == 3
    written = [Path(p.removeprefix("file://")) for p in result.returns["summary"]["outputs"]]
    assert sorted(p.suffix for p in written) == [".json"] * 3
    counters = handle.counters()["requests"]
    assert counters.get("create_run", 0) == 0  # the platform started the runs, not Airflow
    assert counters.get("delete_trigger") == 1
