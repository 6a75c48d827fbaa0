"""Split one batch input into shards for a mapped `AbejaBatchRequestOperator`, and merge their outputs.

A shard is a dict of that operator's arguments (`input_path`, `output_path`, ...), so
`AbejaBatchRequestOperator.partial(...).expand_kwargs(shards)` runs one task per shard, on any worker.

- A JSONL input is split in one streaming pass, line `n` to shard `n % count`. Each shard line is
  `{"key": K, "body": B}`: `K` the input's key in the *whole* input (its `key_field`, else its
  line number), `B` the body to send (its `payload_field`, else the whole line), so keys stay unique
  across shards and results name the original line. A line that cannot become a request is written
  as `{"key": K, "invalid": reason}` (no body): it is answered as a failed input, as in an unsharded
  batch, and the shard file keeps the reason.
- Files (a directory or a glob) are not copied: each shard is the original `input_path` with an
  `include_keys_from` file listing its relative paths.

Every shard file is written whole (a local rename, or one object-store upload), and the split is
deterministic, so a retried split writes the same shards. Each shard task resumes from its own
output (see `results`), and `merge_shards` checks what makes the run correct: every input key is
answered exactly once across all outputs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from airflow_provider_abeja.batch.inputs import FilesSource, JsonlSource
from airflow_provider_abeja.batch.paths import publish, published
from airflow_provider_abeja.batch.results import DoneKeys, encode_record, iter_records

SHARD_KEY_FIELD = "key"
SHARD_BODY_FIELD = "body"


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}.jsonl"


def split_jsonl(source: JsonlSource, work_dir: Any, count: int) -> list[tuple[Any, int]]:
    """Write `count` shard files of `source` under `work_dir`; the non-empty ones and their sizes."""
    sizes = [0] * count
    with tempfile.TemporaryDirectory(prefix="abeja-shards-") as tmp:
        with ExitStack() as stack:
            out = [stack.enter_context(open(os.path.join(tmp, _shard_name(i)), "wb")) for i in range(count)]
            for item in source:
                body = {"body": item.json} if item.error is None else {"invalid": item.error}
                out[item.index % count].write(encode_record({"key": item.key, **body}))
                sizes[item.index % count] += 1
        written = [(work_dir / _shard_name(i), size) for i, size in enumerate(sizes) if size]
        for target, _size in written:
            publish(os.path.join(tmp, str(target.name)), target)
        return written


def split_files(files: FilesSource, work_dir: Any, count: int) -> list[tuple[Any, int]]:
    """Write `count` key lists (one relative path per line) of the files of `files`."""
    keys = files.keys
    written = []
    for i in range(min(count, len(keys))):
        target, mine = work_dir / f"keys-{_shard_name(i)}", keys[i::count]
        with published(target) as out:
            out.writelines(encode_record({"key": key}) for key in mine)
        written.append((target, len(mine)))
    return written


def join(folder: str, name: str) -> str:
    """`folder/name` for a path or URL string."""
    return str(folder).rstrip("/") + "/" + name


def shard_specs(
    input_path: str,
    written: Sequence[tuple[Any, int]],
    work_dir: str,
    output_dir: str,
    *,
    files: bool,
    storage_conn_id: str | None,
) -> list[dict[str, Any]]:
    """The `expand_kwargs` dicts of the mapped batch operator, one per shard.

    Paths are joined to the caller's `work_dir` string, not taken from the path objects, whose
    string form carries the connection id (`s3://conn@bucket/...`).
    """
    specs = []
    for path, _size in written:
        shard = join(work_dir, str(path.name))
        spec: dict[str, Any] = {"output_path": join(output_dir, str(path.name).removeprefix("keys-"))}
        if files:
            spec.update(input_path=input_path, include_keys_from=shard)
        else:
            spec.update(input_path=shard, key_field=SHARD_KEY_FIELD, payload_field=SHARD_BODY_FIELD)
        if storage_conn_id:
            spec["storage_conn_id"] = storage_conn_id
        specs.append(spec)
    return specs


def merge_shards(shards: Sequence[dict[str, Any]], paths: Sequence[Any]) -> dict[str, Any]:
    """The manifest of a sharded run: counts per shard and overall, and the exactly-once check.

    `shards[i]` names its `output_path` and how many `inputs` it holds; `paths[i]` is that output
    as a path object. Keys are held as 16-byte digests (`DoneKeys`), so a manifest over millions of
    inputs stays small in memory.
    """
    tallies: list[dict[str, Any]] = [
        {"output_path": str(shard["output_path"]), "inputs": int(shard["inputs"]), "ok": 0, "errors": 0}
        for shard in shards
    ]

    def every_key() -> Iterator[Any]:
        for tally, path in zip(tallies, paths, strict=True):
            for record in iter_records(path):
                if "key" in record:
                    tally["ok" if record.get("status") == "ok" else "errors"] += 1
                    yield record["key"]

    keys = DoneKeys.build(every_key())  # one per ok or failed record, duplicates included
    answered, distinct = len(keys), keys.distinct()
    totals = {name: sum(t[name] for t in tallies) for name in ("inputs", "ok", "errors")}
    return {
        **totals,
        "answered": answered,
        "error_rate": round(totals["errors"] / answered, 6) if answered else 0.0,
        "duplicates": answered - distinct,
        "missing": max(0, totals["inputs"] - distinct),
        "shards": tallies,
    }
