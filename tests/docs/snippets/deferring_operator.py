"""Docs snippet (waiting page): an operator of your own that waits with AbejaServiceStatusTrigger.

``run`` drives it as Airflow would: ``execute`` defers, the trigger polls the emulator until the
service is READY, and ``execute_complete`` takes the event.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from unittest import mock

# [START deferring_operator]
import time

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger, validate_status_event


class WaitForMyServiceOperator(BaseOperator):
    def __init__(self, *, organization_id: str, deployment_id: str, service_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.organization_id = organization_id
        self.deployment_id = deployment_id
        self.service_id = service_id

    def execute(self, context: Any) -> None:
        self.defer(
            trigger=AbejaServiceStatusTrigger(
                organization_id=self.organization_id,  # already resolved: no connection fallback here
                deployment_id=self.deployment_id,
                service_id=self.service_id,
                target_status="READY",
                failure_statuses=["FAILED", "STOPPED"],
                poll_interval=10.0,
                end_time=time.time() + 3600,  # wall-clock deadline, epoch seconds (or None)
                abeja_conn_id="abeja_default",
                transient_error_budget=5,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        event = validate_status_event(event, self.service_id)  # raises unless a well-formed success
        return str(event["service_status"])


# [END deferring_operator]


def run(emulator: Any, workdir: Path) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    service_id = emulator.create_service("9999999999999", "ver-5a3d1e0000000001")["service_id"]
    operator = WaitForMyServiceOperator(
        task_id="wait",
        organization_id=emulator.organization_id,
        deployment_id="9999999999999",
        service_id=service_id,
    )
    try:
        operator.execute({})
    except TaskDeferred as deferred:
        trigger = deferred.trigger
        trigger.poll_interval = 0.2  # the emulator is fast; the snippet shows the platform's pace
    else:
        raise AssertionError("execute did not defer")

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload

    with mock.patch.dict(os.environ, emulator.airflow_connection_env("abeja_default")):
        event = asyncio.run(first_event())
    assert operator.execute_complete({}, event) == "READY"
