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

_HOMES = {
    "APIClient": "airflow_provider_abeja.client.sync",
    "AsyncAPIClient": "airflow_provider_abeja.client.aio",
    "RequestSpec": "airflow_provider_abeja.client._core",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
