"""Child process of the SIGKILL test: runs a batch (the operator's internals) until it is killed.

Arguments: api_url organization_id service_id input_path output_path; the emulator's credential
comes as JSON in BATCH_CHILD_CREDENTIAL. No Airflow import: the child starts in a fraction of a
second, so the test spends its time on the batch, not on imports.
"""

from __future__ import annotations

import json
import os
import sys

from airflow_provider_abeja.batch.inputs import JsonlSource
from airflow_provider_abeja.batch.results import open_result_store
from airflow_provider_abeja.batch.runner import BatchRunner
from airflow_provider_abeja.batch.sender import Sender, Target
from airflow_provider_abeja.client import APIClient


def main() -> None:
    api_url, organization_id, service_id, input_path, output_path = sys.argv[1:6]
    credential = json.loads(os.environ["BATCH_CHILD_CREDENTIAL"])
    with APIClient(credential, api_url=api_url) as client:
        sender = Sender(client, Target(organization_id, "9999999999999", service_id=service_id))
        runner = BatchRunner(sender, open_result_store(output_path), concurrency=4)
        runner.run(JsonlSource(input_path, key_field="id"))


if __name__ == "__main__":
    main()
