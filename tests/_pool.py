"""What the triggers' shared clients and listings hold on the running loop (``wait.pool``), for
the tests that check a wait leaves nothing behind."""

from __future__ import annotations

import asyncio

from airflow_provider_abeja.wait import pool


def shared_client_count() -> int:
    """Shared clients open on the running loop."""
    entries = pool._REGISTRY.get(asyncio.get_running_loop(), {})
    return sum(len(shared.clients) for shared in entries.values())


def group_count(listing_call: str) -> int:
    """Groups listing with ``listing_call`` on the running loop."""
    return sum(key[1] == listing_call for key in pool._GROUPS.get(asyncio.get_running_loop(), {}))
