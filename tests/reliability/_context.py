"""The minimal task context the operators use outside a task runner: a task instance for XCom."""

from __future__ import annotations

from typing import Any


def task_context(ti: Any) -> Any:
    """``{"ti": ti}``, typed loosely: the suite's FakeTI is not Airflow's runtime task instance."""
    return {"ti": ti}
