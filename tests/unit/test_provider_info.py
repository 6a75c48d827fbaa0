"""Provider registration: the metadata is valid, points at real classes, and Airflow loads it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_abeja
from airflow_provider_abeja.get_provider_info import get_provider_info


def _schema() -> dict:
    import airflow

    return json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())


def test_matches_airflows_provider_info_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(get_provider_info(), _schema())


def test_names_the_distribution_and_version():
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-abeja"
    assert info["versions"] == [airflow_provider_abeja.__version__]
    assert [i["integration-name"] for i in info["integrations"]] == ["ABEJA Platform"]


def test_every_listed_module_and_class_imports():
    info = get_provider_info()
    modules = [
        module
        for section in ("hooks", "operators", "sensors", "triggers")
        for entry in info[section]
        for module in entry["python-modules"]
    ]
    assert "airflow_provider_abeja.hooks.abeja" in modules
    for module in modules:
        importlib.import_module(module)
    classes = [c["hook-class-name"] for c in info["connection-types"]] + info["extra-links"]
    for path in classes:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_connection_type_form():
    (conn,) = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "abeja"
    assert conn["hook-class-name"] == "airflow_provider_abeja.hooks.abeja.AbejaHook"
    behaviour = conn["ui-field-behaviour"]
    assert set(behaviour["hidden-fields"]) == {"schema", "port"}
    assert behaviour["relabeling"] == {
        "host": "API URL",
        "login": "User ID",
        "password": "Personal access token",
    }
    fields = conn["conn-fields"]  # exactly the extras the hook reads: tests/unit/hooks/test_form.py
    # Secrets are password fields (hidden in the UI, masked as sensitive).
    sensitive = {name for name, spec in fields.items() if spec["schema"].get("format") == "password"}
    assert sensitive == {"auth_token", "datasource_secret"}
    assert set(behaviour["placeholders"]) <= {"host", "login", "password", *fields}


def test_get_provider_info_is_import_light():
    code = (
        "import sys; import airflow_provider_abeja.get_provider_info as m; m.get_provider_info(); "
        "heavy = [n for n in ('airflow', 'requests', 'httpx', 'tenacity') if n in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_airflow_loads_the_provider_in_process():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.providers["airflow-provider-abeja"].version == airflow_provider_abeja.__version__
    behaviour = manager.field_behaviours["abeja"]
    assert behaviour["relabeling"]["host"] == "API URL"
    assert "schema" in behaviour["hidden_fields"]
    widget = manager.connection_form_widgets["extra__abeja__auth_token"]
    assert widget.is_sensitive
    assert "airflow_provider_abeja.links.abeja.AbejaServiceLink" in manager.extra_links_class_names


def test_the_ui_form_offers_no_literal_null_and_shows_hints_in_descriptions():
    """Item 12: Airflow 3.3 showed a "null" option (an enum holding None) and no extra-field placeholders."""
    (conn,) = get_provider_info()["connection-types"]
    fields = conn["conn-fields"]
    for name, spec in fields.items():
        assert None not in spec["schema"].get("enum", []), name
    addressing = fields["inference_addressing"]["schema"]
    assert addressing["enum"] == ["auto", "virtual-host", "path"]
    assert addressing["default"] == "auto"  # the form's initial value
    placeholders = conn["ui-field-behaviour"]["placeholders"]
    for name, spec in fields.items():
        if " " not in placeholders.get(name, " ") and "enum" not in spec["schema"]:  # example values
            assert f"E.g. {placeholders[name]}" in spec["description"], name
    assert "E.g. 1234567890123" in fields["organization_id"]["description"]
