"""Training trigger: serialization and the events it hands back to the task (nothing is sent)."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.exceptions import TrainingJobFailedError
from airflow_provider_abeja.triggers.training import AbejaTrainingJobTrigger, validate_training_event


def test_trigger_serializes_to_json_kwargs_that_rebuild_it() -> None:
    trigger = AbejaTrainingJobTrigger("1234567890123", "defn", "1111111111111", 2.0, 1e9, "conn", 3)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_abeja.triggers.training.AbejaTrainingJobTrigger"
    assert AbejaTrainingJobTrigger(**kwargs).serialize() == (path, kwargs)


def test_trigger_rows_written_before_the_shared_base_still_rebuild_it() -> None:
    """The triggerer may hold kwargs serialized by older code: the same keys, the same trigger."""
    stored = {
        "organization_id": "1234567890123",
        "job_definition_name": "defn",
        "training_job_id": "1111111111111",
        "poll_interval": 2.0,
        "end_time": 1e9,
        "abeja_conn_id": "conn",
        "transient_error_budget": 3,
    }
    assert AbejaTrainingJobTrigger(**stored).serialize()[1] == stored


def test_each_trigger_takes_its_options_in_one_order_and_its_own_default_interval() -> None:
    from airflow_provider_abeja.triggers.runs import AbejaRunTrigger
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    ids = ("1234567890123", "1111111111111", "2222222222222")
    run = AbejaRunTrigger(*ids, 2.0, 1e9, "conn", 3)
    assert (run.poll_interval, run.end_time, run.abeja_conn_id, run._spec.transient_error_budget) == (
        2.0,
        1e9,
        "conn",
        3,
    )
    service = AbejaServiceStatusTrigger(*ids, "READY", ["FAILED"], 2.0, 1e9, "conn", 3, True)
    assert (service.poll_interval, service.cancel_on_kill, service._spec.failure_statuses) == (
        2.0,
        True,
        {"FAILED"},
    )
    defaults = (AbejaRunTrigger(*ids), AbejaServiceStatusTrigger(*ids), AbejaTrainingJobTrigger(*ids))
    assert [trigger.poll_interval for trigger in defaults] == [10.0, 10.0, 30.0]
    with pytest.raises(TypeError, match="cannot be cancelled"):
        AbejaRunTrigger(*ids, cancel_on_kill=True)


def event(status: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "training_job_id": "1", "job_status": "Failed", "message": "m", **extra}


def test_success_event_is_returned() -> None:
    assert validate_training_event(event("success"), "1")["status"] == "success"


def test_failure_event_fails_without_retry_and_carries_the_log() -> None:
    with pytest.raises(AirflowFailException, match="line two") as raised:
        validate_training_event(event("failure", log_lines=["line one", "line two"]), "1")
    assert isinstance(raised.value.__cause__, TrainingJobFailedError)
    assert raised.value.__cause__.log_lines == ["line one", "line two"]


@pytest.mark.parametrize("bad", [None, "text", event("success", training_job_id="2"), event("error")])
def test_other_events_raise_a_retryable_error(bad: Any) -> None:
    with pytest.raises(AirflowException) as raised:
        validate_training_event(bad, "1")
    assert not isinstance(raised.value, AirflowFailException)
