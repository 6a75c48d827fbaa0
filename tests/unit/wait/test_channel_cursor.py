"""The new-file cursor and the shared channel listing, without HTTP (a fake lease)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from airflow_provider_abeja.triggers.runs import AbejaChannelFileTrigger
from airflow_provider_abeja.wait import engine
from airflow_provider_abeja.wait.channel import Cursor, MemoryStore, newest_files
from airflow_provider_abeja.wait.pool import ListingGroup


def fid(second: str, tail: str) -> str:
    return f"20240101T{second}-{tail}"


def entries(*ids: str) -> list[dict[str, Any]]:
    """A newest-first listing of ``ids`` given oldest first."""
    return [{"file_id": i} for i in reversed(ids)]


def test_files_of_one_second_fire_once_each_in_listing_order() -> None:
    cursor = Cursor("20240101T000000", "20240101T000000", settle=0)
    first = [fid("000001", "b"), fid("000001", "a")]
    fresh = cursor.new_files(entries(*first))
    assert [e["file_id"] for e in fresh] == first  # upload (listing) order, not id order
    for entry in fresh:
        cursor = cursor.advanced(entry["file_id"])
    later = fid("000001", "c")
    assert [e["file_id"] for e in cursor.new_files(entries(*first, later))] == [later]


def test_a_file_listed_late_fires_within_the_settle_window_only() -> None:
    cursor = Cursor("20240101T000000", "20240101T000000", settle=5)
    cursor = cursor.advanced(fid("000010", "a"))
    late, too_late = fid("000006", "x"), fid("000004", "y")
    assert [e["file_id"] for e in cursor.new_files(entries(too_late, late))] == [late]
    assert fid("000004", "y") not in cursor.advanced(fid("000020", "b")).seen  # forgotten outside the window


def test_floor_and_garbage_ids_never_fire() -> None:
    cursor = Cursor("20240101T000005", "20240101T000005", settle=30)
    assert cursor.new_files(entries(fid("000004", "a"), "not-a-file-id")) == []
    assert Cursor.from_json(cursor.advanced(fid("000006", "a")).as_json(), 30) == cursor.advanced(
        fid("000006", "a")
    )
    assert Cursor.from_json({"floor": 1}, 30) is None


def test_trigger_arguments_are_checked_and_serialized_as_given() -> None:
    trigger = AbejaChannelFileTrigger("1234567890123", poll_interval=5, since="20240101T000000")
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_abeja.triggers.runs.AbejaChannelFileTrigger"
    assert AbejaChannelFileTrigger(**kwargs).serialize() == (path, kwargs)
    for bad in ({"channel_id": "a/b"}, {"poll_interval": 0}, {"since": "2024-01-01"}, {"settle_seconds": -1}):
        with pytest.raises((ValueError, Exception)):
            AbejaChannelFileTrigger(**{"channel_id": "1234567890123", **bad})


class FakeLease:
    """Answers ``list_channel_files`` from pages; counts the requests."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[tuple[Any, ...]] = []
        self.loop = asyncio.get_event_loop()
        self.settings_key = "k"

    async def read(self, method: str, *args: Any) -> dict[str, Any]:
        self.calls.append(args)
        return self.pages[len(self.calls) - 1]


async def test_the_listing_pages_only_down_to_the_oldest_second_a_watcher_needs() -> None:
    pages = [
        {"files": entries(fid("000009", "a"), fid("000010", "b")), "next_page_token": "t1"},
        {"files": entries(fid("000003", "c"), fid("000008", "d")), "next_page_token": "t2"},
        {"files": entries(fid("000001", "e")), "next_page_token": None},
    ]
    lease = FakeLease(pages)
    group = ListingGroup(functools.partial(newest_files, "1234567890123"))
    group.watchers[object()] = (10.0, "20240101T000005")
    listing = await group.listing(lease, 0)  # type: ignore[arg-type]
    assert len(lease.calls) == 2
    assert len(listing.entries) == 4
    assert lease.calls[0][5] == "-uploaded_at"
    assert lease.calls[1][-1] == "t1"
    # A second watcher inside the interval gets the same listing: no new request.
    assert await group.listing(lease, 0) is listing  # type: ignore[arg-type]
    assert len(lease.calls) == 2


async def test_memory_store_keeps_what_it_is_given() -> None:
    store = MemoryStore()
    await store.aset("k", {"a": 1})
    assert await store.aget("k") == {"a": 1}
    assert await store.aget("x", 2) == 2


def test_a_run_waits_through_the_batch_states_and_fails_on_failed() -> None:
    spec = engine.WaitSpec.build("run-1", kind=engine.RUN)
    state = engine.WaitState()
    for status in ("SUBMITTED", "RUNNABLE", "STARTING", "RUNNING"):
        result = engine.step(spec, state, {"status": status}, 0.0)
        assert result.outcome is engine.Outcome.WAITING
        assert not any(line.level == "warning" for line in result.logs)
        state = result.state
    failed = engine.step(spec, state, {"status": "FAILED"}, 0.0)
    assert failed.outcome is engine.Outcome.FAILED
    assert not failed.retryable
    assert engine.step(spec, state, {"status": "SUCCEEDED"}, 0.0).outcome is engine.Outcome.SUCCEEDED
