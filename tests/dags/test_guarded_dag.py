"""The guarded blue/green example against the emulator: each scenario ends with the endpoint read
back and only the service it routes to left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.dags.test_example_dags import GUARDED, blue_behind_default_endpoint, endpoints, services

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def test_clean_release_promotes_green_and_retires_blue(run_dag: Any) -> None:
    handle = run_dag.emulator
    blue = blue_behind_default_endpoint(handle)

    result = run_dag(GUARDED)

    assert result.state == "success", result.task_states
    green = result.returns["green_up"]["service_id"]
    report = result.returns["guarded_promotion.compare"]
    assert report["blue_service_id"] == blue
    assert report["agreement_rate"] >= 0.9
    assert Path(report["report_path"]).is_file()
    assert result.returns["guarded_promotion.swap_and_bake"]["probes"] >= 2
    assert endpoints(handle) == {"default": green}
    assert services(handle) == {green: "READY"}


def test_green_that_disagrees_is_not_swapped_and_blue_serves(run_dag: Any, tmp_path: Path) -> None:
    """Inputs the two sample versions label differently: agreement 0 < 0.9."""
    handle = run_dag.emulator
    blue = blue_behind_default_endpoint(handle)
    validation = tmp_path / "disagree.jsonl"
    texts = ["fast", "reliable", "nice", "like it", "fast and reliable"]
    validation.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))

    result = run_dag(GUARDED, input_path=str(validation))

    assert result.state == "failed"
    assert result.task_states["guarded_promotion.compare"] == "failed"
    assert result.task_states["guarded_promotion.swap_and_bake"] == "upstream_failed"
    assert result.task_states["guarded_promotion.settle"] == "success"
    assert endpoints(handle) == {"default": blue}
    assert services(handle) == {blue: "READY"}
    assert handle.counters()["requests"].get("update_endpoint", 0) == 0


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
