"""Which calls are retried, how often, how long they wait, and what is never re-sent."""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests
import requests_mock as rm
import urllib3.exceptions

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.client.retry import Failure, RetryPolicy, retry_after_seconds
from airflow_provider_abeja.exceptions import HttpError, TransportError

from .conftest import DEP, INFER, MGMT, ORG, PNT, SER, VER


def refused() -> requests.exceptions.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def dropped() -> requests.exceptions.ConnectionError:
    reason = urllib3.exceptions.ProtocolError("Connection aborted.", http.client.RemoteDisconnected("closed"))
    return requests.exceptions.ConnectionError(reason)


FAILURES: dict[str, Callable[[], Exception]] = {
    "refused": refused,
    "connect_timeout": lambda: requests.exceptions.ConnectTimeout("connect timed out"),
    "read_timeout": lambda: requests.exceptions.ReadTimeout("read timed out"),
    "dropped": dropped,
}

# name -> (HTTP method, URL, call)
IDEMPOTENT: dict[str, tuple[str, str, Callable[[APIClient], Any]]] = {
    "get_service": ("GET", f"{MGMT}/services/{SER}", lambda c: c.get_service(ORG, DEP, SER)),
    "get_services": ("GET", f"{MGMT}/services", lambda c: c.get_services(ORG, DEP)),
    "get_service_recent_logs": (
        "GET",
        f"{MGMT}/services/{SER}/recentlogs",
        lambda c: c.get_service_recent_logs(ORG, DEP, SER),
    ),
    "update_service": ("PATCH", f"{MGMT}/services/{SER}", lambda c: c.update_service(ORG, DEP, SER, {})),
    "delete_service": ("DELETE", f"{MGMT}/services/{SER}", lambda c: c.delete_service(ORG, DEP, SER)),
    "get_endpoints": ("GET", f"{MGMT}/endpoints", lambda c: c.get_endpoints(ORG, DEP)),
    "get_endpoint": ("GET", f"{MGMT}/endpoints/{PNT}", lambda c: c.get_endpoint(ORG, DEP, PNT)),
    "update_endpoint": ("PATCH", f"{MGMT}/endpoints/{PNT}", lambda c: c.update_endpoint(ORG, DEP, PNT, SER)),
    "delete_endpoint": ("DELETE", f"{MGMT}/endpoints/{PNT}", lambda c: c.delete_endpoint(ORG, DEP, PNT)),
}
NON_IDEMPOTENT: dict[str, tuple[str, str, Callable[[APIClient], Any]]] = {
    "create_service": ("POST", f"{MGMT}/services", lambda c: c.create_service(ORG, DEP, VER)),
    "start_service": ("POST", f"{MGMT}/services/{SER}/start", lambda c: c.start_service(ORG, DEP, SER)),
    "stop_service": ("POST", f"{MGMT}/services/{SER}/stop", lambda c: c.stop_service(ORG, DEP, SER)),
    "request_service": (
        "POST",
        f"{INFER}/services/{SER}",
        lambda c: c.request_service(ORG, DEP, SER, json={}),
    ),
    "request_endpoint": ("POST", INFER, lambda c: c.request_endpoint(ORG, DEP, json={})),
    "create_endpoint": ("POST", f"{MGMT}/endpoints", lambda c: c.create_endpoint(ORG, DEP, SER)),
}


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@pytest.mark.parametrize("name", sorted(IDEMPOTENT))
def test_idempotent_calls_retry_retryable_statuses(
    client: APIClient, requests_mock: rm.Mocker, sleeps: list[float], name: str, status: int
) -> None:
    method, url, call = IDEMPOTENT[name]
    requests_mock.register_uri(method, url, [{"status_code": status, "json": {}}, {"json": {"entries": []}}])
    call(client)
    assert requests_mock.call_count == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 501, 505])
@pytest.mark.parametrize("name", ["get_service", "update_service", "delete_endpoint"])
def test_other_statuses_are_not_retried(
    client: APIClient, requests_mock: rm.Mocker, name: str, status: int
) -> None:
    method, url, call = IDEMPOTENT[name]
    requests_mock.register_uri(method, url, status_code=status, json={"error": "e"})
    with pytest.raises(HttpError):
        call(client)
    assert requests_mock.call_count == 1


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("name", ["get_service", "update_service", "delete_service"])
def test_idempotent_calls_retry_transport_failures(
    client: APIClient, requests_mock: rm.Mocker, name: str, failure: str
) -> None:
    method, url, call = IDEMPOTENT[name]
    requests_mock.register_uri(method, url, [{"exc": FAILURES[failure]()}, {"json": {}}])
    assert call(client) == {}
    assert requests_mock.call_count == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("name", sorted(NON_IDEMPOTENT))
