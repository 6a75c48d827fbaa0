"""The result store: resume from what an earlier try wrote, torn-line repair, parts layout, errors file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_abeja.batch import results
from airflow_provider_abeja.batch.results import (
    AppendResultStore,
    CorruptOutputError,
    DoneKeys,
    PartsResultStore,
    encode_record,
    iter_records,
    open_result_store,
    write_errors_file,
)


def _rec(key: Any, status: str = "ok") -> dict[str, Any]:
    return {"key": key, "index": 0, "status": status}


def test_done_keys_membership_distinguishes_types_and_merges_runs() -> None:
    keys = [f"k{n}" for n in range(70_000)] + [1, 2]  # more than one sorted run of 64 Ki
    done = DoneKeys.build(keys)
    assert len(done) == len(keys)
    assert "k0" in done
    assert "k69999" in done
    assert 1 in done
    assert "1" not in done
    assert "k70000" not in done
    assert done.nbytes == 16 * len(keys)


def test_done_keys_digest_is_128_bit_blake2b_of_the_json_form() -> None:
    expected = hashlib.blake2b(b'{"a":[1,"\xc3\xa9"]}', digest_size=16).digest()
    assert results.key_digest({"a": [1, "\u00e9"]}) == int.from_bytes(expected, "big")


@pytest.mark.parametrize("chunk", [65536, 2], ids=["one-run", "merged-runs"])
def test_done_keys_tell_apart_digests_that_share_their_first_64_bits(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Two keys whose digests agree on 64 bits (what the 8-byte structure would have merged)."""
    fake = {"a": (7 << 64) | 1, "b": (7 << 64) | 2, "c": (7 << 64) | 3, "d": (3 << 64) | 9, "e": 5}
    monkeypatch.setattr(results, "key_digest", fake.__getitem__)
    monkeypatch.setattr(results, "_CHUNK", chunk)
    done = DoneKeys.build(["c", "a", "d", "e"])
    assert [k for k in "abcde" if k in done] == ["a", "c", "d", "e"]
    assert "b" not in done  # same high half as "a" and "c": skipping it would lose an input


def test_append_store_resumes_counts_and_keys(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.jsonl"
    store = open_result_store(out)
    assert isinstance(store, AppendResultStore)
    assert len(store.done) == 0
    store.write(_rec("a"))
    store.write(_rec("b", "error"))
    store.close()
    again = open_result_store(out)
    assert ("a" in again.done, "b" in again.done, "c" in again.done) == (True, True, False)
    assert (again.prior_ok, again.prior_errors, again.repaired) == (1, 1, False)
    again.write(_rec("c"))
    again.close()
    assert [r["key"] for r in iter_records(out)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "tail",
    [b'{"key":"c","index":2,"sta', b'{"key":"c","index":2,"status":"ok"}', b"\x00\x00"],
    ids=["torn-json", "complete-json-without-newline", "garbage"],
)
def test_append_store_drops_a_torn_last_line(tmp_path: Path, tail: bytes) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(encode_record(_rec("a")) + encode_record(_rec("b")) + tail)
    store = open_result_store(out)
    assert store.repaired
    assert "c" not in store.done
    assert "b" in store.done
    store.write(_rec("c"))
    store.close()
    lines = out.read_bytes().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "c"]


def test_append_store_refuses_a_broken_line_in_the_middle(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(encode_record(_rec("a")) + b"{broken\n" + encode_record(_rec("b")))
    with pytest.raises(CorruptOutputError, match="not the last line"):
        open_result_store(out)
    assert out.read_bytes().count(b"\n") == 3  # nothing was truncated


def test_errors_file_is_derived_from_the_output(tmp_path: Path) -> None:
    store = open_result_store(tmp_path / "out.jsonl")
    for key, status in [("a", "ok"), ("b", "error"), ("c", "error")]:
        store.write(_rec(key, status))
    store.close()
    errors = tmp_path / "errors" / "errors.jsonl"
    assert write_errors_file(store, errors) == 2
    assert [r["key"] for r in iter_records(errors)] == ["b", "c"]
    assert not (tmp_path / "errors" / "errors.jsonl.tmp").exists()


def test_parts_store_on_memory_filesystem_resumes_and_merges() -> None:
    upath = pytest.importorskip("upath")
    out = upath.UPath("memory://batch-results-test/run1/out.jsonl")
    store = PartsResultStore(out, part_records=2)
    for key in "abc":
        store.write(_rec(key))
    # Two records made a part; the third is still buffered. A "kill" now loses only the buffer.
    parts = sorted(p.name for p in (out.parent / "out.jsonl.parts").iterdir())
    assert len(parts) == 1
    assert not out.exists()

    resumed = PartsResultStore(out, part_records=2)
    assert ("a" in resumed.done, "b" in resumed.done, "c" in resumed.done) == (True, True, False)
    resumed.write(_rec("c"))
    resumed.write(_rec("d", "error"))
    resumed.close()
    assert [r["key"] for r in iter_records(out)] == ["a", "b", "c", "d"]
    parts_dir = out.parent / "out.jsonl.parts"
    assert not parts_dir.exists() or not list(parts_dir.iterdir())

    # A finished output is the base of a later try; stale parts next to it were merged already.
    stale = out.parent / "out.jsonl.parts" / "part-00000001-19700101T000000-dead.jsonl"
    stale.write_bytes(encode_record(_rec("a")))
    final = PartsResultStore(out)
    assert final.repaired
    assert not stale.exists()
    assert (final.prior_ok, final.prior_errors) == (3, 1)
    final.write(_rec("e"))
    final.close()
    assert [r["key"] for r in iter_records(out)] == ["a", "b", "c", "d", "e"]


def test_open_result_store_layouts(tmp_path: Path) -> None:
    assert isinstance(open_result_store(str(tmp_path / "x.jsonl"), layout="parts"), PartsResultStore)
    with pytest.raises(ValueError, match="layout"):
        open_result_store(tmp_path / "y.jsonl", layout="zip")
