"""DAGs started by new data: ``AbejaChannelFileTrigger`` against the emulator, at the trigger level.

Starts the emulator (``EmulatorProcess``), runs the triggers on one event loop as a triggerer
does (connection from an ``AIRFLOW_CONN_...`` variable, shared clients of ``wait/pool``), uploads
files with the sync client from a thread, as another system would, and measures:

1. **Latency**: one watcher polling every ``P`` seconds; 50 files uploaded one at a time at
   random moments; for each, the time from its upload's answer to its event. Goal: the maximum
   within two poll intervals (a file waits at most one interval for a listing, plus jitter).
2. **Shared listing**: N = 1, 10, 100 watchers of one channel for ``D`` seconds; listings per
   poll interval, counted by the emulator (``list_channel_files``). Goal: at most 1.25 whatever
   N (the triggers' +-10 % jitter lets one extra listing through now and then).
3. **Restart**: 1,000 files uploaded while a watcher runs; the watcher's task is cancelled at a
   random moment (a triggerer restart) and a new trigger object resumes from the same cursor
   store (the asset state store). Goal: 1,000 events, every file exactly once.

Measured (2 shared cores, the emulator on the same machine, 1 s polls): latency median 0.48 s,
max 0.99 s over 50 files; 1.00 listings per interval for 1, 10 and 100 watchers; 1,000 files with
a restart after 501 events: 1,000 events, 1,000 distinct files.

Usage: ``python bench/channel_watch.py [--quick]``; ``--quick``: 0.5 s polls, 20 files, N up to
10, 200 files over the restart.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))

from abeja_emulator.process import EmulatorProcess

CONN_ID = "abeja_bench_channel"
LISTINGS_PER_INTERVAL_GOAL = 1.25


def _client(emulator: EmulatorProcess) -> Any:
    from airflow_provider_abeja.client import APIClient

    handle = emulator.handle
    return APIClient(api_url=handle.url, credential=handle.credential)


def _channel(client: Any, emulator: EmulatorProcess) -> str:
    return str(client.create_channel(emulator.handle.organization_id, "bench")["channel"]["channel_id"])


def _now_second() -> str:
    from airflow_provider_abeja.wait.channel import utc_second

    return utc_second(datetime.datetime.now(datetime.timezone.utc))


def _listings(emulator: EmulatorProcess) -> int:
    return int(emulator.handle.counters()["requests"].get("list_channel_files", 0))


async def latency(emulator: EmulatorProcess, poll: float, files: int) -> tuple[float, float]:
    from airflow_provider_abeja.triggers.runs import AbejaChannelFileTrigger

    client = _client(emulator)
    channel = _channel(client, emulator)
    trigger = AbejaChannelFileTrigger(channel, poll_interval=poll, since=_now_second(), abeja_conn_id=CONN_ID)
    uploaded_at: dict[str, float] = {}
    delays: list[float] = []
    done = asyncio.Event()

    async def watch() -> None:
        async for event in trigger.run():
            file_id = event.payload["file_id"]
            while file_id not in uploaded_at:  # the upload's answer may come after the listing
                await asyncio.sleep(0.001)
            delays.append(time.monotonic() - uploaded_at[file_id])
            if len(delays) == files:
                done.set()
                return

    def upload_all() -> None:
        for i in range(files):
            time.sleep(random.uniform(0.2, 1.2) * poll)
            answer = client.upload_channel_file(channel, b"x", "text/plain", {"filename": f"f{i}.txt"})
            uploaded_at[answer["file_id"]] = time.monotonic()

    watcher = asyncio.create_task(watch())
    await asyncio.to_thread(upload_all)
    await asyncio.wait_for(done.wait(), 30 + poll * 4)
    await watcher
    return statistics.median(delays), max(delays)


async def shared(emulator: EmulatorProcess, poll: float, watchers: int, duration: float) -> float:
    from airflow_provider_abeja.triggers.runs import AbejaChannelFileTrigger

    client = _client(emulator)
    channel = _channel(client, emulator)
    since = _now_second()

    async def run_one() -> None:
        trigger = AbejaChannelFileTrigger(channel, poll_interval=poll, since=since, abeja_conn_id=CONN_ID)
        async for _ in trigger.run():
            pass

    tasks = [asyncio.create_task(run_one()) for _ in range(watchers)]
    await asyncio.sleep(poll)  # every watcher has joined
    before, started = _listings(emulator), time.monotonic()
    await asyncio.sleep(duration)
    listings, elapsed = _listings(emulator) - before, time.monotonic() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return listings / (elapsed / poll)


async def restart(emulator: EmulatorProcess, poll: float, files: int) -> tuple[int, int, int]:
    """Events, distinct files among them, files uploaded."""
    from airflow_provider_abeja.triggers.runs import AbejaChannelFileTrigger
    from airflow_provider_abeja.wait.channel import MemoryStore

    client = _client(emulator)
    channel = _channel(client, emulator)
    since, store = _now_second(), MemoryStore()
    fired: list[str] = []
    uploaded: list[str] = []

    async def watch() -> None:
        trigger = AbejaChannelFileTrigger(channel, poll_interval=poll, since=since, abeja_conn_id=CONN_ID)
        trigger.asset_state_store = store
        async for event in trigger.run():
            fired.append(event.payload["file_id"])

    def upload_all() -> None:
        for i in range(files):
            answer = client.upload_channel_file(channel, b"x", "text/plain", {"filename": f"f{i}.txt"})
            uploaded.append(answer["file_id"])

    uploading = threading.Thread(target=upload_all)
    uploading.start()
    first = asyncio.create_task(watch())
    while len(uploaded) < files // 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(random.uniform(0, poll))
    first.cancel()  # the triggerer stops, wherever the trigger is
    await asyncio.gather(first, return_exceptions=True)
    print(f"  restart after {len(fired)} events ({len(uploaded)} files uploaded)", flush=True)
    second = asyncio.create_task(watch())
    await asyncio.to_thread(uploading.join)
    deadline = time.monotonic() + 60
    while len(set(fired)) < files and time.monotonic() < deadline:
        await asyncio.sleep(poll)
    await asyncio.sleep(poll * 2)  # anything repeated would arrive by now
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    return len(fired), len(set(fired) & set(uploaded)), len(uploaded)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.5 s polls, fewer files and watchers")
    args = parser.parse_args(argv)
    poll = 0.5 if args.quick else 1.0
    files = 20 if args.quick else 50
    counts = (1, 10) if args.quick else (1, 10, 100)
    restart_files = 200 if args.quick else 1000
    ok = True
    with EmulatorProcess(ready_delay=0.0) as emulator:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            emulator.handle.airflow_connection(CONN_ID)
        )
        median, worst = asyncio.run(latency(emulator, poll, files))
        good = worst <= 2 * poll
        ok &= good
        print(
            f"latency over {files} files at {poll:g} s polls: median {median:.3f} s, max {worst:.3f} s "
            f"(goal: max <= {2 * poll:g} s) {'OK' if good else 'MISSED'}",
            flush=True,
        )
        for n in counts:
            rate = asyncio.run(shared(emulator, poll, n, 10 * poll))
            good = rate <= LISTINGS_PER_INTERVAL_GOAL
            ok &= good
            print(
                f"{n:>3} watchers of one channel: {rate:.2f} listings per poll interval "
                f"(goal <= {LISTINGS_PER_INTERVAL_GOAL}) {'OK' if good else 'MISSED'}",
                flush=True,
            )
        events, distinct, total = asyncio.run(restart(emulator, poll, restart_files))
        good = events == distinct == total
        ok &= good
        print(
            f"{total} files over a triggerer restart: {events} events, {distinct} distinct files "
            f"(goal: {total} and {total}) {'OK' if good else 'MISSED'}",
            flush=True,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
