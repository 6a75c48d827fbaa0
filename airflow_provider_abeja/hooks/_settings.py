"""Client settings from an Airflow connection's fields: one function for the sync and async hooks.

Pure Python (no Airflow, no HTTP): the hook passes in the connection's fields and its extra
dict. Every error names the connection id and the field, and never contains a secret value.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_abeja.exceptions import InvalidArgumentError, MissingCredentialsError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.abeja.io"
DEFAULT_CONSOLE_URL = "https://console.abeja.io"
INFERENCE_ADDRESSING_CHOICES = ("auto", "virtual-host", "path")
CONN_TYPE = "abeja"

#: Extra fields this connection type reads; anything else in the extra is reported as unknown.
EXTRA_FIELDS = (
    "organization_id",
    "auth_token",
    "datasource_id",
    "datasource_secret",
    "timeout",
    "max_retry_count",
    "verify",
    "inference_addressing",
    "console_url",
    "deployment_id",
)
SECRET_EXTRA_FIELDS = frozenset({"auth_token", "datasource_secret"})

# The organization id becomes a host label for inference (same rule as the client's check).
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class ConnectionFieldError(InvalidArgumentError):
    """A connection field is malformed; ``argument`` is the field, ``conn_id`` the connection."""

    def __init__(self, conn_id: str, field_name: str, message: str) -> None:
        self.conn_id = conn_id
        self.field_name = field_name
        super().__init__(field_name, f"{message} (connection '{conn_id}', field '{field_name}')")
        self.reason = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.conn_id, self.field_name, self.reason))


@dataclass(frozen=True)
class ClientSettings:
    """Everything needed to build a client, read once from a connection."""

    conn_id: str
    api_url: str
    credential: dict[str, str] = field(repr=False)
    credential_kind: str
    timeout: float | None = None
    max_retry_count: int | None = None
    verify: bool | str = True
    inference_addressing: str = "auto"
    organization_id: str | None = None
    deployment_id: str | None = None
    console_url: str = DEFAULT_CONSOLE_URL

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by ``APIClient`` and ``AsyncAPIClient``."""
        return {
            "credential": dict(self.credential),
            "timeout": self.timeout,
            "max_retry_count": self.max_retry_count,
            "api_url": self.api_url,
            "verify": self.verify,
            "inference_addressing": self.inference_addressing,
        }

    def secrets(self) -> list[str]:
        """Every string that must never reach a log: raw secrets and the Basic header token."""
        cred = self.credential
        values: list[str] = []
        if "auth_token" in cred:
            values.append(cred["auth_token"])
        elif "personal_access_token" in cred:
            values.append(cred["personal_access_token"])
            user = cred["user_id"] if cred["user_id"].startswith("user-") else f"user-{cred['user_id']}"
            values.append(_basic_token(user, cred["personal_access_token"]))
        elif "datasource_secret" in cred:
            values.append(cred["datasource_secret"])
            ds = cred["datasource_id"]
            principal = ds if ds.startswith("datasource-") else f"datasource-{ds}"
            values.append(_basic_token(principal, cred["datasource_secret"]))
        return values


