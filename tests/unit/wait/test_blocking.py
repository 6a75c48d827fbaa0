"""Waiting for a service status: target, failures, deadline, unknown statuses, recent logs copied once."""

from __future__ import annotations

import logging
import pickle
import threading
from datetime import datetime, timezone

import pytest

from airflow_provider_abeja.exceptions import (
    NotFound,
    ServiceFailedError,
    WaitStoppedError,
    WaitTimeoutError,
)
from airflow_provider_abeja.wait import blocking
from airflow_provider_abeja.wait.engine import DEFAULT_FAILURE_STATUSES

ORG, DEP, SER = "1234567890123", "9999999999999", "ser-0123456789abcdef"


class FakeService:
    """A scripted service: one status per ``get_service`` call, logs that grow over time.

    ``recent logs`` answers like the platform: the newest page first, events newest first,
    filtered by ``start_time``, older pages behind ``next_backward_token``.
    """

    def __init__(self, statuses, logs_per_poll=None, page_size=2):
        self.statuses = list(statuses)
        self.logs_per_poll = list(logs_per_poll or [])
        self.page_size = page_size
        self.events: list[dict] = []
        self.status_calls = 0
        self.log_calls: list[dict] = []

    def get_service(self, organization_id, deployment_id, service_id):
        assert (organization_id, deployment_id, service_id) == (ORG, DEP, SER)
        status = self.statuses[min(self.status_calls, len(self.statuses) - 1)]
        if self.status_calls < len(self.logs_per_poll):
            self.events.extend(self.logs_per_poll[self.status_calls])
        self.status_calls += 1
        return {"service_id": SER, "status": status}

    def get_service_recent_logs(
        self,
        organization_id,
        deployment_id,
        service_id,
        next_forward_token=None,
        next_backward_token=None,
        start_time=None,
        end_time=None,
    ):
        assert next_forward_token is None
        self.log_calls.append({"token": next_backward_token, "start_time": start_time})
        chosen = [
            e
            for e in sorted(self.events, key=lambda e: e["timestamp"], reverse=True)
            if start_time is None or blocking.parse_timestamp(e["timestamp"]) >= start_time
        ]
        offset = int(next_backward_token or 0)
        page = chosen[offset : offset + self.page_size]
        more = offset + self.page_size < len(chosen)
        return {
            "events": page,
            "next_backward_token": str(offset + self.page_size) if more else "",
            "next_forward_token": "",
        }


def event(second: int, message: str) -> dict:
    return {"message": message, "timestamp": f"2026-11-27T10:00:{second:02d}.000000Z"}


class Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def logger():
    return logging.getLogger("test.abeja.wait")


def wait(service, logger, clock=None, **kwargs):
    clock = clock or Clock()
    kwargs.setdefault("failure_statuses", DEFAULT_FAILURE_STATUSES)
    return blocking.wait_for_service_status(
        service, ORG, DEP, SER, logger=logger, clock=clock, sleep=clock.sleep, **kwargs
    )


def test_returns_the_service_at_the_target_status(logger):
    clock = Clock()
    service = FakeService(["IN_PROGRESS", "IN_PROGRESS", "READY"])
    assert wait(service, logger, clock, check_interval=5)["status"] == "READY"
    assert service.status_calls == 3
    assert clock.sleeps == [5, 5]


def test_waiting_for_a_failure_status_as_target_succeeds(logger):
    service = FakeService(["IN_PROGRESS", "STOPPED"])
    assert wait(service, logger, target_status="STOPPED")["status"] == "STOPPED"


def test_failure_status_raises_with_latest_log_lines(logger):
    service = FakeService(
        ["IN_PROGRESS", "FAILED"],
        logs_per_poll=[[event(1, "booting")], [event(2, "ImportError: no module main"), event(3, "exit 1")]],
    )
    with pytest.raises(ServiceFailedError) as info:
        wait(service, logger, check_interval=1)
    err = info.value
    assert (err.service_id, err.status) == (SER, "FAILED")
    assert err.log_lines == ["booting", "ImportError: no module main", "exit 1"]
    assert "exit 1" in str(err)


def test_failure_collects_log_lines_even_when_not_following_logs(logger):
    service = FakeService(["FAILED"], logs_per_poll=[[event(1, "boom")]])
    with pytest.raises(ServiceFailedError) as info:
        wait(service, logger, log_recent_logs=False)
    assert info.value.log_lines == ["boom"]


def test_timeout_uses_the_monotonic_deadline(logger):
    clock = Clock()
    service = FakeService(["IN_PROGRESS"])
    with pytest.raises(WaitTimeoutError) as info:
        wait(service, logger, clock, check_interval=4, timeout=10)
    err = info.value
    assert (err.service_id, err.last_status, err.timeout) == (SER, "IN_PROGRESS", 10)
    # polls at t=0, 4, 8, then the last sleep is cut to the deadline: 0, 4, 8, 10.
    assert clock.sleeps == [4, 4, 2]
    assert service.status_calls == 4


def test_timeout_zero_checks_once(logger):
    service = FakeService(["IN_PROGRESS"])
    with pytest.raises(WaitTimeoutError):
        wait(service, logger, timeout=0)
    assert service.status_calls == 1


def test_unknown_status_keeps_waiting_with_one_warning(logger, caplog):
    service = FakeService(["PENDING_MAGIC", "PENDING_MAGIC", "PENDING_MAGIC", "READY"])
    with caplog.at_level(logging.INFO, logger=logger.name):
        assert wait(service, logger, check_interval=0)["status"] == "READY"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "PENDING_MAGIC" in warnings[0].getMessage()


