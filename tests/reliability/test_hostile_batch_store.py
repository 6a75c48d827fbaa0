"""The batch store never loses data: hostile output, errors and input paths against the real operator.

Each case lays out files in a folder of its own, runs ``AbejaBatchRequestOperator.execute`` with a
connection to a live emulator and expects a fail-fast refusal naming the argument, no request
at the emulator and every file exactly as it was (content, and symlinks still symlinks).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.batch import paths
from airflow_provider_abeja.batch.results import encode_record
from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from tests._context import FakeTI, task_context
from tests.reliability._emulator import DEPLOYMENT_ID as DEP

pytestmark = pytest.mark.emulator

SER = "ser-0123456789abcdef"
RESULT = encode_record({"key": 0, "index": 0, "status": "ok", "response": {}})
SOMEONE_ELSES = {
    "text-no-newline": b"my notes",
    "text-lines": b"first line\nsecond line\n",
    "json-object": b'{"setting": true}\n',
    "jsonl-without-keys": b'{"text": "a"}\n{"text": "b"}\n',
    "binary": bytes(range(256)),
    "results-then-text": RESULT + b"appended by hand",
    "results-then-other-json": RESULT + b'{"text": "c"}\n',
}

Layout = Callable[[Path], tuple[dict[str, Any], str]]


def _input(folder: Path) -> str:
    path = folder / "in.jsonl"
    path.write_bytes(b'{"text": "a"}\n')
    return str(path)


def _same(errors: Callable[[Path], str]) -> Layout:
    """output at ``out.jsonl``, errors_path spelled by ``errors``: the same file."""

    def layout(folder: Path) -> tuple[dict[str, Any], str]:
        return {"output_path": str(folder / "out.jsonl"), "errors_path": errors(folder)}, "errors_path"

    return layout


def _symlinked_errors(folder: Path) -> str:
    (folder / "out.jsonl").write_bytes(RESULT)
    (folder / "link.jsonl").symlink_to(folder / "out.jsonl")
    return str(folder / "link.jsonl")


def _input_as(argument: str) -> Layout:
    def layout(folder: Path) -> tuple[dict[str, Any], str]:
        source = _input(folder)
        given = {"input_path": source, "output_path": str(folder / "out.jsonl"), argument: source}
        return given, argument

    return layout


def _inside_input_folder(argument: str) -> Layout:
    def layout(folder: Path) -> tuple[dict[str, Any], str]:
        images = folder / "images"
        images.mkdir()
        (images / "a.png").write_bytes(b"\x89PNG")
        given = {
            "input_path": str(images),
            "output_path": str(folder / "out.jsonl"),
            argument: str(images / "r.jsonl"),
        }
        return given, argument

    return layout


def _in_parts(folder: Path) -> tuple[dict[str, Any], str]:
    return {
        "output_path": str(folder / "out.jsonl"),
        "errors_path": str(folder / "out.jsonl.parts/e.jsonl"),
    }, "errors_path"


def _output_in_errors_parts(folder: Path) -> tuple[dict[str, Any], str]:
    return {
        "output_path": str(folder / "e.jsonl.parts/out.jsonl"),
        "errors_path": str(folder / "e.jsonl"),
    }, "errors_path"


def _a_folder(argument: str) -> Layout:
    def layout(folder: Path) -> tuple[dict[str, Any], str]:
        (folder / "results").mkdir()
        (folder / "results" / "keep.txt").write_bytes(b"keep")
        given = {"output_path": str(folder / "out.jsonl"), argument: str(folder / "results")}
        return given, argument

    return layout


def _someone_elses(argument: str, content: bytes, *, symlink: bool = False) -> Layout:
    def layout(folder: Path) -> tuple[dict[str, Any], str]:
        theirs = folder / "theirs.dat"
        theirs.write_bytes(content)
        if symlink:
            (folder / "link.dat").symlink_to(theirs)
            theirs = folder / "link.dat"
        given = {"output_path": str(folder / "out.jsonl"), argument: str(theirs)}
        return given, argument

    return layout


LAYOUTS: dict[str, Layout] = {
    "errors-is-output": _same(lambda f: str(f / "out.jsonl")),
    "errors-is-output-dotted": _same(lambda f: str(f / "sub" / ".." / "." / "out.jsonl")),
    "errors-is-output-as-url": _same(lambda f: "file://" + str(f / "out.jsonl")),
    "errors-is-a-symlink-to-output": _same(_symlinked_errors),
    "output-is-the-input": _input_as("output_path"),
    "errors-is-the-input": _input_as("errors_path"),
    "output-inside-the-input-folder": _inside_input_folder("output_path"),
    "errors-inside-the-input-folder": _inside_input_folder("errors_path"),
    "errors-inside-the-output-parts": _in_parts,
    "output-inside-the-errors-parts": _output_in_errors_parts,
    "output-is-a-folder": _a_folder("output_path"),
    "errors-is-a-folder": _a_folder("errors_path"),
    **{
        f"output-is-{name}": _someone_elses("output_path", content) for name, content in SOMEONE_ELSES.items()
    },
    **{
        f"errors-is-{name}": _someone_elses("errors_path", content) for name, content in SOMEONE_ELSES.items()
    },
    "output-is-a-symlink-to-someone-elses": _someone_elses("output_path", b"my notes", symlink=True),
    "errors-is-a-symlink-to-someone-elses": _someone_elses("errors_path", b"my notes", symlink=True),
}


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry below ``folder``: a symlink's target, a file's digest, or a folder."""
    seen = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            if path.is_symlink():
                seen[str(path)] = "-> " + os.readlink(path)
            elif path.is_file():
                seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[str(path)] = "folder"
    return seen


