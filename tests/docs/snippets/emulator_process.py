"""Docs snippet (emulator page): a private emulator process from Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run(emulator: Any, workdir: Path) -> None:
    # [START emulator_process]
    from abeja_emulator import EmulatorProcess

    with EmulatorProcess(ready_delay=0.5) as emulator:
        print(emulator.url, emulator.handle.airflow_connection())
    # [END emulator_process]
    assert not emulator.running