def test_posts_are_never_resent_after_a_5xx(
    client: APIClient, requests_mock: rm.Mocker, name: str, status: int
) -> None:
    method, url, call = NON_IDEMPOTENT[name]
    requests_mock.register_uri(method, url, [{"status_code": status, "json": {}}, {"json": {}}])
    with pytest.raises(HttpError) as info:
        call(client)
    assert info.value.status_code == status
    assert requests_mock.call_count == 1


@pytest.mark.parametrize("failure", ["read_timeout", "dropped"])
@pytest.mark.parametrize("name", sorted(NON_IDEMPOTENT))
def test_posts_are_never_resent_when_the_server_may_have_acted(
    client: APIClient, requests_mock: rm.Mocker, name: str, failure: str
) -> None:
    method, url, call = NON_IDEMPOTENT[name]
    requests_mock.register_uri(method, url, [{"exc": FAILURES[failure]()}, {"json": {}}])
    with pytest.raises(TransportError) as info:
        call(client)
    assert info.value.attempts == 1
    assert info.value.url == url
    assert requests_mock.call_count == 1


@pytest.mark.parametrize("outcome", ["refused", "connect_timeout", "429"])
@pytest.mark.parametrize("name", sorted(NON_IDEMPOTENT))
def test_posts_are_resent_when_the_server_surely_did_not_act(
    client: APIClient, requests_mock: rm.Mocker, name: str, outcome: str
) -> None:
    method, url, call = NON_IDEMPOTENT[name]
    first: dict[str, Any] = (
        {"status_code": 429, "json": {}} if outcome == "429" else {"exc": FAILURES[outcome]()}
    )
    requests_mock.register_uri(method, url, [first, {"json": {"ok": 1}}])
    call(client)
    assert requests_mock.call_count == 2


def test_retries_stop_after_max_retry_count(
    make_client: Any, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    client = make_client(max_retry_count=3)
    requests_mock.get(f"{MGMT}/services/{SER}", status_code=503, json={"error": "unavailable"})
    with pytest.raises(HttpError) as info:
        client.get_service(ORG, DEP, SER)
    assert info.value.status_code == 503
    assert requests_mock.call_count == 4
    assert len(sleeps) == 3


def test_transport_error_after_retries_counts_attempts(make_client: Any, requests_mock: rm.Mocker) -> None:
    client = make_client(max_retry_count=2)
    requests_mock.get(f"{MGMT}/services/{SER}", exc=refused())
    with pytest.raises(TransportError) as info:
        client.get_service(ORG, DEP, SER)
    assert info.value.attempts == 3
    assert "Max retries" not in str(info.value)
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)


def test_default_is_five_retries(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}", status_code=502, text="bad gateway")
    with pytest.raises(HttpError):
        client.get_service(ORG, DEP, SER)
    assert requests_mock.call_count == 6


def test_zero_turns_retries_off(make_client: Any, requests_mock: rm.Mocker) -> None:
    client = make_client(max_retry_count=0)
    requests_mock.get(f"{MGMT}/services/{SER}", exc=refused())
    with pytest.raises(TransportError):
        client.get_service(ORG, DEP, SER)
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(("value", "calls"), [("0", 1), ("2", 3), (" 1 ", 2)])
def test_retry_count_from_environment(
    make_client: Any, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch, value: str, calls: int
) -> None:
    monkeypatch.setenv("ABEJA_API_MAX_RETRY_COUNT", value)
    client = make_client()
    requests_mock.get(f"{MGMT}/services/{SER}", status_code=503, json={})
    with pytest.raises(HttpError):
        client.get_service(ORG, DEP, SER)
    assert requests_mock.call_count == calls


