"""Path helpers that accept both `pathlib.Path` and fsspec/UPath objects (Airflow's `ObjectStoragePath`).

Local files take the fast OS route (plain `open`, `os.fsync`, `os.truncate`): `ObjectStoragePath.open`
wraps every read and write for lineage tracking, which costs more than the work on a million lines.
Anything else goes through the path object's own `open`, `exists`, `glob`, `rglob` and `/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Any, Protocol, runtime_checkable

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


@runtime_checkable
class PathLike(Protocol):
    """What the batch code needs from a path: `pathlib.Path` and `ObjectStoragePath` both fit."""

    @property
    def name(self) -> str: ...

    def open(self, mode: str = ...) -> Any: ...

    def exists(self) -> bool: ...

    def __truediv__(self, other: str) -> Any: ...


def protocol_of(path: Any) -> str:
    """The fsspec protocol of `path` ("" for a plain `pathlib.Path`)."""
    proto = getattr(path, "protocol", "")
    if isinstance(proto, (tuple, list)):
        proto = proto[0] if proto else ""
    return str(proto or "")


def local_path(path: Any) -> str | None:
    """The OS path of a local file, or None when `path` lives on a remote object store."""
    if isinstance(path, str):
        return path
    if protocol_of(path) not in LOCAL_PROTOCOLS:
        return None
    if hasattr(path, "protocol") and hasattr(path, "path"):
        return str(path.path)
    return os.fspath(path)


def open_binary(path: Any, mode: str = "rb") -> IO[bytes]:
    """Open `path` in a binary mode, through the OS for local files."""
    local = local_path(path)
    if local is not None:
        return open(local, mode)
    return path.open(mode)  # type: ignore[no-any-return]


def path_exists(path: Any) -> bool:
    local = local_path(path)
    if local is not None:
        return os.path.exists(local)
    return bool(path.exists())


def sibling(path: Any, suffix: str) -> Any:
    """`path` with `suffix` appended to its last component (`out.jsonl` -> `out.jsonl.parts`)."""
    if isinstance(path, str):
        return path + suffix
    return path.with_name(path.name + suffix)


def iter_lines(fh: Any, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The lines of a binary file, newline kept (the last may lack it), read in chunks.

    Reads with `read()` only: Airflow 2's lineage-tracking file wrapper cannot be iterated.
    """
    rest = b""
    while chunk := fh.read(chunk_size):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest
