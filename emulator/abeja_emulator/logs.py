"""Recent logs per service, with the platform's newest-first pages and opaque paging tokens."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import bad_request
from .ids import format_ts, parse_ts, utcnow
from .models import LogEvent
from .store import NullStore

_BACKWARD = "b"
_FORWARD = "f"


def encode_token(direction: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{seq}".encode()).decode().rstrip("=")


def decode_token(token: str, direction: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, number = raw.partition(":")
        if kind != direction:
            raise ValueError(kind)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request("invalid paging token") from None


def parse_time_filter(value: str | None, name: str, *, end: bool) -> datetime | None:
    """`%Y-%m-%dT%H:%M:%S` (UTC); an end time without a fraction covers its whole second."""
    if not value:
        return None
    try:
        moment = parse_ts(value)
    except ValueError:
        raise bad_request(f"{name} must look like 2018-01-01T00:00:00") from None
    if end and "." not in value:
        moment = moment.replace(microsecond=999999)
    return moment


class LogBook:
    """Events kept in arrival order per service (sequence numbers are global and increasing)."""

    def __init__(self, store: NullStore, max_per_service: int = 5000) -> None:
        self._store = store
        self._events: dict[str, list[LogEvent]] = {}
        self._seq = 0
        self.max_per_service = max_per_service

    def load(self, events: list[LogEvent]) -> None:
        for event in events:
            self._events.setdefault(event.service_id, []).append(event)
            self._seq = max(self._seq, event.seq)

    def clear(self) -> None:
        self._events.clear()

    def append(self, service_id: str, message: str) -> None:
        self._seq += 1
        event = LogEvent(self._seq, service_id, format_ts(utcnow()), message)
        events = self._events.setdefault(service_id, [])
        events.append(event)
        self._store.append_log(event)
        overflow = len(events) - self.max_per_service
        if overflow > 0:
            del events[:overflow]
            self._store.delete_logs(service_id, events[0].seq - 1)

    def drop(self, service_id: str) -> None:
        self._events.pop(service_id, None)
        self._store.delete_logs(service_id)

    def messages(self, service_id: str) -> list[str]:
        return [e.message for e in self._events.get(service_id, [])]

    def page(
        self,
        service_id: str,
        *,
        next_forward_token: str | None = None,
        next_backward_token: str | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        page_size: int = 50,
    ) -> dict[str, Any]:
        """Without a token: the newest page. Tokens are empty when nothing lies further that way."""
        if next_forward_token and next_backward_token:
            raise bad_request("give next_forward_token or next_backward_token, not both")
        start = parse_time_filter(start_time, "start_time", end=False)
        end = parse_time_filter(end_time, "end_time", end=True)
        events = self._events.get(service_id, [])
        if start is not None or end is not None:
            events = [e for e in events if _within(e, start, end)]
        if next_forward_token:
            after = decode_token(next_forward_token, _FORWARD)
            chosen = [e for e in events if e.seq > after][:page_size]
        elif next_backward_token:
            before = decode_token(next_backward_token, _BACKWARD)
            older = [e for e in events if e.seq < before]
            chosen = older[-page_size:]
        else:
            chosen = events[-page_size:]
        backward = forward = ""
        if chosen:
            low, high = chosen[0].seq, chosen[-1].seq
            if events and events[0].seq < low:
                backward = encode_token(_BACKWARD, low)
            if events and events[-1].seq > high:
                forward = encode_token(_FORWARD, high)
        return {
            "events": [{"message": e.message, "timestamp": e.timestamp} for e in reversed(chosen)],
            "next_backward_token": backward,
            "next_forward_token": forward,
        }

    def ascending_page(self, service_id: str, query: Mapping[str, str], page_size: int) -> dict[str, Any]:
        """Oldest first from ``next_token`` on (runs' ``/logs``); ``next_token`` only while more remain."""
        start = parse_time_filter(query.get("start_time"), "start_time", end=False)
        end = parse_time_filter(query.get("end_time"), "end_time", end=True)
        token = query.get("next_token")
        after = decode_token(token, _FORWARD) if token else 0
        events = [e for e in self._events.get(service_id, []) if e.seq > after and _within(e, start, end)]
        page: dict[str, Any] = {
            "events": [{"message": e.message, "timestamp": e.timestamp} for e in events[:page_size]]
        }
        if len(events) > page_size:
            page["next_token"] = encode_token(_FORWARD, events[page_size - 1].seq)
        return page


def _within(event: LogEvent, start: datetime | None, end: datetime | None) -> bool:
    moment = parse_ts(event.timestamp)
    return (start is None or moment >= start) and (end is None or moment <= end)
