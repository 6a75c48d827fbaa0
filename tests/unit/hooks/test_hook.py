"""AbejaHook against a mocked HTTP layer: connections from the environment, credentials on the wire."""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import quote

import pytest

from airflow_provider_abeja.exceptions import (
    InvalidArgumentError,
    MissingCredentialsError,
    WaitStoppedError,
)
from airflow_provider_abeja.hooks._settings import ConnectionFieldError
from airflow_provider_abeja.hooks.abeja import AbejaHook

API = "http://abeja.test:8765"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
PAT = "pat-very-secret-0001"
BEARER = "bearer-very-secret-0002"
DS_SECRET = "datasource-very-secret-0003"


def set_json_conn(monkeypatch, conn_id="abeja_default", **fields):
    conn = {"conn_type": "abeja", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


@pytest.fixture
def services(requests_mock):
    return requests_mock.get(
        f"{API}/organizations/{ORG}/deployments/{DEP}/services", json={"entries": [{"service_id": SER}]}
    )


@pytest.mark.parametrize(
    ("fields", "authorization"),
    [
        ({"login": "1111111111111", "password": PAT}, basic("user-1111111111111", PAT)),
        ({"extra": {"auth_token": BEARER}}, f"Bearer {BEARER}"),
        (
            {"extra": {"datasource_id": "2222222222222", "datasource_secret": DS_SECRET}},
            basic("datasource-2222222222222", DS_SECRET),
        ),
    ],
    ids=["user", "bearer", "datasource"],
)
def test_each_credential_kind_reaches_the_wire(monkeypatch, services, fields, authorization):
    fields.setdefault("extra", {})
    fields["extra"]["organization_id"] = ORG
    set_json_conn(monkeypatch, host=API, **fields)
    hook = AbejaHook()
    assert hook.client.get_services(hook.get_organization_id(), DEP) == {"entries": [{"service_id": SER}]}
    assert services.last_request.headers["Authorization"] == authorization


def test_uri_form_connection(monkeypatch, services):
    uri = (
        f"abeja://1111111111111:{quote(PAT, safe='')}@{quote(API, safe='')}/"
        f"?organization_id={ORG}&timeout=12&max_retry_count=0"
    )
    monkeypatch.setenv("AIRFLOW_CONN_ABEJA_DEFAULT", uri)
    hook = AbejaHook()
    assert hook.settings.api_url == API
    assert hook.settings.timeout == 12.0
    assert hook.settings.max_retry_count == 0
    assert hook.get_organization_id() == ORG
    hook.client.get_services(ORG, DEP)
    assert services.last_request.headers["Authorization"] == basic("user-1111111111111", PAT)


def test_uri_form_with_port_outside_the_encoded_host(monkeypatch, services):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_URI", f"abeja://:@{quote('http://abeja.test', safe='')}:8765/?auth_token={BEARER}"
    )
    hook = AbejaHook("abeja_uri")
    hook.client.get_services(ORG, DEP)
    assert services.last_request.headers["Authorization"] == f"Bearer {BEARER}"


def test_client_is_built_once_and_reused(monkeypatch):
    set_json_conn(monkeypatch, host=API, extra={"auth_token": BEARER})
    hook = AbejaHook()
    assert hook.client is hook.client
    assert hook.get_conn() is hook.client
    assert hook.client.api_url == API
    hook.close()
    assert "client" not in hook.__dict__


def test_hook_arguments_reach_the_client(monkeypatch):
    set_json_conn(monkeypatch, host=API, extra={"auth_token": BEARER, "timeout": 3, "max_retry_count": 4})
    hook = AbejaHook(timeout=20, max_retry_count=0)
    assert hook.client.max_retry_count == 0
    assert hook.client.timeout is not None
    assert 20.0 in hook.client.timeout


def test_default_api_url_and_console(monkeypatch):
    set_json_conn(monkeypatch, extra={"auth_token": BEARER})
    hook = AbejaHook()
    assert hook.client.api_url == "https://api.abeja.io"
    assert hook.console_url == "https://console.abeja.io"


def test_get_organization_id(monkeypatch):
    set_json_conn(monkeypatch, extra={"auth_token": BEARER})
    hook = AbejaHook()
    assert hook.get_organization_id("5555555555555") == "5555555555555"
    with pytest.raises(InvalidArgumentError) as info:
        hook.get_organization_id()
    assert info.value.argument == "organization_id"
    assert "abeja_default" in str(info.value)


