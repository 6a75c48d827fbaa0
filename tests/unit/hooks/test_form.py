"""The `abeja` connection form as Airflow builds it, on Airflow 3 (provider info) and 2.11 (hook)."""

from __future__ import annotations

import pytest

from airflow_provider_abeja.get_provider_info import CONN_FIELDS, get_provider_info
from airflow_provider_abeja.hooks._settings import EXTRA_FIELDS
from airflow_provider_abeja.hooks.abeja import AbejaHook


def test_providers_manager_builds_the_abeja_form():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    behaviour = manager.field_behaviours["abeja"]
    assert set(behaviour["hidden_fields"]) == {"schema", "port"}
    assert behaviour["relabeling"]["password"] == "Personal access token"
    widgets = {name for name in manager.connection_form_widgets if name.startswith("extra__abeja__")}
    assert widgets == {f"extra__abeja__{name}" for name in CONN_FIELDS}
    sensitive = {
        name
        for name, info in manager.connection_form_widgets.items()
        if name.startswith("extra__abeja__") and info.is_sensitive
    }
    assert sensitive == {"extra__abeja__auth_token", "extra__abeja__datasource_secret"}


def test_hook_widgets_for_versions_without_conn_fields():
    pytest.importorskip("flask_appbuilder")
    pytest.importorskip("wtforms")
    from wtforms import PasswordField

    widgets = AbejaHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)
    passwords = {name for name, field in widgets.items() if field.field_class is PasswordField}
    assert passwords == {"auth_token", "datasource_secret"}


def test_the_form_offers_exactly_the_extras_the_hook_reads():
    (conn,) = get_provider_info()["connection-types"]
    assert set(conn["conn-fields"]) == set(EXTRA_FIELDS)
