"""The Training API (job definitions, versions, jobs, trained models) and deployment versions.

Wire protocol as ABEJA's SDK speaks it (``abeja.training.api.client``,
``abeja.deployments.api.client``). The request building is sans-IO (:class:`TrainingRequests`);
:class:`TrainingMixin` and :class:`AsyncTrainingMixin` add the calls to ``APIClient`` and
``AsyncAPIClient`` through the clients' own ``_object`` / ``_entries`` / ``_send``, so the same
rules hold as for services: ids checked before sending, no POST re-sent after a 5xx or a read
timeout, errors that name the argument.

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
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_abeja.client._core import RequestSpec, _json_bytes, _segment
from airflow_provider_abeja.client.validation import (
    check_datasets,
    check_environment,
    check_organization_id,
    check_path_id,
)
from airflow_provider_abeja.exceptions import InvalidArgumentError, InvalidResponseError

if TYPE_CHECKING:
    from airflow_provider_abeja.client._core import RequestBuilder

#: What an archive argument may be: a folder or archive path, archive bytes, or a binary file.
Archive = str | os.PathLike[str] | bytes | Any

_ARCHIVE_SUFFIXES = {".zip": "application/zip", ".gz": "application/gzip", ".tgz": "application/gzip"}


# --------------------------------------------------------------------------- arguments


def check_version_number(value: object, argument: str = "version_id") -> int:
    """A job definition version: a whole number >= 1 (digit strings accepted)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(argument, f"must be a whole number >= 1, not {value!r}")
    return value


def _check_handler(value: object, argument: str = "handler") -> str:
    if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
        raise InvalidArgumentError(argument, "must look like module:function (exactly one ':')")
    return value


