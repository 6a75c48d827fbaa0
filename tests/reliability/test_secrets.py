"""Secrets: sentinel credentials never appear in logs, XCom, exceptions, trigger state or emulator output.

The emulator is started to accept *sentinel* credentials (a personal access token and a bearer
token nobody else uses). Everything the provider produces while using them is searched for the
sentinels and for the Basic header value they make: every log record (DEBUG, urllib3 included),
everything written to stdout/stderr, XCom pushes and return values, exception texts, reprs and
pickles, trigger serialisation, and the emulator's own output (access log on, debug level).
The example DAGs get the same search in ``test_secrets_dags.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import pickle
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import AbejaError
from tests._context import FakeTI, task_context
from tests.reliability._emulator import DEPLOYMENT_ID, ORGANIZATION_ID, USER_ID, VERSION_ID, EmulatorServer

pytestmark = pytest.mark.emulator

SENTINEL_TOKEN = "SENTINEL-pat-7f3a9c1e5b2d4068"
SENTINEL_BEARER = "SENTINEL-bearer-91c2e8d47a"


def sentinel_forms() -> list[str]:
    """Every form in which a credential could leak: raw, and inside a Basic header value."""
    return [SENTINEL_TOKEN, SENTINEL_BEARER, _basic(SENTINEL_TOKEN), "SENTINEL-"]


def assert_no_sentinel(where: str, text: str) -> None:
    found = [form for form in sentinel_forms() if form in text]
    assert not found, f"credential found in {where}: {found}"


@pytest.fixture(scope="module")
def abeja_emulator_module() -> Iterator[EmulatorServer]:
    """An emulator that accepts only the sentinel credentials, logging every request."""
    with EmulatorServer(
        ready_delay=0.05,
        token=SENTINEL_TOKEN,
        extra_args=["--bearer-token", SENTINEL_BEARER, "--access-log", "--log-level", "debug"],
    ) as server:
        yield server


@pytest.fixture
def loud_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, urllib3 and httpx included."""
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "httpx", "httpcore", "airflow_provider_abeja", "airflow"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _echo_fault(emulator: EmulatorServer, route: str, secret: str, status: int = 400) -> None:
    """A hostile or buggy server that echoes the credential in use back in its error body."""
    emulator.inject_fault(
        route=route,
        status=status,
        times=1,
        body={
            "error": f"echo {secret}",
            "error_description": f"Authorization: {secret} / {_basic(secret)}",
            "error_detail": {"token": secret, "basic": _basic(secret)},
        },
    )


def _basic(secret: str) -> str:
    return base64.b64encode(f"user-{USER_ID}:{secret}".encode()).decode()


def _exception_texts(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), repr(pickle.loads(pickle.dumps(exc)))]
    for name in ("error", "error_description", "error_detail", "url"):
        parts.append(repr(getattr(exc, name, "")))
    return "\n".join(parts)


