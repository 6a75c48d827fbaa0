"""Path helpers that accept both `pathlib.Path` and fsspec/UPath objects (Airflow's `ObjectStoragePath`).

Local files take the fast OS route (plain `open`, `os.fsync`, `os.truncate`): `ObjectStoragePath.open`
wraps every read and write for lineage tracking, which costs more than the work on a million lines.
Anything else goes through the path object's own `open`, `exists`, `glob`, `rglob` and `/`.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


def local_path(path: Any) -> str | None:
    """The OS path of a local file, or None when `path` lives on a remote object store."""
    if isinstance(path, str):
        return path
    if (getattr(path, "protocol", "") or "") not in LOCAL_PROTOCOLS:  # a path object's is a string
        return None
    return str(path.path) if hasattr(path, "path") else os.fspath(path)


# Which provider serves a scheme, for the error when it is missing.
SCHEME_PROVIDERS = {
    scheme: f"apache-airflow-providers-{provider}"
    for provider, schemes in (("amazon", "s3 s3a"), ("google", "gs gcs"), ("microsoft-azure", "abfs az adl"))
    for scheme in schemes.split()
}


def object_path(value: Any, *, conn_id: str | None, argument: str) -> Any:
    """Airflow's `ObjectStoragePath` for a string (a plain path becomes an absolute `file://` URL).

    The one place a path argument becomes a path object, for every operator: a scheme that no
    installed provider serves fails here, naming `argument`, before any request is sent.
    """
    if not isinstance(value, str):
        return value
    if "://" not in value:
        value = "file://" + os.path.abspath(value)
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    try:
        path = ObjectStoragePath(value, conn_id=conn_id)
        path.fs  # noqa: B018 - resolves the scheme's filesystem now, not halfway through the task
    except (ValueError, ImportError) as exc:
        from airflow_provider_abeja.exceptions import InvalidArgumentError

        try:
            from airflow.sdk.io.fs import has_fs
        except ImportError:  # Airflow 2
            from airflow.io import has_fs  # type: ignore[no-redef,attr-defined]
        scheme = value.split("://", 1)[0].lower()
        if has_fs(scheme):
            raise InvalidArgumentError(argument, f"{value}: {exc}") from exc
        provider = SCHEME_PROVIDERS.get(scheme, "the Airflow provider that serves it")
        raise InvalidArgumentError(
            argument, f"no object storage is installed for {scheme}:// ({value}); install {provider}"
        ) from exc
    return path


def _check(path: Any, local_check: Callable[[str], bool], method: str) -> bool:
    """`local_check` on a local file's OS path, else the path object's own `method`."""
    local = local_path(path)
    return local_check(local) if local is not None else bool(getattr(path, method)())


def is_file(path: Any) -> bool:
    return _check(path, os.path.isfile, "is_file")


def path_exists(path: Any) -> bool:
    return _check(path, os.path.exists, "exists")


def publish(local_file: str, destination: Any) -> None:
    """Move a finished local file to `destination`, whole or not at all where the store allows.

    Locally an `os.replace` (same folder, atomic); on an object store one streamed upload, which the
    store makes visible only once complete (S3 and its kin never show a partial object).
    """
    local = local_path(destination)
    if local is not None:
        folder = os.path.dirname(os.path.abspath(local))
        os.makedirs(folder, exist_ok=True)
        try:
            os.replace(local_file, local)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another file system: copy next to the destination first, so the rename stays atomic;
            # the copy is a new file of its own (O_EXCL: never a planted file or symlink).
            handle, staged = tempfile.mkstemp(
                prefix=f".{os.path.basename(local)}.", suffix=".tmp", dir=folder
            )
            try:
                with os.fdopen(handle, "wb") as out, open(local_file, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.replace(staged, local)
            finally:
                if os.path.lexists(staged):
                    os.unlink(staged)
        return
    with open(local_file, "rb") as src, destination.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


@contextmanager
def published(destination: Any) -> Iterator[IO[bytes]]:
    """A local temporary file to write, published whole to `destination` if the block succeeds."""
    handle, local = tempfile.mkstemp(prefix=".abeja-")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        publish(local, destination)
    finally:
        if os.path.exists(local):
            os.unlink(local)


def open_binary(path: Any) -> IO[bytes]:
    """Open `path` for reading bytes, through the OS for local files."""
    local = local_path(path)
    return open(local, "rb") if local is not None else path.open("rb")  # type: ignore[no-any-return]


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
