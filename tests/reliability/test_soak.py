"""The soak in CI: deploy -> wait -> invoke -> teardown sequences with 5 % random faults.

The full 200-sequence run is ``bench/soak.py`` (``make bench``); this is the same code, shorter.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability._emulator import EmulatorServer
from tests.reliability._soak import soak

pytestmark = [pytest.mark.emulator, pytest.mark.soak, pytest.mark.slow]

CI_SEQUENCES = 20


@pytest.fixture(scope="module")
def abeja_emulator_module() -> Iterator[EmulatorServer]:
    with EmulatorServer(ready_delay=0.05) as server:
        yield server


def test_soak_no_duplicates_and_nothing_left_running(abeja_emulator_module: EmulatorServer) -> None:
    result = soak(abeja_emulator_module, CI_SEQUENCES, rate=0.05)
    print(result.summary())
    assert result.counters["faults_triggered"] > 0, "no fault fired: the soak proved nothing"
    assert result.failed_sequences == []
    assert result.deployed == CI_SEQUENCES
    assert result.duplicates == 0
    assert result.left_running == 0
    assert result.counters["services_total"] == 0
    assert result.teardown_failures == 0
