"""The Training API (job definitions, versions, jobs, trained models) and deployment versions:
what their declarations in ``client.api`` need, sans-IO.

Wire protocol as ABEJA's SDK speaks it (``abeja.training.api.client``,
``abeja.deployments.api.client``). Here: the argument checks and bodies of those calls and the
archives they upload (the calls made of several requests are ``APIClient`` methods that make
them). The clients send what the declarations describe, with the same rules as for services:
ids checked before sending, no POST re-sent after a 5xx or a read timeout, errors that name the
argument.

Uploads:

* a job definition version and a trained model are one ``multipart/form-data`` POST with the
  archive and a ``parameters`` JSON part (the SDK's ``files=``); a folder is zipped first;
* a deployment version is a JSON POST whose answer holds an ``upload_url``; the code (a
  ``.tar.gz``) is then PUT there **without** the API credential (the URL is pre-signed and may
  be another host). The PUT is idempotent and retried like a GET.

Training job logs: no public route exists; ``get_training_job_recent_logs`` calls
``.../jobs/{id}/recentlogs``, shaped like the routes of notebooks and runs (an assumption, kept
in one place). Callers treat a 404 there as "no logs".
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_abeja.client import validation
from airflow_provider_abeja.exceptions import InvalidArgumentError, InvalidResponseError

#: What an archive argument may be: a folder or archive path, archive bytes, or a binary file.
Archive = str | os.PathLike[str] | bytes | Any


#: The file name and content type of an archive, by its first two bytes.
_ARCHIVES = {b"PK": ("source.zip", "application/zip"), b"\x1f\x8b": ("source.tar.gz", "application/gzip")}


class Upload(NamedTuple):
    """A multipart body as the Training API takes it: one archive file (the form field ``field``)
    and its ``parameters`` (sent as a JSON file part)."""

    field: str
    #: (file name, bytes, content type), as urllib3's multipart encoder takes a file.
    file: tuple[str, bytes, str]
    parameters: dict[str, Any]


# --------------------------------------------------------------------------- arguments


def check_version_number(value: object, argument: str = "version_id") -> int:
    """A job definition version: a whole number >= 1 (digit strings accepted)."""
    return validation.whole_number(value, argument, 1)


def _check_handler(value: object, argument: str = "handler") -> str:
    if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
        raise InvalidArgumentError(argument, "must look like module:function (exactly one ':')")
    return value


def _optional_text(value: object, argument: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    return value


def presigned_url(what: str) -> Callable[[object, str], str]:
    """The check of a pre-signed URL found in an answer (``what`` names it in the error)."""

    def check(value: object, argument: str) -> str:
        if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
            raise InvalidResponseError("invalid_response", f"{what} has no http(s) {argument}", 200, "")
        return value

    return check


# --------------------------------------------------------------------------- archives


def pack_folder(folder: str | os.PathLike[str], folder_format: str) -> bytes:
    """A folder as ``zip`` (the layout the training runtime unpacks) or ``.tar.gz`` (how
    deployment code is uploaded) bytes, paths relative to it."""
    root, buffer = Path(folder), io.BytesIO()
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    if folder_format == "zip":
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(root).as_posix())
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path in files:
                archive.add(path, path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def read_archive(source: Archive, argument: str, *, folder_format: str) -> tuple[bytes, str, str]:
    """(bytes, file name, content type) of a folder (packed as ``folder_format``), an archive
    file, archive bytes or a binary file object."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            data = pack_folder(path, folder_format)
        elif path.is_file():
            data = path.read_bytes()
        else:
            raise InvalidArgumentError(argument, f"{os.fspath(source)!r} is neither a folder nor a file")
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise InvalidArgumentError(argument, "file object must be opened in binary mode")
    else:
        raise InvalidArgumentError(
            argument,
            f"must be a folder, an archive path, bytes or a binary file, not {type(source).__name__}",
        )
    if not data:
        raise InvalidArgumentError(argument, "is empty")
    if data[:2] not in _ARCHIVES:
        raise InvalidArgumentError(argument, "is neither a zip nor a gzip'ed tar archive")
    return data, *_ARCHIVES[data[:2]]


def deployment_code(code: Archive) -> bytes:
    """The code of a deployment version as ``.tar.gz`` bytes (a folder is packed here)."""
    data, _, _ = read_archive(code, "code", folder_format="tar")
    if data[:2] != b"\x1f\x8b":
        raise InvalidArgumentError("code", "must be a .tar.gz archive (or a folder, packed here)")
    return data


def artifact_uri(result: Mapping[str, Any]) -> str:
    """The URI of a job's complete artifact in a ``get_training_result`` answer."""
    try:
        return str(result["artifacts"]["complete"]["uri"])
    except (KeyError, TypeError):
        raise InvalidResponseError(
            "invalid_response", "the training result has no artifacts.complete.uri", 200, ""
        ) from None


# --------------------------------------------------------------------------- bodies


def definition_body(args: validation.Arguments) -> dict[str, Any]:
    return {"name": validation.check_path_id(args["job_definition_name"], "job_definition_name")}


def definition_version_body(args: validation.Arguments) -> Upload:
    checks: dict[str, validation.Check] = {
        "image": _optional_text,
        "environment": validation.check_environment,
        "description": _optional_text,
    }
    parameters = {"handler": _check_handler(args["handler"]), **validation.given(args, checks)}
    data, filename, content_type = read_archive(args["source"], "source", folder_format="zip")
    return Upload("source_code", (filename, data, content_type), parameters)


def _flag(value: object, argument: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(argument, "must be true or false")
    return value


def job_body(args: validation.Arguments) -> dict[str, Any]:
    return validation.given(
        args,
        {
            "environment": validation.check_environment,
            "datasets": validation.check_datasets,
            "instance_type": validation.check_instance_type,
            "description": _optional_text,
            "export_log": _flag,
        },
    )


def statistics_body(args: validation.Arguments) -> dict[str, Any]:
    return {"statistics": validation.mapping(args["statistics"], "statistics")}


def model_body(args: validation.Arguments) -> Upload:
    parameters = validation.given(
        args,
        {
            "training_job_id": validation.check_path_id,
            "description": _optional_text,
            "user_parameters": validation.mapping,
            "metrics": validation.mapping,
        },
    )
    data, _, _ = read_archive(args["model_data"], "model_data", folder_format="zip")
    if data[:2] != b"PK":
        raise InvalidArgumentError("model_data", "must be a zip archive (or a folder, zipped here)")
    return Upload("model_data", ("model_data.zip", data, "application/zip"), parameters)


#: A deployment version's handler and runtime image unless given (the seed's defaults).
DEFAULT_HANDLER = "main:handler"
DEFAULT_IMAGE = "abeja-inc/all-cpu:23.02"


def deployment_version_body(args: validation.Arguments) -> dict[str, Any]:
    version, image = args["version"], args["image"]
    if not isinstance(version, str) or not version.strip():
        raise InvalidArgumentError("version", "must be a non-empty string such as '1.2.0'")
    if not isinstance(image, str) or not image.strip():
        raise InvalidArgumentError("image", f"must be a runtime image name such as {DEFAULT_IMAGE!r}")
    user_parameters = validation.check_environment(args["user_parameters"], "user_parameters")
    payload: dict[str, Any] = {"version": version, "handler": _check_handler(args["handler"]), "image": image}
    return payload | ({"user_parameters": user_parameters} if user_parameters else {})
