"""Sharded batch against the emulator: split, one batch task per shard, merge; resume and exactly-once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.sharding import (
    AbejaMergeBatchShardsOperator,
    AbejaSplitBatchInputOperator,
)
from tests._context import FakeTI

from .conftest import SAMPLE_DEPLOYMENT, write_jsonl

pytestmark = pytest.mark.emulator


def _split(tmp_path: Path, input_path: str, shards: int = 3, **kwargs: Any) -> list[dict[str, Any]]:
    op = AbejaSplitBatchInputOperator(
        task_id="split", input_path=input_path, work_dir=str(tmp_path / "work"), shards=shards, **kwargs
    )
    return op.execute({})


def _score(service_id: str, spec: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    op = AbejaBatchRequestOperator(
        task_id="score", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id, **spec, **kwargs
    )
    return op.execute({"ti": FakeTI()})


def _merge(tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    op = AbejaMergeBatchShardsOperator(task_id="merge", work_dir=str(tmp_path / "work"), **kwargs)
    return op.execute({})


def test_every_line_is_answered_once_across_shards_and_a_torn_shard_resumes(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str]
) -> None:
    service_id = make_service(instances=2)
    rows = [{"id": f"r{n:03d}", "text": "good" if n % 2 else "bad"} for n in range(40)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    specs = _split(tmp_path, str(source), key_field="id")
    assert len(specs) == 3
    for spec in specs:
        _score(service_id, spec)
    # A worker killed mid-shard: shard 1's output loses its last lines and ends in a torn one.
    out = Path(specs[1]["output_path"])
    kept = out.read_bytes().splitlines(keepends=True)[:5]
    out.write_bytes(b"".join(kept) + b'{"key": "r0')
    served = emulator.metrics(service_id)["served"]
    again = _score(service_id, specs[1])
    assert again["skipped"] == 5
    assert emulator.metrics(service_id)["served"] == served + again["sent"]

    manifest = _merge(tmp_path)
    assert (manifest["inputs"], manifest["ok"], manifest["errors"]) == (40, 40, 0)
    assert (manifest["duplicates"], manifest["missing"]) == (0, 0)
    assert [s["output_path"] for s in manifest["shards"]] == [s["output_path"] for s in specs]
    assert json.loads((tmp_path / "work" / "manifest.json").read_text()) == manifest
    keys = sorted(
        json.loads(line)["key"] for s in specs for line in Path(s["output_path"]).read_text().splitlines()
    )
    assert keys == sorted(row["id"] for row in rows)
    for s in specs:
        for line in Path(s["output_path"]).read_text().splitlines():
            record = json.loads(line)
            assert record["response"]["id"] == record["key"]  # the shard sent the original body


def test_files_are_sharded_by_key_lists_without_copying(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str], binary_echo_version: str
) -> None:
    service_id = make_service(binary_echo_version, instances=2)
    images = tmp_path / "images"
    images.mkdir()
    for n in range(7):
        (images / f"{n}.png").write_bytes(b"\x89PNG" + bytes([n]) * n)
    specs = _split(tmp_path, f"{images}/*.png", shards=2)
    assert all(s["input_path"] == f"{images}/*.png" and "include_keys_from" in s for s in specs)
    for spec in specs:
        _score(service_id, spec)
    manifest = _merge(tmp_path)
    assert (manifest["inputs"], manifest["ok"], manifest["duplicates"], manifest["missing"]) == (7, 7, 0, 0)
    assert emulator.metrics(service_id)["served"] == 7


def test_merge_refuses_a_run_with_a_missing_shard_or_too_many_errors(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str]
) -> None:
    service_id = make_service(instances=1)
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "good"}, "not an object", {"text": "bad"}])
    specs = _split(tmp_path, str(source), shards=2)
    _score(service_id, specs[0], max_error_rate=1.0)
    with pytest.raises(AirflowFailException, match="1 missing"):
        _merge(tmp_path)
    _score(service_id, specs[1], max_error_rate=1.0)
    with pytest.raises(AirflowFailException, match="max_error_rate"):
        _merge(tmp_path, max_error_rate=0.1)
    assert _merge(tmp_path, max_error_rate=0.5)["errors"] == 1
