"""AbejaBatchRequestOperator wiring over a mocked transport: inputs, concurrency, summary, threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.operators.batch import (
    XCOM_SUMMARY,
    AbejaBatchRequestOperator,
    default_errors_path,
)
from tests._context import FakeTI

API = "http://127.0.0.1:8765"
ORG, DEP, SER = "1234567890123", "9999999999999", "ser-0123456789abcdef"
SERVICE = f"{API}/organizations/{ORG}/deployments/{DEP}/services/{SER}"
INFER = f"{API}/_inference/{ORG}/deployments/{DEP}/services/{SER}"


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "abeja",
        "host": API,
        "extra": {"auth_token": "batch-secret-token", "organization_id": ORG, "max_retry_count": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(conn))


def _echo(request: Any, context: Any) -> dict[str, Any]:
    body = request.json()
    if body.get("fail"):
        context.status_code = 400
        return {"error": "bad_input", "error_description": "refused by the model"}
    return {"echo": body}


def _op(tmp_path: Path, **kwargs: Any) -> AbejaBatchRequestOperator:
    kwargs.setdefault("output_path", str(tmp_path / "out" / "results.jsonl"))
    return AbejaBatchRequestOperator(task_id="batch", deployment_id=DEP, service_id=SER, **kwargs)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_list_inputs_default_concurrency_and_summary(tmp_path: Path) -> None:
    op = _op(tmp_path, inputs=[{"id": f"k{n}", "v": n} for n in range(20)], key_field="id")
    with rm.Mocker() as m:
        m.get(SERVICE, json={"service_id": SER, "instance_number": 3, "status": "READY"})
        m.post(INFER, json=_echo)
        summary = op.execute({"ti": FakeTI()})
        assert all(r.headers["Authorization"] == "Bearer batch-secret-token" for r in m.request_history)
    records = _lines(tmp_path / "out" / "results.jsonl")
    assert [r["key"] for r in records] == [f"k{n}" for n in range(20)]
    assert records[5]["response"] == {"echo": {"id": "k5", "v": 5}}
    assert summary["concurrency"] == 6  # 2 per instance
    assert (summary["sent"], summary["ok"], summary["errors"], summary["total"]) == (20, 20, 0, 20)
    assert summary["errors_path"] == str(tmp_path / "out" / "results.errors.jsonl")
    assert not (tmp_path / "out" / "results.errors.jsonl").exists()  # nothing failed: no errors file
    assert "batch-secret-token" not in json.dumps(summary)


def test_templated_list_string_is_parsed(tmp_path: Path) -> None:
    op = _op(tmp_path, inputs='[{"a": 1}, {"a": 2}]', concurrency=2)
    with rm.Mocker() as m:
        m.post(INFER, json=_echo)
        summary = op.execute({"ti": FakeTI()})
        assert not any(r.method == "GET" for r in m.request_history)  # concurrency given: no lookup
    assert summary["ok"] == 2


def test_error_rate_over_threshold_fails_after_writing_everything(tmp_path: Path) -> None:
    items = [{"fail": n % 4 == 0, "n": n} for n in range(12)]  # 3 of 12 fail = 25 %
    ti = FakeTI()
    op = _op(tmp_path, inputs=items, concurrency=4, max_error_rate=0.2)
    with rm.Mocker() as m:
        m.post(INFER, json=_echo)
        with pytest.raises(AirflowFailException, match=r"3 of 12 inputs failed \(25.00% > max_error_rate"):
            op.execute({"ti": ti})
    assert len(_lines(tmp_path / "out" / "results.jsonl")) == 12
    errors = _lines(tmp_path / "out" / "results.errors.jsonl")
    assert [e["key"] for e in errors] == [0, 4, 8]
    assert errors[0]["error"]["error_description"] == "refused by the model"
    assert ti.xcoms[XCOM_SUMMARY]["done_errors"] == 3

    # The same rate under a looser threshold passes; the retry sends nothing again.
    again = _op(tmp_path, inputs=items, concurrency=4, max_error_rate=0.25)
    with rm.Mocker() as m:
        summary = again.execute({"ti": FakeTI()})
        assert m.call_count == 0
    assert (summary["skipped"], summary["sent"], summary["done_errors"]) == (12, 0, 3)


def test_unreachable_service_fails_retryably_without_recording(tmp_path: Path) -> None:
    op = _op(tmp_path, inputs=[{"a": 1}, {"a": 2}], concurrency=1)
    with rm.Mocker() as m:
        m.post(INFER, status_code=503, json={"error": "not_ready"})
        with pytest.raises(AirflowException, match="did not take requests") as info:
            op.execute({"ti": FakeTI()})
    assert not isinstance(info.value, AirflowFailException)
    assert (tmp_path / "out" / "results.jsonl").read_text() == ""


def test_files_and_jsonl_inputs_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(b"A")
    (tmp_path / "in.jsonl").write_text('{"x": 1}\n')
    from airflow_provider_abeja.batch.inputs import FilesSource, JsonlSource

    assert isinstance(_op(tmp_path, input_path=str(tmp_path / "imgs")).build_source(), FilesSource)
    assert isinstance(_op(tmp_path, input_path=f"file://{tmp_path}/imgs/*.png").build_source(), FilesSource)
    assert isinstance(_op(tmp_path, input_path=str(tmp_path / "in.jsonl")).build_source(), JsonlSource)


def test_the_readers_options_reach_the_reader(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(b"A")
    (tmp_path / "in.jsonl").write_text('{"id": "k1", "body": {"x": 1}}\n')
    files = _op(tmp_path, input_path=str(tmp_path / "imgs"), content_type="image/x-custom").build_source()
    assert [item.content_type for item in files] == ["image/x-custom"]
    fields = {"key_field": "id", "payload_field": "body"}
    records = _op(tmp_path, input_path=str(tmp_path / "in.jsonl"), **fields).build_source()
    assert [(item.key, item.json) for item in records] == [("k1", {"x": 1})]


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        AbejaBatchRequestOperator(task_id="t", deployment_id=DEP, output_path="o.jsonl")
    with pytest.raises(InvalidArgumentError, match="max_error_rate"):
        AbejaBatchRequestOperator(
            task_id="t", deployment_id=DEP, output_path="o", inputs=[], max_error_rate=2
        )
    assert default_errors_path("s3://b/run/out.jsonl") == "s3://b/run/out.errors.jsonl"
    assert default_errors_path("/x/out") == "/x/out.errors.jsonl"


def test_numbers_are_checked_and_kept_as_numbers() -> None:
    arguments: dict[str, Any] = {"task_id": "t", "deployment_id": DEP, "output_path": "o", "inputs": []}
    # NaN compares false both ways: as a limit it would let any error rate through.
    with pytest.raises(InvalidArgumentError, match=r"^max_error_rate: must be between 0 and 1"):
        AbejaBatchRequestOperator(**arguments, max_error_rate=float("nan"))
    assert AbejaBatchRequestOperator(**arguments, concurrency="4").concurrency == 4


def test_object_store_output_uses_part_objects_and_resumes(tmp_path: Path) -> None:
    """`memory://` stands in for s3: no append, so results go to parts merged at the end."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath
    from fsspec.implementations.memory import MemoryFileSystem

    try:
        from airflow.sdk.io.store import attach
    except ImportError:  # Airflow 2
        from airflow.io.store import attach  # type: ignore[no-redef]

    attach(protocol="memory", fs=MemoryFileSystem())  # as a provider registers s3

    out = "memory://batch-operator-test/run-1/results.jsonl"
    items = [{"n": n, "fail": n == 3} for n in range(7)]
    op = _op(tmp_path, inputs=items, concurrency=2, output_path=out, max_error_rate=0.5)
    with rm.Mocker() as m:
        m.post(INFER, json=_echo)
        summary = op.execute({"ti": FakeTI()})
    lines = ObjectStoragePath(out).read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == list(range(7))
    errors = ObjectStoragePath("memory://batch-operator-test/run-1/results.errors.jsonl").read_text()
    assert [json.loads(line)["key"] for line in errors.splitlines()] == [3]
    assert summary["errors_written"] == 1

    more = _op(tmp_path, inputs=[*items, {"n": 7}], concurrency=2, output_path=out, max_error_rate=0.5)
    with rm.Mocker() as m:
        m.post(INFER, json=_echo)
        summary = more.execute({"ti": FakeTI()})
        assert m.call_count == 1
    lines = ObjectStoragePath(out).read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == list(range(8))
    assert (summary["skipped"], summary["sent"]) == (7, 1)


