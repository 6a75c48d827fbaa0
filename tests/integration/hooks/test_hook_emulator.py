"""AbejaHook against the local emulator: credentials, test_connection, waits, recent logs, async."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_abeja.exceptions import ServiceFailedError, Unauthorized, WaitTimeoutError
from airflow_provider_abeja.hooks.abeja import AbejaHook
from airflow_provider_abeja.wait import blocking

pytestmark = pytest.mark.emulator

DEP = "9999999999999"  # the emulator's sample deployment
GOOD_VERSION = "ver-5a3d1e0000000001"
BAD_VERSION = "ver-bad0000000000001"


@pytest.fixture
def conn(abeja_emulator, monkeypatch):
    """`abeja_default` pointing at the emulator with its default user credential."""
    for name, value in abeja_emulator.airflow_connection_env("abeja_default").items():
        monkeypatch.setenv(name, value)
    return abeja_emulator


def set_conn(monkeypatch, conn_id, emulator, **fields):
    body = {"conn_type": "abeja", "host": emulator.url, **fields}
    body.setdefault("extra", {})["organization_id"] = emulator.organization_id
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


@pytest.mark.parametrize(
    "fields",
    [
        {"login": "1111111111111", "password": "emulator-token"},
        {"extra": {"auth_token": "emulator-bearer-token"}},
        {"extra": {"datasource_id": "2222222222222", "datasource_secret": "emulator-datasource-secret"}},
    ],
    ids=["user", "bearer", "datasource"],
)
def test_each_credential_kind_is_accepted(abeja_emulator, monkeypatch, fields):
    set_conn(monkeypatch, "abeja_kind", abeja_emulator, **fields)
    hook = AbejaHook("abeja_kind")
    assert isinstance(hook.client.get_services(hook.get_organization_id(), DEP)["entries"], list)


def test_a_wrong_token_is_refused(abeja_emulator, monkeypatch):
    set_conn(monkeypatch, "abeja_wrong", abeja_emulator, extra={"auth_token": "not-the-emulator-token"})
    with pytest.raises(Unauthorized) as info:
        AbejaHook("abeja_wrong").client.get_services(abeja_emulator.organization_id, DEP)
    assert "not-the-emulator-token" not in str(info.value)
    assert "check connection 'abeja_wrong': extra auth_token" in str(info.value)


def test_a_wrong_personal_access_token_names_login_and_password(abeja_emulator, monkeypatch):
    set_conn(monkeypatch, "abeja_wrong_pat", abeja_emulator, login="1111111111111", password="nope-123")
    with pytest.raises(Unauthorized) as info:
        AbejaHook("abeja_wrong_pat").client.get_services(abeja_emulator.organization_id, DEP)
    message = str(info.value)
    assert "connection 'abeja_wrong_pat'" in message
    assert "login (user id) and password (personal access token)" in message
    assert "nope-123" not in message


def test_test_connection_succeeds(conn):
    ok, message = AbejaHook().test_connection()
    assert ok, message
    assert "deployment(s)" in message
    assert conn.counters()  # the emulator saw the call


def test_test_connection_with_a_deployment_extra(abeja_emulator, monkeypatch):
    set_conn(
        monkeypatch,
        "abeja_dep",
        abeja_emulator,
        extra={"auth_token": "emulator-bearer-token", "deployment_id": DEP},
    )
    ok, message = AbejaHook("abeja_dep").test_connection()
    assert ok, message
    assert f"deployment {DEP}" in message


def test_test_connection_fails_without_leaking_the_secret(abeja_emulator, monkeypatch):
    set_conn(monkeypatch, "abeja_bad", abeja_emulator, login="1111111111111", password="wrong-token-123")
    ok, message = AbejaHook("abeja_bad").test_connection()
    assert not ok
    assert "Unauthorized" in message
    assert "wrong-token-123" not in message


def test_test_connection_reports_an_unreachable_api(abeja_emulator, monkeypatch):
    set_conn(
        monkeypatch,
        "abeja_down",
        abeja_emulator,
        host="http://127.0.0.1:9",
        extra={"auth_token": "emulator-bearer-token", "max_retry_count": 0, "timeout": 2},
    )
    ok, message = AbejaHook("abeja_down").test_connection()
    assert not ok
    assert "TransportError" in message


def _wait_logs(caplog, capsys) -> list[str]:
    """Lines the hook's logger wrote: stdlib records (Airflow 2) or structlog's output (Airflow 3)."""
    lines = [r.getMessage() for r in caplog.records] + capsys.readouterr().out.splitlines()
    return [line[line.index("[service ") :] for line in lines if "[service " in line]


def test_wait_until_ready_copies_logs_once(conn, caplog, capsys):
    hook = AbejaHook()
    org = hook.get_organization_id()
    service = hook.client.create_service(org, DEP, GOOD_VERSION)
    ser = service["service_id"]
    with caplog.at_level(logging.INFO):
        final = hook.wait_for_service_status(org, DEP, ser, check_interval=0.05, timeout=60)
    assert final["status"] == "READY"
    copied = _wait_logs(caplog, capsys)
    emulator_lines = conn.log_messages(ser)
    assert copied, "no recent-log line reached the task log"
    assert len(copied) == len(set(copied))
    assert any("READY" in line for line in copied)
    for line in copied:
        assert any(m in line for m in emulator_lines), line


def test_wait_for_a_failing_service_raises_with_its_logs(conn):
    hook = AbejaHook()
    org = hook.get_organization_id()
    ser = hook.client.create_service(org, DEP, BAD_VERSION)["service_id"]
    with pytest.raises(ServiceFailedError) as info:
        hook.wait_for_service_status(org, DEP, ser, check_interval=0.05, timeout=60)
    assert info.value.status == "FAILED"
    assert info.value.log_lines
    assert info.value.log_lines[-1] in conn.log_messages(ser)


def test_wait_times_out(conn):
    conn.configure(ready_delay=30)
    hook = AbejaHook()
    org = hook.get_organization_id()
    ser = hook.client.create_service(org, DEP, GOOD_VERSION)["service_id"]
    with pytest.raises(WaitTimeoutError) as info:
        hook.wait_for_service_status(org, DEP, ser, check_interval=0.05, timeout=0.3)
    assert info.value.last_status == "IN_PROGRESS"


def test_iter_recent_logs_reads_every_page(conn):
    hook = AbejaHook()
    org = hook.get_organization_id()
    ser = hook.client.create_service(org, DEP, GOOD_VERSION)["service_id"]
    conn.wait_for_status(DEP, ser, "READY")  # no start-up line of the runtime comes between the reads
    conn.add_log(ser, *[f"line {i}" for i in range(130)])  # more than two pages of 50
    messages = [e["message"] for e in blocking.iter_recent_logs(hook.client, org, DEP, ser)]
    expected = conn.log_messages(ser)
    assert len(expected) > 100
    assert messages == list(reversed(expected))


async def test_async_client_against_the_emulator(conn):
    hook = AbejaHook()
    client = await hook.get_async_client()
    try:
        org = hook.get_organization_id()
        created = hook.client.create_service(org, DEP, GOOD_VERSION)
        fetched = await client.get_service(org, DEP, created["service_id"])
    finally:
        await client.aclose()
    assert fetched["service_id"] == created["service_id"]
