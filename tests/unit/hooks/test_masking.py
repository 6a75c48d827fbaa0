"""The hook registers its secrets with Airflow's masker, so a task log never shows them."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from airflow_provider_abeja.hooks.abeja import AbejaHook

PAT = "pat-never-in-logs-7f3a91"
BEARER = "bearer-never-in-logs-5c2e77"
DS_SECRET = "datasource-never-in-logs-0b4d12"


def _masker():
    """The process-wide masker that Airflow's task-log handlers and processors apply."""
    try:
        from airflow.sdk._shared.secrets_masker import _secrets_masker  # Airflow 3
    except ImportError:  # Airflow 2.11
        from airflow.utils.log.secrets_masker import _secrets_masker
    return _secrets_masker()


@pytest.fixture
def task_logger(monkeypatch):
    """A real logger whose handler carries the masker as a filter, as Airflow's task handler does."""
    masker = _masker()
    # The task runner switches masking on; do the same here.
    if hasattr(type(masker), "mask_secrets_in_logs"):  # Airflow 3
        monkeypatch.setattr(type(masker), "mask_secrets_in_logs", True)
    else:  # Airflow 2.11
        from airflow import settings

        monkeypatch.setattr(settings, "MASK_SECRETS_IN_LOGS", True)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(masker)
    logger = logging.getLogger("test.abeja.task")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("conn", "secrets"),
    [
        (
            {"login": "1111111111111", "password": PAT},
            [PAT, base64.b64encode(f"user-1111111111111:{PAT}".encode()).decode()],
        ),
        ({"extra": {"auth_token": BEARER}}, [BEARER]),
        (
            {"extra": {"datasource_id": "2222222222222", "datasource_secret": DS_SECRET}},
            [DS_SECRET, base64.b64encode(f"datasource-2222222222222:{DS_SECRET}".encode()).decode()],
        ),
    ],
    ids=["user", "bearer", "datasource"],
)
def test_secrets_are_redacted_in_task_logs(monkeypatch, task_logger, conn, secrets):
    logger, stream = task_logger
    # Airflow masks extras with sensitive names (auth_token) by itself; the password and the
    # Basic header token are protected only by the hook's registration.
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_MASKED", json.dumps({"conn_type": "abeja", "host": "http://127.0.0.1:1", **conn})
    )
    hook = AbejaHook("abeja_masked")
    hook.client  # noqa: B018 - building the client registers the secrets
    for secret in secrets:
        logger.info("careless line: %s and header Authorization: Basic %s", secret, secret)
    text = stream.getvalue()
    for secret in secrets:
        assert secret not in text
    assert text.count("***") >= 2 * len(secrets)


def test_repr_of_hook_and_client_carry_no_secret(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_MASKED",
        json.dumps({"conn_type": "abeja", "login": "1111111111111", "password": PAT}),
    )
    hook = AbejaHook("abeja_masked")
    assert PAT not in repr(hook.settings)
    assert PAT not in repr(hook.client)
