"""What the sync and async clients share besides the sans-IO core: settings, credential, repr.

Each client subclasses :class:`ClientBase` and opens its own transport in ``_open_transport``;
the constructor (settings from arguments, else the environment, else defaults), the read-only
settings and the credential-safe repr are written once here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_provider_abeja.client import _core
from airflow_provider_abeja.client._core import RequestBuilder
from airflow_provider_abeja.client.credentials import Credential, resolve_credential
from airflow_provider_abeja.client.retry import RetryPolicy
from airflow_provider_abeja.client.validation import (
    DEFAULT_API_URL,
    Timeout,
    check_addressing,
    parse_api_url,
    parse_timeout,
    whole_number,
)
from airflow_provider_abeja.exceptions import InvalidArgumentError

#: (connect, read) seconds. Connecting is quick or hopeless; a model may take a while to answer.
DEFAULT_TIMEOUT: Timeout = (10.0, 60.0)  # typed as any timeout: None is "off"


@dataclass(frozen=True)
class Settings:
    """What a client was configured with, after arguments and environment were merged."""

    api_url: str
    timeout: Timeout
    max_retry_count: int
    verify: bool | str
    inference_addressing: str
    retry_wait_max: float
    pool_maxsize: int
    max_answer_bytes: int

    @property
    def deadline(self) -> float | None:
        """Seconds one request may take in all (connect, headers, body): connect + read timeout."""
        return None if self.timeout is None else self.timeout[0] + self.timeout[1]


_T = TypeVar("_T")


def _setting(
    value: object, argument: str, variable: str, parse: Callable[[object, str], _T], default: _T
) -> _T:
    """The argument when given, else the environment variable when set (read when the client is
    built, not at import), else the default; errors name whichever was read."""
    if value is not None:
        return parse(value, argument)
    if os.environ.get(variable, "").strip():
        return parse(os.environ[variable], variable)
    return default


class ClientBase:
    """Settings resolved once when the client is built (arguments, else environment, else defaults)."""

    def __init__(
        self,
        credential: Mapping[str, Any] | None = None,
        timeout: float | tuple[float, float] | None = None,
        max_retry_count: int | None = None,
        *,
        api_url: str | None = None,
        verify: bool | str = True,
        inference_addressing: str = "auto",
        retry_wait_max: float = 30.0,
        pool_maxsize: int = 10,
        max_answer_bytes: int | None = None,
        auth_hint: str = "",
    ) -> None:
        url = _setting(api_url, "api_url", "ABEJA_API_URL", parse_api_url, DEFAULT_API_URL)
        timeouts = _setting(timeout, "timeout", "ABEJA_API_TIMEOUT", parse_timeout, DEFAULT_TIMEOUT)
        # Five retries unless the argument or the environment says otherwise.
        retries = _setting(max_retry_count, "max_retry_count", "ABEJA_API_MAX_RETRY_COUNT", whole_number, 5)
        if not isinstance(verify, bool | str):
            raise InvalidArgumentError("verify", "must be True, False or a path to a CA bundle")
        if verify is False:
            # httpx (the async client) warns nowhere and users often silence urllib3's warning.
            _core.logger.warning(
                "TLS certificate verification is off (verify=False) for %s: anyone on the path can "
                "read the credential; give a CA bundle path instead",
                url,
            )
        if (
            isinstance(retry_wait_max, bool)
            or not isinstance(retry_wait_max, int | float)
            or retry_wait_max < 0
        ):
            raise InvalidArgumentError("retry_wait_max", "must be a number of seconds >= 0")
        whole_number(pool_maxsize, "pool_maxsize", 1, digits=False)
        limit = _core.DEFAULT_MAX_ANSWER_BYTES if max_answer_bytes is None else max_answer_bytes
        limit = whole_number(limit, "max_answer_bytes", 1, digits=False)
        addressing = check_addressing(inference_addressing)
        self._settings = Settings(
            url, timeouts, retries, verify, addressing, float(retry_wait_max), pool_maxsize, limit
        )
        self._credential: Credential = resolve_credential(credential, os.environ)
        #: Added to the message of a 401 or 403: where the credential came from, what to check.
        self._auth_hint = auth_hint
        self._builder = RequestBuilder(self._settings.api_url, self._settings.inference_addressing)
        self._retry_policy = RetryPolicy(
            self._settings.max_retry_count, self._settings.retry_wait_max, secrets=self._credential.secrets
        )
        self._open_transport()

    def _open_transport(self) -> None:
        """Build the pooled HTTP transport from ``self._settings`` and ``self._credential``."""
        raise NotImplementedError

    @property
    def api_url(self) -> str:
        return self._settings.api_url

    @property
    def timeout(self) -> tuple[float, float] | None:
        """(connect, read) seconds, or None when timeouts are off."""
        return self._settings.timeout

    @property
    def max_retry_count(self) -> int:
        return self._settings.max_retry_count

    @property
    def max_answer_bytes(self) -> int:
        """The longest answer read into memory; answers streamed to a file are not limited."""
        return self._settings.max_answer_bytes

    @property
    def retry_wait_max(self) -> float:
        """The longest wait between two tries, in seconds (for callers applying the same policy)."""
        return self._settings.retry_wait_max

    @property
    def inference_addressing(self) -> str:
        """``path`` or ``virtual-host``: what ``auto`` resolved to for this API URL."""
        return "path" if self._builder.path_style else "virtual-host"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(api_url={self.api_url!r}, credential={self._credential!r}, "
            f"timeout={self.timeout!r}, max_retry_count={self.max_retry_count!r})"
        )
