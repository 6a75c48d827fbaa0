"""What the batch operators check before they write anything: no two of their files are one, and a
file they would replace is their own.

The result store appends to its output, repairs a torn last line and, at the end, replaces the
errors file (or deletes it when nothing failed). Given the same path twice (``errors_path ==
output_path``), or a path holding someone else's file, that loses data; these checks refuse it,
naming the argument, before any request is sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from airflow_provider_abeja.batch.paths import iter_lines, local_path, open_binary, path_exists
from airflow_provider_abeja.exceptions import InvalidArgumentError

#: Where a parts-layout store keeps its part objects, next to the output.
PARTS_SUFFIX = ".parts"


def location(path: Any) -> str:
    """A comparable name for `path`: the real OS path of a local file (symlinks resolved), else
    the object store URL."""
    local = local_path(path)
    if local is not None:
        return os.path.realpath(local)
    return str(path).rstrip("/")


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_apart(named: dict[str, Any], *, folders: tuple[str, ...] = ()) -> None:
    """Refuse two of the ``named`` paths (argument -> path, None skipped) that are one file, or one
    within the other or within an output's part objects; ``folders`` name the arguments that are
    folders (the others are files). The later argument is named in the error."""
    seen: list[tuple[str, str]] = []
    for argument, path in named.items():
        if path is None:
            continue
        here = location(path)
        for other, there in seen:
            if here == there:
                raise InvalidArgumentError(argument, f"is the same file as {other} ({there})")
            for outer, inner, name in ((there, here, other), (here, there, argument)):
                is_folder = (name in folders) or outer.endswith(PARTS_SUFFIX)
                if is_folder and _within(inner, outer):
                    raise InvalidArgumentError(argument, f"overlaps {other}: {inner} is in {outer}")
            if _within(here, there + PARTS_SUFFIX) or _within(there, here + PARTS_SUFFIX):
                raise InvalidArgumentError(argument, f"overlaps the part objects of {other} ({there})")
        seen.append((argument, here))


def _lines_are_records(path: Any) -> Iterator[bool]:
    with open_binary(path) as fh:
        for line in iter_lines(fh):
            try:
                record = json.loads(line)
            except ValueError:
                yield False
                return
            yield isinstance(record, dict) and "key" in record and "status" in record


def check_own_file(path: Any, argument: str, *, read: bool = True) -> None:
    """Refuse a ``path`` that exists and is not a file of result records (a folder, a device, some
    other file): the operator would replace or delete it. Without ``read`` only the kind of file
    is checked (the result store reads an output itself, see ``results``)."""
    if not path_exists(path):
        return
    local = local_path(path)
    if local is not None and not os.path.isfile(local):
        raise InvalidArgumentError(argument, f"{local} exists and is not a regular file")
    if read and not all(_lines_are_records(path)):
        raise InvalidArgumentError(
            argument, f"{path} exists and is not a result file of this operator: refusing to overwrite it"
        )
