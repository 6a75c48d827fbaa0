"""Lists the platform answers in pages, followed to the end by both clients.

The platform's paged lists (training jobs, datalake channels) answer
``{"entries": [...], "offset": o, "limit": l, "total": t}`` (some say ``"has_next": true``
instead of a total) and take ``offset`` and ``limit`` query parameters. A list answered in one
piece carries none of these keys and comes back unchanged. Pure: the clients send the requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_provider_abeja.exceptions import InvalidResponseError

if TYPE_CHECKING:
    from airflow_provider_abeja.client._core import RequestSpec

#: A list longer than this many pages is a server that never says "last page": stop with an error.
MAX_PAGES = 1000
#: The keys that describe one page; the merged list carries none of them.
PAGE_KEYS = frozenset({"offset", "limit", "total", "has_next"})


def _whole_number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def next_page(spec: RequestSpec, page: Mapping[str, Any], pages_read: int) -> RequestSpec | None:
    """The request for the page after ``page`` (read with ``spec``), or None when it was the last.

    A page that says more follow but holds no entry would make the next request the same one:
    it ends the list rather than loop.
    """
    offset = _whole_number(page.get("offset"))
    entries = page["entries"]
    if offset is None or not entries:
        return None
    following = offset + len(entries)
    total = _whole_number(page.get("total"))
    if not (page.get("has_next") is True or (total is not None and following < total)):
        return None
    if pages_read >= MAX_PAGES:
        raise InvalidResponseError(
            "invalid_response", f"the list did not end after {MAX_PAGES} pages", 200, spec.url
        )
    params = dict(spec.params or {})
    params["offset"] = str(following)
    limit = _whole_number(page.get("limit"))
    if limit:
        params["limit"] = str(limit)
    return replace(spec, params=params)


def merge_pages(pages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One ``{"entries": [...]}`` holding every page's entries in order (other keys from the first)."""
    merged = {key: value for key, value in pages[0].items() if key not in PAGE_KEYS}
    merged["entries"] = [entry for page in pages for entry in page["entries"]]
    return merged
