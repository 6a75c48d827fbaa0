"""Fixtures of the reliability suite: one emulator process per module, reset between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability._emulator import EmulatorServer


@pytest.fixture(scope="module")
def abeja_emulator_module() -> Iterator[EmulatorServer]:
    """A real emulator process on loopback (fast lifecycle), shared by one test module."""
    with EmulatorServer(ready_delay=0.2) as server:
        yield server


@pytest.fixture
def emulator(abeja_emulator_module: EmulatorServer) -> Iterator[EmulatorServer]:
    """The module's emulator with a clean state, no faults and zeroed counters."""
    abeja_emulator_module.reset()
    yield abeja_emulator_module
    abeja_emulator_module.clear_faults()
