"""Argument types and checks of `abeja-emulator`: a bad flag is one line naming it, exit code 2.

argparse calls these while parsing, so its message already names the flag ("argument --port: ...");
`OneLineParser` prints that message alone (no usage block, no traceback).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

MAX_PORT = 65535
MAX_DELAY = 24 * 3600.0
_PLAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _number(text: str, kind: type[int] | type[float]) -> float | None:
    """The number `text` spells, or None (argparse then reports the flag with our message)."""
    try:
        return kind(text)
    except ValueError:
        return None


def port(text: str) -> int:
    value = _number(text, int)
    if value is None or not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be 0-{MAX_PORT} (0 picks a free port), got {text!r}")
    return int(value)


def seconds(text: str) -> float:
    value = _number(text, float)
    if value is None or not math.isfinite(value) or not 0 <= value <= MAX_DELAY:
        raise argparse.ArgumentTypeError(f"must be a number of seconds from 0 to {MAX_DELAY:g}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(value)


def plain_id(text: str) -> str:
    """An organization id goes into URLs and folder names: letters, digits, '-' and '_' only."""
    if not _PLAIN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be a plain id (letters, digits, '-' or '_', at most 64), got {text[:80]!r}"
        )
    return text


def directory(text: str) -> str:
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing folder")
    return str(path.resolve())


def writable_folder(text: str) -> str | None:
    """Why `--state-dir` cannot hold the state (None when it can): created, then written to."""
    path = Path(text).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".abeja-emulator-probe-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    if not os.access(path, os.W_OK | os.X_OK):
        return "not writable"
    return None


def fail(flag: str, message: str) -> int:
    """Print one line naming the flag; the exit code of a usage error."""
    print(f"abeja-emulator: error: argument {flag}: {' '.join(message.split())}", file=sys.stderr)
    return 2
