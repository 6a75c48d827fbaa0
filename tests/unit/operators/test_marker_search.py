"""Where a retry's search for the run an earlier try started may stop reading the deployment's runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from airflow_provider_abeja.operators.runs import CLOCK_SKEW, pages_since, search_since

SINCE = datetime(2026, 1, 10, tzinfo=timezone.utc)


def _page(*days: int) -> list[dict[str, Any]]:
    return [{"id": day, "created_at": f"2026-01-{day:02d}T00:00:00.000000Z"} for day in days]


def _read(pages: list[list[dict[str, Any]]], since: datetime | None) -> list[list[int]]:
    """The ids on each page read, the source counting what was asked of it."""
    read: list[list[int]] = []

    def listing() -> Any:
        for page in pages:
            read.append([entry["id"] for entry in page])
            yield page

    for _ in pages_since(listing(), since):
        pass
    return read


def test_a_newest_first_listing_is_read_down_to_the_first_page_that_ends_before_since() -> None:
    pages = [_page(20, 15), _page(12, 9), _page(5, 3), _page(2, 1)]
    assert _read(pages, SINCE) == [[20, 15], [12, 9]]


def test_without_since_or_in_another_order_the_whole_listing_is_read() -> None:
    newest_first = [_page(20, 15), _page(12, 9), _page(5, 3)]
    oldest_first = [_page(1, 2), _page(3, 5), _page(9, 12)]
    assert _read(newest_first, None) == [[20, 15], [12, 9], [5, 3]]
    assert _read(oldest_first, SINCE) == [[1, 2], [3, 5], [9, 12]]


def test_entries_without_a_creation_time_never_stop_the_search() -> None:
    pages = [[{"id": 1}], [{"id": 2, "created_at": "not a time"}], _page(3, 2)]
    assert _read(pages, SINCE) == [[1], [2], [3, 2]]


def test_since_is_the_dag_runs_earliest_time_less_the_clock_skew() -> None:
    run_after = datetime(2026, 1, 10, 12, tzinfo=timezone.utc)
    cleared_later = SimpleNamespace(
        run_after=run_after, logical_date=None, queued_at=run_after + timedelta(days=3)
    )
    assert search_since({"dag_run": cleared_later}) == run_after - CLOCK_SKEW
    naive = SimpleNamespace(logical_date=datetime(2026, 1, 10, 12))
    assert search_since({"dag_run": naive}) == run_after - CLOCK_SKEW
    assert search_since({"ti": object()}) is None
