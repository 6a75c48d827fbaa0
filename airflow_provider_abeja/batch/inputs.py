"""Batch input readers: a JSONL file, a directory or glob of files, or an in-memory list.

Every reader streams (`__iter__` yields one `BatchInput` at a time) and gives each input a stable key,
the identity used for resume and written into every result line:

- JSONL: the value of `key_field` when given, else the 1-based physical line number;
- files: the path relative to the directory (or to the glob's fixed prefix), `/`-separated;
- list: the value of `key_field` when given, else the 0-based position.

A line or item that cannot be turned into a request (bad JSON, missing key field) becomes an input
carrying `error`: the runner records it as a failed input instead of failing the whole batch.
"""

from __future__ import annotations

import glob
import json
import mimetypes
import os
import pathlib
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from airflow_provider_abeja.batch.paths import iter_lines, local_path, object_path, open_binary
from airflow_provider_abeja.exceptions import InvalidArgumentError

Key = str | int

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class BatchInput:
    """One request to make: the body is `data`, else the file at `path`, else `json`.

    File inputs carry their `path`, read by the worker thread that sends them: the runner may hold
    several times `concurrency` inputs, but only `concurrency` file contents are in memory at once.
    """

    index: int
    key: Key
    json: Any = None
    data: bytes | None = None
    content_type: str | None = None
    error: str | None = None
    path: Any = None

    def body(self) -> bytes | None:
        """The binary body (`data`, or the file's bytes read now), None for a JSON input."""
        if self.data is not None:
            return self.data
        if self.path is not None:
            with open_binary(self.path) as fh:
                return fh.read()
        return None


class InputSource(Protocol):
    """A re-iterable stream of inputs."""

    def __iter__(self) -> Iterator[BatchInput]: ...

    def count(self) -> int | None:
        """How many inputs `__iter__` yields (may cost one pass over the input), or None if unknown."""


def numbered_lines(path: Any) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a file with their 1-based physical line numbers."""
    with open_binary(path) as fh:
        for lineno, raw in enumerate(iter_lines(fh), start=1):
            if raw.strip():
                yield lineno, raw


@dataclass(kw_only=True)
class JsonRecords:
    """Inputs that are JSON records: ``key_field`` and ``payload_field`` pick a key and a body."""

    key_field: str | None = None
    payload_field: str | None = None

    def _input(self, index: int, default_key: Key, record: Any, where: str) -> BatchInput:
        """The input of one line or item, or one carrying why it cannot be sent."""
        key: Any = default_key
        if self.key_field is not None:
            key = record.get(self.key_field) if isinstance(record, dict) else None
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                why = f"key field {self.key_field!r} missing or not a string/integer"
                return BatchInput(index, default_key, error=f"{where}: {why}")
        if self.payload_field is None:
            return BatchInput(index, key, json=record)
        if not isinstance(record, dict) or self.payload_field not in record:
            return BatchInput(index, key, error=f"{where}: payload field {self.payload_field!r} missing")
        return BatchInput(index, key, json=record[self.payload_field])

    def _line(self, index: int, default_key: Key, raw: bytes, where: str) -> BatchInput:
        """The input of one JSON line; a line that is not JSON is an input carrying the error."""
        try:
            record = json.loads(raw)
        except ValueError as exc:
            return BatchInput(index=index, key=default_key, error=f"{where} is not valid JSON: {exc}")
        return self._input(index, default_key, record, where)


@dataclass
class JsonlSource(JsonRecords):
    """One JSON document per line; blank lines are skipped but still count for line numbers."""

    path: Any

    def count(self) -> int:
        return sum(1 for _ in numbered_lines(self.path))

    def __iter__(self) -> Iterator[BatchInput]:
        for index, (lineno, raw) in enumerate(numbered_lines(self.path)):
            yield self._line(index, lineno, raw, f"line {lineno}")


@dataclass
class ListSource(JsonRecords):
    """Items from XCom or a DAG: each item is one JSON body."""

    items: Sequence[Any]

    def count(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[BatchInput]:
        for index, record in enumerate(self.items):
            yield self._input(index, index, record, f"item {index}")


def split_glob(path: str) -> tuple[str, str | None]:
    """Split `dir/sub/*.png` into (`dir/sub`, `*.png`); (path, None) when there is no wildcard.

    Works on URLs too (`file:///data/**/*.jpg`): only the components from the first wildcard on
    make the pattern.
    """
    parts = path.split("/")
    for i, part in enumerate(parts):
        if glob.has_magic(part):
            return "/".join(parts[:i]) or ".", "/".join(parts[i:])
    return path, None


def check_input_folder(base: str) -> None:
    """Refuse an input that is the whole file system or, by a relative path (``.``, ``*.png``),
    the worker's current directory: what a template that rendered too little names, never a batch."""
    if "://" in base:  # a local URL's path (a glob's base keeps no slash after ``file://``)
        base = (base.split("://", 1)[1] or os.sep) if base.lower().startswith(("file://", "local://")) else ""
    if base and os.path.abspath(base) == os.path.abspath(os.sep):
        raise InvalidArgumentError("input_path", f"{base!r} is the root of the file system")
    if base and not os.path.isabs(base) and os.path.abspath(base) == os.getcwd():
        raise InvalidArgumentError(
            "input_path",
            f"{base!r} is the worker's current directory ({os.getcwd()}): give an absolute path",
        )


