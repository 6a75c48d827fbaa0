"""Both clients follow a paged list to its end and return one ``{"entries": [...]}``.

The platform pages lists with ``offset``/``limit`` query parameters and answers
``{"entries", "offset", "limit", "total"}`` (or ``has_next``); the emulator pages
``get_services`` that way (tested against it in ``tests/integration/wait``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import requests_mock as rm
import respx

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.client._core import MAX_PAGES
from airflow_provider_abeja.exceptions import HttpError, InvalidResponseError

from .conftest import API, DEP, MGMT, ORG, TOKEN

LIST = f"{MGMT}/services"


def _page(offset: int, limit: int | None, total: int, size: int, has_next: bool) -> dict[str, Any]:
    """Page ``offset`` of ``total`` services, ``limit`` (or ``size``) long."""
    limit = limit or size
    entries = [{"service_id": f"ser-{i:016x}"} for i in range(offset, min(offset + limit, total))]
    page: dict[str, Any] = {"entries": entries, "offset": offset, "limit": limit}
    if has_next:
        page["has_next"] = offset + len(entries) < total
    else:
        page["total"] = total
    return page


def _ids(answer: dict[str, Any]) -> list[str]:
    return [entry["service_id"] for entry in answer["entries"]]


class _Platform:
    """One paged list served to both clients: respx (async) and requests-mock (sync)."""

    def __init__(self, requests_mock: rm.Mocker, total: int, size: int, has_next: bool = False) -> None:
        self.asked: list[tuple[str | None, str | None]] = []

        def answer(params: dict[str, str]) -> dict[str, Any]:
            self.asked.append((params.get("offset"), params.get("limit")))
            limit = params.get("limit")
            return _page(int(params.get("offset", "0")), int(limit) if limit else None, total, size, has_next)

        respx.get(url__startswith=LIST).mock(
            side_effect=lambda request: httpx.Response(200, json=answer(dict(request.url.params)))
        )
        requests_mock.get(
            LIST, json=lambda request, context: answer({k: v[0] for k, v in request.qs.items()})
        )


async def _both(call: str, *args: Any) -> list[dict[str, Any]]:
    """The same call through the sync and the async client."""
    with APIClient({"auth_token": TOKEN}, api_url=API, max_retry_count=0) as sync:
        first = getattr(sync, call)(*args)
    client = AsyncAPIClient({"auth_token": TOKEN}, api_url=API, max_retry_count=0)
    try:
        second = await getattr(client, call)(*args)
    finally:
        await client.aclose()
    return [first, second]


@respx.mock
@pytest.mark.parametrize("has_next", [False, True], ids=["total", "has_next"])
async def test_every_page_is_read_in_order(requests_mock: rm.Mocker, has_next: bool) -> None:
    platform = _Platform(requests_mock, 7, 3, has_next=has_next)
    for answer in await _both("get_services", ORG, DEP):
        assert _ids(answer) == [f"ser-{i:016x}" for i in range(7)]
        assert answer == {"entries": answer["entries"]}  # no page keys left
    assert platform.asked == [(None, None), ("3", "3"), ("6", "3")] * 2


@respx.mock
async def test_an_unpaged_list_is_one_request_and_unchanged(requests_mock: rm.Mocker) -> None:
    route = respx.get(LIST).mock(return_value=httpx.Response(200, json={"entries": [{"service_id": "a"}]}))
    requests_mock.get(LIST, json={"entries": [{"service_id": "a"}]})
    assert await _both("get_services", ORG, DEP) == [{"entries": [{"service_id": "a"}]}] * 2
    assert route.call_count == requests_mock.call_count == 1


@respx.mock
async def test_a_page_that_says_more_but_is_empty_ends_the_list(requests_mock: rm.Mocker) -> None:
    page = {"entries": [], "offset": 0, "limit": 10, "total": 5}
    route = respx.get(url__startswith=LIST).mock(return_value=httpx.Response(200, json=page))
    requests_mock.get(LIST, json=page)
    assert await _both("get_services", ORG, DEP) == [{"entries": []}] * 2
    assert route.call_count == requests_mock.call_count == 1


@respx.mock
async def test_a_list_that_never_ends_is_an_invalid_response(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("airflow_provider_abeja.client._core.MAX_PAGES", 4)
    route = respx.get(url__startswith=LIST).mock(
        side_effect=lambda request: httpx.Response(
            200, json=_page(int(request.url.params.get("offset", "0")), 2, 10**9, 2, False)
        )
    )
    client = AsyncAPIClient({"auth_token": TOKEN}, api_url=API, max_retry_count=0)
    try:
        with pytest.raises(InvalidResponseError, match="did not end after 4 pages"):
            await client.get_services(ORG, DEP)
    finally:
        await client.aclose()
    assert route.call_count == 4
    assert MAX_PAGES >= 100  # the real bound leaves room for any real deployment


def test_a_failing_later_page_fails_the_call(requests_mock: rm.Mocker) -> None:
    first = {"entries": [{"service_id": "a"}], "offset": 0, "limit": 1, "total": 2}
    requests_mock.get(LIST, json=first)
    requests_mock.get(f"{LIST}?offset=1", status_code=503, json={"error": "unavailable"})
    with (
        APIClient({"auth_token": TOKEN}, api_url=API, max_retry_count=0) as client,
        pytest.raises(HttpError, match="unavailable"),
    ):
        client.get_services(ORG, DEP)
