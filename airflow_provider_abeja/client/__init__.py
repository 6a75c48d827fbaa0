"""The ABEJA Platform Service API client (no Airflow needed).

``APIClient`` is synchronous (requests). ``AsyncAPIClient`` (httpx) is imported only when first
used, so that ``import airflow_provider_abeja.client`` stays light for DAG files and scripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.client.sync import APIClient

if TYPE_CHECKING:
    from airflow_provider_abeja.client.aio import AsyncAPIClient

__all__ = ["APIClient", "AsyncAPIClient"]


def __getattr__(name: str) -> Any:
    if name == "AsyncAPIClient":
        from airflow_provider_abeja.client.aio import AsyncAPIClient

        return AsyncAPIClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
