"""Named steps of a lifecycle script run in an ABEJA tool's own venv: one JSON line per step.

``{"step": name, "value": ...}`` when the step ran, ``{"step": name, "error": ...}`` when it raised
(the script stops there: later steps need its result). A step the platform must refuse returns
the refusal (``refused``) as its value, so the test asserts on its status.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


class Stop(Exception):
    """An earlier step failed: the rest of the lifecycle cannot run."""


def step(name: str, run: Callable[[], Any]) -> Any:
    try:
        value = run()
    except Exception as exc:
        print(json.dumps({"step": name, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        raise Stop(name) from exc
    print(json.dumps({"step": name, "value": value}, default=str), flush=True)
    return value


def poll(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 60.0) -> Any:
    """Read until ``done``; a deadline only stops a hang."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {value!r}")
        time.sleep(0.1)
        value = read()
    return value


def run(lifecycle: Callable[[], None]) -> None:
    try:
        lifecycle()
    except Stop:
        sys.exit(1)