def locate_input(input_path: str, input_format: str, conn_id: str | None) -> tuple[Any, str | None, bool]:
    """The path to read, the glob pattern below it, and whether it holds files (else it is JSONL).

    A glob always means files; otherwise ``input_format`` decides, ``auto`` by whether it is a directory.
    """
    base, pattern = split_glob(input_path)
    check_input_folder(base)
    path = object_path(base, conn_id=conn_id, argument="input_path")  # without a pattern, the whole path
    files = pattern is not None or input_format == "files"
    return path, pattern, files or (input_format == "auto" and bool(path.is_dir()))


class FilesSource:
    """Every file of a directory (recursively), or those matching a glob below it, in sorted key order.

    The listing (relative names only) is held in memory: file inputs are counted in thousands, not in
    millions, and a stable sorted order is what makes `index` meaningful. Contents are read one input at
    a time, when the runner asks for it.
    """

    def __init__(self, base: Any, pattern: str | None = None, *, content_type: str | None = None) -> None:
        self.base: Any = pathlib.Path(base) if isinstance(base, str) else base
        self.pattern = pattern
        self.content_type = content_type

    @cached_property
    def keys(self) -> list[str]:
        local = local_path(self.base)
        return sorted(self._list_remote() if local is None else self._list_local(local))

    def count(self) -> int:
        return len(self.keys)

    def _list_local(self, base: str) -> Iterator[str]:
        if self.pattern is None:
            found: Iterable[str] = (os.path.join(r, n) for r, _dirs, names in os.walk(base) for n in names)
        else:
            found = filter(os.path.isfile, glob.iglob(os.path.join(base, self.pattern), recursive=True))
        return (os.path.relpath(path, base).replace(os.sep, "/") for path in found)

    def _list_remote(self) -> Iterator[str]:
        matches = self.base.rglob("*") if self.pattern is None else self.base.glob(self.pattern)
        prefix = str(self.base.path).rstrip("/") + "/"
        for found in matches:
            if found.is_file():
                full = str(found.path)
                yield full[len(prefix) :] if full.startswith(prefix) else found.name

    def __iter__(self) -> Iterator[BatchInput]:
        for index, key in enumerate(self.keys):
            content_type = (
                self.content_type or mimetypes.guess_type(key, strict=False)[0] or DEFAULT_CONTENT_TYPE
            )
            yield BatchInput(index, key, path=self.base / key, content_type=content_type)


@dataclass
class OnlyKeys:
    """The inputs of `source` whose key is in `keys` (e.g. the failed ones of an earlier run).

    Indexes stay those of the full source, so results can be matched with a first run's.
    """

    source: InputSource
    keys: Container[Any]

    def count(self) -> int:
        return sum(1 for _ in self)

    def __iter__(self) -> Iterator[BatchInput]:
        return (item for item in self.source if item.key in self.keys)
