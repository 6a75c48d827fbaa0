"""Run every benchmark in bench/ one after the other (``make bench``).

Runs each ``bench/*.py`` except this file and helpers whose names start with ``_``, in name
order, printing each one's output as it comes. ``--quick`` is passed on to every script that
mentions it.
Exits non-zero when any script did (a missed goal or a failure), after running them all.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts() -> list[Path]:
    return sorted(
        path
        for path in HERE.glob("*.py")
        if path.name != Path(__file__).name and not path.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    extra = ["--quick"] if "--quick" in argv else []
    failed: list[str] = []
    for script in scripts():
        started = time.perf_counter()
        flags = [flag for flag in extra if flag in script.read_text()]  # only scripts that know it
        print(f"\n=== {script.name} {' '.join(flags)}".rstrip(), flush=True)
        code = subprocess.call([sys.executable, str(script), *flags], cwd=HERE.parent)
        print(f"=== {script.name}: exit {code} after {time.perf_counter() - started:.1f}s", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed or missed a goal: {', '.join(failed)}")
        return 1
    print("\nall benchmarks ran and met their goals")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
