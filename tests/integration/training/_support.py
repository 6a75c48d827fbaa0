"""Helpers of the training tests."""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_abeja.client import APIClient

DEFINITION = "sentiment"


def wait_job(client: APIClient, org: str, job_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    """Poll until the job is in one of ``statuses`` (the deadline only stops a hang)."""
    deadline = time.monotonic() + 60
    while True:
        job = client.get_training_job(org, DEFINITION, job_id)
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck in {job['status']}"
        time.sleep(0.1)


def poll(predicate: Any, timeout: float = 30.0) -> Any:
    """Wait until predicate() is truthy (the deadline only stops a hang)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.05)
    return value
