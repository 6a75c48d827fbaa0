"""One service's changes never interleave (the fast check; the 50-service race with a SIGKILL is
tests/reliability/test_service_races.py): racing DELETEs, a stop racing an update, and code
unpacked off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from abeja_emulator import SAMPLE_VERSION_ID, SAMPLE_VERSION_ID_V2
from abeja_emulator.config import EmulatorConfig
from abeja_emulator.core import Emulator
from abeja_emulator.pytest_plugin import TEST_READY_DELAY
from abeja_emulator.sources import SourceStore

from ._archives import HANDLER, tar_files
from ._util import DEP, api, ready_service

pytestmark = pytest.mark.emulator


def _together(*calls: Callable[[], int]) -> list[int]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], int]) -> int:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_racing_deletes_answer_200_then_404_and_count_once(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    path = f"deployments/{DEP}/services/{service_id}"
    statuses = _together(*(lambda: api(abeja_emulator, "DELETE", path).status_code for _ in range(3)))
    assert sorted(statuses) == [200, 404, 404]
    counters = abeja_emulator.counters()
    assert (counters["services_deleted"], counters["services_total"], counters["workers_running"]) == (
        1,
        0,
        0,
    )


def test_a_stop_racing_an_update_ends_stopped_without_processes(abeja_emulator):
    """In either order a stop and an update of a READY service leave it STOPPED with no runtime
    (an update of a STOPPED service does not deploy it); interleaved, the update's new runtimes
    outlived the stop and the service turned READY again (the 50-service race in
    tests/reliability/test_service_races.py is the one that reliably hits that window)."""
    for _ in range(2):
        service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
        path = f"deployments/{DEP}/services/{service_id}"
        statuses = _together(
            lambda p=path: api(abeja_emulator, "POST", p + "/stop").status_code,
            lambda p=path: (
                api(abeja_emulator, "PATCH", p, json={"version_id": SAMPLE_VERSION_ID_V2}).status_code
            ),
        )
        assert statuses == [200, 200]
        time.sleep(TEST_READY_DELAY + 1.0)  # past any bring-up the update started
        metrics = abeja_emulator.metrics(service_id)
        assert (metrics["status"], metrics["worker_pids"]) == ("STOPPED", [])


def test_code_is_unpacked_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    unpack = SourceStore.unpack

    def recording(self: SourceStore, *args: object) -> Path:
        threads.append(threading.current_thread())
        return unpack(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(SourceStore, "unpack", recording)
    emulator = Emulator(EmulatorConfig())

    async def upload() -> None:
        version = emulator.create_version(emulator.config.organization_id, DEP, {"version": "5.5.5"})
        ver = emulator.versions[version["version_id"]]
        await emulator.upload_source(ver.version_id, ver.upload_token, tar_files(HANDLER))

    emulator._seed_sample()
    try:
        asyncio.run(upload())
    finally:
        emulator.sources.close()
    assert threads
    assert threads[0] is not threading.main_thread()
