"""Airflow 2.11 / 3.x differences in one place, resolved through common-compat (1.22 or later).

Only the hook layer imports this module (the client and the emulator never import Airflow).
"""

from __future__ import annotations

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import BaseHook, mask_secret

__all__ = ["BaseHook", "amask_secret", "get_async_connection", "get_async_extra_dejson", "mask_secret"]


async def amask_secret(secret: str) -> None:
    """Register a secret with the masker from a coroutine (``amask_secret`` exists on Airflow 3.1+)."""
    try:
        from airflow.sdk.log import amask_secret as _amask
    except ImportError:  # Airflow 2.11: the masker is in-process and synchronous
        mask_secret(secret)
        return
    await _amask(secret)
