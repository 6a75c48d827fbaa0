"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Imports nothing but the package version: Airflow calls this in every process that discovers
providers, and the connection form below is read from here without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_abeja import __version__

INTEGRATION = "ABEJA Platform"
#: The console a connection's task links open unless its ``console_url`` extra names another.
DEFAULT_CONSOLE_URL = "https://console.abeja.io"

#: Field behaviour of the ``abeja`` connection form (provider-info format, kebab-case keys).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "API URL", "login": "User ID", "password": "Personal access token"},
    "placeholders": {
        "host": "https://api.abeja.io",
        "login": "1234567890123 (or leave empty with an auth token)",
        "password": "personal access token of the user",
        "organization_id": "1234567890123",
        "auth_token": "bearer token (instead of user ID + personal access token)",
        "datasource_id": "datasource id (third credential kind)",
        "datasource_secret": "datasource secret",
        "timeout": "30",
        "max_retry_count": "3",
        "max_answer_mb": "64",
        "verify": "true",
        "inference_addressing": "auto",
        "console_url": DEFAULT_CONSOLE_URL,
        "deployment_id": "deployment whose services a connection test lists (optional)",
    },
}


def _field(label: str, description: str, kind: str = "string", **schema: Any) -> dict[str, Any]:
    """A form field: ``schema`` adds to its JSON schema (``format="password"`` hides a secret)."""
    return {"label": label, "schema": {"type": [kind, "null"], **schema}, "description": description}


#: Extra fields of the ``abeja`` connection form (stored in the connection's extra JSON).
CONN_FIELDS: dict[str, Any] = {
    "organization_id": _field(
        "Organization ID", "Default organization for every ABEJA operator, sensor and trigger."
    ),
    "auth_token": _field(
        "Auth token",
        "Bearer token; used instead of User ID + personal access token when set.",
        format="password",
    ),
    "datasource_id": _field("Datasource ID", "Datasource credential id (used when no other credential)."),
    "datasource_secret": _field("Datasource secret", "Datasource credential secret.", format="password"),
    "timeout": _field(
        "Timeout (seconds)",
        "Connect/read timeout of each request, whose whole answer must arrive within their sum; "
        "0 turns timeouts off (as in the client).",
        "number",
        exclusiveMinimum=0,
    ),
    "max_retry_count": _field(
        "Max retry count",
        "Retries of idempotent calls on transient errors; 0 turns retries off.",
        "integer",
        minimum=0,
    ),
    "max_answer_mb": _field(
        "Max answer size (MiB)",
        "The longest API answer read into memory (default 64); answers streamed to a file are not limited.",
        "number",
        exclusiveMinimum=0,
    ),
    "verify": _field("TLS verify", "true, false, or the path of a CA bundle file on the workers."),
    "inference_addressing": {
        "label": "Inference addressing",
        # No None in the enum: the UI would offer it as a literal "null" option.
        "schema": {"type": "string", "enum": ["auto", "virtual-host", "path"], "default": "auto"},
        "description": (
            "How inference URLs are built: auto, virtual-host ({org}.host) or path (/_inference/{org})."
        ),
    },
    "console_url": _field("Console URL", "Base URL of the ABEJA console, for task links."),
    "deployment_id": _field(
        "Deployment ID (test)",
        "Optional: a connection test (`airflow connections test`, the REST API) lists its services.",
    ),
}


def _with_hint(spec: dict[str, Any], hint: str | None) -> dict[str, Any]:
    """The field with its placeholder also in its description: Airflow 3.3's form shows placeholders
    of the standard fields only, so the description is where a user sees the hint."""
    if hint and " " not in hint and "enum" not in spec["schema"]:  # an example value, not a phrase
        return {**spec, "description": f"{spec['description']} E.g. {hint}"}
    return spec


#: The link classes of ``links/training.py`` (``Abeja<name>Link``).
_TRAINING_LINKS = ("TrainingJob", "TrainingModel", "DeploymentVersion")
#: The link classes of ``links/runs.py``.
_RUN_LINKS = ("Run", "Trigger", "Channel")


def _modules(kind: str, *names: str) -> list[dict[str, Any]]:
    """One provider-info section: this integration's ``airflow_provider_abeja.<kind>.<name>`` modules."""
    modules = [f"airflow_provider_abeja.{kind}.{name}" for name in names]
    return [{"integration-name": INTEGRATION, "python-modules": modules}]


def get_provider_info() -> dict[str, Any]:
    """The provider's registration: integration, modules, connection type and extra links."""
    return {
        "package-name": "airflow-provider-abeja",
        "name": "ABEJA Platform",
        "description": "Deploy, run and call models on the ABEJA Platform Service API.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": INTEGRATION, "external-doc-url": "https://abeja.io/", "tags": ["service"]}
        ],
        "hooks": _modules("hooks", "abeja"),
        "operators": _modules(
            "operators", "service", "endpoint", "batch", "training", "sharding", "cleanup", "guarded", "runs"
        ),
        "sensors": _modules("sensors", "service", "training", "runs"),
        "triggers": _modules("triggers", "service", "training", "runs"),
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_abeja.hooks.abeja.AbejaHook",
                "hook-name": "ABEJA Platform",
                "connection-type": "abeja",
                "conn-fields": {
                    name: _with_hint(spec, UI_FIELD_BEHAVIOUR["placeholders"].get(name))
                    for name, spec in CONN_FIELDS.items()
                },
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "extra-links": [
            "airflow_provider_abeja.links.abeja.AbejaServiceLink",
            *(f"airflow_provider_abeja.links.training.Abeja{name}Link" for name in _TRAINING_LINKS),
            *(f"airflow_provider_abeja.links.runs.Abeja{name}Link" for name in _RUN_LINKS),
        ],
    }
