"""Airflow 2.11 / 3.x differences in one place, resolved through common-compat.

Only the hook layer imports this module (the client and the emulator never import Airflow).
Each helper tries the newest API first and falls back to what Airflow 2.11 and older
common-compat releases offer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

__all__ = ["BaseHook", "amask_secret", "get_async_connection", "get_async_extra_dejson", "mask_secret"]


async def get_async_connection(conn_id: str, hook: Any = None) -> Connection:
    """Fetch a connection without blocking the event loop (common-compat's helper when present)."""
    try:
        from airflow.providers.common.compat.connection import get_async_connection as _get
    except ImportError:  # common-compat older than the helper
        from asgiref.sync import sync_to_async

        source = hook if hook is not None else BaseHook
        return await sync_to_async(source.get_connection)(conn_id)
    return await _get(conn_id, hook)


async def get_async_extra_dejson(conn: Connection) -> dict[str, Any]:
    """The connection's extra as a dict, masked without a blocking call to the supervisor."""
    try:
        from airflow.providers.common.compat.connection import get_async_extra_dejson as _get
    except ImportError:
        from asgiref.sync import sync_to_async

        return await sync_to_async(lambda: conn.extra_dejson)()
    return await _get(conn)


async def amask_secret(secret: str) -> None:
    """Register a secret with the masker from a coroutine (``amask_secret`` exists on Airflow 3.1+)."""
    try:
        from airflow.sdk.log import amask_secret as _amask
    except ImportError:  # Airflow 2.11: the masker is in-process and synchronous
        mask_secret(secret)
        return
    await _amask(secret)