def test_on_kill_stops_sending_and_keeps_what_finished(tmp_path: Path) -> None:
    import threading
    import time

    op = _op(tmp_path, inputs=[{"n": n} for n in range(400)], concurrency=2)
    out = tmp_path / "out" / "results.jsonl"

    def slow_echo(request: Any, context: Any) -> dict[str, Any]:
        time.sleep(0.005)
        return _echo(request, context)

    def kill_after_ten_results() -> None:  # what Airflow does from another thread on a kill
        deadline = time.monotonic() + 30
        while (not out.exists() or out.read_text().count("\n") < 10) and time.monotonic() < deadline:
            time.sleep(0.01)
        op.on_kill()

    killer = threading.Thread(target=kill_after_ten_results)
    with rm.Mocker() as m:
        m.post(INFER, json=slow_echo)
        killer.start()
        with pytest.raises(AirflowException, match="stopped after"):
            op.execute({"ti": FakeTI()})
        killer.join(timeout=30)
        sent = m.call_count
    keys = [r["key"] for r in _lines(out)]
    assert 10 <= len(keys) < 400
    assert keys == list(range(len(keys)))
    assert sent <= len(keys) + 2 * 8  # nothing more than the in-flight window was sent after the kill


def test_an_output_broken_in_the_middle_fails_without_retry(tmp_path: Path) -> None:
    out = tmp_path / "out" / "results.jsonl"
    out.parent.mkdir()
    out.write_text('{"key":0,"index":0,"status":"ok"}\nnot json\n{"key":1,"index":1,"status":"ok"}\n')
    with pytest.raises(AirflowFailException, match="not the last line"):
        _op(tmp_path, inputs=[{"n": 0}], concurrency=1).execute({"ti": FakeTI()})


