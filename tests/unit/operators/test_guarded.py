"""The guarded promotion's task group and its arguments (no platform: the scenarios are in
tests/integration/operators/test_guarded_promotion_emulator.py and tests/dags/test_guarded_dag.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG, AirflowFailException, BaseOperator

from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.operators.guarded import (
    AbejaCompareServicesOperator,
    AbejaGuardedSwapOperator,
    guarded_promotion,
)

DEP, SER = "9999999999999", "ser-0123456789abcdef"


def group(**kwargs: Any) -> dict[str, Any]:
    with DAG("guarded", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")) as dag:
        guarded_promotion(
            deployment_id=DEP, green_service_id=SER, inputs=[{"x": 1}], output_path="/tmp/c.jsonl", **kwargs
        )
    return dict(dag.task_dict)


def upstream(tasks: dict[str, Any], task_id: str) -> set[str]:
    return set(tasks[task_id].upstream_task_ids)


def test_the_group_compares_swaps_and_settles_whatever_failed() -> None:
    tasks = group(min_agreement=0.9, compare_field="label")

    assert set(tasks) == {
        "guarded_promotion.compare",
        "guarded_promotion.swap_and_bake",
        "guarded_promotion.settle",
    }
    assert upstream(tasks, "guarded_promotion.swap_and_bake") == {"guarded_promotion.compare"}
    assert upstream(tasks, "guarded_promotion.settle") == {"guarded_promotion.swap_and_bake"}
    assert tasks["guarded_promotion.settle"].is_teardown
    compare = tasks["guarded_promotion.compare"]
    assert compare.thresholds["min_agreement"] == 0.9
    assert compare.compare_field == "label"
    swap = tasks["guarded_promotion.swap_and_bake"]
    assert (swap.bake_seconds, swap.probe_interval, swap.max_error_rate) == (300.0, 10.0, 0.0)
    assert "guarded_promotion.compare" in swap.blue_service_id


def test_approval_shows_the_comparison_and_a_timeout_rejects() -> None:
    hitl = pytest.importorskip("airflow.providers.standard.operators.hitl", reason="needs Airflow 3.1+")
    tasks = group(approval=True, approval_timeout=timedelta(minutes=30))

    approve = tasks["guarded_promotion.approve"]
    assert isinstance(approve, hitl.ApprovalOperator)
    assert upstream(tasks, "guarded_promotion.approve") == {"guarded_promotion.compare"}
    assert upstream(tasks, "guarded_promotion.swap_and_bake") == {"guarded_promotion.approve"}
    assert "comparison_table" in approve.body
    assert approve.defaults == ["Reject"]  # what an unanswered request resumes with
    assert approve.fail_on_reject
    assert approve.response_timeout == timedelta(minutes=30)
    timed_out = {"error": "no response", "error_type": "timeout"}
    with pytest.raises(hitl.HITLTimeoutError):
        approve.execute_complete({}, timed_out)


def test_a_gate_of_the_dags_own_goes_between_compare_and_swap() -> None:
    with DAG("gated", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")) as dag:
        gate = BaseOperator(task_id="gate")
        guarded_promotion(deployment_id=DEP, green_service_id=SER, inputs=[], output_path="/o", approval=gate)

    assert dag.task_dict["gate"].upstream_task_ids == {"guarded_promotion.compare"}
    assert dag.task_dict["guarded_promotion.swap_and_bake"].upstream_task_ids == {"gate"}


@pytest.mark.parametrize(
    ("cls", "kwargs", "argument"),
    [
        (AbejaCompareServicesOperator, {"min_agreement": 1.5}, "min_agreement"),
        (AbejaCompareServicesOperator, {"max_error_rate": "{{ x }}"}, "max_error_rate"),
        (AbejaCompareServicesOperator, {"tolerance": -1}, "tolerance"),
        (AbejaCompareServicesOperator, {"max_p95_ms": "fast"}, "max_p95_ms"),
        (AbejaCompareServicesOperator, {"service_id": SER}, "service_id"),  # blue and green are
        (AbejaCompareServicesOperator, {"errors_path": "/e.jsonl"}, "errors_path"),  # in the output
        (AbejaGuardedSwapOperator, {"probe_interval": 0}, "probe_interval"),
        (AbejaGuardedSwapOperator, {"bake_seconds": -5}, "bake_seconds"),
        (AbejaGuardedSwapOperator, {"max_error_rate": 2}, "max_error_rate"),
        (AbejaGuardedSwapOperator, {"probe_sample": 0}, "probe_sample"),
    ],
)
def test_bad_arguments_are_refused_naming_them(cls: type, kwargs: dict[str, Any], argument: str) -> None:
    required = {"green_service_id": SER, "deployment_id": DEP}
    if cls is AbejaCompareServicesOperator:
        required.update(inputs=[], output_path="/o")
    else:
        required["blue_service_id"] = SER
    with pytest.raises(InvalidArgumentError) as refused:
        cls(task_id="t", **required, **kwargs)
    assert refused.value.argument == argument


def test_approval_without_the_standard_providers_step_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "airflow.providers.standard.operators.hitl", None)
    with pytest.raises(InvalidArgumentError, match=r"needs Airflow 3\.1"):
        group(approval=True)


def test_the_batch_operators_arguments_it_ignores_are_not_templated() -> None:
    for fields in (
        AbejaCompareServicesOperator.template_fields,
        AbejaCompareServicesOperator.named_arguments,
    ):
        assert "service_id" not in fields
        assert "errors_path" not in fields


def test_lineage_names_the_channel_the_answers_and_the_report_and_green() -> None:
    pytest.importorskip("airflow.providers.openlineage")
    compare = AbejaCompareServicesOperator(
        task_id="c",
        deployment_id=DEP,
        organization_id="1234567890123",
        green_service_id=SER,
        input_path="abeja-datalake://1234567890123",
        output_path="/out/compare.jsonl",
    )

    lineage = compare.get_openlineage_facets_on_complete(None)

    assert [(d.namespace, d.name) for d in lineage.inputs] == [("abeja-datalake://1234567890123", "")]
    assert [d.name for d in lineage.outputs] == ["/out/compare.jsonl", "/out/compare.report.json"]
    assert lineage.run_facets["abeja_service"].serviceId == SER


@pytest.mark.parametrize("cls", [AbejaCompareServicesOperator, AbejaGuardedSwapOperator])
def test_a_bad_channel_is_refused_before_any_request(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cls, "resolve_organization_id", lambda self: "1234567890123")
    monkeypatch.setattr(cls, "serving", lambda *args: pytest.fail("the endpoint was read"))
    specific = (
        {"output_path": "/tmp/c.jsonl"} if cls is AbejaCompareServicesOperator else {"blue_service_id": SER}
    )
    op = cls(
        task_id="t",
        deployment_id=DEP,
        green_service_id="ser-fedcba9876543210",
        input_path="abeja-datalake://not a channel",
        **specific,
    )

    with pytest.raises(AirflowFailException, match=r"^input_path: 'not a channel' must not contain"):
        op.execute({"ti": None})  # fails fast: no Airflow retry


def test_the_bakes_probes_are_read_with_its_key_and_payload_fields() -> None:
    inputs = [{"id": "a", "body": {"x": 1}}, {"id": "b", "body": {"x": 2}}]
    swap = AbejaGuardedSwapOperator(
        task_id="swap",
        deployment_id=DEP,
        green_service_id=SER,
        blue_service_id="ser-fedcba9876543210",
        inputs=inputs,
        key_field="id",
        payload_field="body",
        probe_sample=1,
    )
    assert [(probe.key, probe.json) for probe in swap._probes()] == [("a", {"x": 1})]
