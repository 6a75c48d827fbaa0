"""Client settings from an Airflow connection's fields: one function for the sync and async hooks.

Pure Python (no Airflow import, no HTTP): the hook passes in the connection (only its fields
are read) and its extra dict. The values are checked by the client's own public validators and
credential resolution (``client.validation``, ``client.credentials``), so a connection accepts
exactly what the client accepts; every error names the connection id and the field, and never
contains a secret value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_provider_abeja.client import credentials, validation
from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.get_provider_info import CONN_FIELDS, DEFAULT_CONSOLE_URL

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

log = logging.getLogger(__name__)

CONN_TYPE = "abeja"

#: Extra fields this connection type reads (those of its form); anything else is reported as unknown.
EXTRA_FIELDS = frozenset(CONN_FIELDS)

#: The words the ``verify`` extra may be (blank verifies); any other value is a CA bundle path.
_VERIFY_WORDS = dict.fromkeys(("", "true", "1", "yes", "on"), True)
_VERIFY_WORDS.update(dict.fromkeys(("false", "0", "no", "off"), False))


class ConnectionFieldError(InvalidArgumentError):
    """A connection field is malformed; ``argument`` is the field, ``conn_id`` the connection."""

    def __init__(self, conn_id: str, field_name: str, message: str) -> None:
        self.conn_id = conn_id
        self.field_name = field_name
        super().__init__(field_name, f"{message} (connection '{conn_id}', field '{field_name}')")
        self.reason = message


#: The connection field each credential key comes from (errors name the field a user edits):
#: the extra field of the same name, but login and password for a user's.
_CREDENTIAL_FIELDS = {key: key for key in credentials.CREDENTIAL_KEYS}
_CREDENTIAL_FIELDS.update(user_id="login", personal_access_token="password")
#: The same fields as a user finds them in the connection form.
_FIELD_NAMES = {key: f"extra {key}" for key in credentials.CREDENTIAL_KEYS}
_FIELD_NAMES.update(user_id="login (user id)", personal_access_token="password (personal access token)")
#: One MiB, the unit of the ``max_answer_mb`` extra.
MIB = 1024 * 1024
#: The settings a client is built with, under the names of its arguments.
_CLIENT_ARGS = ("timeout", "max_retry_count", "api_url", "verify", "inference_addressing", "max_answer_bytes")


@dataclass(frozen=True)
class ClientSettings:
    """Everything needed to build a client, read once from a connection and checked by the client's rules."""

    conn_id: str
    api_url: str
    credential_object: credentials.Credential = field(repr=False, compare=False)
    credential: dict[str, str] = field(repr=False)
    timeout: float | tuple[float, float] | None = None
    max_retry_count: int | None = None
    verify: bool | str = True
    inference_addressing: str = "auto"
    organization_id: str | None = None
    deployment_id: str | None = None
    console_url: str = DEFAULT_CONSOLE_URL
    max_answer_bytes: int | None = None

    @property
    def credential_kind(self) -> str:
        """``bearer``, ``user`` or ``datasource``."""
        return self.credential_object.kind

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by ``APIClient`` and ``AsyncAPIClient``."""
        kwargs = {name: getattr(self, name) for name in _CLIENT_ARGS}
        return {"credential": dict(self.credential), **kwargs, "auth_hint": self.auth_hint}

    @property
    def auth_hint(self) -> str:
        """What a 401 or 403 says to check: this connection and the fields its credential came from."""
        fields = " and ".join(_FIELD_NAMES[key] for key in credentials.CREDENTIAL_KINDS[self.credential_kind])
        return (
            f"check connection '{self.conn_id}': {fields}; for a 403 also that this credential may "
            "use the organization (extra organization_id or the task's organization_id)"
        )


def extra_value(extra: Mapping[str, Any], name: str) -> Any:
    """An extra field, accepting the ``extra__abeja__<name>`` form older UIs store."""
    value = extra.get(name)
    if value is None or value == "":
        value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _api_url(host: str | None, port: int | None) -> str:
    host = (host or "").strip()
    if not host:
        return validation.DEFAULT_API_URL
    url = validation.parse_api_url(host, "host")
    parts = urlsplit(url)
    if port and parts.port is None:
        url = urlunsplit((parts.scheme, f"{parts.netloc}:{int(port)}", parts.path, "", ""))
    return url


def _timeout(value: Any) -> float | tuple[float, float] | None:
    """Seconds (or a (connect, read) pair); ``0`` turns the timeout off, as in the client."""
    parsed = validation.parse_timeout(value, "timeout")
    if parsed is None:
        return 0.0
    return parsed[0] if parsed[0] == parsed[1] and not isinstance(value, (list, tuple)) else parsed


def _retry_count(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return validation.whole_number(value, "max_retry_count")


def _verify(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise InvalidArgumentError("verify", "must be true, false or a CA bundle path")
    text_value = value.strip()
    if text_value.lower() in _VERIFY_WORDS:
        return _VERIFY_WORDS[text_value.lower()]
    path = os.path.expanduser(text_value)
    if not os.path.exists(path):
        raise InvalidArgumentError("verify", f"CA bundle path {text_value!r} does not exist")
    return path


def _answer_limit(value: Any) -> int | None:
    """The ``max_answer_mb`` extra (MiB, fractions allowed) as bytes."""
    try:
        megabytes = float(value.strip()) if isinstance(value, str) else value
    except ValueError:
        megabytes = None
    if isinstance(megabytes, bool) or not isinstance(megabytes, int | float) or not 0 < megabytes < 2**40:
        raise InvalidArgumentError("max_answer_mb", f"must be a number of MiB > 0, not {value!r}")
    return max(1, int(megabytes * MIB))


def _organization(value: Any) -> str | None:
    org = validation.text(value, "organization_id", optional=True)
    return None if org is None else validation.check_organization_id(org)


def _credential(
    conn_id: str, login: str | None, password: str | None, extra: Mapping[str, Any]
) -> tuple[credentials.Credential, dict[str, str]]:
    """The client's credential object (bearer > user > datasource) and the values it came from."""
    values = {key: extra_value(extra, key) for key in credentials.CREDENTIAL_KEYS}
    values["user_id"] = login.strip() if isinstance(login, str) else login
    values["personal_access_token"] = password
    credential = credentials.credential_from_values(values, f"connection '{conn_id}'", _CREDENTIAL_FIELDS)
    given = {key: str(values[key]) for key in credentials.CREDENTIAL_KINDS[credential.kind]}
    return credential, given


