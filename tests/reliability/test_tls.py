"""TLS: verification is on by default, a CA bundle from the connection is honoured, ``verify=false`` warns.

The emulator is served over HTTPS (``--ssl-certfile``) with a certificate for 127.0.0.1 issued by a
private CA made for the test: no trust store knows it, so a client with default settings must
refuse the server before any request reaches it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import warnings
from collections.abc import Callable, Iterator

import pytest

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import TransportError
from tests.reliability._emulator import DEPLOYMENT_ID, ORGANIZATION_ID, VERSION_ID, EmulatorServer
from tests.reliability._tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def abeja_emulator_module(tls_files: TlsFiles) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        ready_delay=0.05,
        extra_args=["--ssl-certfile", str(tls_files.certfile), "--ssl-keyfile", str(tls_files.keyfile)],
        control_verify=str(tls_files.ca_bundle),
    ) as server:
        yield server


@pytest.fixture
def connection(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Points ``abeja_default`` at the emulator; call it again with the ``verify`` extra to set."""

    def apply(**extra: object) -> None:
        conn = emulator.airflow_connection(max_retry_count=1, **extra)
        monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps(conn))

    apply()
    return apply


def test_the_emulator_really_serves_https(emulator: EmulatorServer) -> None:
    assert emulator.url.startswith("https://127.0.0.1:")


def test_default_settings_refuse_a_self_signed_server(
    emulator: EmulatorServer, environment_bundle: None
) -> None:
    with APIClient(emulator.credential, api_url=emulator.url, retry_wait_max=0.01) as client:
        with pytest.raises(TransportError, match=r"(?i)certificate|ssl"):
            client.create_service(ORGANIZATION_ID, DEPLOYMENT_ID, VERSION_ID)
        with pytest.raises(TransportError, match=r"(?i)certificate|ssl"):
            client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
    assert emulator.counters()["requests"] == {}, "a request got through an unverified TLS handshake"


def test_default_settings_refuse_a_self_signed_server_async(emulator: EmulatorServer) -> None:
    async def run() -> None:
        client = AsyncAPIClient(emulator.credential, api_url=emulator.url, retry_wait_max=0.01)
        try:
            with pytest.raises(TransportError, match=r"(?i)certificate|ssl"):
                await client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
        finally:
            await client.aclose()

    asyncio.run(run())
    assert emulator.counters()["requests"] == {}


def test_hook_without_verify_extra_refuses_the_server(
    emulator: EmulatorServer, connection: Callable[..., None]
) -> None:
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    hook = AbejaHook()
    try:
        ok, message = hook.test_connection()
    finally:
        hook.close()
    assert not ok
    assert "certificate" in message.lower() or "ssl" in message.lower(), message
    assert emulator.counters()["requests"] == {}


@pytest.fixture(params=["no-env-bundle", "env-bundle"])
def environment_bundle(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With and without REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / SSL_CERT_FILE naming the system store:
    requests lets those beat a session's own ``verify``; the connection's bundle must still win."""
    names = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
    if request.param == "no-env-bundle":
        for name in names:
            monkeypatch.delenv(name, raising=False)
    else:
        system = ssl.get_default_verify_paths().cafile or certifi_where()
        for name in names:
            monkeypatch.setenv(name, system)


def certifi_where() -> str:
    import certifi

    return str(certifi.where())


def test_ca_bundle_from_the_connection_is_honoured(
    emulator: EmulatorServer, connection: Callable[..., None], tls_files: TlsFiles, environment_bundle: None
) -> None:
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    connection(verify=str(tls_files.ca_bundle))
    hook = AbejaHook()
    service = hook.client.create_service(ORGANIZATION_ID, DEPLOYMENT_ID, VERSION_ID)

    async def list_async() -> dict:
        client = await hook.get_async_client()
        try:
            return await client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
        finally:
            await client.aclose()

    try:
        entries = asyncio.run(list_async())["entries"]
    finally:
        hook.close()
    assert [e["service_id"] for e in entries] == [service["service_id"]]
    assert emulator.counters()["services_created"] == 1


def _insecure_warnings(caught: list[warnings.WarningMessage], records: list[logging.LogRecord]) -> list[str]:
    texts = [str(w.message) for w in caught] + [
        r.getMessage() for r in records if r.levelno >= logging.WARNING
    ]
    return [t for t in texts if "verif" in t.lower() or "insecure" in t.lower()]


def test_verify_false_works_and_warns_sync(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with APIClient(emulator.credential, api_url=emulator.url, verify=False) as client:
            client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
    assert _insecure_warnings(caught, caplog.records)


def test_verify_false_works_and_warns_async(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    async def run() -> None:
        client = AsyncAPIClient(emulator.credential, api_url=emulator.url, verify=False)
        try:
            await client.get_services(ORGANIZATION_ID, DEPLOYMENT_ID)
        finally:
            await client.aclose()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(run())
    assert _insecure_warnings(caught, caplog.records)


def test_verify_false_in_the_connection_warns(
    emulator: EmulatorServer, connection: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    caplog.set_level(logging.WARNING)
    connection(verify="false")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hook = AbejaHook()
        try:
            assert hook.test_connection()[0]
        finally:
            hook.close()  # no keep-alive connection left to hold up the server's shutdown
    assert _insecure_warnings(caught, caplog.records)
