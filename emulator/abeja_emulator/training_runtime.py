"""The training runtime: what the platform runs in a training job's container, as a script.

Written after the behaviour of ABEJA's model proxy (its ``training`` command and
``runtime_src/py36.py``), not copied: start in the job's code folder, move into the folder that
holds ``.abeja`` (searched 3 levels deep), import ``HANDLER`` (``module:function``, exactly one
colon), build the context from ``CONTEXT`` (JSON) plus ``datasets`` from ``DATASETS`` (alias ->
dataset id, digits), call ``handler(context)``; exit 0 when it returns, 1 when anything fails.
The handler writes its model to ``ABEJA_TRAINING_RESULT_DIR``.

A ``requirements.txt`` is installed as the platform does; the environment the emulator starts
this script with (``runtime_process.platform_environment``) sends pip to the job's own folder, so
the emulator's Python is never changed. Runs in its own process (no imports from the provider).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback
from collections import deque
from pathlib import Path
from typing import Any

MARKER_DIR = ".abeja"
SEARCH_DEPTH = 3


def find_working_dir(start: Path) -> Path | None:
    """The folder holding ``.abeja``, breadth first, at most ``SEARCH_DEPTH`` levels down."""
    queue: deque[tuple[Path, int]] = deque([(start, 0)])
    while queue:
        folder, depth = queue.popleft()
        for child in sorted(folder.iterdir()):
            if not child.is_dir():
                continue
            if child.name == MARKER_DIR:
                return folder
            if depth < SEARCH_DEPTH:
                queue.append((child, depth + 1))
    return None


def load_handler(spec: str) -> Any:
    if spec.count(":") != 1:
        raise ImportError(f"HANDLER {spec!r} needs exactly one ':' (module:function)")
    module_name, function_name = spec.split(":")
    if "" not in sys.path:
        sys.path.insert(0, "")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise ImportError(f"module {module_name!r} has no function {function_name!r}") from None


def datasets_from_env() -> dict[str, str]:
    raw = json.loads(os.environ.get("DATASETS", "{}"))
    out: dict[str, str] = {}
    for alias, value in raw.items():
        text = str(value)
        if not text.isdigit():
            raise ValueError(f"dataset {alias!r}: id {value!r} is not an integer")
        out[str(alias)] = text
    return out


def main() -> int:
    working_dir = find_working_dir(Path.cwd())
    if working_dir is not None:
        os.chdir(working_dir)
        print(f"found {MARKER_DIR} in {working_dir}")
    if os.path.exists("Pipfile"):
        print("Pipfile found: not installed by the emulator (use requirements.txt)")
    elif os.path.exists("requirements.txt"):
        # As the platform does; the emulator's environment points pip at the job's own folder.
        print("installing packages from requirements.txt")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", "requirements.txt"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if done.returncode != 0:
            print(f"error while installing from requirements.txt:\n{done.stdout.decode(errors='replace')}")
            return 1
    handler_spec = os.environ.get("HANDLER")
    if not handler_spec:
        print("HANDLER is needed")
        return 1
    try:
        train = load_handler(handler_spec)
        context = json.loads(os.environ.get("CONTEXT", "{}"))
        context["datasets"] = datasets_from_env()
    except Exception:
        print(f"failed to set up training:\n{traceback.format_exc()}")
        return 1
    try:
        train(context)
    except Exception:
        print(f"unexpected error in the training handler:\n{traceback.format_exc()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.exit(main())
