"""pytest plugin (entry point `pytest11`): a shared emulator process and per-test clean handles.

Fixtures:
- `abeja_emulator_process` (session): one `EmulatorProcess` with a 0.2 s ready delay.
- `abeja_emulator` (function): reset to the initial state, yields its `EmulatorHandle`.
- `abeja_emulator_factory` (function): start private emulators with custom arguments; all are
  stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .handle import EmulatorHandle
from .process import EmulatorProcess

TEST_READY_DELAY = 0.2


@pytest.fixture(scope="session")
def abeja_emulator_process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(ready_delay=TEST_READY_DELAY) as process:
        yield process


@pytest.fixture
def abeja_emulator(abeja_emulator_process: EmulatorProcess) -> EmulatorHandle:
    if not abeja_emulator_process.running:  # a test stopped it: bring it back
        abeja_emulator_process.start()
    handle = abeja_emulator_process.handle
    handle.reset()
    return handle


@pytest.fixture
def abeja_emulator_factory() -> Iterator[Callable[..., EmulatorProcess]]:
    started: list[EmulatorProcess] = []

    def start(**kwargs: Any) -> EmulatorProcess:
        kwargs.setdefault("ready_delay", TEST_READY_DELAY)
        process = EmulatorProcess(**kwargs)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
