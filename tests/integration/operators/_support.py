"""Helpers of the operator integration tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import TaskDeferred

SAMPLE_DEPLOYMENT = "9999999999999"
GOOD_VERSION = "ver-5a3d1e0000000001"
OTHER_VERSION = "ver-5a3d1e0000000002"
BAD_VERSION = "ver-bad0000000000001"
MISSING_SERVICE = "ser-0000000000000000"


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event.payload
    return None


def run_operator(op: Any, context: Mapping[str, Any]) -> Any:
    """`execute`, and when it defers, the trigger and then the resume method, like Airflow does."""
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        path, kwargs = deferred.trigger.serialize()
        module, _, name = path.rpartition(".")
        trigger_class = getattr(__import__(module, fromlist=[name]), name)
        # Round-trip through serialize() as the triggerer does: only JSON-able kwargs survive.
        event = asyncio.run(_first_event(trigger_class(**kwargs)))
        return getattr(op, deferred.method_name)(context, event, **(deferred.kwargs or {}))


def ready_service(emulator: Any, version_id: str = GOOD_VERSION, **payload: Any) -> str:
    """A READY service made directly on the emulator (not through the code under test)."""
    service = emulator.create_service(SAMPLE_DEPLOYMENT, version_id, **payload)
    emulator.wait_for_status(SAMPLE_DEPLOYMENT, service["service_id"], "READY")
    return str(service["service_id"])


def route_count(emulator: Any, route: str) -> int:
    return int(emulator.counters()["requests"].get(route, 0))
