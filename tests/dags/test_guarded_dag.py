"""The guarded blue/green example against the emulator: each scenario ends with the endpoint read
back and only the service it routes to left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.testing import DagRunner
from tests.dags.conftest import pattern_runner
from tests.dags.test_example_dags import (
    DEPLOYMENT,
    GUARDED,
    V1,
    blue_behind_default_endpoint,
    endpoints,
    services,
)

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

APPROVAL = Path(__file__).resolve().parent / "patterns" / "abeja_guarded_approval.py"


def test_green_5xx_during_the_bake_rolls_back_to_blue(run_dag: Any) -> None:
    handle = run_dag.emulator
    blue = blue_behind_default_endpoint(handle)
    handle.inject_fault("request_endpoint", status=500)  # only the bake goes through the endpoint

    result = run_dag(GUARDED)

    assert result.state == "failed"
    assert result.task_states["guarded_promotion.compare"] == "success"
    assert result.task_states["guarded_promotion.swap_and_bake"] == "failed"
    assert result.task_states["guarded_promotion.settle"] == "success"
    assert handle.counters()["requests"]["request_endpoint"] == 1
    assert endpoints(handle) == {"default": blue}
    assert services(handle) == {blue: "READY"}


@pytest.fixture
def run_approval(dags_folder: Path, emulator_connection: Any) -> Iterator[DagRunner]:
    """Runs the approval patterns."""
    with pattern_runner(APPROVAL, dags_folder, emulator_connection) as runner:
        yield runner


REJECTED = {"chosen_options": ["Reject"], "params_input": {}, "responded_by_user": None}


def test_approval_rejected_leaves_blue_serving(
    run_approval: DagRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The human's answer comes in as Airflow hands it to the operator (``execute_complete``)."""
    import pendulum

    hitl = pytest.importorskip("airflow.providers.standard.operators.hitl", reason="needs Airflow 3.1+")
    ApprovalOperator = hitl.ApprovalOperator

    handle = run_approval.emulator
    blue = blue_behind_default_endpoint(handle)
    green = ready_green(handle)
    shown: list[str] = []

    def answered(self: Any, context: Any) -> Any:
        shown.append(self.body)
        return self.execute_complete(context, {**REJECTED, "responded_at": pendulum.now("UTC")})

    monkeypatch.setattr(ApprovalOperator, "execute", answered)

    result = run_approval("guarded_approval", green=green)

    assert result.state == "failed"
    assert result.task_states["guarded_promotion.compare"] == "success"
    assert result.task_states["guarded_promotion.approve"] == "failed"
    assert result.task_states["guarded_promotion.swap_and_bake"] == "upstream_failed"
    assert result.task_states["guarded_promotion.settle"] == "success"
    assert "| agrees with blue |  | 100.00% of 2 |" in shown[0]  # the comparison, for the human
    assert endpoints(handle) == {"default": blue}
    assert services(handle) == {blue: "READY"}


def test_a_gate_nobody_answers_times_out_and_leaves_blue_serving(run_approval: DagRunner) -> None:
    """Airflow 2.11's equivalent of the approval: a sensor on an Airflow Variable nobody sets."""
    handle = run_approval.emulator
    blue = blue_behind_default_endpoint(handle)
    green = ready_green(handle)

    result = run_approval("guarded_gate", green=green)

    assert result.state == "failed"
    assert result.task_states["approved"] == "failed"
    assert result.task_states["guarded_promotion.swap_and_bake"] == "upstream_failed"
    assert result.task_states["guarded_promotion.settle"] == "success"
    assert endpoints(handle) == {"default": blue}
    assert services(handle) == {blue: "READY"}


def ready_green(handle: Any) -> str:
    green = str(handle.create_service(DEPLOYMENT, V1)["service_id"])
    handle.wait_for_status(DEPLOYMENT, green)
    return green


CHANNEL = Path(__file__).resolve().parent / "patterns" / "abeja_guarded_channel.py"


@pytest.fixture
def run_channel(dags_folder: Path, emulator_connection: Any) -> Iterator[DagRunner]:
    with pattern_runner(CHANNEL, dags_folder, emulator_connection) as runner:
        yield runner


def test_a_channel_as_the_validation_set_promotes_green(run_channel: DagRunner, tmp_path: Path) -> None:
    handle = run_channel.emulator
    blue_behind_default_endpoint(handle)  # retired after the bake
    green = ready_green(handle)
    channel = handle.create_channel("validation")["channel_id"]
    validation_set = tmp_path / "validation.jsonl"
    validation_set.write_text("".join(f'{{"id": "r{n}", "text": "review {n}"}}\n' for n in range(5)))

    result = run_channel("guarded_channel", green=green, channel=channel, validation_set=str(validation_set))

    assert result.state == "success", result.task_states
    report = result.returns["guarded_promotion.compare"]
    assert report["green"]["requests"] == 5
    assert report["agreement_rate"] == 1.0
    assert endpoints(handle) == {"default": green}
    assert services(handle) == {green: "READY"}
