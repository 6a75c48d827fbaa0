"""Airflow Assets for what the operators write, so that a downstream DAG can be scheduled on them."""

from __future__ import annotations

import os
from typing import Any


def output_asset_uri(path: Any) -> str | None:
    """The asset URI of a fixed output path (`s3://...`, `file:///abs/...`); None for a template.

    A templated path (`.../{{ run_id }}/out.jsonl`) is only known at run time, while outlets are
    declared when the DAG is parsed: such an operator gets `outlets=[Asset(...)]` from its author.
    """
    if not isinstance(path, str) or not path or "{{" in path or "{%" in path:
        return None
    return path if "://" in path else "file://" + os.path.abspath(path)


def default_outlets(kwargs: dict[str, Any], *paths: Any) -> None:
    """Declare an Asset for each fixed output path unless the author gave `outlets` (in `kwargs`)."""
    if kwargs.get("outlets"):
        return
    uris = [uri for uri in map(output_asset_uri, paths) if uri]
    if uris:
        from airflow.providers.common.compat.sdk import Asset

        kwargs["outlets"] = [Asset(uri) for uri in uris]
