"""The full soak: 200 deploy -> wait -> invoke -> teardown sequences with 5 % random faults.

Same code as the CI soak (``tests/reliability/_soak.py``), more sequences. Goals: 0 duplicated
services and 0 services left running after teardown. ``--quick`` runs 30 sequences;
``--sequences N`` and ``--rate R`` change the run. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 sequences")
    parser.add_argument("--sequences", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.05, help="fraction of requests faulted")
    args = parser.parse_args(argv)
    sequences = 30 if args.quick else args.sequences

    # Task logs of 800 operator runs would drown the summary.
    logging.disable(logging.WARNING)
    import os
    import tempfile

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="abeja-soak-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

    from tests.reliability._emulator import EmulatorServer
    from tests.reliability._soak import soak

    server = EmulatorServer(ready_delay=0.05)
    server.start()
    try:
        result = soak(server, sequences, rate=args.rate)
    finally:
        server.stop()
    print(result.summary())
    for line in result.failed_sequences[:10]:
        print("  failed:", line)
    goals = {
        "0 duplicated services": result.duplicates == 0,
        "0 services left running": result.left_running == 0 and result.counters["services_total"] == 0,
        "every sequence completed": not result.failed_sequences,
    }
    for goal, met in goals.items():
        print(f"goal {goal}: {'met' if met else 'MISSED'}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
