"""Runtimes forked from the zygote: each starts as a spawned `abeja-runtime-python` would, and fresh."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from abeja_emulator.runtime_fork import PREFORK_SWITCH, ForkedProcess, forkable
from abeja_emulator.runtime_process import (
    InstanceFolders,
    platform_environment,
    runtime_command,
    scratch_dir,
    shared_environment,
    start_platform_process,
)

pytestmark = pytest.mark.emulator

#: Imported by the runtime: prints what the process started with, and leaves marks for the next one.
HANDLER = """
import json, os, random, signal, sys, tempfile, time, warnings
import abejaruntime36.server_protocol as protocol

state = {
    "sys.path": sys.path, "argv": sys.argv, "orig_argv": sys.orig_argv, "cwd": os.getcwd(),
    "environ": dict(os.environ), "flags": list(sys.flags), "executable": sys.executable,
    "stdout": [sys.stdout.encoding, sys.stdout.errors, sys.stdout.line_buffering, sys.stdout.write_through],
    "stderr": [sys.stderr.encoding, sys.stderr.line_buffering, sys.stderr.write_through],
    "fs_encoding": sys.getfilesystemencoding(), "tempdir": tempfile.gettempdir(), "tzname": time.tzname,
    "session_leader": os.getsid(0) == os.getpid(), "fds": sorted(os.listdir("/proc/self/fd")),
    "main": sys.modules["__main__"].__file__, "signals": [str(signal.getsignal(s)) for s in (2, 13, 15, 17)],
    "warning_filters": repr(warnings.filters), "runtime_context": protocol.CONTEXT,
    "left_by_the_last": getattr(json, "left_here", None), "random": random.random(),
}
json.left_here = os.environ.get("MARK")
os.environ["SET_BY_AN_INSTANCE"] = "1"
print("STATE " + json.dumps(state), flush=True)

def handler(request, context):
    return {"content": "ok"}
