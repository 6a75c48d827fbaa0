"""``AbejaChannelFileTrigger`` against the emulator over loopback: new files fire once each,
watchers of one channel share one listing per interval, a restarted trigger resumes its cursor.

The triggers run as the triggerer runs them (real hook, connection, shared clients, async client);
files are uploaded with the sync client from a thread, as another system would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from abeja_emulator.handle import EmulatorHandle
from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.triggers.runs import AbejaChannelFileTrigger
from airflow_provider_abeja.wait.channel import MemoryStore, utc_second
from airflow_provider_abeja.wait.pool import group_count

pytestmark = pytest.mark.emulator

CONN_ID = "abeja_channel_it"
POLL = 0.1


@pytest.fixture
def emulator(abeja_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(abeja_emulator.airflow_connection(CONN_ID))
    )
    return abeja_emulator


@pytest.fixture
def client(emulator: EmulatorHandle) -> APIClient:
    return APIClient(api_url=emulator.url, credential=emulator.credential)


def new_channel(client: APIClient, emulator: EmulatorHandle) -> str:
    return str(client.create_channel(emulator.organization_id, "watched")["channel"]["channel_id"])


def upload(client: APIClient, channel_id: str, count: int, prefix: str = "f") -> list[str]:
    return [
        str(
            client.upload_channel_file(channel_id, b"x", "text/plain", {"filename": f"{prefix}{i}.txt"})[
                "file_id"
            ]
        )
        for i in range(count)
    ]


def trigger(channel_id: str, **kwargs: Any) -> AbejaChannelFileTrigger:
    return AbejaChannelFileTrigger(channel_id, poll_interval=POLL, abeja_conn_id=CONN_ID, **kwargs)


async def collect(events: AsyncIterator[Any], into: list[str], until: int) -> None:
    async for event in events:
        into.append(event.payload["file_id"])
        if len(into) >= until:
            return


def listings(emulator: EmulatorHandle) -> int:
    return int(emulator.counters()["requests"].get("list_channel_files", 0))


async def test_each_new_file_fires_once_in_upload_order(emulator: EmulatorHandle, client: APIClient) -> None:
    channel_id = new_channel(client, emulator)
    before = upload(client, channel_id, 2, "old")
    watcher = trigger(channel_id)
    fired: list[str] = []
    task = asyncio.create_task(collect(watcher.run(), fired, 12))
    while listings(emulator) == 0:  # the first listing sets the cursor: the files there do not fire
        await asyncio.sleep(0.02)
    await asyncio.sleep(POLL)
    uploaded = await asyncio.to_thread(upload, client, channel_id, 12)
    await asyncio.wait_for(task, 30)
    assert fired == uploaded
    assert not set(before) & set(fired)
    assert watcher.serialize()[1]["since"] is None  # nothing computed at run time is serialized


async def test_watchers_of_one_channel_share_one_listing(emulator: EmulatorHandle, client: APIClient) -> None:
    channel_id = new_channel(client, emulator)
    since = utc_second(dt.datetime.now(dt.timezone.utc))
    uploaded = upload(client, channel_id, 3)
    start = listings(emulator)
    fired: list[list[str]] = [[] for _ in range(10)]
    tasks = [asyncio.create_task(collect(trigger(channel_id, since=since).run(), f, 3)) for f in fired]
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert all(f == uploaded for f in fired)
    # Ten watchers, one listing (the last watchers may join a second one, never one each).
    assert listings(emulator) - start <= 2
    assert group_count("list_channel_files") == 0


async def test_a_restarted_trigger_resumes_without_skipping_or_repeating(
    emulator: EmulatorHandle, client: APIClient
) -> None:
    channel_id = new_channel(client, emulator)
    since = utc_second(dt.datetime.now(dt.timezone.utc))
    uploaded = await asyncio.to_thread(upload, client, channel_id, 30)
    store = MemoryStore()  # the asset state store: it outlives the trigger objects
    first, second = trigger(channel_id, since=since), trigger(channel_id, since=since)
    first.asset_state_store = second.asset_state_store = store
    fired: list[str] = []
    events = first.run()
    await asyncio.wait_for(collect(events, fired, 10), 30)
    await events.aclose()  # the triggerer stops it where it handed over its last event
    await asyncio.wait_for(collect(second.run(), fired, 30), 30)
    assert sorted(fired) == sorted(uploaded)
    assert len(fired) == len(set(fired)) == 30


async def test_a_missing_channel_is_reported_and_watched_until_it_answers(
    emulator: EmulatorHandle, client: APIClient
) -> None:
    watcher = trigger("1999999999999")
    task = asyncio.create_task(collect(watcher.run(), [], 1))
    while listings(emulator) < 2:  # it keeps listing after the 404
        await asyncio.sleep(0.02)
    assert not task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
