"""The batch operator's runner, shared with the comparison: every sender gets the operator's re-send
and abort options, and the targets take the inputs in turn (no platform: the sends are faked)."""

from __future__ import annotations

from typing import Any

import pytest

import airflow_provider_abeja.batch.sender as sender_module
from airflow_provider_abeja.batch.inputs import BatchInput
from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator

DEP, SER = "1234567890123", "ser-0123456789abcdef"


class FakeSender:
    made: list[tuple[Any, dict[str, Any]]] = []

    def __init__(self, client: Any, target: Any, **options: Any) -> None:
        self.target = target
        FakeSender.made.append((target, options))

    def __call__(self, item: BatchInput) -> dict[str, Any]:
        return {"status": "ok", "target": self.target}


@pytest.fixture
def senders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    FakeSender.made = []
    monkeypatch.setattr(sender_module, "Sender", FakeSender)
    return FakeSender.made


def operator() -> AbejaBatchRequestOperator:
    return AbejaBatchRequestOperator(
        task_id="batch",
        deployment_id=DEP,
        service_id=SER,
        inputs=[{"x": 1}],
        output_path="/tmp/out.jsonl",
        resend_statuses=(502, 503),
        resend_on_transport_error=True,
        abort_statuses=(401,),
    )


def test_every_sender_gets_the_operators_resend_and_abort_options(senders: list[Any]) -> None:
    operator()._runner(object(), ["blue", "green"], store=object(), concurrency=1)  # type: ignore[arg-type]
    options = {"resend_statuses": (502, 503), "resend_on_transport_error": True, "abort_statuses": (401,)}
    assert senders == [("blue", options), ("green", options)]


@pytest.mark.parametrize("targets", [["one"], ["blue", "green"]])
def test_the_targets_take_the_inputs_in_turn_by_index(senders: list[Any], targets: list[str]) -> None:
    runner = operator()._runner(object(), targets, store=object(), concurrency=1)  # type: ignore[arg-type]
    sent = [runner.process(BatchInput(index=i, key=str(i)))["target"] for i in range(4)]
    assert sent == [targets[i % len(targets)] for i in range(4)]