def _basic_token(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def extra_value(extra: Mapping[str, Any], name: str) -> Any:
    """An extra field, accepting the ``extra__abeja__<name>`` form older UIs store."""
    value = extra.get(name)
    if value is None or value == "":
        value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _text(conn_id: str, name: str, value: Any, *, secret: bool = False) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # numeric ids written as JSON numbers
    if not isinstance(value, str):
        raise ConnectionFieldError(conn_id, name, f"must be a string, not {type(value).__name__}")
    value = value.strip() if not secret else value
    if not value:
        return None
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        # The value itself is never echoed: it may be a secret.
        raise ConnectionFieldError(conn_id, name, "holds white space or control characters")
    return value


def _url(conn_id: str, name: str, value: str) -> str:
    parts = urlsplit(value)
    hint = ""
    if name == "host":
        hint = (
            "; in a connection URI write the URL-encoded URL as the host, "
            "e.g. abeja://...@https%3A%2F%2Fapi.abeja.io"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConnectionFieldError(
            conn_id, name, f"must be an http:// or https:// URL with a host name{hint}"
        )
    if "@" in parts.netloc:
        raise ConnectionFieldError(conn_id, name, "must not carry user info (put credentials elsewhere)")
    if parts.query or parts.fragment:
        raise ConnectionFieldError(conn_id, name, "must not have a query string or fragment")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ConnectionFieldError(conn_id, name, "has an invalid port") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _api_url(conn_id: str, host: str | None, port: int | None) -> str:
    host = (host or "").strip()
    if not host:
        return DEFAULT_API_URL
    url = _url(conn_id, "host", host)
    if port:
        parts = urlsplit(url)
        if parts.port is None:
            url = urlunsplit((parts.scheme, f"{parts.netloc}:{int(port)}", parts.path, "", ""))
    return url


def _timeout(conn_id: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConnectionFieldError(conn_id, "timeout", "must be a number of seconds, not a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConnectionFieldError(
            conn_id, "timeout", f"must be a number of seconds, got {value!r}"
        ) from None
    if not math.isfinite(number) or number <= 0:
        raise ConnectionFieldError(conn_id, "timeout", f"must be a positive number of seconds, got {value!r}")
    return number


def _retry_count(conn_id: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConnectionFieldError(conn_id, "max_retry_count", f"must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip()) if not isinstance(value, float) else int(value)
    except (TypeError, ValueError):
        raise ConnectionFieldError(
            conn_id, "max_retry_count", f"must be a whole number, got {value!r}"
        ) from None
    if number < 0:
        raise ConnectionFieldError(
            conn_id, "max_retry_count", f"must be 0 (no retries) or more, got {number}"
        )
    return number


def _verify(conn_id: str, value: Any) -> bool | str:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ConnectionFieldError(conn_id, "verify", "must be true, false or a CA bundle path")
    text = value.strip()
    if text.lower() in _TRUE or not text:
        return True
    if text.lower() in _FALSE:
        return False
    path = os.path.expanduser(text)
    if not os.path.exists(path):
        raise ConnectionFieldError(conn_id, "verify", f"CA bundle path {text!r} does not exist")
    return path


def _addressing(conn_id: str, value: Any) -> str:
    if value is None:
        return "auto"
    text = str(value).strip().lower()
    if text not in INFERENCE_ADDRESSING_CHOICES:
        raise ConnectionFieldError(
            conn_id,
            "inference_addressing",
            f"must be one of {', '.join(INFERENCE_ADDRESSING_CHOICES)}, got {value!r}",
        )
    return text


def _organization(conn_id: str, value: Any) -> str | None:
    org = _text(conn_id, "organization_id", value)
    if org is not None and not _DNS_LABEL.match(org):
        raise ConnectionFieldError(
            conn_id, "organization_id", f"{org!r} is not a single DNS label (letters, digits, '-')"
        )
    return org


def _credential(
    conn_id: str, login: str | None, password: str | None, extra: Mapping[str, Any]
) -> tuple[dict[str, str], str]:
    """Bearer token first, then user id + personal access token, then the datasource pair."""
    token = _text(conn_id, "auth_token", extra_value(extra, "auth_token"), secret=True)
    if token:
        return {"auth_token": token}, "bearer"
    user_id = _text(conn_id, "login", login)
    pat = _text(conn_id, "password", password, secret=True)
    if user_id or pat:
        if not user_id:
            raise MissingCredentialsError(
                f"connection '{conn_id}': password (personal access token) is set "
                "but login (user id) is empty"
            )
        if not pat:
            raise MissingCredentialsError(
                f"connection '{conn_id}': login (user id) is set "
                "but password (personal access token) is empty"
            )
        return {"user_id": user_id, "personal_access_token": pat}, "user"
    ds_id = _text(conn_id, "datasource_id", extra_value(extra, "datasource_id"))
    ds_secret = _text(conn_id, "datasource_secret", extra_value(extra, "datasource_secret"), secret=True)
    if ds_id or ds_secret:
        if not (ds_id and ds_secret):
            missing = "datasource_secret" if ds_id else "datasource_id"
            raise MissingCredentialsError(
                f"connection '{conn_id}': extra datasource_id and datasource_secret must be set together "
                f"({missing} is empty)"
            )
        return {"datasource_id": ds_id, "datasource_secret": ds_secret}, "datasource"
    raise MissingCredentialsError(
        f"connection '{conn_id}' has no ABEJA credential: set extra auth_token, or login (user id) "
        "+ password (personal access token), or extra datasource_id + datasource_secret"
    )


def settings_from_connection(
    conn_id: str,
    *,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any] | None,
    port: int | None = None,
    timeout: float | None = None,
    max_retry_count: int | None = None,
) -> ClientSettings:
    """Validate a connection's fields into ``ClientSettings``; explicit hook arguments win."""
    extra = extra or {}
    if not isinstance(extra, Mapping):
        raise ConnectionFieldError(conn_id, "extra", "must be a JSON object")
    unknown = sorted(
        k
        for k in extra
        if k not in EXTRA_FIELDS and k.removeprefix(f"extra__{CONN_TYPE}__") not in EXTRA_FIELDS
    )
    if unknown:
        log.warning("Connection '%s' has unknown extra fields, ignored: %s", conn_id, ", ".join(unknown))
    credential, kind = _credential(conn_id, login, password, extra)
    console = _text(conn_id, "console_url", extra_value(extra, "console_url"))
    return ClientSettings(
        conn_id=conn_id,
        api_url=_api_url(conn_id, host, port),
        credential=credential,
        credential_kind=kind,
        timeout=_timeout(conn_id, timeout if timeout is not None else extra_value(extra, "timeout")),
        max_retry_count=_retry_count(
            conn_id,
            max_retry_count if max_retry_count is not None else extra_value(extra, "max_retry_count"),
        ),
        verify=_verify(conn_id, extra_value(extra, "verify")),
        inference_addressing=_addressing(conn_id, extra_value(extra, "inference_addressing")),
        organization_id=_organization(conn_id, extra_value(extra, "organization_id")),
        deployment_id=_text(conn_id, "deployment_id", extra_value(extra, "deployment_id")),
        console_url=_url(conn_id, "console_url", console) if console else DEFAULT_CONSOLE_URL,
    )
