"""recentlogs: newest first, paging both ways with opaque tokens, time filters."""

from __future__ import annotations

import pytest

from abeja_emulator import SAMPLE_VERSION_ID

from ._util import DEP, api, create_service

pytestmark = pytest.mark.emulator


def _page(handle, service_id, **params):
    answer = api(handle, "GET", f"deployments/{DEP}/services/{service_id}/recentlogs", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def noisy_service(abeja_emulator):
    abeja_emulator.configure(log_page_size=10, ready_delay=30)  # stays IN_PROGRESS: no lifecycle lines later
    service_id = create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"]
    abeja_emulator.set_service_status(service_id, "STOPPED")
    abeja_emulator.add_log(service_id, *[f"line {i:02d}" for i in range(25)])
    return service_id


def test_pages_backward_then_forward(abeja_emulator, noisy_service):
    everything = abeja_emulator.log_messages(noisy_service)
    first = _page(abeja_emulator, noisy_service)
    assert set(first) == {"events", "next_backward_token", "next_forward_token"}
    assert [e["message"] for e in first["events"]] == [f"line {i:02d}" for i in range(24, 14, -1)]
    assert first["next_forward_token"] == ""
    assert first["next_backward_token"]
    timestamps = [e["timestamp"] for e in first["events"]]
    assert timestamps == sorted(timestamps, reverse=True)

    collected = [e["message"] for e in first["events"]]
    page = first
    while page["next_backward_token"]:
        page = _page(abeja_emulator, noisy_service, next_backward_token=page["next_backward_token"])
        collected += [e["message"] for e in page["events"]]
    assert collected == list(reversed(everything))

    forward = _page(abeja_emulator, noisy_service, next_forward_token=page["next_forward_token"])
    assert [e["message"] for e in forward["events"]] == list(reversed(everything[len(page["events"]) :][:10]))
    assert forward["next_backward_token"]


def test_new_lines_appear_on_the_next_newest_page(abeja_emulator, noisy_service):
    _page(abeja_emulator, noisy_service)
    abeja_emulator.add_log(noisy_service, "fresh")
    assert _page(abeja_emulator, noisy_service)["events"][0]["message"] == "fresh"


def test_time_filters(abeja_emulator, noisy_service):
    events = _page(abeja_emulator, noisy_service)["events"]
    newest = events[0]["timestamp"]
    after_all = "2999-01-01T00:00:00"
    assert _page(abeja_emulator, noisy_service, start_time=after_all)["events"] == []
    assert _page(abeja_emulator, noisy_service, end_time="2000-01-01T00:00:00")["events"] == []
    second = newest[:19]  # whole-second precision, as the client sends it
    within = _page(abeja_emulator, noisy_service, start_time="2000-01-01T00:00:00", end_time=second)
    assert within["events"][0]["timestamp"] == newest


@pytest.mark.parametrize(
    "params",
    [
        {"next_backward_token": "garbage"},
        {"next_forward_token": "Yjo1"},  # a backward token given as forward
        {"next_forward_token": "Zjox", "next_backward_token": "Yjo1"},
        {"start_time": "yesterday"},
    ],
)
def test_bad_parameters_are_400(abeja_emulator, noisy_service, params):
    answer = api(
        abeja_emulator, "GET", f"deployments/{DEP}/services/{noisy_service}/recentlogs", params=params
    )
    assert answer.status_code == 400


def test_logs_are_capped_per_service(abeja_emulator, noisy_service):
    abeja_emulator.configure(max_log_events_per_service=5)
    abeja_emulator.add_log(noisy_service, *[f"more {i}" for i in range(8)])
    assert abeja_emulator.log_messages(noisy_service) == [f"more {i}" for i in range(3, 8)]


def test_the_logs_route_pages_oldest_first_with_next_token(abeja_emulator, noisy_service):
    """`.../logs` (abejacli's describe-service-logs): oldest first from start_time, next_token."""

    def logs(**params):
        answer = api(abeja_emulator, "GET", f"deployments/{DEP}/services/{noisy_service}/logs", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    everything = abeja_emulator.log_messages(noisy_service)
    pages, token = [], None
    while True:
        page = logs(start_time="2000-01-01T00:00:00Z", **({"next_token": token} if token else {}))
        assert set(page) == {"events", "next_token"}
        pages.append([e["message"] for e in page["events"]])
        token = page["next_token"]
        if token is None:
            break
    assert [len(p) for p in pages] == [10, 10, len(everything) - 20]
    assert [m for p in pages for m in p] == everything
    assert logs(end_time="2000-01-01T00:00:00Z") == {"events": [], "next_token": None}
    bad = api(
        abeja_emulator, "GET", f"deployments/{DEP}/services/{noisy_service}/logs", params={"next_token": "x"}
    )
    assert bad.status_code == 400
