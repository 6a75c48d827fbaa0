"""Connection fields -> client settings: precedence, defaults, and errors that name field and connection."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_abeja.client.validation import DEFAULT_API_URL
from airflow_provider_abeja.exceptions import InvalidArgumentError, MissingCredentialsError
from airflow_provider_abeja.hooks._settings import (
    DEFAULT_CONSOLE_URL,
    ConnectionFieldError,
    settings_from_connection,
)

SECRET = "s3cr3t-personal-token"


def build(host=None, login=None, password=None, extra=None, port=None, **kwargs):
    conn = SimpleNamespace(host=host, login=login, password=password, port=port)
    return settings_from_connection("my_abeja", conn, extra, **kwargs)


def test_defaults_with_a_user_credential():
    s = build(login="1111111111111", password=SECRET)
    assert s.api_url == DEFAULT_API_URL
    assert s.console_url == DEFAULT_CONSOLE_URL
    assert s.credential == {"user_id": "1111111111111", "personal_access_token": SECRET}
    assert s.credential_kind == "user"
    assert (s.timeout, s.max_retry_count, s.verify, s.inference_addressing) == (None, None, True, "auto")
    assert s.organization_id is None
    assert SECRET not in repr(s)


def test_every_extra_is_read():
    s = build(
        host="http://127.0.0.1:8765/",
        extra={
            "auth_token": "bearer-token-1",
            "organization_id": 1234567890123,
            "timeout": "7.5",
            "max_retry_count": "0",
            "verify": "false",
            "inference_addressing": "PATH",
            "console_url": "https://console.example.test/",
            "deployment_id": "9999999999999",
            "max_answer_mb": "0.5",
        },
    )
    assert s.api_url == "http://127.0.0.1:8765"
    assert s.organization_id == "1234567890123"
    assert (s.timeout, s.max_retry_count, s.verify, s.inference_addressing) == (7.5, 0, False, "path")
    assert s.console_url == "https://console.example.test"
    assert s.deployment_id == "9999999999999"
    assert s.client_kwargs() == {
        "credential": {"auth_token": "bearer-token-1"},
        "timeout": 7.5,
        "max_retry_count": 0,
        "api_url": "http://127.0.0.1:8765",
        "verify": False,
        "inference_addressing": "path",
        "max_answer_bytes": 512 * 1024,
        "auth_hint": "check connection 'my_abeja': extra auth_token; for a 403 also that this "
        "credential may use the organization (extra organization_id or the task's organization_id)",
    }


@pytest.mark.parametrize("value", ["0", -1, "lots", True, [1], "1e99"])
def test_a_bad_answer_limit_names_the_field(value: object) -> None:
    with pytest.raises(ConnectionFieldError) as info:
        build(extra={"auth_token": "bearer-token-1", "max_answer_mb": value})
    assert info.value.field_name == "max_answer_mb"


def test_the_auth_hint_names_the_fields_of_the_credential_in_use() -> None:
    user = build(login="1111111111111", password=SECRET)
    assert "login (user id) and password (personal access token)" in user.auth_hint
    datasource = build(extra={"datasource_id": "ds-1", "datasource_secret": SECRET})
    assert "extra datasource_id and extra datasource_secret" in datasource.auth_hint
    assert SECRET not in user.auth_hint + datasource.auth_hint


def test_prefixed_extra_names_from_older_forms_are_accepted():
    s = build(extra={"extra__abeja__auth_token": "bearer-token-1", "extra__abeja__organization_id": "org-1"})
    assert s.credential == {"auth_token": "bearer-token-1"}
    assert s.organization_id == "org-1"


def test_hook_arguments_override_extras():
    s = build(
        extra={"auth_token": "t0ken-x", "timeout": "3", "max_retry_count": 5}, timeout=9, max_retry_count=1
    )
    assert (s.timeout, s.max_retry_count) == (9.0, 1)


def test_port_field_is_added_to_a_host_without_port():
    assert build(host="http://127.0.0.1", port=8765, extra={"auth_token": "t0ken-x"}).api_url == (
        "http://127.0.0.1:8765"
    )
    # A port in the URL wins.
    assert build(host="http://127.0.0.1:1", port=8765, extra={"auth_token": "t0ken-x"}).api_url == (
        "http://127.0.0.1:1"
    )


@pytest.mark.parametrize(
    ("login", "password", "extra", "expected", "kind"),
    [
        # bearer beats user beats datasource
        (
            "1111111111111",
            SECRET,
            {"auth_token": "bearer-token-1", "datasource_id": "2", "datasource_secret": "dss-secret"},
            {"auth_token": "bearer-token-1"},
            "bearer",
        ),
        (
            "1111111111111",
            SECRET,
            {"datasource_id": "2", "datasource_secret": "dss-secret"},
            {"user_id": "1111111111111", "personal_access_token": SECRET},
            "user",
        ),
        (
            None,
            None,
            {"datasource_id": 2222222222222, "datasource_secret": "dss-secret"},
            {"datasource_id": "2222222222222", "datasource_secret": "dss-secret"},
            "datasource",
        ),
    ],
)
def test_credential_precedence(login, password, extra, expected, kind):
    s = build(login=login, password=password, extra=extra)
    assert s.credential == expected
    assert s.credential_kind == kind


def test_secrets_include_the_basic_header_token():
    s = build(login="1111111111111", password=SECRET)
    import base64

    basic = base64.b64encode(f"user-1111111111111:{SECRET}".encode()).decode()
    assert s.credential_object.secrets == (SECRET, basic)
    assert build(extra={"auth_token": "bearer-token-1"}).credential_object.secrets == ("bearer-token-1",)


def test_no_credential_names_connection_and_fields():
    with pytest.raises(MissingCredentialsError) as info:
        build(host="http://127.0.0.1:8765", extra={"organization_id": "1"})
    text = str(info.value)
    assert "my_abeja" in text
    for field in ("auth_token", "login", "password", "datasource_id", "datasource_secret"):
        assert field in text


@pytest.mark.parametrize(
    ("login", "password", "extra", "missing"),
    [
        ("1111111111111", None, {}, "password"),
        (None, SECRET, {}, "login"),
        (None, None, {"datasource_id": "2"}, "datasource_secret"),
        (None, None, {"datasource_secret": "dss-secret"}, "datasource_id"),
    ],
)
def test_half_a_credential_is_an_error(login, password, extra, missing):
    with pytest.raises(MissingCredentialsError) as info:
        build(login=login, password=password, extra=extra)
    text = str(info.value)
    assert "my_abeja" in text
    assert missing in text
    assert SECRET not in text
    assert "dss-secret" not in text


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"host": "api.abeja.io"}, "host"),
        ({"host": "ftp://api.abeja.io"}, "host"),
        ({"host": "https://user:pw@api.abeja.io"}, "host"),
        ({"host": "https://api.abeja.io/?x=1"}, "host"),
        ({"host": "https://api.abeja.io:99999"}, "host"),
        ({"extra": {"timeout": "soon"}}, "timeout"),
        ({"extra": {"timeout": -1}}, "timeout"),
        ({"extra": {"timeout": "nan"}}, "timeout"),
        ({"extra": {"timeout": True}}, "timeout"),
        ({"extra": {"max_retry_count": -1}}, "max_retry_count"),
        ({"extra": {"max_retry_count": "two"}}, "max_retry_count"),
        ({"extra": {"max_retry_count": 1.5}}, "max_retry_count"),
        ({"extra": {"inference_addressing": "subdomain"}}, "inference_addressing"),
        ({"extra": {"verify": "/no/such/ca-bundle.pem"}}, "verify"),
        ({"extra": {"verify": 3}}, "verify"),
        ({"extra": {"console_url": "console.abeja.io"}}, "console_url"),
        ({"extra": {"organization_id": ["1"]}}, "organization_id"),
        ({"extra": {"organization_id": "12 34"}}, "organization_id"),
        ({"extra": {"organization_id": "evil.example#"}}, "organization_id"),
    ],
)
def test_malformed_fields_name_field_and_connection(kwargs, field):
    kwargs.setdefault("login", "1111111111111")
    kwargs.setdefault("password", SECRET)
    with pytest.raises(ConnectionFieldError) as info:
        build(**kwargs)
    err = info.value
    assert isinstance(err, InvalidArgumentError)
    assert err.argument == field
    assert err.conn_id == "my_abeja"
    assert f"'{field}'" in str(err)
    assert "'my_abeja'" in str(err)
    assert SECRET not in str(err)


def test_a_secret_with_white_space_is_refused_without_echoing_it():
    with pytest.raises(ConnectionFieldError) as info:
        build(extra={"auth_token": "abc def-secret-value"})
    assert info.value.argument == "auth_token"
    assert "def-secret-value" not in str(info.value)


def test_host_with_userinfo_is_not_echoed():
    with pytest.raises(ConnectionFieldError) as info:
        build(host="https://me:hunter2-password@api.abeja.io", login="1", password=SECRET)
    assert "hunter2-password" not in str(info.value)


def test_host_error_explains_the_uri_form():
    with pytest.raises(ConnectionFieldError, match="URL-encoded"):
        build(host="api.abeja.io", extra={"auth_token": "t0ken-x"})


def test_verify_accepts_an_existing_ca_bundle(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert build(extra={"auth_token": "t0ken-x", "verify": str(bundle)}).verify == str(bundle)
    assert build(extra={"auth_token": "t0ken-x", "verify": True}).verify is True


def test_unknown_extras_are_reported_by_name_only(caplog):
    build(extra={"auth_token": "t0ken-x", "organisation_id": "typo-value"})
    assert "organisation_id" in caplog.text
    assert "typo-value" not in caplog.text


def test_extra_must_be_an_object():
    with pytest.raises(ConnectionFieldError) as info:
        build(extra=["auth_token"])  # type: ignore[arg-type]
    assert info.value.argument == "extra"


def test_field_error_survives_pickling():
    import pickle

    err = ConnectionFieldError("c1", "timeout", "must be positive")
    again = pickle.loads(pickle.dumps(err))
    assert (again.conn_id, again.argument, str(again)) == ("c1", "timeout", str(err))


def test_timeout_zero_turns_timeouts_off_as_in_the_client():
    """One meaning of 0, the client's (``ABEJA_API_TIMEOUT=0`` too): no timeout, not an error."""
    from airflow_provider_abeja.client import APIClient

    s = build(extra={"auth_token": "t0ken-x", "timeout": 0})
    with APIClient(**s.client_kwargs()) as client:
        assert client.timeout is None


def test_the_masker_gets_its_secrets_from_the_clients_credential_object():
    from airflow_provider_abeja.client.credentials import Credential

    s = build(login="1111111111111", password=SECRET)
    assert isinstance(s.credential_object, Credential)
    assert SECRET in s.credential_object.secrets
    assert SECRET not in repr(s)
