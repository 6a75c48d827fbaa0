"""The suite's one fake task instance and context, for running operators and sensors without a task runner.

Operators read the task instance's identity (their marker on the platform is
``<dag_id>/<task_id>/<run_id>[/<map_index>]``), its try number, and push to and pull from XCom;
sensors in reschedule mode ask when the first poke happened. Nothing else is faked.
"""

from __future__ import annotations

import datetime
from typing import Any


class FakeTI:
    """The part of a task instance the provider uses; XCom pushes land in ``xcoms``."""

    def __init__(
        self,
        task_id: str = "task",
        run_id: str = "manual__1",
        map_index: int = -1,
        try_number: int = 1,
        dag_id: str = "dag",
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}
        #: What `get_first_reschedule_date` answers: set it to play a sensor's later reschedule.
        self.first_reschedule: datetime.datetime | None = None

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int | None = None) -> Any:
        """This instance's own value only: a task (or mapped instance) reading another's is a bug."""
        assert task_ids == self.task_id
        assert map_indexes == self.map_index
        return self.xcoms.get(key)

    def get_first_reschedule_date(self, context: Any) -> datetime.datetime | None:
        return self.first_reschedule


def task_context(ti: FakeTI | None = None) -> Any:
    """``{"ti": ti}`` (a fresh FakeTI unless given), typed loosely: it is not Airflow's runtime context."""
    return {"ti": ti if ti is not None else FakeTI()}
