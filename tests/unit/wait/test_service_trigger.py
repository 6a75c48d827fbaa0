"""AbejaServiceStatusTrigger construction, serialization and the event validation helper.

No network here: the polling loop runs against the emulator in
``tests/integration/wait`` (and against respx for a few edge cases in
``test_service_trigger_edges.py``).
"""

from __future__ import annotations

import datetime
import importlib
import json
import pickle

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, AirflowSensorTimeout

from airflow_provider_abeja.exceptions import (
    ServiceFailedError,
    WaitTimeoutError,
)
from airflow_provider_abeja.triggers.service import (
    AbejaServiceStatusTrigger,
    validate_status_event,
)

SERVICE = "ser-0123456789abcdef"


def _trigger(**overrides: object) -> AbejaServiceStatusTrigger:
    kwargs: dict[str, object] = {
        "organization_id": "1234567890123",
        "deployment_id": "9999999999999",
        "service_id": SERVICE,
    }
    kwargs.update(overrides)
    return AbejaServiceStatusTrigger(**kwargs)  # type: ignore[arg-type]


def _rebuild(trigger: AbejaServiceStatusTrigger) -> AbejaServiceStatusTrigger:
    """What the triggerer does: import the class path, call it with the kwargs."""
    classpath, kwargs = trigger.serialize()
    module_name, _, class_name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    # The kwargs go through the database as JSON.
    return cls(**json.loads(json.dumps(kwargs)))


class TestSerialize:
    def test_classpath_and_defaults(self) -> None:
        classpath, kwargs = _trigger().serialize()
        assert classpath == "airflow_provider_abeja.triggers.service.AbejaServiceStatusTrigger"
        assert kwargs == {
            "organization_id": "1234567890123",
            "deployment_id": "9999999999999",
            "service_id": SERVICE,
            "target_status": "READY",
            "failure_statuses": ["FAILED", "STOPPED"],
            "poll_interval": 10.0,
            "end_time": None,
            "abeja_conn_id": "abeja_default",
            "transient_error_budget": 5,
        }

    def test_round_trip_is_json_only_and_equal(self) -> None:
        trigger = _trigger(
            target_status="STOPPED",
            failure_statuses=("FAILED", "DELETING"),
            poll_interval=2,
            end_time=1_900_000_000.5,
            abeja_conn_id="abeja_other",
            transient_error_budget=0,
        )
        kwargs = trigger.serialize()[1]
        # json.dumps refuses sets, tuples are turned to lists: check the exact JSON round trip.
        assert json.loads(json.dumps(kwargs)) == kwargs
        rebuilt = _rebuild(trigger)
        assert rebuilt.serialize() == trigger.serialize()
        assert type(rebuilt) is AbejaServiceStatusTrigger

    def test_deadline_survives_a_triggerer_restart(self) -> None:
        end_time = datetime.datetime.now(datetime.timezone.utc).timestamp() + 3600
        first = _trigger(end_time=end_time)
        # A restart rebuilds the trigger from the stored kwargs, later: the deadline does not move.
        second = _rebuild(first)
        third = _rebuild(second)
        assert first.end_time == second.end_time == third.end_time == end_time

    def test_aware_datetime_end_time_becomes_epoch_seconds(self) -> None:
        when = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)
        trigger = _trigger(end_time=when)
        assert trigger.serialize()[1]["end_time"] == when.timestamp()

    @pytest.mark.parametrize(
        ("end_time", "error"),
        [
            (datetime.datetime(2026, 11, 27, 12, 0), ValueError),
            ("1900000000", TypeError),
            (True, TypeError),
        ],
    )
    def test_bad_end_time_is_refused(self, end_time: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="end_time"):
            _trigger(end_time=end_time)

    def test_target_is_never_a_failure_status(self) -> None:
        trigger = _trigger(target_status="STOPPED")
        assert trigger.serialize()[1]["failure_statuses"] == ["FAILED"]

    @pytest.mark.parametrize(
        "overrides",
        [
            {"poll_interval": 0},
            {"poll_interval": -1},
            {"transient_error_budget": -1},
            {"failure_statuses": "FAILED"},
        ],
    )
    def test_bad_arguments_are_refused(self, overrides: dict[str, object]) -> None:
        with pytest.raises((ValueError, TypeError)):
            _trigger(**overrides)


class TestValidateStatusEvent:
    def test_success_is_returned(self) -> None:
        event = {"status": "success", "service_id": SERVICE, "service_status": "READY", "message": "ok"}
        assert validate_status_event(event, SERVICE) == event

    @pytest.mark.parametrize(
        ("event", "match"),
        [
            (None, "no trigger event"),
            ("success", "instead of a dict"),
            ({"status": "weird", "service_id": SERVICE}, "unexpected trigger event status 'weird'"),
            ({"service_id": SERVICE}, "unexpected trigger event status None"),
            ({"status": "success", "service_id": "ser-ffffffffffffffff"}, "expected 'ser-0123456789abcdef'"),
        ],
    )
    def test_malformed_events_fail_loudly(self, event: object, match: str) -> None:
        with pytest.raises(AirflowException, match=match) as info:
            validate_status_event(event, SERVICE)
        assert not isinstance(info.value, AirflowFailException)

    def test_failure_fails_without_retries_and_carries_log_lines(self) -> None:
        event = {
            "status": "failure",
            "service_id": SERVICE,
            "service_status": "FAILED",
            "message": "service reached FAILED",
            "log_lines": ["Traceback (most recent call last):", "ImportError: no module named main"],
        }
        with pytest.raises(AirflowFailException) as info:
            validate_status_event(event, SERVICE)
        text = str(info.value)
        assert "service reached FAILED" in text
        assert "ImportError: no module named main" in text
        cause = info.value.__cause__
        assert isinstance(cause, ServiceFailedError)
        assert cause.status == "FAILED"
        assert cause.log_lines == event["log_lines"]

    def test_timeout_uses_the_callers_exception(self) -> None:
        event = {
            "status": "timeout",
            "service_id": SERVICE,
            "service_status": "IN_PROGRESS",
            "message": "deadline passed",
            "log_lines": ["still loading"],
        }
        with pytest.raises(AirflowException, match="deadline passed") as plain:
            validate_status_event(event, SERVICE)
        assert not isinstance(plain.value, AirflowFailException)
        assert isinstance(plain.value.__cause__, WaitTimeoutError)
        assert plain.value.__cause__.last_status == "IN_PROGRESS"
        with pytest.raises(AirflowSensorTimeout, match="still loading"):
            validate_status_event(event, SERVICE, timeout_exception=AirflowSensorTimeout)

    def test_error_is_retryable(self) -> None:
        event = {
            "status": "error",
            "service_id": SERVICE,
            "service_status": None,
            "message": "giving up after 6 transient errors",
            "log_lines": [],
        }
        with pytest.raises(AirflowException, match="giving up after 6 transient errors") as info:
            validate_status_event(event, SERVICE)
        assert not isinstance(info.value, AirflowFailException)

    def test_events_pickle_and_json(self) -> None:
        # Trigger events are stored as JSON; the chained causes must pickle for task result transport.
        event = {"status": "failure", "service_id": SERVICE, "service_status": "FAILED", "message": "m"}
        json.dumps(event)
        with pytest.raises(AirflowFailException) as info:
            validate_status_event(event, SERVICE)
        assert pickle.loads(pickle.dumps(info.value.__cause__)).service_id == SERVICE
