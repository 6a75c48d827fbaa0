"""Docs snippet (client page): the Service API client from plain Python, run against the emulator."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def run(emulator: Any, workdir: Path) -> None:
    api_url = emulator.url  # the platform's is the default, https://api.abeja.io
    review = workdir / "review.json"
    review.write_text(json.dumps({"text": "a great and reliable model"}))
    answer_file = workdir / "answer.json"

    # [START client_usage]
    from airflow_provider_abeja.client import APIClient

    org, dep = "1234567890123", "9999999999999"
    credential = {"user_id": "1111111111111", "personal_access_token": "emulator-token"}
    with APIClient(credential, api_url=api_url) as client:
        service = client.create_service(org, dep, "ver-5a3d1e0000000001", instance_number=2)
        service_id = service["service_id"]
        while client.get_service(org, dep, service_id)["status"] != "READY":
            time.sleep(0.5)
        answer = client.request_service(org, dep, service_id, json={"text": "hello"})
        print(answer.json())  # a requests.Response
        with open(review, "rb") as body:  # files are streamed, never read whole
            client.request_service(
                org, dep, service_id, data=body, content_type="application/json", stream_to=answer_file
            )
        client.create_endpoint(org, dep, service_id, custom_alias="blue")
        client.delete_service(org, dep, service_id)
    # [END client_usage]

    assert json.loads(answer_file.read_text())["label"] == "positive"
    counters = emulator.counters()
    assert (counters["services_created"], counters["services_deleted"]) == (1, 1)
    assert counters["endpoints_created"] == 1
