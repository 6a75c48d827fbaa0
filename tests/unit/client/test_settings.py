"""Credential precedence, environment settings and their validation."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.client.sync import DEFAULT_TIMEOUT
from airflow_provider_abeja.exceptions import HttpError, InvalidArgumentError, MissingCredentialsError

from .conftest import API, DEP, MGMT, ORG, SER

ENV_CREDENTIALS = {
    "PLATFORM_AUTH_TOKEN": "env-bearer",
    "ABEJA_PLATFORM_USER_ID": "1111111111111",
    "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN": "env-pat",
    "ABEJA_PLATFORM_DATASOURCE_ID": "2222222222222",
    "ABEJA_PLATFORM_DATASOURCE_SECRET": "env-ds-secret",
}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def sent_authorization(credential: Any, requests_mock: rm.Mocker) -> str:
    requests_mock.get(f"{MGMT}/services/{SER}", json={})
    with APIClient(credential, api_url=API) as client:
        client.get_service(ORG, DEP, SER)
    return str(requests_mock.request_history[-1].headers["Authorization"])


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ({"auth_token": "t"}, "Bearer t"),
        ({"user_id": "1111111111111", "personal_access_token": "p"}, basic("user-1111111111111", "p")),
        ({"user_id": "user-1111111111111", "personal_access_token": "p"}, basic("user-1111111111111", "p")),
        ({"user_id": 1111111111111, "personal_access_token": "p"}, basic("user-1111111111111", "p")),
        (
            {"datasource_id": "2222222222222", "datasource_secret": "s"},
            basic("datasource-2222222222222", "s"),
        ),
        # bearer > user > datasource inside one dict
        ({"auth_token": "t", "user_id": "1", "personal_access_token": "p"}, "Bearer t"),
        (
            {"user_id": "1", "personal_access_token": "p", "datasource_id": "2", "datasource_secret": "s"},
            basic("user-1", "p"),
        ),
    ],
)
def test_explicit_credentials(requests_mock: rm.Mocker, credential: dict[str, Any], expected: str) -> None:
    before = copy.deepcopy(credential)
    assert sent_authorization(credential, requests_mock) == expected
    assert credential == before  # the caller's dict is never modified


def test_explicit_dict_wins_over_environment(
    requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    assert sent_authorization({"datasource_id": "3", "datasource_secret": "x"}, requests_mock) == basic(
        "datasource-3", "x"
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (list(ENV_CREDENTIALS), "Bearer env-bearer"),
        (
            [
                "ABEJA_PLATFORM_USER_ID",
                "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN",
                "ABEJA_PLATFORM_DATASOURCE_ID",
                "ABEJA_PLATFORM_DATASOURCE_SECRET",
            ],
            basic("user-1111111111111", "env-pat"),
        ),
        (
            ["ABEJA_PLATFORM_DATASOURCE_ID", "ABEJA_PLATFORM_DATASOURCE_SECRET"],
            basic("datasource-2222222222222", "env-ds-secret"),
        ),
    ],
)
def test_environment_precedence(
    requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch, names: list[str], expected: str
) -> None:
    for name in names:
        monkeypatch.setenv(name, ENV_CREDENTIALS[name])
    assert sent_authorization(None, requests_mock) == expected
    assert sent_authorization({}, requests_mock) == expected


def test_no_credential_anywhere_is_a_clear_error(requests_mock: rm.Mocker) -> None:
    with pytest.raises(MissingCredentialsError, match="PLATFORM_AUTH_TOKEN"):
        APIClient(api_url=API)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    "credential",
    [
        {"user_id": "1"},
        {"personal_access_token": "p"},
        {"datasource_id": "2"},
        {"unknown": "x"},
    ],
)
def test_incomplete_explicit_credential(credential: dict[str, str]) -> None:
    with pytest.raises(MissingCredentialsError):
        APIClient(credential, api_url=API)


def test_incomplete_environment_credential_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABEJA_PLATFORM_USER_ID", "1")
    with pytest.raises(MissingCredentialsError, match="ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN"):
        APIClient(api_url=API)


def test_credential_with_a_newline_is_refused_without_echo() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        APIClient({"auth_token": "abc\r\nX-Evil: 1"}, api_url=API)
    assert "X-Evil" not in str(info.value)


def test_api_url_from_argument_environment_or_default(monkeypatch: pytest.MonkeyPatch) -> None:
    cred = {"auth_token": "t"}
    assert APIClient(cred).api_url == "https://api.abeja.io"
    monkeypatch.setenv("ABEJA_API_URL", "http://127.0.0.1:8765/")
    assert APIClient(cred).api_url == "http://127.0.0.1:8765"  # read when the client is built
    assert APIClient(cred, api_url="https://other.test").api_url == "https://other.test"


@pytest.mark.parametrize("url", ["https://user:pa55word@api.abeja.io", "http://token@127.0.0.1:1"])
def test_api_url_with_credentials_is_refused_without_echo(url: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        APIClient({"auth_token": "t"}, api_url=url)
    assert info.value.argument == "api_url"
    assert "pa55word" not in str(info.value)
    assert "token@" not in str(info.value)


def test_api_url_with_credentials_from_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ABEJA_API_URL", "https://u:secret@api.abeja.io")
    with pytest.raises(InvalidArgumentError) as info:
        APIClient({"auth_token": "t"})
    assert info.value.argument == "ABEJA_API_URL"
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["ftp://x", "api.abeja.io", "https://", "https://h/?q=1", "https://h/#f", "http://h:99999"]
)
def test_bad_api_urls(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="api_url"):
        APIClient({"auth_token": "t"}, api_url=url)


def test_timeout_defaults_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    cred = {"auth_token": "t"}
    assert APIClient(cred).timeout == DEFAULT_TIMEOUT == (10.0, 60.0)
    assert APIClient(cred, timeout=5).timeout == (5.0, 5.0)
    assert APIClient(cred, timeout=(2, 30)).timeout == (2.0, 30.0)
    assert APIClient(cred, timeout=0).timeout is None
    monkeypatch.setenv("ABEJA_API_TIMEOUT", "12.5")
    assert APIClient(cred).timeout == (12.5, 12.5)
    monkeypatch.setenv("ABEJA_API_TIMEOUT", "0")
    assert APIClient(cred).timeout is None
    assert APIClient(cred, timeout=3).timeout == (3.0, 3.0)  # argument wins


def test_timeout_is_passed_to_the_transport(requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}", json={})
    with APIClient({"auth_token": "t"}, timeout=(1.5, 9), api_url=API) as client:
        client.get_service(ORG, DEP, SER)
    assert requests_mock.request_history[0].timeout == (1.5, 9.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ABEJA_API_TIMEOUT", "ten"),
        ("ABEJA_API_TIMEOUT", "-1"),
        ("ABEJA_API_TIMEOUT", "nan"),
        ("ABEJA_API_MAX_RETRY_COUNT", "three"),
        ("ABEJA_API_MAX_RETRY_COUNT", "-1"),
        ("ABEJA_API_MAX_RETRY_COUNT", "1.5"),
    ],
)
def test_invalid_environment_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidArgumentError) as info:
        APIClient({"auth_token": "t"})
    assert info.value.argument == name
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"timeout": -1}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": (0, 5)}, "timeout"),
        ({"max_retry_count": -1}, "max_retry_count"),
        ({"max_retry_count": 1.5}, "max_retry_count"),
        ({"inference_addressing": "dns"}, "inference_addressing"),
        ({"retry_wait_max": -1}, "retry_wait_max"),
        ({"retry_wait_max": True}, "retry_wait_max"),
        ({"retry_wait_max": "5"}, "retry_wait_max"),
        ({"pool_maxsize": 0}, "pool_maxsize"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        APIClient({"auth_token": "t"}, **kwargs)
    assert info.value.argument == argument


def test_proxies_from_environment_are_honoured_per_host(
    requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "api.example.test")
    requests_mock.get(f"{MGMT}/services/{SER}", json={})
    requests_mock.post(f"https://{ORG}.api.example.test/deployments/{DEP}/services/{SER}", json={})
    requests_mock.get(f"https://elsewhere.test/organizations/{ORG}/deployments/{DEP}/services/{SER}", json={})
    with APIClient({"auth_token": "t"}, api_url=API) as client:
        client.get_service(ORG, DEP, SER)  # NO_PROXY host: direct
        client.request_service(ORG, DEP, SER, json={})  # sub-domain of a NO_PROXY host: direct
    with APIClient({"auth_token": "t"}, api_url="https://elsewhere.test") as client:
        client.get_service(ORG, DEP, SER)
    proxies = [r.proxies for r in requests_mock.request_history]
    assert proxies[0].get("https") is None
    assert proxies[1].get("https") is None
    assert proxies[2]["https"] == "http://proxy.test:3128"


def test_ca_bundle_from_environment(requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/bundle.pem")
    requests_mock.get(f"{MGMT}/services/{SER}", json={})
    with APIClient({"auth_token": "t"}, api_url=API) as client:
        client.get_service(ORG, DEP, SER)
    with APIClient({"auth_token": "t"}, api_url=API, verify="/explicit.pem") as client:
        client.get_service(ORG, DEP, SER)
    with APIClient({"auth_token": "t"}, api_url=API, verify=False) as client:
        client.get_service(ORG, DEP, SER)
    assert [r.verify for r in requests_mock.request_history] == [
        "/etc/ssl/certs/bundle.pem",
        "/explicit.pem",
        False,
    ]


def test_a_redirect_is_an_error_and_is_never_followed(requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}", status_code=302, headers={"Location": "https://other.test/x"})
    requests_mock.get("https://other.test/x", json={})
    with APIClient({"auth_token": "token-1"}, api_url=API) as client, pytest.raises(HttpError) as info:
        client.get_service(ORG, DEP, SER)
    (first,) = requests_mock.request_history
    assert first.headers["Authorization"] == "Bearer token-1"
    assert info.value.status_code == 302
    assert "redirect to https://other.test/x" in str(info.value)


def test_async_client_refuses_a_missing_ca_bundle(tmp_path: Any) -> None:
    from airflow_provider_abeja.client import AsyncAPIClient

    with pytest.raises(InvalidArgumentError) as info:
        AsyncAPIClient({"auth_token": "t"}, api_url=API, verify=str(tmp_path / "missing.pem"))
    assert info.value.argument == "verify"
