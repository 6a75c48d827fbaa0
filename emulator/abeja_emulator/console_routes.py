"""A read-only local console: one HTML page per service, at the real console's path shape.

Set the connection's ``console_url`` to ``<emulator>/console`` and the "ABEJA Service" link of a
task opens this page: the service's status, a status timeline and its recent logs. Reads the
emulator's state only through its public accessors; no auth (like the control API).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from .core import Emulator
from .errors import ApiError

PREFIX = "/console"
#: A service's page under the console base: the platform console's path, which the provider's
#: "ABEJA Service" link builds too (tests/emulator/test_console.py follows that link here).
SERVICE_PATH = "/organizations/{organization_id}/deployments/{deployment_id}/services/{service_id}"
#: Log lines shown on a page (newest last); the API's recentlogs has them all.
LOG_LINES = 200
_STATUS = re.compile(r"\b(IN_PROGRESS|READY|FAILED|STOPPED)\b")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; } td, th { padding: .2rem .8rem; text-align: left; }
.READY, .SUCCEEDED { color: #137333; } .FAILED { color: #b3261e; } .IN_PROGRESS { color: #a56c00; }
pre { background: #f6f6f6; padding: 1rem; overflow-x: auto; font-size: .85rem; }
"""


def register(app: FastAPI, emu: Emulator) -> None:
    @app.get(PREFIX, response_class=HTMLResponse, include_in_schema=False)
    async def console_index() -> HTMLResponse:
        from .console_runs import index_sections

        return HTMLResponse(_page("Services", _service_table(emu) + index_sections(emu)))

    @app.get(PREFIX + SERVICE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def console_service(organization_id: str, deployment_id: str, service_id: str) -> HTMLResponse:
        try:
            service = emu.service_wire(emu.service(organization_id, deployment_id, service_id))
        except ApiError:
            body = (
                f"<p>No service <code>{escape(service_id)}</code> in deployment "
                f"<code>{escape(deployment_id)}</code>: it was deleted, or never existed.</p>"
                f'<p><a href="{PREFIX}">All services</a></p>'
            )
            return HTMLResponse(_page(f"Service {service_id}", body), status_code=404)
        events = emu.logs.page(service_id, page_size=LOG_LINES)["events"][::-1]  # oldest first
        return HTMLResponse(_page(f"Service {service_id}", _service_body(service, events), refresh=True))


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{meta}<title>{escape(title)} · ABEJA emulator'
        f"</title><style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
        "<p><small>ABEJA Platform emulator: local, read-only console</small></p></body></html>"
    )


def _service_url(service: dict[str, Any]) -> str:
    return PREFIX + SERVICE_PATH.format(
        organization_id=escape(str(service.get("organization_id", ""))),
        deployment_id=escape(str(service.get("deployment_id", ""))),
        service_id=escape(str(service.get("service_id", ""))),
    )


def _service_table(emu: Emulator) -> str:
    services = emu.state_dict().get("services") or []
    if not services:
        return "<p>No services.</p>"
    rows = "".join(
        f'<tr><td><a href="{_service_url(s)}">{escape(str(s.get("service_id")))}</a></td>'
        f"<td>{escape(str(s.get('deployment_id')))}</td>"
        f'<td class="{escape(str(s.get("status")))}">{escape(str(s.get("status")))}</td></tr>'
        for s in services
    )
    return f"<table><tr><th>Service</th><th>Deployment</th><th>Status</th></tr>{rows}</table>"


def _service_body(service: dict[str, Any], events: list[dict[str, Any]]) -> str:
    status = escape(str(service.get("status")))
    facts = [
        ("Status", f'<b class="{status}">{status}</b>'),
        ("Deployment", escape(str(service.get("deployment_id")))),
        ("Version", escape(str(service.get("model_version_id") or service.get("model_version")))),
        ("Instances", escape(str(service.get("instance_number")))),
        ("Created", escape(str(service.get("created_at")))),
        ("Modified", escape(str(service.get("modified_at")))),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in facts)
    timeline = [e for e in events if _STATUS.search(str(e.get("message", "")))]
    steps = "".join(
        f"<li><code>{escape(str(e.get('timestamp')))}</code> {escape(str(e.get('message')))}</li>"
        for e in timeline
    )
    logs = "\n".join(f"{e.get('timestamp')}  {e.get('message')}" for e in events)
    steps = steps or "<li>no status change logged</li>"
    return (
        f"<table>{table}</table><h2>Status timeline</h2><ol>{steps}</ol>"
        f"<h2>Recent logs</h2><pre>{escape(logs) or 'no log lines'}</pre>"
        f'<p><a href="{PREFIX}">All services</a></p>'
    )