def settings_from_connection(
    conn_id: str,
    conn: Connection,
    extra: Mapping[str, Any] | None,
    *,
    timeout: float | None = None,
    max_retry_count: int | None = None,
) -> ClientSettings:
    """Validate a connection's fields (host, port, login, password; ``extra`` is its extra dict,
    read the sync or the async way) into ``ClientSettings``; explicit hook arguments win."""
    extra = extra or {}
    if not isinstance(extra, Mapping):
        raise ConnectionFieldError(conn_id, "extra", "must be a JSON object")
    unknown = sorted(k for k in extra if k.removeprefix(f"extra__{CONN_TYPE}__") not in EXTRA_FIELDS)
    if unknown:
        log.warning("Connection '%s' has unknown extra fields, ignored: %s", conn_id, ", ".join(unknown))

    def read(name: str, parse: Callable[[Any], Any], default: Any = None, given: Any = None) -> Any:
        """The hook's argument when given, else the extra field ``name``; parsed, or ``default``."""
        value = extra_value(extra, name) if given is None else given
        return default if value is None else parse(value)

    try:
        credential, values = _credential(conn_id, conn.login, conn.password, extra)
        console = validation.text(extra_value(extra, "console_url"), "console_url", optional=True)
        return ClientSettings(
            conn_id=conn_id,
            api_url=_api_url(conn.host, conn.port),
            credential_object=credential,
            credential=values,
            timeout=read("timeout", _timeout, given=timeout),
            max_retry_count=read("max_retry_count", _retry_count, given=max_retry_count),
            verify=read("verify", _verify, True),
            inference_addressing=read("inference_addressing", validation.check_addressing, "auto"),
            organization_id=read("organization_id", _organization),
            deployment_id=validation.text(
                extra_value(extra, "deployment_id"), "deployment_id", optional=True
            ),
            console_url=validation.parse_api_url(console, "console_url") if console else DEFAULT_CONSOLE_URL,
            max_answer_bytes=read("max_answer_mb", _answer_limit),
        )
    except InvalidArgumentError as exc:
        # The validators name the field they check: their refusal becomes one of this connection's.
        reason = exc.reason.removesuffix(f" (connection '{conn_id}')")
        if exc.argument == "host":
            reason += (
                "; in a connection URI write the URL-encoded URL as the host, "
                f"e.g. abeja://...@{quote(validation.DEFAULT_API_URL, safe='')}"
            )
        raise ConnectionFieldError(conn_id, exc.argument, reason) from None
