"""The emulated resources as plain dataclasses, with their wire (response) shapes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

IN_PROGRESS = "IN_PROGRESS"
READY = "READY"
STOPPED = "STOPPED"
FAILED = "FAILED"
STATUSES = (IN_PROGRESS, READY, STOPPED, FAILED)
RUNNING = (IN_PROGRESS, READY)

T = TypeVar("T", bound="_Record")


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


DEFAULT_IMAGE = "abeja-inc/all-cpu:19.10"


def creator_wire(user_id: str, created_at: str) -> dict[str, Any]:
    """The `creator` object the SDK documents on deployments and versions."""
    return {
        "display_name": None,
        "email": f"user-{user_id}@emulator.invalid",
        "id": user_id,
        "is_registered": True,
        "role": "admin",
        "created_at": created_at,
        "updated_at": created_at,
    }


@dataclass
class Deployment(_Record):
    deployment_id: str
    organization_id: str
    name: str
    default_environment: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    modified_at: str = ""
    creator_id: str = ""
    description: str = ""

    def wire(self, services: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "organization_id": self.organization_id,
            "name": self.name,
            "description": self.description,
            "creator": creator_wire(self.creator_id, self.created_at),
            "default_environment": dict(self.default_environment),
            "runs": [],
            "services": services or [],
            "triggers": [],
            "created_at": self.created_at,
            "modified_at": self.modified_at,
        }


@dataclass
class Version(_Record):
    """A deployment version. Its code: an uploaded tarball (`source_dir`), else `code_dir` (a local
    convenience), else the sample handler."""

    version_id: str
    deployment_id: str
    organization_id: str
    version: str
    handler: str
    code_dir: str = ""
    user_parameters: dict[str, str] = field(default_factory=dict)
    image: str = DEFAULT_IMAGE
    source_dir: str = ""
    upload_token: str = ""
    creator_id: str = ""
    created_at: str = ""
    modified_at: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Version:
        if "user_env_vars" in data and "user_parameters" not in data:  # state saved by older emulators
            data = dict(data, user_parameters=data["user_env_vars"])
        return super().from_dict(data)

    def wire(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "deployment_id": self.deployment_id,
            "version": self.version,
            "handler": self.handler,
            "image": self.image,
            "user_parameters": dict(self.user_parameters),
            "creator": creator_wire(self.creator_id, self.created_at),
            "code_dir": self.code_dir or None,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
        }


@dataclass
class Service(_Record):
    service_id: str
    deployment_id: str
    organization_id: str
    version_id: str
    status: str = IN_PROGRESS
    instance_number: int = 1
    min_instance_number: int = 1
    max_instance_number: int = 1
    enable_autoscale: bool = False
    instance_type: str = "cpu-0.25"
    user_env_vars: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    record_channel_id: str = ""
    created_at: str = ""
    modified_at: str = ""

    def wire(
        self, version: Version | None, deployment: Deployment | None, metrics_url: str
    ) -> dict[str, Any]:
        return {
            "service_id": self.service_id,
            "deployment_id": self.deployment_id,
            "models": dict(self.models),
            "model_version": version.version if version else None,
            "model_version_id": self.version_id,
            "status": self.status,
            "instance_number": self.instance_number,
            "min_instance_number": self.min_instance_number,
            "max_instance_number": self.max_instance_number,
            "enable_autoscale": self.enable_autoscale,
            "instance_type": self.instance_type,
            "metrics_url": metrics_url,
            "user_env_vars": dict(self.user_env_vars),
            "merged_env_vars": merged_env(deployment, version, self),
            "record_channel_id": self.record_channel_id,
            "service_process_type": "multi",
            "created_at": self.created_at,
            "modified_at": self.modified_at,
        }


def merged_env(deployment: Deployment | None, version: Version | None, service: Service) -> dict[str, str]:
    """Deployment defaults, then the version's variables, then the service's: later ones win."""
    merged: dict[str, str] = {}
    if deployment is not None:
        merged.update(deployment.default_environment)
    if version is not None:
        merged.update(version.user_parameters)
    merged.update(service.user_env_vars)
    return merged


@dataclass
class Endpoint(_Record):
    endpoint_id: str
    deployment_id: str
    organization_id: str
    custom_alias: str
    service_id: str
    created_at: str = ""
    modified_at: str = ""

    def wire(self) -> dict[str, Any]:
        return {
            "endpoint_id": self.endpoint_id,
            "custom_alias": self.custom_alias,
            "service_id": self.service_id,
        }


@dataclass
class LogEvent(_Record):
    seq: int
    service_id: str
    timestamp: str
    message: str
