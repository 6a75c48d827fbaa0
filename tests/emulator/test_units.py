"""Pure pieces of the emulator without a server: fault specs, fault matching, log paging, auth, ids."""

from __future__ import annotations

import base64
import re

import pytest

from abeja_emulator.auth import Authenticator
from abeja_emulator.config import EmulatorConfig
from abeja_emulator.errors import ApiError
from abeja_emulator.faults import FaultBook, build_fault, parse_fault_spec
from abeja_emulator.ids import new_hex_id, new_numeric_id, parse_ts
from abeja_emulator.logs import LogBook
from abeja_emulator.store import NullStore


def test_parse_fault_spec_forms():
    assert parse_fault_spec("route=get_service,status=503,times=2,drop_connection") == {
        "route": "get_service", "status": "503", "times": "2", "drop_connection": True
    }  # fmt: skip
    assert parse_fault_spec('{"route": "*", "latency": 1.5}') == {"route": "*", "latency": 1.5}
    fault = build_fault(parse_fault_spec("route=get_service,status=503,drop_connection=no,probability=0.5"))
    assert (fault.status, fault.drop_connection, fault.probability) == (503, False, 0.5)
    with pytest.raises(ValueError):
        parse_fault_spec('{"route": ')
    with pytest.raises(ApiError):
        build_fault(parse_fault_spec("nonsense"))


def test_fault_book_times_and_order():
    book = FaultBook()
    first = book.add(build_fault({"route": "get_service", "status": 500, "times": 2}))
    book.add(build_fault({"route": "*", "status": 502}))
    assert book.pick("get_service") is first
    assert book.pick("get_service") is first
    assert book.pick("get_service").status == 502  # the first rule is used up
    assert book.pick("create_service").status == 502
    assert book.triggered_total == 4


def test_fault_book_probability_is_roughly_honoured():
    book = FaultBook()
    book.add(build_fault({"status": 500, "probability": 0.5}))
    hits = sum(book.pick("get_service") is not None for _ in range(2000))
    assert 700 < hits < 1300


def test_log_book_paging_and_cap():
    book = LogBook(NullStore(), max_per_service=100)
    for i in range(7):
        book.append("ser-a", f"m{i}")
    book.append("ser-b", "other")
    page = book.page("ser-a", page_size=3)
    assert [e["message"] for e in page["events"]] == ["m6", "m5", "m4"]
    older = book.page("ser-a", next_backward_token=page["next_backward_token"], page_size=3)
    assert [e["message"] for e in older["events"]] == ["m3", "m2", "m1"]
    oldest = book.page("ser-a", next_backward_token=older["next_backward_token"], page_size=3)
    assert [e["message"] for e in oldest["events"]] == ["m0"]
    assert oldest["next_backward_token"] == ""
    newer = book.page("ser-a", next_forward_token=oldest["next_forward_token"], page_size=3)
    assert [e["message"] for e in newer["events"]] == ["m3", "m2", "m1"]
    book.max_per_service = 2
    book.append("ser-a", "m7")
    assert book.messages("ser-a") == ["m6", "m7"]
    assert book.messages("ser-b") == ["other"]


def test_authenticator_cache_follows_config():
    config = EmulatorConfig()
    auth = Authenticator(config)
    header = "Basic " + base64.b64encode(b"user-1111111111111:emulator-token").decode()
    principal = auth.authenticate(header)
    assert principal.organizations == frozenset({"1234567890123"})
    config.update({"users": {"1111111111111": {"token": "new"}}})
    auth.reconfigure(config)
    with pytest.raises(ApiError) as raised:
        auth.authenticate(header)
    assert raised.value.status == 401
    with pytest.raises(ApiError) as forbidden:
        auth.authorize(principal, "5555555555555")
    assert forbidden.value.status == 403


def test_id_shapes_and_timestamps():
    assert re.fullmatch(r"ser-[0-9a-f]{16}", new_hex_id("ser"))
    assert all(re.fullmatch(r"[1-9]\d{12}", new_numeric_id()) for _ in range(200))
    assert parse_ts("2018-01-01T00:00:00").isoformat() == "2018-01-01T00:00:00+00:00"
    assert parse_ts("2018-06-05T13:07:49.602076Z").microsecond == 602076


def test_fast_path_patterns_match_one_segment_per_parameter():
    from abeja_emulator.fastpath import compile_path

    pattern = compile_path("/_inference/{org}/deployments/{dep}/services/{ser}")
    match = pattern.fullmatch("/_inference/1234567890123/deployments/9/services/ser-1")
    assert match is not None
    assert match.groupdict() == {"org": "1234567890123", "dep": "9", "ser": "ser-1"}
    assert pattern.fullmatch("/_inference/a/b/deployments/9/services/ser-1") is None
    assert compile_path("/deployments/{dep}").fullmatch("/deployments/9/x") is None
