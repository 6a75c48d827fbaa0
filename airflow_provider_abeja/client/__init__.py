"""The ABEJA Platform Service API client (no Airflow needed).

``APIClient`` is synchronous (requests), ``AsyncAPIClient`` asynchronous (httpx). Both are
imported when first used, so that the public validators (``client.validation``) and credential
resolution (``client.credentials``), which the hook uses on every DAG parse, stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_abeja.client._core import RequestSpec
    from airflow_provider_abeja.client.aio import AsyncAPIClient
    from airflow_provider_abeja.client.sync import APIClient

__all__ = ["APIClient", "AsyncAPIClient", "RequestSpec"]

#: The module of each lazily imported name.
_HOMES = {"APIClient": "sync", "AsyncAPIClient": "aio", "RequestSpec": "_core"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