def test_recent_logs_are_copied_once_oldest_first(logger, caplog):
    service = FakeService(
        ["IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "READY"],
        logs_per_poll=[
            [event(1, "line 1"), event(2, "line 2"), event(3, "line 3")],
            [event(3, "line 3b"), event(4, "line 4")],
            [],
            [event(5, "line 5")],
        ],
    )
    with caplog.at_level(logging.INFO, logger=logger.name):
        wait(service, logger, check_interval=0)
    copied = [r.getMessage() for r in caplog.records if "[service" in r.getMessage()]
    # The first poll reads only the newest page (2 events); later polls read every page since
    # the newest second seen, without repeating a line.
    assert copied == [
        f"[service {SER}] line 2",
        f"[service {SER}] line 3",
        f"[service {SER}] line 3b",
        f"[service {SER}] line 4",
        f"[service {SER}] line 5",
    ]
    later = [c for c in service.log_calls if c["start_time"] is not None]
    assert later
    assert later[-1]["start_time"] == datetime(2026, 11, 27, 10, 0, 4, tzinfo=timezone.utc)


def test_log_errors_do_not_fail_the_wait(logger, caplog):
    class NoLogs(FakeService):
        def get_service_recent_logs(self, *args, **kwargs):
            raise NotFound("not_found", "no logs", 404, "http://x/recentlogs")

    service = NoLogs(["IN_PROGRESS", "IN_PROGRESS", "READY"])
    with caplog.at_level(logging.INFO, logger=logger.name):
        assert wait(service, logger, check_interval=0)["status"] == "READY"
    assert sum("Could not read recent logs" in r.getMessage() for r in caplog.records) == 1


def test_iter_recent_logs_follows_every_page():
    service = FakeService(["READY"], page_size=2)
    service.events = [event(i, f"m{i}") for i in range(5)]
    messages = [e["message"] for e in blocking.iter_recent_logs(service, ORG, DEP, SER)]
    assert messages == ["m4", "m3", "m2", "m1", "m0"]
    assert [c["token"] for c in service.log_calls] == [None, "2", "4"]


def test_iter_recent_logs_stops_on_a_repeated_token():
    class Stuck(FakeService):
        def get_service_recent_logs(self, *args, next_backward_token=None, **kwargs):
            self.log_calls.append({"token": next_backward_token})
            return {"events": [event(1, "same")], "next_backward_token": "tok"}

    service = Stuck(["READY"])
    assert len(list(blocking.iter_recent_logs(service, ORG, DEP, SER))) == 2
    assert [c["token"] for c in service.log_calls] == [None, "tok"]


def test_bad_arguments(logger):
    with pytest.raises(ValueError, match="check_interval"):
        wait(FakeService(["READY"]), logger, check_interval=-1)
    with pytest.raises(ValueError, match="timeout"):
        wait(FakeService(["READY"]), logger, timeout=-1)


def test_a_stop_event_set_before_the_wait_sends_nothing(logger):
    service = FakeService(["IN_PROGRESS"])
    stop = threading.Event()
    stop.set()
    with pytest.raises(WaitStoppedError) as info:
        wait(service, logger, stop_event=stop)
    assert info.value.service_id == SER
    assert service.status_calls == 0


def test_a_stop_event_set_from_another_thread_ends_a_long_pause(logger):
    """check_interval is an hour: only the event can end the pause (pytest-timeout guards a hang)."""
    polled = threading.Event()

    class Signalling(FakeService):
        def get_service(self, *args):
            polled.set()
            return super().get_service(*args)

    service = Signalling(["IN_PROGRESS"])
    stop = threading.Event()
    clock = Clock()
    killer = threading.Thread(target=lambda: (polled.wait(30), stop.set()))
    killer.start()
    try:
        with pytest.raises(WaitStoppedError) as info:
            wait(service, logger, clock, check_interval=3600, stop_event=stop)
    finally:
        killer.join()
    assert (info.value.service_id, info.value.last_status) == (SER, "IN_PROGRESS")
    assert "stopped waiting" in str(info.value)
    assert service.status_calls == 1
    assert clock.sleeps == []  # the pause waited on the event, not on ``sleep``


def test_a_stop_event_never_set_changes_nothing(logger):
    service = FakeService(["IN_PROGRESS", "READY"])
    assert wait(service, logger, check_interval=0, stop_event=threading.Event())["status"] == "READY"


def test_wait_stopped_error_pickles():
    error = pickle.loads(pickle.dumps(WaitStoppedError(SER, "IN_PROGRESS")))
    assert (type(error), error.service_id, error.last_status) == (WaitStoppedError, SER, "IN_PROGRESS")


def test_history_before_logs_since_is_not_copied_again(logger, caplog):
    """Item 9: a stop or start waits with the end of the history read before acting."""
    from datetime import datetime, timezone

    from airflow_provider_abeja.wait.blocking import RecentLogFollower

    class Client:
        def get_service_recent_logs(self, *args, **kwargs):
            return {
                "events": [
                    {"message": "new", "timestamp": "2026-01-01T00:00:05.500Z"},
                    {"message": "old", "timestamp": "2026-01-01T00:00:05Z"},
                ]
            }

    since = datetime(2026, 1, 1, 0, 0, 5, tzinfo=timezone.utc)
    follower = RecentLogFollower(Client(), ("1", "2", "ser-1"), logger, since)
    with caplog.at_level(logging.INFO, logger=logger.name):
        follower.poll()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["[service ser-1] new"]
