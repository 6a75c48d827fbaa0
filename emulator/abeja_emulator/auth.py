"""Credential checks: the platform's three Authorization forms, mapped to the organizations they may use."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from .config import EmulatorConfig
from .errors import ApiError


@dataclass(frozen=True)
class Principal:
    """Who called: `kind` is `user`, `bearer` or `datasource`; `organizations` they may reach."""

    kind: str
    identity: str
    organizations: frozenset[str]


def _unauthorized(description: str) -> ApiError:
    return ApiError(401, description)


class Authenticator:
    """Turns an Authorization header into a Principal; caches decoded headers until the config changes."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._cache: dict[str, Principal] = {}

    def reconfigure(self, config: EmulatorConfig) -> None:
        self._config = config
        self._cache.clear()

    def authenticate(self, header: str | None) -> Principal:
        if not header:
            raise _unauthorized("no credentials: send a Bearer token or HTTP Basic credentials")
        cached = self._cache.get(header)
        if cached is not None:
            return cached
        principal = self._check(header)
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[header] = principal
        return principal

    def authorize(self, principal: Principal, organization_id: str) -> None:
        if organization_id not in principal.organizations:
            raise ApiError(403, f"not allowed to access organization {organization_id}")

    def _orgs(self, entry: dict[str, object]) -> frozenset[str]:
        orgs = entry.get("organizations")
        if isinstance(orgs, list):
            return frozenset(str(o) for o in orgs)
        return self._config.default_organizations()

    def _check(self, header: str) -> Principal:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            for token, entry in self._config.bearer_tokens.items():
                if hmac.compare_digest(token.encode(), value.encode()):
                    return Principal("bearer", "bearer", self._orgs(entry))
            raise _unauthorized("invalid bearer token")
        if scheme.lower() != "basic":
            raise _unauthorized("unsupported authorization scheme")
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed basic credentials") from None
        name, sep, secret = decoded.partition(":")
        if not sep:
            raise _unauthorized("malformed basic credentials")
        if name.startswith("user-"):
            user = self._config.users.get(name[len("user-") :])
            if user is not None and _same(user.get("token"), secret):
                return Principal("user", name, self._orgs(user))
        elif name.startswith("datasource-"):
            source = self._config.datasources.get(name[len("datasource-") :])
            if source is not None and _same(source.get("secret"), secret):
                return Principal("datasource", name, self._orgs(source))
        raise _unauthorized("invalid credentials")


def _same(expected: object, given: str) -> bool:
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())
