"""The platform's paged lists: ``offset`` / ``limit`` in the query, ``entries`` with ``offset``,
``limit`` and ``total`` in the answer (ABEJA's SDK iterates on ``total``), and ``filter_archived``
(``include_archived`` / ``exclude_archived``, as both ABEJA clients send it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import bad_request

ARCHIVED_FILTERS = ("include_archived", "exclude_archived", "only_archived")


def _whole(query: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < minimum:
        raise bad_request(f"{name} must be a whole number >= {minimum}")
    return int(raw)


def paged(
    entries: list[dict[str, Any]], query: Mapping[str, str], default_limit: int | None = None
) -> dict[str, Any]:
    """One page of ``entries`` (archived ones filtered as asked; ``default_limit`` of them, all
    when None, without a limit)."""
    archived = query.get("filter_archived")
    if archived is not None and archived not in ARCHIVED_FILTERS:
        raise bad_request(f"filter_archived must be one of {', '.join(ARCHIVED_FILTERS)}")
    if archived == "exclude_archived":
        entries = [e for e in entries if not e.get("archived")]
    elif archived == "only_archived":
        entries = [e for e in entries if e.get("archived")]
    offset = _whole(query, "offset", 0) or 0
    limit = _whole(query, "limit", 1) or default_limit
    chosen = entries[offset : None if limit is None else offset + limit]
    return {
        "entries": chosen,
        "offset": offset,
        "limit": len(chosen) if limit is None else limit,
        "total": len(entries),
    }
