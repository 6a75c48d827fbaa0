"""Start a training runtime process in a folder with the platform's environment: the one place.

The service side (issue 11) is moving to ABEJA's ``abejaruntime`` behind a module that starts
"a runtime process with the platform's environment in a folder"; when that module lands, this
function becomes a call to it (same arguments: the command, the folder, the environment).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

TRAINING_RUNTIME = Path(__file__).with_name("training_runtime.py")
#: The emulator's own variables a runtime keeps (the rest of its environment is the job's).
PASSTHROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "PYTHONPATH", "SYSTEMROOT")


def runtime_environment(platform_env: Mapping[str, str]) -> dict[str, str]:
    """A clean environment: a few of the emulator's variables, then the platform's."""
    env = {key: os.environ[key] for key in PASSTHROUGH_ENV if key in os.environ}
    env.update(platform_env)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def start_training_process(folder: Path, platform_env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """The training runtime in ``folder``; stdout and stderr merged (the job's log), own session
    so that stopping the job also stops what the handler started."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        str(TRAINING_RUNTIME),
        cwd=str(folder),
        env=runtime_environment(platform_env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        limit=1 << 20,
    )
