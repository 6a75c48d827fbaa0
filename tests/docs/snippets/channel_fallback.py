"""Docs snippet (runs page): Airflow 2.11's fallback for new files, the files of a data interval."""

from __future__ import annotations

import datetime
import os
from typing import Any
from unittest import mock


def run(emulator: Any, workdir: Any) -> None:
    from airflow_provider_abeja.client import APIClient

    client = APIClient(api_url=emulator.url, credential=emulator.credential)
    channel = client.create_channel(emulator.organization_id, "fallback")["channel"]["channel_id"]
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    uploaded = {client.upload_channel_file(channel, b"x", "text/plain")["file_id"] for _ in range(3)}
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    with mock.patch.dict(os.environ, emulator.airflow_connection_env("abeja_default")):
        found = files_in_interval(channel, start, end)
        assert {f["input_file_id"] for f in found} == uploaded
        assert files_in_interval(channel, end, end + datetime.timedelta(hours=1)) == []


# [START channel_fallback]
def files_in_interval(channel_id, data_interval_start, data_interval_end):
    """A scheduled DAG's first task on Airflow 2.11: the files uploaded in its data interval."""
    from airflow_provider_abeja.client.runs import file_second
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    client = AbejaHook().client
    low, high = (t.strftime("%Y%m%dT%H%M%S") for t in (data_interval_start, data_interval_end))
    files, page = [], client.list_channel_files(channel_id, sort="-uploaded_at")
    while True:
        files += [f for f in page["files"] if low <= (file_second(f["file_id"]) or "") < high]
        oldest = file_second(page["files"][-1]["file_id"]) if page["files"] else None
        if not page.get("next_page_token") or (oldest or "") < low:
            break
        page = client.list_channel_files(channel_id, next_page_token=page["next_page_token"])
    return [{"input_channel_id": channel_id, "input_file_id": f["file_id"]} for f in reversed(files)]


# [END channel_fallback]
