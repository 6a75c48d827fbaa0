"""Emulator settings: organization, accepted credentials, delays; JSON-shaped for the control API."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import bad_request

DEFAULT_ORGANIZATION_ID = "1234567890123"
DEFAULT_USER_ID = "1111111111111"
DEFAULT_PERSONAL_ACCESS_TOKEN = "emulator-token"
DEFAULT_BEARER_TOKEN = "emulator-bearer-token"
DEFAULT_DATASOURCE_ID = "2222222222222"
DEFAULT_DATASOURCE_SECRET = "emulator-datasource-secret"
DEFAULT_READY_DELAY = 2.0
DEFAULT_HANDLER_TIMEOUT = 30.0  # the model proxy's read/write timeouts (proxy/httpserver.go)


def _default_users() -> dict[str, dict[str, Any]]:
    return {DEFAULT_USER_ID: {"token": DEFAULT_PERSONAL_ACCESS_TOKEN}}


def _default_bearers() -> dict[str, dict[str, Any]]:
    return {DEFAULT_BEARER_TOKEN: {}}


def _default_datasources() -> dict[str, dict[str, Any]]:
    return {DEFAULT_DATASOURCE_ID: {"secret": DEFAULT_DATASOURCE_SECRET}}


@dataclass
class EmulatorConfig:
    """What the emulator accepts and how fast it moves.

    Each credential entry may carry `"organizations": [...]`; without it the credential may use the
    default organization and every id in `extra_organizations`.
    """

    organization_id: str = DEFAULT_ORGANIZATION_ID
    extra_organizations: list[str] = field(default_factory=list)
    ready_delay: float = DEFAULT_READY_DELAY
    handler_timeout: float = DEFAULT_HANDLER_TIMEOUT
    users: dict[str, dict[str, Any]] = field(default_factory=_default_users)
    bearer_tokens: dict[str, dict[str, Any]] = field(default_factory=_default_bearers)
    datasources: dict[str, dict[str, Any]] = field(default_factory=_default_datasources)
    log_page_size: int = 50
    #: Services per page of ``get_services`` (the platform pages its lists with offset/limit).
    services_page_size: int = 100
    max_workers_per_service: int = 16
    max_log_events_per_service: int = 5000
    #: Datalake files per page when ``items_per_page`` is not given.
    files_page_size: int = 100
    #: Seconds a pre-signed Datalake URL stays valid (``url_expires_on``).
    datalake_url_lifetime: float = 3600.0
    #: Runs per page of the run lists.
    runs_page_size: int = 100
    #: Seconds between a run's status steps (RUNNABLE, STARTING, RUNNING).
    run_step_delay: float = 0.1
    #: Upper bound of a run's attempts (``retry_count`` + 1 each).
    run_max_attempts: int = 10
    #: Runs executing at once (their runtimes); the others wait RUNNABLE.
    max_concurrent_runs: int = 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public_dict(self) -> dict[str, Any]:
        """The settings without secrets (the control API answers with this)."""
        data = self.to_dict()
        data["users"] = {uid: _without(v, "token") for uid, v in self.users.items()}
        data["bearer_tokens"] = {f"<{i}>": dict(v) for i, v in enumerate(self.bearer_tokens.values())}
        data["datasources"] = {did: _without(v, "secret") for did, v in self.datasources.items()}
        return data

    def copy(self) -> EmulatorConfig:
        return copy.deepcopy(self)

    def default_organizations(self) -> frozenset[str]:
        return frozenset([self.organization_id, *self.extra_organizations])

    def update(self, patch: dict[str, Any]) -> None:
        """Replace the given top-level keys; validate types so a bad patch leaves nothing half-set."""
        staged = self.copy()
        for key, value in patch.items():
            if key not in _FIELD_TYPES:
                raise bad_request(f"unknown emulator setting {key!r}")
            setattr(staged, key, _coerce(key, value))
        self.__dict__.update(staged.__dict__)


def _without(entry: dict[str, Any], secret_key: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != secret_key}


_FIELD_TYPES: dict[str, type] = {
    "organization_id": str,
    "extra_organizations": list,
    "ready_delay": float,
    "handler_timeout": float,
    "users": dict,
    "bearer_tokens": dict,
    "datasources": dict,
    "log_page_size": int,
    "services_page_size": int,
    "max_workers_per_service": int,
    "max_log_events_per_service": int,
    "files_page_size": int,
    "datalake_url_lifetime": float,
    "runs_page_size": int,
    "run_step_delay": float,
    "run_max_attempts": int,
    "max_concurrent_runs": int,
}


def _coerce(key: str, value: Any) -> Any:
    kind = _FIELD_TYPES[key]
    try:
        if kind is float:
            number = float(value)
            if number < 0:
                raise ValueError
            return number
        if kind is int:
            integer = int(value)
            if integer < 1:
                raise ValueError
            return integer
        if kind is str:
            if not isinstance(value, str) or not value:
                raise ValueError
            return value
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError
            return list(value)
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ValueError
        return {str(k): dict(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise bad_request(f"invalid value for emulator setting {key!r}") from None