def test_include_keys_from_resends_only_the_failures_of_an_earlier_run(tmp_path: Path) -> None:
    items = [{"id": f"k{n}", "fail": n in (2, 5)} for n in range(8)]
    first = _op(tmp_path, inputs=items, key_field="id", concurrency=2, max_error_rate=0.5)
    with rm.Mocker() as m:
        m.post(INFER, json=_echo)
        first.execute({"ti": FakeTI()})
    errors_file = tmp_path / "out" / "results.errors.jsonl"
    assert [e["key"] for e in _lines(errors_file)] == ["k2", "k5"]

    redo = _op(
        tmp_path,
        inputs=items,
        key_field="id",
        concurrency=2,
        include_keys_from=str(errors_file),
        output_path=str(tmp_path / "redo" / "results.jsonl"),
    )
    with rm.Mocker() as m:
        m.post(INFER, json={"fixed": True})  # the model was fixed in between
        summary = redo.execute({"ti": FakeTI()})
        assert m.call_count == 2
    records = _lines(tmp_path / "redo" / "results.jsonl")
    assert [(r["key"], r["index"], r["status"]) for r in records] == [("k2", 2, "ok"), ("k5", 5, "ok")]
    assert (summary["total"], summary["ok"]) == (2, 2)

    missing = _op(tmp_path, inputs=items, concurrency=1, include_keys_from=str(tmp_path / "nope.jsonl"))
    with pytest.raises(AirflowFailException, match="include_keys_from"):
        missing.execute({"ti": FakeTI()})


def test_an_empty_service_id_is_refused_not_taken_as_the_endpoint(tmp_path: Path) -> None:
    """Item 4: '' sent the whole batch to the deployment's default endpoint (production traffic)."""
    for empty in ("", "  "):
        op = AbejaBatchRequestOperator(
            task_id="batch",
            deployment_id=DEP,
            service_id=empty,
            output_path=str(tmp_path / "out.jsonl"),
            inputs=[{"a": 1}],
        )
        with rm.Mocker() as m, pytest.raises(AirflowFailException, match="service_id"):
            op.execute({"ti": FakeTI()})
        assert m.call_count == 0


def test_a_rerun_into_the_same_output_says_it_sends_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Item 11: 'Sending 3 input(s)' then nothing sent; an empty errors file when nothing failed."""
    inputs = [{"id": f"k{n}"} for n in range(3)]
    errors = tmp_path / "out" / "results.errors.jsonl"
    with rm.Mocker() as m:
        m.get(SERVICE, json={"service_id": SER, "instance_number": 1, "status": "READY"})
        infer = m.post(INFER, json=_echo)
        _op(tmp_path, inputs=inputs, key_field="id").execute({"ti": FakeTI()})
        assert not errors.exists()  # nothing failed: no errors file
        capfd.readouterr()
        summary = _op(tmp_path, inputs=inputs, key_field="id").execute({"ti": FakeTI()})
    assert infer.call_count == 3
    assert summary["skipped"] == 3
    assert summary["errors_written"] == 0
    assert not errors.exists()
    log = "".join(capfd.readouterr())
    assert "Sending 3" not in log
    assert "Nothing to send: all 3 input(s) are already in" in log
