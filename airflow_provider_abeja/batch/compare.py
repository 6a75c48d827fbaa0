"""Blue against green: the paired replay's inputs, and the report read back from its output.

Every input is sent twice, to blue and to green, as two batch inputs next to each other
(`Paired`); the batch runner keeps its bounded concurrency and its resumable output, whose records
are joined back by position (`index // 2`). The report gives per service the error rate and the
latency percentiles of its answers, and how often green agreed with blue on the inputs both
answered. Plain Python, like the rest of `batch/`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_abeja.batch.inputs import BatchInput, InputSource

SIDES = ("blue", "green")
Agree = Callable[[Any, Any], bool]
#: How many disagreeing keys the report names.
EXAMPLES = 5


@dataclass
class Paired:
    """Each input of `source` twice: blue's at index ``2i``, green's at ``2i + 1``."""

    source: InputSource

    def count(self) -> int | None:
        total = self.source.count()
        return None if total is None else 2 * total

    def __iter__(self) -> Iterator[BatchInput]:
        for item in self.source:
            key = json.dumps(item.key)
            for side, name in enumerate(SIDES):
                yield replace(item, index=2 * item.index + side, key=f"{name}/{key}")


def _field(value: Any, path: str) -> Any:
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            raise KeyError(path)
        value = value[name]
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def agreement(field: str | None = None, tolerance: float = 0.0, agree: Agree | None = None) -> Agree:
    """Whether green's answer agrees with blue's: ``agree(blue, green)`` when given; else their
    ``field`` (a dotted path), numbers within ``tolerance``; else the whole answers, equal as JSON."""
    if agree is not None:
        return agree
    if field is None:
        return lambda blue, green: bool(blue == green)

    def same_field(blue: Any, green: Any) -> bool:
        try:
            a, b = _field(blue, field), _field(green, field)
        except KeyError:
            return False
        if _number(a) and _number(b):
            return math.isclose(a, b, rel_tol=0.0, abs_tol=tolerance)
        return bool(a == b)

    return same_field


def _answer(record: Mapping[str, Any]) -> Any:
    for name in ("response", "response_text", "response_base64"):
        if name in record:
            return record[name]
    return None


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and p99 (inclusive method; one value is all three; none: None)."""
    if len(values) < 2:
        only = values[0] if values else None
        return {"p50_ms": only, "p95_ms": only, "p99_ms": only}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1), "p99_ms": round(cuts[98], 1)}


def report(records: Iterable[Mapping[str, Any]], agree: Agree) -> dict[str, Any]:
    """The comparison of a paired replay's output records (any order)."""
    latencies: list[list[float]] = [[], []]
    errors, sent = [0, 0], [0, 0]
    waiting: dict[int, Mapping[str, Any]] = {}
    compared = agreed = 0
    disagreeing: list[str] = []
    for record in records:
        index = int(record["index"])
        side = index % 2
        sent[side] += 1
        if record.get("status") == "ok":
            latencies[side].append(float(record.get("elapsed_ms") or 0.0))
        else:
            errors[side] += 1
        other = waiting.pop(index ^ 1, None)
        if other is None:
            waiting[index] = record
            continue
        blue, green = (other, record) if side else (record, other)
        if blue.get("status") == green.get("status") == "ok":
            compared += 1
            try:
                same = agree(_answer(blue), _answer(green))
            except Exception:  # a user's comparison that cannot judge this pair: a disagreement
                same = False
            agreed += same
            if not same and len(disagreeing) < EXAMPLES:
                disagreeing.append(str(green["key"]).partition("/")[2])
    services = {
        name: {
            "requests": sent[side],
            "errors": errors[side],
            "error_rate": round(errors[side] / sent[side], 6) if sent[side] else 0.0,
            **percentiles(latencies[side]),
        }
        for side, name in enumerate(SIDES)
    }
    return {
        **services,
        "compared": compared,
        "agreed": agreed,
        "agreement_rate": round(agreed / compared, 6) if compared else None,
        "disagreeing_keys": disagreeing,
    }


def breaches(result: Mapping[str, Any], thresholds: Mapping[str, float | None]) -> list[str]:
    """What green fails, each naming its threshold: ``max_error_rate``, ``min_agreement``,
    ``max_p95_ms`` and ``max_p95_ratio`` (green's p95 over blue's); None turns one off."""
    green, blue = result["green"], result["blue"]
    found = []
    limit = thresholds.get("max_error_rate")
    if limit is not None and green["error_rate"] > limit:
        found.append(f"max_error_rate: green's error rate {green['error_rate']:.2%} > {limit:.2%}")
    limit = thresholds.get("min_agreement")
    rate = result["agreement_rate"]
    if limit is not None and (rate is None or rate < limit):
        shown = "no input both answered" if rate is None else f"{rate:.2%}"
        found.append(f"min_agreement: green agreed with blue on {shown} < {limit:.2%}")
    limit = thresholds.get("max_p95_ms")
    if limit is not None and (green["p95_ms"] or 0.0) > limit:
        found.append(f"max_p95_ms: green's p95 {green['p95_ms']} ms > {limit} ms")
    limit = thresholds.get("max_p95_ratio")
    if limit is not None and blue["p95_ms"] and (green["p95_ms"] or 0.0) > limit * blue["p95_ms"]:
        found.append(
            f"max_p95_ratio: green's p95 {green['p95_ms']} ms > {limit} x blue's {blue['p95_ms']} ms"
        )
    return found


def table(result: Mapping[str, Any], thresholds: Mapping[str, float | None]) -> str:
    """The report as a Markdown table (the task log, the approval's body)."""

    def cell(value: Any, percent: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:.2%}" if percent else str(value)

    blue, green = result["blue"], result["green"]
    limit = thresholds
    rows = [
        ("requests", blue["requests"], green["requests"], ""),
        ("error rate", cell(blue["error_rate"], True), cell(green["error_rate"], True),
         f"<= {cell(limit.get('max_error_rate'), True)}"),
        ("p50 ms", cell(blue["p50_ms"]), cell(green["p50_ms"]), ""),
        ("p95 ms", cell(blue["p95_ms"]), cell(green["p95_ms"]),
         f"<= {cell(limit.get('max_p95_ms'))} ms, <= {cell(limit.get('max_p95_ratio'))} x blue"),
        ("p99 ms", cell(blue["p99_ms"]), cell(green["p99_ms"]), ""),
        ("agrees with blue", "", f"{cell(result['agreement_rate'], True)} of {result['compared']}",
         f">= {cell(limit.get('min_agreement'), True)}"),
    ]  # fmt: skip
    ids = result.get("blue_service_id", ""), result.get("green_service_id", "")
    lines = [
        "| | blue {} | green {} | threshold |".format(*ids),
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {' | '.join(str(c) for c in row)} |" for row in rows]
    return "\n".join(lines)
