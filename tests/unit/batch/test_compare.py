"""The comparison's pieces: paired inputs, agreement rules, the report joined back, thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_abeja.batch import compare
from airflow_provider_abeja.batch.inputs import ListSource


def ok(index: int, answer: Any, ms: float = 10.0) -> dict[str, Any]:
    side = compare.SIDES[index % 2]
    key = f"{side}/{index // 2}"
    return {"key": key, "index": index, "status": "ok", "elapsed_ms": ms, "response": answer}


def failed(index: int) -> dict[str, Any]:
    side = compare.SIDES[index % 2]
    return {"key": f"{side}/{index // 2}", "index": index, "status": "error", "status_code": 500}


def test_every_input_is_sent_to_blue_then_green_under_distinct_keys() -> None:
    paired = compare.Paired(ListSource([{"a": 1}, {"a": 2}], key_field="a"))

    items = list(paired)

    assert paired.count() == 4
    assert [(i.index, i.key, i.json) for i in items] == [
        (0, "blue/1", {"a": 1}),
        (1, "green/1", {"a": 1}),
        (2, "blue/2", {"a": 2}),
        (3, "green/2", {"a": 2}),
    ]
    assert next(iter(compare.Paired(ListSource(["x"])))).key == "blue/0"


def test_agreement_rules() -> None:
    exact = compare.agreement()
    assert exact({"label": "a", "score": 1}, {"score": 1, "label": "a"})
    assert not exact({"label": "a", "score": 1}, {"label": "a", "score": 2})
    field = compare.agreement("out.score", tolerance=0.5)
    assert field({"out": {"score": 1.0}}, {"out": {"score": 1.5}})
    assert not field({"out": {"score": 1.0}}, {"out": {"score": 1.6}})
    assert not field({"out": {"score": 1.0}}, {"out": {}})  # missing: disagrees
    assert compare.agreement("label")({"label": "a"}, {"label": "a"})
    assert compare.agreement(agree=lambda b, g: True)(1, 2)


def test_report_joins_the_pairs_in_any_order_and_counts_per_service() -> None:
    records = [ok(1, {"l": "a"}, 30), ok(0, {"l": "a"}, 10), ok(2, {"l": "a"}), ok(3, {"l": "b"}), failed(5)]
    records.append(ok(4, {"l": "a"}))

    result = compare.report(records, compare.agreement())

    assert result["blue"]["requests"] == result["green"]["requests"] == 3
    assert result["blue"]["error_rate"] == 0.0
    assert result["green"]["errors"] == 1
    assert result["compared"] == 2  # the pair with green's error is not compared
    assert result["agreed"] == 1
    assert result["agreement_rate"] == 0.5
    assert result["disagreeing_keys"] == ["1"]
    assert result["green"]["p50_ms"] is not None


def test_a_comparison_that_raises_is_a_disagreement() -> None:
    def broken(blue: Any, green: Any) -> bool:
        raise TypeError("cannot compare")

    result = compare.report([ok(0, 1), ok(1, 1)], broken)

    assert result["agreement_rate"] == 0.0


def test_percentiles() -> None:
    assert compare.percentiles([]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    assert compare.percentiles([5.0])["p99_ms"] == 5.0
    spread = compare.percentiles([float(v) for v in range(1, 101)])
    assert spread == {"p50_ms": 50.5, "p95_ms": 95.0, "p99_ms": 99.0}


@pytest.mark.parametrize(
    ("thresholds", "named"),
    [
        ({"max_error_rate": 0.1}, "max_error_rate"),
        ({"min_agreement": 0.9}, "min_agreement"),
        ({"max_p95_ms": 15}, "max_p95_ms"),
        ({"max_p95_ratio": 1.5}, "max_p95_ratio"),
    ],
)
def test_each_threshold_green_breaks_is_named(thresholds: dict[str, float], named: str) -> None:
    records = [ok(0, 1, 10), ok(1, 2, 20), ok(2, 1, 10), failed(3)]
    result = compare.report(records, compare.agreement())

    breaches = compare.breaches(result, thresholds)

    assert len(breaches) == 1
    assert breaches[0].startswith(f"{named}: ")


def test_thresholds_green_meets_are_no_breach() -> None:
    result = compare.report([ok(0, 1), ok(1, 1)], compare.agreement())
    limits = {"max_error_rate": 0.0, "min_agreement": 1.0, "max_p95_ms": 100, "max_p95_ratio": 1.0}
    assert compare.breaches(result, limits) == []
    assert compare.breaches(compare.report([], compare.agreement()), {"min_agreement": 0.5}) == [
        "min_agreement: green agreed with blue on no input both answered < 50.00%"
    ]


def test_table_shows_both_services_and_the_thresholds() -> None:
    result = {**compare.report([ok(0, 1), ok(1, 2)], compare.agreement()), "green_service_id": "ser-g"}

    shown = compare.table(result, {"max_error_rate": 0.0, "min_agreement": 0.95}).splitlines()

    assert shown[0] == "| | blue  | green ser-g | threshold |"
    assert "| error rate | 0.00% | 0.00% | <= 0.00% |" in shown
    assert "| agrees with blue |  | 0.00% of 1 | >= 95.00% |" in shown