def test_client_never_leaks_the_credential(
    emulator: EmulatorServer, loud_logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    haystack: list[str] = []
    for credential, secret in (
        ({"user_id": USER_ID, "personal_access_token": SENTINEL_TOKEN}, SENTINEL_TOKEN),
        ({"auth_token": SENTINEL_BEARER}, SENTINEL_BEARER),
    ):
        with APIClient(credential, api_url=emulator.url, max_retry_count=1, retry_wait_max=0.01) as client:
            haystack += [repr(client), repr(client.session.auth), str(vars(client))]
            service = client.create_service(ORGANIZATION_ID, DEPLOYMENT_ID, VERSION_ID)
            haystack.append(json.dumps(service))
            _echo_fault(emulator, "get_service", secret)
            with pytest.raises(AbejaError) as info:
                client.get_service(ORGANIZATION_ID, DEPLOYMENT_ID, service["service_id"])
            haystack.append(_exception_texts(info.value))
            emulator.inject_fault(route="get_services", drop_connection=True, times=2)
            with pytest.raises(AbejaError) as info:
                client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
            haystack.append(_exception_texts(info.value))
            client.delete_service(ORGANIZATION_ID, DEPLOYMENT_ID, service["service_id"])
    # a wrong credential: the 401 must not quote the one that was sent
    with APIClient({"auth_token": SENTINEL_BEARER + "x"}, api_url=emulator.url) as client:
        with pytest.raises(AbejaError) as info:
            client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
        haystack.append(_exception_texts(info.value))

    out, err = capfd.readouterr()
    assert emulator.counters()["services_created"] == 2  # the sentinels were really used
    assert_no_sentinel("client reprs, results and exceptions", "\n".join(haystack))
    assert_no_sentinel("log records", loud_logs.text)
    assert_no_sentinel("stdout/stderr", out + err)
    assert_no_sentinel("emulator output", emulator.output)


def test_async_client_never_leaks_the_credential(
    emulator: EmulatorServer, loud_logs: pytest.LogCaptureFixture
) -> None:
    async def run() -> list[str]:
        texts: list[str] = []
        client = AsyncAPIClient(
            {"auth_token": SENTINEL_BEARER}, api_url=emulator.url, max_retry_count=1, retry_wait_max=0.01
        )
        try:
            texts.append(repr(client))
            _echo_fault(emulator, "get_services", SENTINEL_BEARER, status=503)
            emulator.inject_fault(route="get_services", status=500, times=1, body={"error": SENTINEL_BEARER})
            with pytest.raises(AbejaError) as info:
                await client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
            texts.append(_exception_texts(info.value))
        finally:
            await client.aclose()
        return texts

    texts = asyncio.run(run())
    assert_no_sentinel("async client exceptions", "\n".join(texts))
    assert_no_sentinel("log records", loud_logs.text)
    assert_no_sentinel("emulator output", emulator.output)


def test_hook_operators_and_trigger_never_leak_the_credential(
    emulator: EmulatorServer,
    loud_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_abeja.hooks.abeja import AbejaHook
    from airflow_provider_abeja.operators.service import (
        AbejaCreateServiceOperator,
        AbejaDeleteServiceOperator,
        AbejaRequestServiceOperator,
    )
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    haystack: list[str] = []
    for extra, login, password, secret in (
        ({}, USER_ID, SENTINEL_TOKEN, SENTINEL_TOKEN),
        ({"auth_token": SENTINEL_BEARER}, None, None, SENTINEL_BEARER),
    ):
        connection = emulator.airflow_connection(**extra)
        connection["login"], connection["password"] = login, password
        monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(connection))

        hook = AbejaHook()
        haystack += [repr(hook), repr(hook.settings), repr(hook.client), str(hook.test_connection())]
        ti = FakeTI("create", f"manual__secrets_{time.monotonic_ns()}")
        context = task_context(ti)
        created = AbejaCreateServiceOperator(
            task_id="create",
            deployment_id=DEPLOYMENT_ID,
            version_id=VERSION_ID,
            check_interval=0.05,
            environment={"PLAIN": "value"},
        ).execute(context)
        service_id = created["service_id"]
        answer = AbejaRequestServiceOperator(
            task_id="invoke", deployment_id=DEPLOYMENT_ID, service_id=service_id, json={"text": "good"}
        ).execute(context)

        trigger = AbejaServiceStatusTrigger(
            ORGANIZATION_ID, DEPLOYMENT_ID, service_id, poll_interval=0.05, end_time=time.time() + 20
        )
        haystack.append(json.dumps(trigger.serialize(), default=str))

        async def first_event(trigger: Any = trigger) -> Any:
            async for event in trigger.run():
                return event.payload
            return None

        haystack.append(json.dumps(asyncio.run(first_event())))

        # failures: an echoing server, then a request the service refuses
        _echo_fault(emulator, "request_service", secret)
        with pytest.raises(Exception) as info:
            AbejaRequestServiceOperator(
                task_id="invoke_fails",
                deployment_id=DEPLOYMENT_ID,
                service_id=service_id,
                json={"text": "x"},
            ).execute(context)
        haystack.append(_exception_texts(info.value))
        delete = AbejaDeleteServiceOperator(
            task_id="delete", deployment_id=DEPLOYMENT_ID, service_id=service_id
        )
        delete.execute(context)
        haystack += [json.dumps(ti.xcoms, default=str), json.dumps(created), json.dumps(answer)]

    out, err = capfd.readouterr()
    assert emulator.counters()["services_created"] == 2  # both credential kinds were used
    for i, item in enumerate(haystack):
        assert_no_sentinel(f"item {i}: {item[:300]}", item)
    assert_no_sentinel("hook/operator reprs, XCom, results, trigger state", "\n".join(haystack))
    assert_no_sentinel("log records", loud_logs.text)
    assert_no_sentinel("stdout/stderr", out + err)
    assert_no_sentinel("emulator output", emulator.output)


def test_a_credential_pasted_into_the_api_url_is_refused_without_echo(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, loud_logs: pytest.LogCaptureFixture
) -> None:
    """``https://user:token@host`` would send the token to whoever the URL names: refused, not echoed."""
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    host = emulator.url.split("://", 1)[1]
    url = f"http://{USER_ID}:{SENTINEL_TOKEN}@{host}"
    with pytest.raises(AbejaError) as info:
        APIClient({"auth_token": SENTINEL_BEARER}, api_url=url)
    texts = [_exception_texts(info.value)]

    connection = emulator.airflow_connection()
    connection["host"] = url
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(connection))
    hook = AbejaHook()
    with pytest.raises(Exception) as hook_info:
        hook.client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
    texts.append(_exception_texts(hook_info.value))
    texts.append(str(hook.test_connection()))

    assert emulator.counters()["requests"] == {}
    assert_no_sentinel("errors about a credential in the API URL", "\n".join(texts))
    assert_no_sentinel("log records", loud_logs.text)