"""
_FOLDER = re.compile(r"abeja-rt-\d+-\w+")


@pytest.fixture
def code_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PREFORK_SWITCH, "1")
    (tmp_path / ".abeja").touch()
    (tmp_path / "probe.py").write_text(HANDLER)
    return tmp_path


async def _started_state(code_dir: Path, user_parameters: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """The process (its class) and the state the handler printed at import, folder names masked."""
    folders = InstanceFolders(scratch_dir("rt")).create()
    env = platform_environment(folders, user_parameters=user_parameters, platform={}, handler="probe:handler")
    lines: list[str] = []
    process = await start_platform_process(
        runtime_command(), cwd=code_dir, env=env, sink=lines.append, prefork=True
    )
    try:
        for _ in range(3000):
            if any(line.startswith("STATE ") for line in lines) or process.returncode is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        await process.kill()
        shutil.rmtree(folders.root, ignore_errors=True)
    state = next((line for line in lines if line.startswith("STATE ")), None)
    assert state is not None, lines
    return type(process.process), json.loads(_FOLDER.sub("FOLDER", state[len("STATE ") :]))


def _start(code_dir: Path, *instances: dict[str, str]) -> list[tuple[Any, dict[str, Any]]]:
    async def start_in_turn() -> list[tuple[Any, dict[str, Any]]]:
        return [await _started_state(code_dir, parameters) for parameters in instances]

    return asyncio.run(start_in_turn())


def test_a_forked_runtime_starts_as_a_spawned_one(code_dir, monkeypatch):
    parameters = {"MARK": "x", "TZ": "JST-9"}  # a time zone of its own: read again after the fork
    [(forked_class, forked)] = _start(code_dir, parameters)
    monkeypatch.setenv(PREFORK_SWITCH, "0")
    [(spawned_class, spawned)] = _start(code_dir, parameters)
    assert (forked_class, spawned_class) == (ForkedProcess, asyncio.subprocess.Process)
    forked.pop("random")
    spawned.pop("random")
    assert forked == spawned
    assert forked["tzname"] == ["JST", "JST"]
    assert forked["environ"]["PYTHONPATH"].startswith("/")
    assert forked["sys.path"][2].endswith("/FOLDER/site-packages")  # the instance's PIP_TARGET, first
    assert forked["fds"] == ["0", "1", "2", "3"]  # and the one listdir opened


def test_each_forked_runtime_is_fresh(code_dir):
    first, second = _start(
        code_dir,
        {"MARK": "first", "CONTEXT": '{"n": 1}', "ONLY_FIRST": "1"},
        {"MARK": "second", "CONTEXT": '{"n": 2}'},
    )
    assert first[0] is second[0] is ForkedProcess
    assert first[1]["environ"]["MARK"] == "first"
    assert second[1]["environ"]["MARK"] == "second"
    assert (first[1]["runtime_context"], second[1]["runtime_context"]) == ({"n": 1}, {"n": 2})
    assert second[1]["left_by_the_last"] is None  # the first instance's module state is not shared
    assert "SET_BY_AN_INSTANCE" not in second[1]["environ"]
    assert "ONLY_FIRST" not in second[1]["environ"]
    assert first[1]["random"] != second[1]["random"]  # reseeded per process


def test_what_is_read_at_start_makes_the_runtime_spawned(code_dir):
    for parameters in ({"OMP_NUM_THREADS": "1"}, {"PYTHONHASHSEED": "0"}, {"PYTHONPATH": "relative"}):
        [(process_class, state)] = _start(code_dir, parameters)
        assert process_class is asyncio.subprocess.Process, parameters
        assert state["environ"][next(iter(parameters))] == next(iter(parameters.values()))


def test_forkable_needs_the_zygotes_start_up_values_and_an_absolute_python_path():
    zygote = shared_environment() | {"PYTHONPATH": "/emulator/path"}
    instance = zygote | {"PYTHONPATH": "/instance/site:/emulator/path", "TMPDIR": "/t", "ANY": "1"}
    assert forkable(instance, zygote)
    assert not forkable(instance | {"LANG": "ja_JP.UTF-8"}, zygote)
    assert not forkable(instance | {"PYTHONPATH": "site:/emulator/path"}, zygote)
    assert not forkable(instance | {"PYTHONPATH": "/instance/site::/emulator/path"}, zygote)
    assert not forkable(instance | {"PYTHONPATH": "/instance/site"}, zygote)  # the zygote's is not there


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_cancelled_start_closes_each_of_its_descriptors_once(code_dir, loop, monkeypatch):
    """A service deleted while its instances start cancels their start at any point, here on
    each of the loop's turns after the runtime's pid arrives: no pipe of theirs is left with two
    owners, whose second close would hit a descriptor opened since (an HTTP connection, another
    instance's pipe), under either loop the emulator runs on."""
    runner = asyncio.run if loop == "asyncio" else pytest.importorskip("uvloop").run
    turns = {"left": 0}
    starts: list[asyncio.Future[Any]] = []
    arrived = ForkedProcess.__init__

    def cancel_after_turns(self: ForkedProcess, *args: Any) -> None:
        arrived(self, *args)
        cancel(turns["left"])

    def cancel(left: int) -> None:
        if left:
            asyncio.get_running_loop().call_soon(cancel, left - 1)
        else:
            starts[-1].cancel()

    monkeypatch.setattr(ForkedProcess, "__init__", cancel_after_turns)

    async def cancelled_starts() -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        folders = InstanceFolders(scratch_dir("rt")).create()
        env = platform_environment(folders, user_parameters={}, platform={}, handler="probe:handler")
        opened_since: list[tuple[int, int]] = []
        try:
            for turns["left"] in range(8):
                command = runtime_command()
                start = start_platform_process(command, cwd=code_dir, env=env, sink=print, prefork=True)
                starts.append(asyncio.ensure_future(start))
                with contextlib.suppress(asyncio.CancelledError):
                    await (await starts[-1]).kill()
                opened_since.append(os.pipe())
            await asyncio.sleep(0.5)
            gc.collect()  # a pipe's file object closes its number when collected
        finally:
            shutil.rmtree(folders.root, ignore_errors=True)
        return errors, opened_since

    errors, opened_since = runner(cancelled_starts())
    closed = []
    for pipe in opened_since:
        for fd in pipe:
            try:
                os.close(fd)
            except OSError:
                closed.append(fd)
    assert (errors, closed) == ([], [])
