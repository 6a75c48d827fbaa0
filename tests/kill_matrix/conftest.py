"""The kill matrix (``make test-kill-matrix``, ABEJA_TEST_KILL_MATRIX=1): a real scheduler and
triggerer against the emulator. The plain ``make test`` does not collect it."""

from __future__ import annotations

import os

if not os.environ.get("ABEJA_TEST_KILL_MATRIX"):
    collect_ignore_glob = ["test_*.py"]

from tests.standalone.conftest import airflow_postgres  # noqa: F401  (the matrix's database)
