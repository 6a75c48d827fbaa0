"""Input readers: keys, payloads, bad lines, files with content types, glob splitting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_abeja.batch.inputs import FilesSource, JsonlSource, ListSource, split_glob


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_jsonl_keys_are_line_numbers_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    src = JsonlSource(_write_jsonl(tmp_path / "in.jsonl", ['{"a": 1}', "", '{"a": 2}', "  ", "[3]"]))
    items = list(src)
    assert [(i.index, i.key, i.json) for i in items] == [(0, 1, {"a": 1}), (1, 3, {"a": 2}), (2, 5, [3])]
    assert src.count() == 3


def test_jsonl_key_field_and_payload_field(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "in.jsonl", ['{"id": "x", "body": {"v": 1}}', '{"id": 7, "body": 2}'])
    items = list(JsonlSource(path, key_field="id", payload_field="body"))
    assert [(i.key, i.json) for i in items] == [("x", {"v": 1}), (7, 2)]


def test_jsonl_bad_lines_become_error_inputs_not_exceptions(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "in.jsonl", ["{not json", '{"id": true}', '{"id": "ok"}'])
    items = list(JsonlSource(path, key_field="id"))
    assert items[0].key == 1
    assert items[0].error
    assert "not valid JSON" in items[0].error
    assert items[1].key == 2
    assert items[1].error
    assert "key field 'id'" in items[1].error
    assert items[2].key == "ok"
    assert items[2].error is None


def test_list_source_uses_index_or_key_field() -> None:
    assert [(i.key, i.json) for i in ListSource([{"q": 1}, "text"])] == [(0, {"q": 1}), (1, "text")]
    items = list(ListSource([{"k": "a", "p": 1}, {"p": 2}], key_field="k", payload_field="p"))
    assert (items[0].key, items[0].json, items[0].error) == ("a", 1, None)
    assert items[1].error is not None


def test_files_source_relative_keys_sorted_with_content_types(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.png").write_bytes(b"\x89PNG2")
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8jpg")
    (tmp_path / "c.weird-ext").write_bytes(b"raw")
    items = list(FilesSource(tmp_path))
    assert [(i.key, i.body(), i.content_type) for i in items] == [
        ("a.jpg", b"\xff\xd8jpg", "image/jpeg"),
        ("b/2.png", b"\x89PNG2", "image/png"),
        ("c.weird-ext", b"raw", "application/octet-stream"),
    ]
    assert [i.index for i in items] == [0, 1, 2]


def test_files_source_glob_and_forced_content_type(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "1.png").write_bytes(b"1")
    (tmp_path / "2.png").write_bytes(b"2")
    (tmp_path / "3.txt").write_bytes(b"3")
    src = FilesSource(str(tmp_path), "**/*.png", content_type="image/x-custom")
    assert [(i.key, i.content_type) for i in src] == [
        ("2.png", "image/x-custom"),
        ("x/1.png", "image/x-custom"),
    ]
    assert src.count() == 2


def test_files_source_on_an_fsspec_memory_filesystem() -> None:
    upath = pytest.importorskip("upath")
    base = upath.UPath("memory://batch-inputs-test/imgs")
    (base / "sub").mkdir(parents=True, exist_ok=True)
    (base / "one.png").write_bytes(b"one")
    (base / "sub" / "two.jpg").write_bytes(b"two")
    items = list(FilesSource(base))
    assert [(i.key, i.body(), i.content_type) for i in items] == [
        ("one.png", b"one", "image/png"),
        ("sub/two.jpg", b"two", "image/jpeg"),
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data/in.jsonl", ("/data/in.jsonl", None)),
        ("/data/*.png", ("/data", "*.png")),
        ("file:///data/imgs/**/*.jpg", ("file:///data/imgs", "**/*.jpg")),
        ("imgs/[ab]*.png", ("imgs", "[ab]*.png")),
        ("*.png", (".", "*.png")),
    ],
)
def test_split_glob(path: str, expected: tuple[str, str | None]) -> None:
    assert split_glob(path) == expected


def test_jsonl_streams_instead_of_loading(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "in.jsonl", [json.dumps({"n": n}) for n in range(1000)])
    it = iter(JsonlSource(path))
    assert next(it).json == {"n": 0}
    # The file is still being read: the generator holds it open and gives the next line.
    assert next(it).json == {"n": 1}


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 1 << 20])
def test_iter_lines_across_chunk_boundaries(chunk_size: int) -> None:
    import io

    from airflow_provider_abeja.batch.paths import iter_lines

    data = b'{"a":1}\n\n{"b":22}\nlast-without-newline'
    assert list(iter_lines(io.BytesIO(data), chunk_size)) == [
        b'{"a":1}\n',
        b"\n",
        b'{"b":22}\n',
        b"last-without-newline",
    ]
    assert list(iter_lines(io.BytesIO(b"x\n"), chunk_size)) == [b"x\n"]
    assert list(iter_lines(io.BytesIO(b""), chunk_size)) == []
