"""batch.shards: the split keeps global keys and bodies; the merge finds duplicates and gaps."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_abeja.batch.inputs import JsonlSource
from airflow_provider_abeja.batch.results import DoneKeys
from airflow_provider_abeja.batch.shards import merge_shards, shard_specs, split_jsonl


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_split_deals_lines_round_robin_with_global_keys_and_bodies(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "p": 1}\n\nnot json\n{"id": "c", "p": 3}\n{"p": 4}\n{"id": "e"}\n')
    written = split_jsonl(JsonlSource(source, key_field="id", payload_field="p"), tmp_path / "work", 2)
    assert [(p.name, n) for p, n in written] == [("shard-00000.jsonl", 3), ("shard-00001.jsonl", 2)]
    first, second = (_records(p) for p, _ in written)
    assert first[0] == {"key": "a", "body": 1}
    assert first[1] == {"key": "c", "body": 3}
    assert first[2] == {"key": "e", "invalid": "line 6: payload field 'p' missing"}
    assert second[0]["key"] == 3
    assert "not valid JSON" in second[0]["invalid"]
    assert second[1] == {"key": 5, "invalid": "line 5: key field 'id' missing or not a string/integer"}


def test_split_without_key_field_keys_by_line_number_and_drops_empty_shards(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"x": 1}\n{"x": 2}\n')
    written = split_jsonl(JsonlSource(source), tmp_path / "work", 5)
    expected = [[{"key": 1, "body": {"x": 1}}], [{"key": 2, "body": {"x": 2}}]]
    assert [_records(p) for p, _ in written] == expected
    specs = shard_specs(str(source), written, "s3://b/work", "s3://b/out", files=False, storage_conn_id="aws")
    assert specs[1] == {
        "input_path": "s3://b/work/shard-00001.jsonl",
        "output_path": "s3://b/out/shard-00001.jsonl",
        "key_field": "key",
        "payload_field": "body",
        "storage_conn_id": "aws",
    }


def _write(path: Path, keys: list, status: str = "ok") -> Path:
    path.write_text("".join(json.dumps({"key": k, "status": status}) + "\n" for k in keys))
    return path


def test_merge_counts_duplicates_across_shards_and_missing_inputs(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", ["x", "y"])
    b = _write(tmp_path / "b.jsonl", ["y", 1], status="error")
    shards = [{"output_path": str(a), "inputs": 2}, {"output_path": str(b), "inputs": 3}]
    manifest = merge_shards(shards, [a, b])
    assert (manifest["inputs"], manifest["answered"], manifest["ok"], manifest["errors"]) == (5, 4, 2, 2)
    assert (manifest["duplicates"], manifest["missing"]) == (1, 2)
    assert manifest["error_rate"] == 0.5


def test_distinct_counts_equal_keys_once_and_tells_1_from_one() -> None:
    keys = DoneKeys.build(["a", "b", "a", 1, "1", 1])
    assert (len(keys), keys.distinct()) == (6, 4)
    assert DoneKeys().distinct() == 0
