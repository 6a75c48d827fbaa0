"""Platform-shaped ids and timestamps, kept in one place so every resource looks the same."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def new_hex_id(prefix: str) -> str:
    """`ser-`, `pnt-` or `ver-` followed by 16 lower-case hex digits."""
    return f"{prefix}-{secrets.token_hex(8)}"


def new_numeric_id() -> str:
    """A 13-digit id like the platform's deployment, model and channel ids (no leading zero)."""
    return str(secrets.randbelow(9 * 10**12) + 10**12)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_ts(moment: datetime) -> str:
    """`2018-06-05T13:07:49.602076Z`, the format of the seed's responses."""
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def now_ts() -> str:
    return format_ts(utcnow())


def parse_ts(text: str) -> datetime:
    """Accept `%Y-%m-%dT%H:%M:%S` with optional fraction and optional `Z` / offset (UTC when naive)."""
    raw = text.strip()
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
