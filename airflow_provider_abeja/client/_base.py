"""What the sync and async clients share besides the sans-IO core: settings, credential, repr.

Each client subclasses :class:`ClientBase` and opens its own transport in ``_open_transport``;
the constructor, the read-only settings and the credential-safe repr are written once here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow_provider_abeja.client import _core
from airflow_provider_abeja.client._core import RequestBuilder, Settings
from airflow_provider_abeja.client.credentials import Credential, resolve_credential
from airflow_provider_abeja.client.retry import RetryPolicy


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
    ) -> None:
        options = dict(locals())  # every setting argument, by the name resolve_settings takes
        del options["self"], options["credential"]
        self._settings: Settings = _core.resolve_settings(**options)
        self._credential: Credential = resolve_credential(credential, os.environ)
        self._builder = RequestBuilder(self._settings.api_url, self._settings.inference_addressing)
        self._retry_policy = RetryPolicy(self._settings.max_retry_count, self._settings.retry_wait_max)
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
