"""Credential resolution: an explicit dict, else the environment, else a clear error.

The result keeps the ``Authorization`` value private: its repr names only the kind of
credential, so that it can sit in a client, a session or a log line without leaking.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_provider_abeja.client.validation import text
from airflow_provider_abeja.exceptions import InvalidArgumentError, MissingCredentialsError

#: Each kind of credential and the keys it is given by, in order of precedence.
CREDENTIAL_KINDS = {
    "bearer": ("auth_token",),
    "user": ("user_id", "personal_access_token"),
    "datasource": ("datasource_id", "datasource_secret"),
}
CREDENTIAL_KEYS = tuple(key for keys in CREDENTIAL_KINDS.values() for key in keys)
#: The environment variable each key is read from when no credential is given.
ENV_NAMES = {
    "auth_token": "PLATFORM_AUTH_TOKEN",
    "user_id": "ABEJA_PLATFORM_USER_ID",
    "personal_access_token": "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN",
    "datasource_id": "ABEJA_PLATFORM_DATASOURCE_ID",
    "datasource_secret": "ABEJA_PLATFORM_DATASOURCE_SECRET",
}


#: A requests or httpx request: both keep their headers in ``headers``.
_Request = TypeVar("_Request", bound=Any)


@dataclass(frozen=True)
class Credential:
    """A resolved credential: its kind, a non-secret principal, where it came from, and the
    ``Authorization`` header value and secret strings, which its repr never shows."""

    kind: str
    principal: str
    #: The ``Authorization`` header value (secret: never log it).
    authorization: str
    #: Every secret string, for scrubbing texts that come back from elsewhere.
    secrets: tuple[str, ...]
    source: str

    def __call__(self, request: _Request) -> _Request:
        """Put the ``Authorization`` header on ``request``: the auth hook of requests and httpx,
        applied per request so that no session or client header holds the secret."""
        request.headers["Authorization"] = self.authorization
        return request

    def __repr__(self) -> str:
        who = f" {self.principal}" if self.principal else ""
        return f"<Credential {self.kind}{who} from {self.source}>"

    __str__ = __repr__


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (e.g. one a server echoed back) replaced by ``***``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


def _basic(user: str, password: str) -> tuple[str, tuple[str, ...]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}", (password, token)


def _value(values: Mapping[str, object], key: str, where: str, names: Mapping[str, str]) -> str | None:
    try:
        return text(values.get(key), names[key], optional=True, strip=False)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(exc.argument, f"{exc.reason} ({where})") from None


def credential_from_values(
    values: Mapping[str, object], where: str, names: Mapping[str, str]
) -> Credential | None:
    """The credential in ``values`` (bearer > user > datasource), or None when it holds none.

    ``names`` says how to call each key in an error (an argument, an environment variable, a
    connection field); ``where`` says where the values came from. Errors never echo a value.
    """
    token = _value(values, "auth_token", where, names)
    if token is not None:
        return Credential("bearer", "", f"Bearer {token}", (token,), where)
    for kind in ("user", "datasource"):
        id_key, secret_key = CREDENTIAL_KINDS[kind]
        principal = _value(values, id_key, where, names)
        secret = _value(values, secret_key, where, names)
        if principal is None and secret is None:
            continue
        if principal is None or secret is None:
            raise MissingCredentialsError(
                f"{names[id_key]} and {names[secret_key]} must be given together ({where})"
            )
        if not principal.startswith(f"{kind}-"):
            principal = f"{kind}-{principal}"
        header, secrets = _basic(principal, secret)
        return Credential(kind, principal, header, secrets, where)
    return None


def resolve_credential(credential: Mapping[str, object] | None, environ: Mapping[str, str]) -> Credential:
    """Explicit dict first (bearer > user > datasource), else the environment, in the same order.

    An empty or ``None`` dict falls back to the environment. A non-empty dict without a usable
    credential is an error (it is never silently mixed with the environment). The caller's
    mapping is only read.
    """
    if credential:
        if not isinstance(credential, Mapping):
            raise InvalidArgumentError("credential", "must be a dict")
        resolved = credential_from_values(
            credential, "credential argument", {k: f"credential.{k}" for k in CREDENTIAL_KEYS}
        )
        if resolved is None:
            raise MissingCredentialsError(
                "credential argument holds none of: auth_token, user_id + personal_access_token, "
                "datasource_id + datasource_secret"
            )
        return resolved
    env_values = {key: environ.get(name) for key, name in ENV_NAMES.items()}
    resolved = credential_from_values(env_values, "environment", ENV_NAMES)
    if resolved is None:
        variables = ", or ".join(
            " + ".join(ENV_NAMES[key] for key in keys) for keys in CREDENTIAL_KINDS.values()
        )
        raise MissingCredentialsError(
            "no ABEJA credential: pass credential={'auth_token': ...} (or user_id + "
            f"personal_access_token, or datasource_id + datasource_secret), or set {variables}"
        )
    return resolved