def test_backoff_grows_exponentially_with_jitter_and_is_capped(
    make_client: Any, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    client = make_client(max_retry_count=6, retry_wait_max=5.0)
    requests_mock.get(f"{MGMT}/services/{SER}", status_code=500, json={})
    with pytest.raises(HttpError):
        client.get_service(ORG, DEP, SER)
    assert len(sleeps) == 6
    for attempt, slept in enumerate(sleeps, start=1):
        base = 0.5 * 2 ** (attempt - 1)
        assert min(base, 5.0) <= slept <= min(base + 0.5, 5.0)
    assert sleeps[-1] == 5.0


def test_retry_after_seconds_is_honoured(
    client: APIClient, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(
        f"{MGMT}/services/{SER}",
        [{"status_code": 429, "headers": {"Retry-After": "7"}, "json": {}}, {"json": {}}],
    )
    client.get_service(ORG, DEP, SER)
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(
    client: APIClient, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=20)
    requests_mock.post(
        f"{MGMT}/services",
        [
            {"status_code": 429, "headers": {"Retry-After": email.utils.format_datetime(when, usegmt=True)}},
            {"json": {}},
        ],
    )
    client.create_service(ORG, DEP, VER)
    assert len(sleeps) == 1
    assert 15 <= sleeps[0] <= 20


def test_retry_after_is_capped(make_client: Any, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    client = make_client(retry_wait_max=2.0)
    requests_mock.get(
        f"{MGMT}/services/{SER}",
        [{"status_code": 503, "headers": {"Retry-After": "3600"}, "json": {}}, {"json": {}}],
    )
    client.get_service(ORG, DEP, SER)
    assert sleeps == [2.0]


def test_bad_retry_after_falls_back_to_backoff(
    client: APIClient, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(
        f"{MGMT}/services/{SER}",
        [{"status_code": 503, "headers": {"Retry-After": "soon"}, "json": {}}, {"json": {}}],
    )
    client.get_service(ORG, DEP, SER)
    assert 0.5 <= sleeps[0] <= 1.0


def test_retry_after_parsing() -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Fri, 27 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("", now) is None
    assert retry_after_seconds("-5", now) is None
    assert retry_after_seconds("soon", now) is None


def test_non_seekable_stream_body_is_never_resent(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{INFER}/services/{SER}", [{"status_code": 429, "json": {}}, {"json": {}}])
    with pytest.raises(HttpError) as info:
        client.request_service(ORG, DEP, SER, data=iter([b"a", b"b"]))
    assert info.value.status_code == 429
    assert requests_mock.call_count == 1


def test_seekable_stream_body_is_rewound_before_a_resend(client: APIClient, requests_mock: rm.Mocker) -> None:
    seen: list[bytes] = []

    def answer(request: Any, context: Any) -> bytes:
        seen.append(request.body.read())
        return b"{}"

    requests_mock.post(
        f"{INFER}/services/{SER}",
        [{"status_code": 429, "content": answer}, {"status_code": 200, "content": answer}],
    )
    body = io.BytesIO(b"prefix-PAYLOAD")
    body.seek(7)  # starts mid-file: the re-send starts there again
    client.request_service(ORG, DEP, SER, data=body)
    assert seen == [b"PAYLOAD", b"PAYLOAD"]


def test_each_retry_is_logged_at_warning(
    client: APIClient, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}", [{"status_code": 503, "json": {}}, {"json": {}}])
    with caplog.at_level(logging.WARNING, logger="airflow_provider_abeja.client"):
        client.get_service(ORG, DEP, SER)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "airflow_provider_abeja.client"
    assert f"GET {MGMT}/services/{SER}" in warnings[0].getMessage()
    assert "HTTP 503" in warnings[0].getMessage()


def test_policy_table() -> None:
    from airflow_provider_abeja.client._core import RequestSpec

    policy = RetryPolicy(max_retry_count=5)
    get = RequestSpec("get_service", "GET", "u", idempotent=True)
    post = RequestSpec("create_service", "POST", "u", idempotent=False)
    assert {s for s in range(400, 600) if policy.retries_status(get, s)} == {429, 500, 502, 503, 504}
    assert {s for s in range(400, 600) if policy.retries_status(post, s)} == {429}
    assert all(policy.retries_failure(get, f) for f in Failure)
    assert [f for f in Failure if policy.retries_failure(post, f)] == [Failure.NOT_SENT]
    assert not policy.retries_failure(get, None)


def test_tls_failures(client: APIClient, requests_mock: rm.Mocker) -> None:
    verify_failed = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    requests_mock.get(f"{MGMT}/services/{SER}", [{"exc": verify_failed}, {"json": {}}])
    with pytest.raises(TransportError):
        client.get_service(ORG, DEP, SER)  # a bad certificate stays bad: not retried
    assert requests_mock.call_count == 1
    eof = requests.exceptions.SSLError("EOF occurred in violation of protocol")
    requests_mock.post(f"{MGMT}/services", [{"exc": eof}, {"json": {}}])
    with pytest.raises(TransportError):
        client.create_service(ORG, DEP, VER)  # the request may have gone out: a POST is not re-sent
    assert requests_mock.call_count == 2
    requests_mock.get(f"{MGMT}/services/{SER}", [{"exc": eof}, {"json": {}}])
    assert client.get_service(ORG, DEP, SER) == {}
