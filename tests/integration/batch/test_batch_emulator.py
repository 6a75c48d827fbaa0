"""AbejaBatchRequestOperator against the emulator: order, completeness, binary inputs, errors, resends."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.operators.batch import XCOM_SUMMARY, AbejaBatchRequestOperator
from tests._context import FakeTI

from .conftest import SAMPLE_DEPLOYMENT, write_jsonl

pytestmark = pytest.mark.emulator

WORDS = ["good", "great", "bad", "awful", "fine", "love", "hate", "ok"]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _op(tmp_path: Path, **kwargs: Any) -> AbejaBatchRequestOperator:
    kwargs.setdefault("output_path", str(tmp_path / "out" / "results.jsonl"))
    kwargs.setdefault("progress_interval", 0.5)
    return AbejaBatchRequestOperator(task_id="batch", deployment_id=SAMPLE_DEPLOYMENT, **kwargs)


def test_jsonl_results_in_input_order_each_input_served_once(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str]
) -> None:
    service_id = make_service(instances=3)
    rows = [{"id": f"doc-{n:03d}", "text": f"{WORDS[n % 8]} and {WORDS[(n * 3) % 8]}"} for n in range(90)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    summary = _op(tmp_path, service_id=service_id, input_path=str(source), key_field="id").execute(
        {"ti": FakeTI()}
    )
    records = _lines(tmp_path / "out" / "results.jsonl")
    assert [r["key"] for r in records] == [row["id"] for row in rows]
    assert [r["index"] for r in records] == list(range(90))
    for record, row in zip(records, rows, strict=True):
        assert record["status"] == "ok"
        assert record["response"]["id"] == row["id"]  # each answer belongs to its own input
        assert record["response"]["label"] in ("positive", "negative")
    metrics = emulator.metrics(service_id)
    assert metrics["served"] == 90
    assert 1 < metrics["max_in_flight"] <= 6  # default concurrency: 2 per instance of 3
    assert summary["concurrency"] == 6
    assert (summary["total"], summary["ok"], summary["errors"], summary["skipped"]) == (90, 90, 0, 0)


def test_binary_files_keep_their_bytes_and_content_types(
    tmp_path: Path, make_service: Callable[..., str], binary_echo_version: str
) -> None:
    service_id = make_service(binary_echo_version, instances=2)
    images = tmp_path / "images"
    (images / "night").mkdir(parents=True)
    files = {
        "cat.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "dog.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 3000,
        "night/owl.png": b"\x89PNG owl",
        "notes.txt": b"not an image",
    }
    for name, data in files.items():
        (images / name).write_bytes(data)
    op = _op(tmp_path, service_id=service_id, input_path=f"file://{images}/**/*.png")
    op.execute({"ti": FakeTI()})
    records = _lines(tmp_path / "out" / "results.jsonl")
    assert [r["key"] for r in records] == ["cat.png", "night/owl.png"]
    import hashlib

    for record in records:
        data = files[record["key"]]
        assert record["response"] == {
            "size": len(data),
            "content_type": "image/png",
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    everything = _op(
        tmp_path, service_id=service_id, input_path=str(images), output_path=str(tmp_path / "all.jsonl")
    )
    everything.execute({"ti": FakeTI()})
    by_key = {r["key"]: r["response"] for r in _lines(tmp_path / "all.jsonl")}
    assert set(by_key) == set(files)
    assert by_key["dog.jpg"]["content_type"] == "image/jpeg"
    assert by_key["notes.txt"]["content_type"] == "text/plain"
    assert by_key["dog.jpg"]["size"] == len(files["dog.jpg"])


def test_error_threshold_fails_after_writing_every_result(
    tmp_path: Path, make_service: Callable[..., str]
) -> None:
    service_id = make_service(instances=2)
    # Every 5th input makes the handler raise (the platform answers 500), one is not an object (400).
    rows: list[Any] = [
        {"text": "good", "raise": "model bug"} if n % 5 == 0 else {"text": "fine"} for n in range(20)
    ]
    rows[7] = ["not", "an", "object"]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="5 of 20 inputs failed"):
        _op(tmp_path, service_id=service_id, input_path=str(source), max_error_rate=0.2).execute({"ti": ti})
    records = _lines(tmp_path / "out" / "results.jsonl")
    assert len(records) == 20
    errors = _lines(tmp_path / "out" / "results.errors.jsonl")
    assert [e["key"] for e in errors] == [1, 6, 8, 11, 16]  # line numbers
    assert {e["status_code"] for e in errors} == {500, 400}
    assert errors[0]["attempts"] == 1  # a 500 from the model is never sent twice by default
    assert ti.xcoms[XCOM_SUMMARY]["done_errors"] == 5

    # Under a looser threshold the retried task passes without sending anything again.
    summary = _op(tmp_path, service_id=service_id, input_path=str(source), max_error_rate=0.25).execute(
        {"ti": FakeTI()}
    )
    assert (summary["sent"], summary["skipped"], summary["error_rate"]) == (0, 20, 0.25)


def test_not_ready_503_is_resent_per_input(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str]
) -> None:
    service_id = make_service(instances=2)
    emulator.inject_fault("request_service", status=503, times=3)
    summary = _op(
        tmp_path, service_id=service_id, inputs=[{"text": "good"}] * 6, concurrency=2, retry_wait_max=0.05
    ).execute({"ti": FakeTI()})
    records = _lines(tmp_path / "out" / "results.jsonl")
    assert all(r["status"] == "ok" for r in records)
    assert sum(r["attempts"] for r in records) == 6 + 3
    assert summary["ok"] == 6


def test_stopped_service_aborts_the_try_and_the_retry_finishes(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str]
) -> None:
    service_id = make_service(instances=1)
    emulator.inject_fault("request_service", status=503)  # never ready
    op = _op(
        tmp_path,
        service_id=service_id,
        inputs=[{"text": "x"}] * 4,
        concurrency=1,
        max_retry_count=2,
        retry_wait_max=0.05,
    )
    with pytest.raises(AirflowException, match="did not take requests") as info:
        op.execute({"ti": FakeTI()})
    assert not isinstance(info.value, AirflowFailException)  # Airflow retries the task
    assert (tmp_path / "out" / "results.jsonl").read_text() == ""
    emulator.clear_faults()
    summary = op.execute({"ti": FakeTI()})
    assert (summary["sent"], summary["ok"]) == (4, 4)


def test_default_endpoint_and_its_service_instances(
    tmp_path: Path, emulator: Any, make_service: Callable[..., str]
) -> None:
    from airflow_provider_abeja.client import APIClient

    service_id = make_service(instances=2)
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.create_endpoint(emulator.organization_id, SAMPLE_DEPLOYMENT, service_id)
    summary = _op(tmp_path, inputs=[{"text": "great", "id": n} for n in range(8)]).execute({"ti": FakeTI()})
    assert summary["target"] == "endpoint default"
    assert summary["concurrency"] == 4
    assert [r["response"]["id"] for r in _lines(tmp_path / "out" / "results.jsonl")] == list(range(8))
    assert emulator.metrics(service_id)["served"] == 8