def test_wait_for_service_status_stops_on_its_stop_event(monkeypatch, requests_mock):
    set_json_conn(monkeypatch, host=API, extra={"auth_token": BEARER, "organization_id": ORG})
    service_url = f"{API}/organizations/{ORG}/deployments/{DEP}/services/{SER}"
    stop = threading.Event()

    def in_progress(request, context):
        stop.set()  # as on_kill would, from another thread, while the wait is under way
        return {"service_id": SER, "status": "IN_PROGRESS"}

    polls = requests_mock.get(service_url, json=in_progress)
    requests_mock.get(f"{service_url}/recentlogs", json={"events": []})
    with pytest.raises(WaitStoppedError) as info:
        AbejaHook().wait_for_service_status(None, DEP, SER, check_interval=3600, stop_event=stop)
    assert (info.value.service_id, info.value.last_status) == (SER, "IN_PROGRESS")
    assert polls.call_count == 1


def test_missing_credentials_name_the_connection(monkeypatch):
    set_json_conn(monkeypatch, "abeja_nocred", host=API, extra={"organization_id": ORG})
    with pytest.raises(MissingCredentialsError, match="abeja_nocred"):
        AbejaHook("abeja_nocred").client  # noqa: B018


def test_malformed_field_names_field_and_connection(monkeypatch):
    set_json_conn(monkeypatch, "abeja_bad", host=API, login="1", password=PAT, extra={"timeout": "soon"})
    with pytest.raises(ConnectionFieldError) as info:
        AbejaHook("abeja_bad").client  # noqa: B018
    assert info.value.argument == "timeout"
    assert "abeja_bad" in str(info.value)
    assert PAT not in str(info.value)


def test_environment_credentials_are_not_used_behind_the_connections_back(monkeypatch):
    monkeypatch.setenv("PLATFORM_AUTH_TOKEN", "from-the-environment")
    set_json_conn(monkeypatch, host=API)
    with pytest.raises(MissingCredentialsError):
        AbejaHook().client  # noqa: B018


def test_class_attributes():
    assert AbejaHook.conn_type == "abeja"
    assert AbejaHook.conn_name_attr == "abeja_conn_id"
    assert AbejaHook.default_conn_name == "abeja_default"
    assert AbejaHook.hook_name == "ABEJA Platform"
    behaviour = AbejaHook.get_ui_field_behaviour()
    assert behaviour["relabeling"]["host"] == "API URL"
    assert set(behaviour["hidden_fields"]) == {"schema", "port"}


# -- test_connection ----------------------------------------------------------------------------


def test_test_connection_lists_deployments(monkeypatch, requests_mock):
    listing = requests_mock.get(f"{API}/organizations/{ORG}/deployments", json={"entries": [{}, {}]})
    set_json_conn(monkeypatch, host=API, extra={"auth_token": BEARER, "organization_id": ORG})
    ok, message = AbejaHook().test_connection()
    assert ok, message
    assert "2 deployment(s)" in message
    assert listing.call_count == 1
    assert listing.last_request.method == "GET"
    assert BEARER not in message


def test_test_connection_uses_the_deployment_extra(monkeypatch, services):
    set_json_conn(
        monkeypatch, host=API, extra={"auth_token": BEARER, "organization_id": ORG, "deployment_id": DEP}
    )
    ok, message = AbejaHook().test_connection()
    assert ok, message
    assert "1 service(s)" in message
    assert services.call_count == 1


def test_test_connection_reports_a_refused_credential_without_secrets(monkeypatch, requests_mock):
    requests_mock.get(
        f"{API}/organizations/{ORG}/deployments",
        status_code=401,
        json={"error": "unauthorized", "error_description": f"bad token {BEARER}"},
    )
    set_json_conn(monkeypatch, host=API, extra={"auth_token": BEARER, "organization_id": ORG})
    ok, message = AbejaHook().test_connection()
    assert not ok
    assert "Unauthorized" in message
    assert BEARER not in message


def test_test_connection_reports_configuration_errors(monkeypatch):
    set_json_conn(monkeypatch, host=API, extra={"auth_token": BEARER})
    ok, message = AbejaHook().test_connection()
    assert not ok
    assert "organization_id" in message
    set_json_conn(monkeypatch, host="nope", extra={"auth_token": BEARER, "organization_id": ORG})
    ok, message = AbejaHook().test_connection()
    assert not ok
    assert "host" in message
