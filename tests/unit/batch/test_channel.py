"""A Datalake channel as a batch input (``batch.channel``), against a client double; the comparison
reading one from the emulator: tests/integration/operators/test_guarded_promotion_emulator.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_abeja.batch.channel import ChannelSource, channel_path
from airflow_provider_abeja.exceptions import InvalidArgumentError


class Channel:
    """``list_channel_files`` in pages of two, ``download_channel_file`` counting each download."""

    def __init__(self, files: list[tuple[str, str | None, str, bytes]]) -> None:
        self.files = {fid: (name, kind, data) for fid, name, kind, data in files}
        self.order = [fid for fid, *_ in files]
        self.downloads: list[str] = []
        self.pages = 0

    def _info(self, fid: str) -> dict[str, Any]:
        name, kind, _ = self.files[fid]
        return {
            "file_id": fid,
            "content_type": kind,
            "metadata": {"x-abeja-meta-filename": name} if name else {},
        }

    def list_channel_files(self, channel_id: str, next_page_token: str | None = None) -> dict[str, Any]:
        self.pages += 1
        start = int(next_page_token or 0)
        more = start + 2 < len(self.order)
        return {
            "files": [self._info(f) for f in self.order[start : start + 2]],
            "next_page_token": str(start + 2) if more else None,
        }

    def get_channel_file(self, channel_id: str, file_id: str) -> dict[str, Any]:
        return self._info(file_id)

    def download_channel_file(self, channel_id: str, file_id: str) -> bytes:
        self.downloads.append(file_id)
        return self.files[file_id][2]


def jsonl(*records: Any) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records) + b"\n"


FILES = [
    (
        "f1",
        "a.jsonl",
        "application/octet-stream",
        jsonl({"id": "x", "text": "good"}, {"id": "y", "text": "bad"}),
    ),
    ("f2", None, "application/jsonl", b'{"text": "nice"}\nnot json\n'),
    ("f3", "cat.png", "image/png", b"\x89PNG"),
    ("f4", "a.jsonl", "text/plain", jsonl({"text": "same name"})),
]


def test_every_file_of_the_channel_in_turn_lines_of_jsonl_and_whole_other_files() -> None:
    channel = Channel(FILES)

    items = list(ChannelSource(channel, "ch-1"))

    assert [(i.index, i.key) for i in items] == [
        (0, "a.jsonl:1"), (1, "a.jsonl:2"), (2, "f2:1"), (3, "f2:2"), (4, "cat.png"), (5, "f4:1"),
    ]  # fmt: skip
    assert items[0].json == {"id": "x", "text": "good"}
    assert items[3].error is not None
    assert "f2:2 is not valid JSON" in items[3].error
    assert (items[4].data, items[4].content_type) == (b"\x89PNG", "image/png")
    assert channel.pages == 2  # the listing's second page, as the inputs got there
    assert channel.downloads == ["f1", "f2", "f3", "f4"]  # each once, in order


def test_files_are_downloaded_as_the_inputs_are_consumed() -> None:
    channel = Channel(FILES)

    first = next(iter(ChannelSource(channel, "ch-1", key_field="id", payload_field="text")))

    assert (first.key, first.json) == ("x", "good")
    assert channel.downloads == ["f1"]
    assert ChannelSource(channel, "ch-1").count() is None  # counting would download it all


def test_one_file_of_a_channel_and_a_forced_format() -> None:
    channel = Channel(FILES)

    assert [i.key for i in ChannelSource(channel, "ch-1", "f1")] == ["a.jsonl:1", "a.jsonl:2"]
    whole = list(ChannelSource(channel, "ch-1", "f1", input_format="files", content_type="text/x"))
    assert [(i.key, i.content_type) for i in whole] == [("a.jsonl", "text/x")]
    assert channel.pages == 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("abeja-datalake://1234567890123", ("1234567890123", None)),
        ("abeja-datalake://1234567890123/20260101T000000-ab", ("1234567890123", "20260101T000000-ab")),
        ("/data/in.jsonl", None),
        ("s3://bucket/in.jsonl", None),
        (None, None),
    ],
)
def test_channel_paths(path: Any, expected: Any) -> None:
    assert channel_path(path) == expected


@pytest.mark.parametrize("path", ["abeja-datalake://", "abeja-datalake://ch/f/g", "abeja-datalake://c h"])
def test_a_bad_channel_path_is_refused_naming_input_path(path: str) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        channel_path(path)
    assert refused.value.argument == "input_path"
