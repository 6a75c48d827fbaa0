"""Fault rules: which routes misbehave, how, and how often. Pure bookkeeping, no I/O."""

from __future__ import annotations

import json
import math
import random
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from .errors import bad_request
from .route_names import ANY_ROUTE, FAULT_ROUTES

WHEN_BEFORE = "before"
WHEN_AFTER = "after"
#: A latency beyond this is a typo or `inf`: it would hold matching requests (and their clients) forever.
MAX_LATENCY = 300.0
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass
class Fault:
    """One rule. `times` counts down (None = unlimited); `probability` draws per matching request.

    `when="before"` answers instead of the route; `"after"` lets the route act (the state changes)
    and then replaces its answer, the way a response lost on the way back looks to a client.
    """

    fault_id: str
    route: str = "*"
    status: int | None = None
    retry_after: str | None = None
    latency: float = 0.0
    drop_connection: bool = False
    malformed_body: bool = False
    times: int | None = None
    probability: float | None = None
    when: str = WHEN_BEFORE
    body: Any = None
    triggered: int = 0

    @property
    def replaces_response(self) -> bool:
        return self.drop_connection or self.malformed_body or self.status is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = {
    "route",
    "status",
    "retry_after",
    "latency",
    "drop_connection",
    "malformed_body",
    "times",
    "probability",
    "when",
    "body",
}


def build_fault(spec: dict[str, Any]) -> Fault:
    """Validate a control-API / CLI spec into a Fault (400 with a one-line reason on anything odd)."""
    unknown = set(spec) - _FIELDS
    if unknown:
        raise bad_request(f"unknown fault option(s): {', '.join(sorted(unknown))}")
    try:
        fault = Fault(fault_id=f"flt-{secrets.token_hex(6)}")
        fault.route = _route(spec.get("route"))
        if spec.get("status") is not None:
            fault.status = int(spec["status"])
            if not 100 <= fault.status <= 599:
                raise ValueError("status must be 100-599")
        if spec.get("retry_after") is not None:
            fault.retry_after = _header_value(spec["retry_after"])
        fault.latency = _latency(spec.get("latency"))
        fault.drop_connection = _as_bool(spec.get("drop_connection", False), "drop_connection")
        fault.malformed_body = _as_bool(spec.get("malformed_body", False), "malformed_body")
        if spec.get("times") is not None:
            fault.times = int(spec["times"])
            if fault.times < 1:
                raise ValueError("times must be >= 1")
        if spec.get("probability") is not None:
            fault.probability = float(spec["probability"])
            if not 0.0 <= fault.probability <= 1.0:
                raise ValueError("probability must be between 0 and 1")
        fault.when = str(spec.get("when") or WHEN_BEFORE)
        if fault.when not in (WHEN_BEFORE, WHEN_AFTER):
            raise ValueError(f"when must be {WHEN_BEFORE} or {WHEN_AFTER}")
        fault.body = spec.get("body")
    except (TypeError, ValueError, OverflowError) as exc:
        raise bad_request(f"invalid fault option: {_one_line(exc)}") from None
    if not fault.replaces_response and fault.latency == 0:
        raise bad_request("a fault needs status, latency, drop_connection or malformed_body")
    return fault


def _route(value: Any) -> str:
    """A route name the emulator counts (a typo would inject nothing, silently)."""
    route = str(value or ANY_ROUTE)
    if route != ANY_ROUTE and route not in FAULT_ROUTES:
        known = ", ".join((ANY_ROUTE, *FAULT_ROUTES))
        raise ValueError(f"unknown route {_one_line(route)[:80]!r}; known routes: {known}")
    return route


def _latency(value: Any) -> float:
    latency = float(value or 0.0)
    if not math.isfinite(latency) or not 0.0 <= latency <= MAX_LATENCY:
        raise ValueError(f"latency must be a number of seconds from 0 to {MAX_LATENCY:g}")
    return latency


def _header_value(value: Any) -> str:
    """`Retry-After` goes out as a header: CR, LF or other control characters would break the answer."""
    text = str(value)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) or not text.isascii():
        raise ValueError("retry_after must be printable ASCII without CR or LF")
    return text


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())


def parse_fault_spec(text: str) -> dict[str, Any]:
    """CLI form: JSON object, or `route=get_service,status=503,times=2`."""
    text = text.strip()
    if text.startswith("{"):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("fault spec must be a JSON object")
        return value
    spec: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            spec[key.strip()] = True
        else:
            spec[key.strip()] = value.strip()
    return spec


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, str):
        word = value.strip().lower()
        if word not in _TRUE + _FALSE:
            raise ValueError(f"{name} must be true or false")
        return word in _TRUE
    return bool(value)


class FaultBook:
    """The active rules, matched in insertion order; the first that fires wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._random = random.Random()
        self.triggered_total = 0

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.fault_id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self._faults]

    def pick(self, route: str) -> Fault | None:
        if not self._faults:
            return None
        for fault in self._faults:
            if fault.route not in ("*", route):
                continue
            if fault.probability is not None and self._random.random() >= fault.probability:
                continue
            fault.triggered += 1
            self.triggered_total += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None
