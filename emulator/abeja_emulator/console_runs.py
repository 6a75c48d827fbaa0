"""The local console's Datalake and Runs pages: channels with their files, runs with their logs.

Read-only, no auth, like the services' pages (``console_routes``): the index lists channels and runs;
a run's page sits at the platform console's path shape
(``/console/organizations/{org}/deployments/{dep}/runs/{run_id}``), a channel's at
``/console/organizations/{org}/channels/{channel_id}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from .console_routes import LOG_LINES, PREFIX, _page
from .core import Emulator
from .errors import ApiError

RUN_PATH = "/organizations/{organization_id}/deployments/{deployment_id}/runs/{run_id}"
CHANNEL_PATH = "/organizations/{organization_id}/channels/{channel_id}"
#: Rows shown per table (newest first); the API pages through them all.
ROWS = 100


def _table(headings: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str) -> str:
    if not rows:
        return f"<p>{empty}</p>"
    head = "".join(f"<th>{h}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _link(path: str, text: str) -> str:
    return f'<a href="{escape(PREFIX + path)}">{escape(text)}</a>'


def index_sections(emu: Emulator) -> str:
    """The channels and runs tables of the console's index page."""
    channels = [
        (
            _link(
                CHANNEL_PATH.format(organization_id=c.organization_id, channel_id=c.channel_id), c.channel_id
            ),
            escape(c.name),
            str(
                sum(1 for f in emu.datalake.files.values() if f.channel_id == c.channel_id and f.uploaded_at)
            ),
            "archived" if c.archived else "",
        )
        for c in list(emu.datalake.channels.values())[-ROWS:]
    ]
    runs = [
        (
            _link(
                RUN_PATH.format(
                    organization_id=r.organization_id, deployment_id=r.deployment_id, run_id=r.run_id
                ),
                r.run_id,
            ),
            escape(r.deployment_id),
            f'<span class="{escape(r.status)}">{escape(r.status)}</span>',
            escape(r.trigger_id or ""),
            escape(r.created_at),
        )
        for r in sorted(emu.runs.runs.values(), key=lambda r: -r.seq)[:ROWS]
    ]
    return (
        "<h2>Channels</h2>"
        + _table(("Channel", "Name", "Files", ""), channels, "No channels.")
        + "<h2>Runs</h2>"
        + _table(("Run", "Deployment", "Status", "Trigger", "Created"), runs, "No runs.")
    )


def _run_body(run: dict[str, Any], events: list[dict[str, Any]]) -> str:
    facts = [
        ("Status", f'<b class="{escape(run["status"])}">{escape(run["status"])}</b>'),
        ("Deployment", escape(run["deployment_id"])),
        ("Version", escape(f"{run['model_version']} ({run['model_version_id']})")),
        ("Input", f"<code>{escape(str(run['input_data']))}</code>"),
        ("Output", f"<code>{escape(str(run['output_template']))}</code>"),
        ("Retry count", escape(str(run["retry_count"]))),
        ("Trigger", escape(str(run.get("trigger_id") or ""))),
        ("Created", escape(run["created_at"])),
        ("Modified", escape(run["modified_at"])),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in facts)
    logs = "\n".join(f"{e['timestamp']}  {e['message']}" for e in events)
    return f"<table>{table}</table><h2>Logs</h2><pre>{escape(logs) or 'no log lines'}</pre>"


def register(app: FastAPI, emu: Emulator) -> None:
    @app.get(PREFIX + RUN_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def console_run(organization_id: str, deployment_id: str, run_id: str) -> HTMLResponse:
        try:
            run = emu.runs.run(organization_id, deployment_id, run_id).wire()
        except ApiError:
            return HTMLResponse(_page(f"Run {run_id}", "<p>No such run.</p>"), status_code=404)
        events = emu.logs.page(run_id, page_size=LOG_LINES)["events"][::-1]  # oldest first
        refresh = run["status"] not in ("SUCCEEDED", "FAILED")
        return HTMLResponse(_page(f"Run {run_id}", _run_body(run, events), refresh=refresh))

    @app.get(PREFIX + CHANNEL_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def console_channel(organization_id: str, channel_id: str) -> HTMLResponse:
        try:
            channel = emu.datalake.channel(organization_id, channel_id)
        except ApiError:
            return HTMLResponse(_page(f"Channel {channel_id}", "<p>No such channel.</p>"), status_code=404)
        stored = [f for f in emu.datalake.files.values() if f.channel_id == channel_id and f.uploaded_at]
        rows = [
            (
                escape(f.file_id),
                escape(f.content_type),
                escape(str(f.size)),
                escape(f.metadata.get("x-abeja-meta-filename", "")),
                escape(str(f.uploaded_at)),
            )
            for f in sorted(stored, key=lambda f: -f.seq)[:ROWS]
        ]
        table = _table(("File", "Type", "Bytes", "Filename", "Uploaded"), rows, "No files.")
        title = f"Channel {channel.name or channel_id}"
        return HTMLResponse(_page(title, f"<p><code>{escape(channel_id)}</code></p>{table}"))