@pytest.fixture
def connected(abeja_emulator_module: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's emulator, not reset between cases: none of them may change it."""
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(abeja_emulator_module.airflow_connection()))
    return abeja_emulator_module


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_the_batch_store_refuses_to_lose_data(layout: Layout, connected: Any, tmp_path: Path) -> None:
    given, argument = layout(tmp_path)
    kwargs: dict[str, Any] = {"deployment_id": DEP, "service_id": SER, "concurrency": 1, **given}
    if "input_path" not in kwargs:
        kwargs["inputs"] = [{"text": "a"}]
    op = AbejaBatchRequestOperator(task_id="hostile", **kwargs)
    before, files = connected.counters()["requests"], _snapshot(tmp_path)
    with pytest.raises(AirflowFailException, match=f"{argument}") as info:
        op.execute(task_context(FakeTI(task_id="hostile")))
    assert argument in str(info.value)
    assert connected.counters()["requests"] == before, "the emulator saw a request"
    assert _snapshot(tmp_path) == files, "a file was changed"


def test_a_torn_record_of_its_own_is_still_repaired(connected: Any, tmp_path: Path) -> None:
    """The control: the refusal above leaves the store's crash repair alone."""
    out = tmp_path / "out.jsonl"
    out.write_bytes(RESULT + b'{"key":1,"ind')
    from airflow_provider_abeja.batch.results import open_result_store

    store = open_result_store(str(out))
    store.close()
    assert (store.repaired, out.read_bytes()) == (True, RESULT)


def test_a_copy_across_file_systems_never_writes_through_a_planted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``publish`` to another file system stages a copy next to the destination: a new file of its
    own, not a name someone could plant a symlink or a file at beforehand."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    folder = tmp_path / "out"
    folder.mkdir()
    for pid in range(os.getpid() - 50, os.getpid() + 50):  # the old, predictable staging names
        (folder / f".errors.jsonl.{pid}.tmp").symlink_to(victim)
    real_replace = os.replace

    def across_devices(src: str, dst: str) -> None:
        if not os.path.basename(src).startswith(".errors.jsonl."):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    source = tmp_path / "finished"
    source.write_bytes(RESULT)
    monkeypatch.setattr(paths.os, "replace", across_devices)
    paths.publish(str(source), str(folder / "errors.jsonl"))
    assert victim.read_bytes() == b"precious"
    assert (folder / "errors.jsonl").read_bytes() == RESULT
    assert not (folder / "errors.jsonl").is_symlink()
    assert len(list(folder.iterdir())) == 101, "the staged copy was left behind"


def _split_layout(folder: Path, case: str) -> tuple[dict[str, Any], str]:
    work, images = folder / "work", folder / "images"
    work.mkdir()
    images.mkdir()
    (images / "a.png").write_bytes(b"\x89PNG")
    (work / "shard-00000.jsonl").write_bytes(b'{"text": "a"}\n')
    (work / "in.jsonl").write_bytes(b'{"text": "a"}\n')
    return {
        "input-in-work-dir": ({"input_path": str(work / "in.jsonl"), "work_dir": str(work)}, "work_dir"),
        "input-is-a-shard": (
            {"input_path": str(work / "shard-00000.jsonl"), "work_dir": str(work)},
            "work_dir",
        ),
        "work-dir-in-input-folder": ({"input_path": str(images), "work_dir": str(images / "w")}, "work_dir"),
        "output-dir-in-input-folder": (
            {"input_path": str(images), "work_dir": str(work), "output_dir": str(images / "r")},
            "output_dir",
        ),
        "output-dir-is-work-dir": (
            {"input_path": str(images), "work_dir": str(work), "output_dir": str(work) + "/"},
            "output_dir",
        ),
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "input-in-work-dir",
        "input-is-a-shard",
        "work-dir-in-input-folder",
        "output-dir-in-input-folder",
        "output-dir-is-work-dir",
    ],
)
def test_the_split_refuses_folders_that_overlap_its_input(case: str, tmp_path: Path) -> None:
    from airflow_provider_abeja.operators.sharding import AbejaSplitBatchInputOperator

    given, argument = _split_layout(tmp_path, case)
    files = _snapshot(tmp_path)
    with pytest.raises(AirflowFailException, match=f"{argument}: "):
        AbejaSplitBatchInputOperator(task_id="split", shards=2, **given).execute(task_context())
    assert _snapshot(tmp_path) == files


@pytest.mark.parametrize("manifest", ["results/shard-00000.jsonl", "plan.json"])
def test_the_merge_never_writes_its_manifest_over_results_or_the_plan(manifest: str, tmp_path: Path) -> None:
    from airflow_provider_abeja.operators.sharding import AbejaMergeBatchShardsOperator

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "shard-00000.jsonl").write_bytes(RESULT)
    shard = {"output_path": str(tmp_path / "results" / "shard-00000.jsonl"), "inputs": 1}
    (tmp_path / "plan.json").write_text(json.dumps({"input_path": "/data/in.jsonl", "shards": [shard]}))
    files = _snapshot(tmp_path)
    op = AbejaMergeBatchShardsOperator(
        task_id="merge", work_dir=str(tmp_path), manifest_path=str(tmp_path / manifest)
    )
    with pytest.raises(AirflowFailException, match="manifest_path: "):
        op.execute(task_context())
    assert _snapshot(tmp_path) == files