def _optional_text(value: object, argument: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    return value


def _optional_mapping(value: object, argument: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(argument, f"must be a mapping, not {type(value).__name__}")
    return dict(value)


def _upload_url(value: object) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise InvalidResponseError("invalid_response", "the version has no http(s) upload_url", 200, "")
    return value


# --------------------------------------------------------------------------- archives


def zip_folder(folder: str | os.PathLike[str]) -> bytes:
    """A folder as zip bytes, paths relative to it (the layout the training runtime unpacks)."""
    root = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def tar_folder(folder: str | os.PathLike[str]) -> bytes:
    """A folder as ``.tar.gz`` bytes, paths relative to it (how deployment code is uploaded)."""
    root = Path(folder)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
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
            data = zip_folder(path) if folder_format == "zip" else tar_folder(path)
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
    if data[:2] == b"PK":
        return data, "source.zip", "application/zip"
    if data[:2] == b"\x1f\x8b":
        return data, "source.tar.gz", "application/gzip"
    raise InvalidArgumentError(argument, "is neither a zip nor a gzip'ed tar archive")


def multipart(parts: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    """``multipart/form-data`` body and its Content-Type for (name, file name, type, data) parts."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, filename, content_type, data in parts:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------- requests


class TrainingRequests:
    """Builds the Training API's and the deployment versions' :class:`RequestSpec`."""

    def __init__(self, builder: RequestBuilder) -> None:
        self._builder = builder
        self.api_url = builder.api_url

    def _definitions_url(self, organization_id: str, *rest: str) -> str:
        org = check_organization_id(organization_id)
        tail = "".join(f"/{_segment(part)}" for part in rest)
        return f"{self.api_url}/organizations/{org}/training/definitions{tail}"

    def _definition_url(self, organization_id: str, job_definition_name: str, *rest: str) -> str:
        name = check_path_id(job_definition_name, "job_definition_name")
        return self._definitions_url(organization_id, name, *rest)

    def _job_url(
        self, organization_id: str, job_definition_name: str, training_job_id: str, *rest: str
    ) -> str:
        job = check_path_id(training_job_id, "training_job_id")
        return self._definition_url(organization_id, job_definition_name, "jobs", job, *rest)

    @staticmethod
    def _json(route: str, method: str, url: str, payload: Any, argument: str = "payload") -> RequestSpec:
        body = _json_bytes(payload, argument)
        return RequestSpec(route, method, url, False, headers={"Content-Type": "application/json"}, body=body)

    @staticmethod
    def _multipart(route: str, url: str, parts: list[tuple[str, str, str, bytes]]) -> RequestSpec:
        body, content_type = multipart(parts)
        return RequestSpec(route, "POST", url, False, headers={"Content-Type": content_type}, body=body)

    # -- job definitions

    def create_training_job_definition(self, organization_id: str, job_definition_name: str) -> RequestSpec:
        name = check_path_id(job_definition_name, "job_definition_name")
        url = self._definitions_url(organization_id)
        return self._json("create_training_job_definition", "POST", url, {"name": name})

    def get_training_job_definitions(self, organization_id: str) -> RequestSpec:
        return RequestSpec(
            "get_training_job_definitions", "GET", self._definitions_url(organization_id), True
        )

    def get_training_job_definition(
        self, organization_id: str, job_definition_name: str, include_jobs: bool | None = None
    ) -> RequestSpec:
        url = self._definition_url(organization_id, job_definition_name)
        params = None if include_jobs is None else {"include_jobs": "true" if include_jobs else "false"}
        return RequestSpec("get_training_job_definition", "GET", url, True, params=params)

    # -- job definition versions

    def create_training_job_definition_version(
        self,
        organization_id: str,
        job_definition_name: str,
        source: Archive,
        handler: str,
        image: str | None = None,
        environment: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RequestSpec:
        url = self._definition_url(organization_id, job_definition_name, "versions")
        parameters: dict[str, Any] = {"handler": _check_handler(handler)}
        if _optional_text(image, "image") is not None:
            parameters["image"] = image
        check_environment(environment)
        if environment:
            parameters["environment"] = dict(environment)
        if _optional_text(description, "description") is not None:
            parameters["description"] = description
        data, filename, content_type = read_archive(source, "source", folder_format="zip")
        parts = [
            ("source_code", filename, content_type, data),
            ("parameters", "params.json", "application/json", _json_bytes(parameters, "parameters")),
        ]
        return self._multipart("create_training_job_definition_version", url, parts)

    def get_training_job_definition_versions(
        self, organization_id: str, job_definition_name: str
    ) -> RequestSpec:
        url = self._definition_url(organization_id, job_definition_name, "versions")
        return RequestSpec("get_training_job_definition_versions", "GET", url, True)

    def get_training_job_definition_version(
        self, organization_id: str, job_definition_name: str, version_id: int
    ) -> RequestSpec:
        number = str(check_version_number(version_id))
        url = self._definition_url(organization_id, job_definition_name, "versions", number)
        return RequestSpec("get_training_job_definition_version", "GET", url, True)

    # -- jobs

    def create_training_job(
        self,
        organization_id: str,
        job_definition_name: str,
        version_id: int,
        environment: Mapping[str, str] | None = None,
        datasets: Mapping[str, str] | None = None,
        instance_type: str | None = None,
        description: str | None = None,
        export_log: bool | None = None,
    ) -> RequestSpec:
        number = str(check_version_number(version_id))
        url = self._definition_url(organization_id, job_definition_name, "versions", number, "jobs")
        check_environment(environment)
        payload: dict[str, Any] = {}
        if environment is not None:
            payload["environment"] = dict(environment)
        checked = check_datasets(datasets)
        if checked is not None:
            payload["datasets"] = checked
        if instance_type is not None:
            if (
                not isinstance(instance_type, str)
                or not instance_type
                or any(c.isspace() for c in instance_type)
            ):
                raise InvalidArgumentError("instance_type", "must be a name such as 'cpu-1'")
            payload["instance_type"] = instance_type
        if _optional_text(description, "description") is not None:
            payload["description"] = description
        if export_log is not None:
            if not isinstance(export_log, bool):
                raise InvalidArgumentError("export_log", "must be true or false")
            payload["export_log"] = export_log
        return self._json("create_training_job", "POST", url, payload, "environment")

    def get_training_jobs(
        self,
        organization_id: str,
        job_definition_name: str,
        limit: int | None = None,
        offset: int | None = None,
    ) -> RequestSpec:
        url = self._definition_url(organization_id, job_definition_name, "jobs")
        params: dict[str, str] = {}
        for name, value in (("limit", limit), ("offset", offset)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InvalidArgumentError(name, "must be a whole number >= 0")
                params[name] = str(value)
        return RequestSpec("get_training_jobs", "GET", url, True, params=params or None)

    def get_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> RequestSpec:
        url = self._job_url(organization_id, job_definition_name, training_job_id)
        return RequestSpec("get_training_job", "GET", url, True)

    def stop_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> RequestSpec:
        url = self._job_url(organization_id, job_definition_name, training_job_id, "stop")
        return RequestSpec("stop_training_job", "POST", url, False)

    def get_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> RequestSpec:
        url = self._job_url(organization_id, job_definition_name, training_job_id, "result")
        return RequestSpec("get_training_result", "GET", url, True)

    def update_training_statistics(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        statistics: Mapping[str, Any],
    ) -> RequestSpec:
        url = self._job_url(organization_id, job_definition_name, training_job_id, "statistics")
        checked = _optional_mapping(statistics, "statistics")
        return self._json("update_training_statistics", "POST", url, {"statistics": checked}, "statistics")

    def get_training_job_recent_logs(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> RequestSpec:
        url = self._job_url(organization_id, job_definition_name, training_job_id, "recentlogs")
        return RequestSpec("get_training_job_recent_logs", "GET", url, True)

    # -- trained models

    def create_training_model(
        self,
        organization_id: str,
        job_definition_name: str,
        model_data: Archive,
        training_job_id: str | None = None,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> RequestSpec:
        url = self._definition_url(organization_id, job_definition_name, "models")
        parameters: dict[str, Any] = {}
        if training_job_id is not None:
            parameters["training_job_id"] = check_path_id(training_job_id, "training_job_id")
        if _optional_text(description, "description") is not None:
            parameters["description"] = description
        for name, value in (("user_parameters", user_parameters), ("metrics", metrics)):
            checked = _optional_mapping(value, name)
            if checked is not None:
                parameters[name] = checked
        data, _, _ = read_archive(model_data, "model_data", folder_format="zip")
        if data[:2] != b"PK":
            raise InvalidArgumentError("model_data", "must be a zip archive (or a folder, zipped here)")
        parts = [
            ("model_data", "model_data.zip", "application/zip", data),
            ("parameters", "params.json", "application/json", _json_bytes(parameters, "parameters")),
        ]
        return self._multipart("create_training_model", url, parts)

    def get_training_models(self, organization_id: str, job_definition_name: str) -> RequestSpec:
        url = self._definition_url(organization_id, job_definition_name, "models")
        return RequestSpec("get_training_models", "GET", url, True)

    def get_training_model(
        self, organization_id: str, job_definition_name: str, model_id: str
    ) -> RequestSpec:
        model = check_path_id(model_id, "model_id")
        url = self._definition_url(organization_id, job_definition_name, "models", model)
        return RequestSpec("get_training_model", "GET", url, True)

    # -- deployment versions

    def create_deployment_version(
        self,
        organization_id: str,
        deployment_id: str,
        version: str,
        handler: str = "main:handler",
        image: str = "abeja-inc/all-cpu:23.02",
        user_parameters: Mapping[str, str] | None = None,
    ) -> RequestSpec:
        org = check_organization_id(organization_id)
        dep = check_path_id(deployment_id, "deployment_id")
        if not isinstance(version, str) or not version.strip():
            raise InvalidArgumentError("version", "must be a non-empty string such as '1.2.0'")
        if not isinstance(image, str) or not image.strip():
            raise InvalidArgumentError(
                "image", "must be a runtime image name such as 'abeja-inc/all-cpu:23.02'"
            )
        check_environment(user_parameters, "user_parameters")
        payload: dict[str, Any] = {"version": version, "handler": _check_handler(handler), "image": image}
        if user_parameters:
            payload["user_parameters"] = dict(user_parameters)
        url = self._builder.management_url(org, dep, "versions")
        return self._json("create_deployment_version", "POST", url, payload, "user_parameters")

    def get_deployment_versions(self, organization_id: str, deployment_id: str) -> RequestSpec:
        org = check_organization_id(organization_id)
        url = self._builder.management_url(org, check_path_id(deployment_id, "deployment_id"), "versions")
        return RequestSpec("get_deployment_versions", "GET", url, True)

    def get_deployment_version(
        self, organization_id: str, deployment_id: str, version_id: str
    ) -> RequestSpec:
        org = check_organization_id(organization_id)
        dep = check_path_id(deployment_id, "deployment_id")
        url = self._builder.management_url(org, dep, "versions", check_path_id(version_id, "version_id"))
        return RequestSpec("get_deployment_version", "GET", url, True)

    @staticmethod
    def upload_code(upload_url: object, code: bytes) -> RequestSpec:
        """PUT the code archive to the pre-signed URL (sent without the API credential)."""
        return RequestSpec(
            "upload_deployment_code",
            "PUT",
            _upload_url(upload_url),
            True,
            headers={"Content-Type": "application/octet-stream"},
            body=code,
        )

    @staticmethod
    def download(url: object) -> RequestSpec:
        """GET a pre-signed artifact URL (sent without the API credential)."""
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise InvalidResponseError("invalid_response", "the training result has no http(s) uri", 200, "")
        return RequestSpec("download_training_result", "GET", url, True)


def deployment_code(code: Archive) -> bytes:
    """The code of a deployment version as ``.tar.gz`` bytes (a folder is packed here)."""
    data, _, _ = read_archive(code, "code", folder_format="tar")
    if data[:2] != b"\x1f\x8b":
        raise InvalidArgumentError("code", "must be a .tar.gz archive (or a folder, packed here)")
    return data


def artifact_uri(result: Mapping[str, Any]) -> str:
    """The URI of a job's complete artifact in a ``get_training_result`` answer."""
    try:
        uri = result["artifacts"]["complete"]["uri"]
    except (KeyError, TypeError):
        raise InvalidResponseError(
            "invalid_response", "the training result has no artifacts.complete.uri", 200, ""
        ) from None
    return str(uri)


# --------------------------------------------------------------------------- client mixins


def _no_auth(request: Any) -> Any:
    """requests auth hook that adds nothing (a session's own auth would add the credential)."""
    return request


def _training_requests(client: object, builder: RequestBuilder) -> TrainingRequests:
    """The client's request builder for this API, made on first use."""
    found = client.__dict__.get("_training_requests")
    if found is None:
        found = client.__dict__["_training_requests"] = TrainingRequests(builder)
    return found  # type: ignore[no-any-return]


class TrainingMixin:
    """The Training API and deployment versions on :class:`~.sync.APIClient`."""

    if TYPE_CHECKING:
        _builder: RequestBuilder
        _object: Callable[[RequestSpec], dict[str, Any]]
        _entries: Callable[[RequestSpec], dict[str, Any]]
        _error: Callable[[Any, RequestSpec, bytes], Exception]
        _proxies_for: Callable[[str], dict[str, str]]
        _session: Any
        _settings: Any
        _retry_policy: Any

    @property
    def _training(self) -> TrainingRequests:
        return _training_requests(self, self._builder)

    def _send_anonymous(self, spec: RequestSpec) -> bytes:
        """Send to a pre-signed URL without the credential; the body of a 2xx answer."""
        import requests

        from airflow_provider_abeja.client.sync import TRANSPORT_ADAPTER, describe_transport_error
        from airflow_provider_abeja.exceptions import TransportError

        def attempt() -> requests.Response:
            spec.rewind()
            return self._session.request(
                spec.method,
                spec.url,
                data=spec.body,
                headers=spec.headers,
                timeout=self._settings.timeout,
                auth=_no_auth,
                proxies=self._proxies_for(spec.url),
            )

        try:
            response = self._retry_policy.call(spec, TRANSPORT_ADAPTER, attempt)
        except requests.exceptions.RequestException as exc:
            raise TransportError(
                f"{spec.method} {spec.url.split('?')[0]} failed: {describe_transport_error(exc)}",
                url=spec.url.split("?")[0],
                attempts=1,
            ) from exc
        content: bytes = response.content
        if not 200 <= response.status_code < 300:
            raise self._error(response, spec, content)
        return content

    # -- job definitions and versions

    def create_training_job_definition(
        self, organization_id: str, job_definition_name: str
    ) -> dict[str, Any]:
        """POST .../training/definitions: a new job definition named ``job_definition_name``."""
        return self._object(
            self._training.create_training_job_definition(organization_id, job_definition_name)
        )

    def get_training_job_definitions(self, organization_id: str) -> dict[str, Any]:
        """GET .../training/definitions; always ``{"entries": [...]}``."""
        return self._entries(self._training.get_training_job_definitions(organization_id))

    def get_training_job_definition(
        self, organization_id: str, job_definition_name: str, include_jobs: bool | None = None
    ) -> dict[str, Any]:
        """GET .../training/definitions/{name}."""
        return self._object(
            self._training.get_training_job_definition(organization_id, job_definition_name, include_jobs)
        )

    def create_training_job_definition_version(
        self,
        organization_id: str,
        job_definition_name: str,
        source: Archive,
        handler: str,
        image: str | None = None,
        environment: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """POST .../versions (multipart): ``source`` is a folder (zipped here), a zip or .tar.gz."""
        return self._object(
            self._training.create_training_job_definition_version(
                organization_id, job_definition_name, source, handler, image, environment, description
            )
        )

    def get_training_job_definition_versions(
        self, organization_id: str, job_definition_name: str
    ) -> dict[str, Any]:
        """GET .../versions; always ``{"entries": [...]}``."""
        return self._entries(
            self._training.get_training_job_definition_versions(organization_id, job_definition_name)
        )

    def get_training_job_definition_version(
        self, organization_id: str, job_definition_name: str, version_id: int
    ) -> dict[str, Any]:
        """GET .../versions/{version_id} (a number)."""
        return self._object(
            self._training.get_training_job_definition_version(
                organization_id, job_definition_name, version_id
            )
        )

    # -- jobs

    def create_training_job(
        self,
        organization_id: str,
        job_definition_name: str,
        version_id: int,
        environment: Mapping[str, str] | None = None,
        datasets: Mapping[str, str] | None = None,
        instance_type: str | None = None,
        description: str | None = None,
        export_log: bool | None = None,
    ) -> dict[str, Any]:
        """POST .../versions/{version_id}/jobs: start a job (never re-sent after a 5xx or read timeout)."""
        return self._object(
            self._training.create_training_job(
                organization_id,
                job_definition_name,
                version_id,
                environment,
                datasets,
                instance_type,
                description,
                export_log,
            )
        )

    def get_training_jobs(
        self,
        organization_id: str,
        job_definition_name: str,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """GET .../jobs; always ``{"entries": [...]}``."""
        return self._entries(
            self._training.get_training_jobs(organization_id, job_definition_name, limit, offset)
        )

    def get_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        """GET .../jobs/{training_job_id} (``status``, ``statistics``, ...)."""
        return self._object(
            self._training.get_training_job(organization_id, job_definition_name, training_job_id)
        )

    def stop_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        """POST .../jobs/{training_job_id}/stop."""
        return self._object(
            self._training.stop_training_job(organization_id, job_definition_name, training_job_id)
        )

    def get_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        """GET .../jobs/{training_job_id}/result: ``{"artifacts": {"complete": {"uri": ...}}}``."""
        return self._object(
            self._training.get_training_result(organization_id, job_definition_name, training_job_id)
        )

    def update_training_statistics(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        statistics: Mapping[str, Any],
    ) -> dict[str, Any]:
        """POST .../jobs/{training_job_id}/statistics (what a training handler reports)."""
        return self._object(
            self._training.update_training_statistics(
                organization_id, job_definition_name, training_job_id, statistics
            )
        )

    def get_training_job_recent_logs(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        """GET .../jobs/{training_job_id}/recentlogs (not a public route: see the module doc)."""
        return self._object(
            self._training.get_training_job_recent_logs(organization_id, job_definition_name, training_job_id)
        )

    def download_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> bytes:
        """The job's result archive (zip) from its pre-signed URI."""
        result = self.get_training_result(organization_id, job_definition_name, training_job_id)
        return self._send_anonymous(TrainingRequests.download(artifact_uri(result)))

    # -- trained models

    def create_training_model(
        self,
        organization_id: str,
        job_definition_name: str,
        model_data: Archive,
        training_job_id: str | None = None,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST .../models (multipart): ``model_data`` is a zip or a folder (zipped here)."""
        return self._object(
            self._training.create_training_model(
                organization_id,
                job_definition_name,
                model_data,
                training_job_id,
                description,
                user_parameters,
                metrics,
            )
        )

    def create_training_model_from_job(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Register what a finished job wrote to ``ABEJA_TRAINING_RESULT_DIR`` as a trained model."""
        data = self.download_training_result(organization_id, job_definition_name, training_job_id)
        return self.create_training_model(
            organization_id, job_definition_name, data, training_job_id, description, user_parameters, metrics
        )

    def get_training_models(self, organization_id: str, job_definition_name: str) -> dict[str, Any]:
        """GET .../models; always ``{"entries": [...]}``."""
        return self._entries(self._training.get_training_models(organization_id, job_definition_name))

    def get_training_model(
        self, organization_id: str, job_definition_name: str, model_id: str
    ) -> dict[str, Any]:
        """GET .../models/{model_id}."""
        return self._object(self._training.get_training_model(organization_id, job_definition_name, model_id))

    # -- deployment versions

    def create_deployment_version(
        self,
        organization_id: str,
        deployment_id: str,
        version: str,
        code: Archive,
        handler: str = "main:handler",
        image: str = "abeja-inc/all-cpu:23.02",
        user_parameters: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST .../deployments/{id}/versions, then PUT the code (.tar.gz; a folder is packed) to
        its ``upload_url``. Returns the version (``version_id``, ...)."""
        data = deployment_code(code)
        created = self._object(
            self._training.create_deployment_version(
                organization_id, deployment_id, version, handler, image, user_parameters
            )
        )
        self._send_anonymous(TrainingRequests.upload_code(created.get("upload_url"), data))
        return created

    def get_deployment_versions(self, organization_id: str, deployment_id: str) -> dict[str, Any]:
        """GET .../deployments/{id}/versions; always ``{"entries": [...]}``."""
        return self._entries(self._training.get_deployment_versions(organization_id, deployment_id))

    def get_deployment_version(
        self, organization_id: str, deployment_id: str, version_id: str
    ) -> dict[str, Any]:
        """GET .../deployments/{id}/versions/{version_id}."""
        return self._object(self._training.get_deployment_version(organization_id, deployment_id, version_id))


class AsyncTrainingMixin:
    """The coroutine twins of :class:`TrainingMixin` on :class:`~.aio.AsyncAPIClient`."""

    if TYPE_CHECKING:
        _builder: RequestBuilder
        _object: Callable[[RequestSpec], Awaitable[dict[str, Any]]]
        _entries: Callable[[RequestSpec], Awaitable[dict[str, Any]]]
        _error: Callable[[Any, RequestSpec], Exception]
        _url: Callable[[str], Any]
        _client: Any
        _retry_policy: Any

    @property
    def _training(self) -> TrainingRequests:
        return _training_requests(self, self._builder)

    async def _send_anonymous(self, spec: RequestSpec) -> bytes:
        import httpx

        from airflow_provider_abeja.client.aio import TRANSPORT_ADAPTER
        from airflow_provider_abeja.exceptions import TransportError

        async def attempt() -> httpx.Response:
            request = self._client.build_request(
                spec.method, self._url(spec.url), content=spec.body, headers=spec.headers
            )
            return await self._client.send(request, auth=httpx.Auth())

        try:
            response = await self._retry_policy.acall(spec, TRANSPORT_ADAPTER, attempt)
        except httpx.TransportError as exc:
            url = spec.url.split("?")[0]
            raise TransportError(
                f"{spec.method} {url} failed: {type(exc).__name__}", url=url, attempts=1
            ) from exc
        if not 200 <= response.status_code < 300:
            raise self._error(response, spec)
        content: bytes = response.content
        return content

    async def create_training_job_definition(
        self, organization_id: str, job_definition_name: str
    ) -> dict[str, Any]:
        return await self._object(
            self._training.create_training_job_definition(organization_id, job_definition_name)
        )

    async def get_training_job_definitions(self, organization_id: str) -> dict[str, Any]:
        return await self._entries(self._training.get_training_job_definitions(organization_id))

    async def get_training_job_definition(
        self, organization_id: str, job_definition_name: str, include_jobs: bool | None = None
    ) -> dict[str, Any]:
        return await self._object(
            self._training.get_training_job_definition(organization_id, job_definition_name, include_jobs)
        )

    async def create_training_job_definition_version(
        self,
        organization_id: str,
        job_definition_name: str,
        source: Archive,
        handler: str,
        image: str | None = None,
        environment: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        return await self._object(
            self._training.create_training_job_definition_version(
                organization_id, job_definition_name, source, handler, image, environment, description
            )
        )

    async def get_training_job_definition_versions(
        self, organization_id: str, job_definition_name: str
    ) -> dict[str, Any]:
        return await self._entries(
            self._training.get_training_job_definition_versions(organization_id, job_definition_name)
        )

    async def get_training_job_definition_version(
        self, organization_id: str, job_definition_name: str, version_id: int
    ) -> dict[str, Any]:
        return await self._object(
            self._training.get_training_job_definition_version(
                organization_id, job_definition_name, version_id
            )
        )

    async def create_training_job(
        self,
        organization_id: str,
        job_definition_name: str,
        version_id: int,
        environment: Mapping[str, str] | None = None,
        datasets: Mapping[str, str] | None = None,
        instance_type: str | None = None,
        description: str | None = None,
        export_log: bool | None = None,
    ) -> dict[str, Any]:
        return await self._object(
            self._training.create_training_job(
                organization_id,
                job_definition_name,
                version_id,
                environment,
                datasets,
                instance_type,
                description,
                export_log,
            )
        )

    async def get_training_jobs(
        self,
        organization_id: str,
        job_definition_name: str,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        return await self._entries(
            self._training.get_training_jobs(organization_id, job_definition_name, limit, offset)
        )

    async def get_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._object(
            self._training.get_training_job(organization_id, job_definition_name, training_job_id)
        )

    async def stop_training_job(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._object(
            self._training.stop_training_job(organization_id, job_definition_name, training_job_id)
        )

    async def get_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._object(
            self._training.get_training_result(organization_id, job_definition_name, training_job_id)
        )

    async def update_training_statistics(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        statistics: Mapping[str, Any],
    ) -> dict[str, Any]:
        return await self._object(
            self._training.update_training_statistics(
                organization_id, job_definition_name, training_job_id, statistics
            )
        )

    async def get_training_job_recent_logs(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> dict[str, Any]:
        return await self._object(
            self._training.get_training_job_recent_logs(organization_id, job_definition_name, training_job_id)
        )

    async def download_training_result(
        self, organization_id: str, job_definition_name: str, training_job_id: str
    ) -> bytes:
        result = await self.get_training_result(organization_id, job_definition_name, training_job_id)
        return await self._send_anonymous(TrainingRequests.download(artifact_uri(result)))

    async def create_training_model(
        self,
        organization_id: str,
        job_definition_name: str,
        model_data: Archive,
        training_job_id: str | None = None,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return await self._object(
            self._training.create_training_model(
                organization_id,
                job_definition_name,
                model_data,
                training_job_id,
                description,
                user_parameters,
                metrics,
            )
        )

    async def create_training_model_from_job(
        self,
        organization_id: str,
        job_definition_name: str,
        training_job_id: str,
        description: str | None = None,
        user_parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        data = await self.download_training_result(organization_id, job_definition_name, training_job_id)
        return await self.create_training_model(
            organization_id, job_definition_name, data, training_job_id, description, user_parameters, metrics
        )

    async def get_training_models(self, organization_id: str, job_definition_name: str) -> dict[str, Any]:
        return await self._entries(self._training.get_training_models(organization_id, job_definition_name))

    async def get_training_model(
        self, organization_id: str, job_definition_name: str, model_id: str
    ) -> dict[str, Any]:
        return await self._object(
            self._training.get_training_model(organization_id, job_definition_name, model_id)
        )

    async def create_deployment_version(
        self,
        organization_id: str,
        deployment_id: str,
        version: str,
        code: Archive,
        handler: str = "main:handler",
        image: str = "abeja-inc/all-cpu:23.02",
        user_parameters: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        data = deployment_code(code)
        created = await self._object(
            self._training.create_deployment_version(
                organization_id, deployment_id, version, handler, image, user_parameters
            )
        )
        await self._send_anonymous(TrainingRequests.upload_code(created.get("upload_url"), data))
        return created

    async def get_deployment_versions(self, organization_id: str, deployment_id: str) -> dict[str, Any]:
        return await self._entries(self._training.get_deployment_versions(organization_id, deployment_id))

    async def get_deployment_version(
        self, organization_id: str, deployment_id: str, version_id: str
    ) -> dict[str, Any]:
        return await self._object(
            self._training.get_deployment_version(organization_id, deployment_id, version_id)
        )
