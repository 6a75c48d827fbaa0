"""Runs, triggers and the Datalake: request bodies, headers and argument checks.

Read from ABEJA's SDK and CLI (``shared/reference/runs-datalake-contract.md``): a run executes a
deployment version once over one Datalake file (``input_data`` ``{"$datalake:1": "<channel>/<file>"}``)
and writes its answer to an output channel (``output_template`` ``{"$datalake:1": "<channel>"}``);
a trigger starts a run for each new file of a channel. Datalake file routes sit at the API root.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow_provider_abeja.client.validation import (
    Arguments,
    check_environment,
    check_path_id,
    given,
    mapping,
    whole_number,
)
from airflow_provider_abeja.exceptions import InvalidArgumentError

#: The only input/output operator the platform's batch proxy understands.
DATALAKE_OPERATOR = "$datalake:1"
#: How long an uploaded file is kept (``None``: for ever).
LIFETIMES = ("1day", "1week", "1month", "6months", "1year")
#: The statuses of a run: AWS Batch's job states; the last two are final.
RUN_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
METADATA_PREFIX = "x-abeja-meta-"
#: ``YYYYMMDDTHHMMSS``: the upload second a file id starts with (UTC).
_FILE_SECOND = re.compile(r"([0-9]{8}T[0-9]{6})-")
_DATE = re.compile(r"[0-9]{8}\Z")
_TRIGGER_INPUT = ("input_service_name", "input_service_id")
_TRIGGER_OUTPUT = ("output_service_name", "output_service_id")


def datalake_input(channel_id: object, file_id: object) -> dict[str, str]:
    """A run's ``input_data`` for one Datalake file."""
    channel = check_path_id(channel_id, "channel_id")
    return {DATALAKE_OPERATOR: f"{channel}/{check_path_id(file_id, 'file_id')}"}


def datalake_output(channel_id: object) -> dict[str, str]:
    """A run's ``output_template``: the answer becomes one file of ``channel_id``."""
    return {DATALAKE_OPERATOR: check_path_id(channel_id, "output_channel_id")}


def file_second(file_id: str) -> str | None:
    """The upload second (``YYYYMMDDTHHMMSS``, UTC) a file id starts with, or None."""
    match = _FILE_SECOND.match(file_id)
    return match.group(1) if match else None


def decoded(value: Any) -> Any:
    """A run's ``input_data`` / ``output_template``: the platform answers an object or its JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def run_input_file(run: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(channel_id, file_id)`` of a run's Datalake input, if it has one."""
    source = decoded(run.get("input_data"))
    target = source.get(DATALAKE_OPERATOR) if isinstance(source, Mapping) else None
    if not isinstance(target, str) or "/" not in target:
        return None
    channel_id, _, file_id = target.partition("/")
    return channel_id, file_id


# -- argument checks ------------------------------------------------------------------------------


def _retry_count(value: object, argument: str) -> int:
    count = whole_number(value, argument, digits=False)
    if count > 9:
        raise InvalidArgumentError(argument, f"must be from 0 to 9, not {count}")
    return count


def _count(value: object, argument: str) -> int:
    return whole_number(value, argument, digits=False)


def _operator_map(value: object, argument: str) -> dict[str, str]:
    """``{"<operator>:<version>": "<text>"}``, as ``input_data`` and ``output_template`` are."""
    if not isinstance(value, Mapping) or not value:
        raise InvalidArgumentError(argument, 'must be a mapping such as {"$datalake:1": "<channel>/<file>"}')
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str) or not item:
            raise InvalidArgumentError(argument, f"{key!r}: keys and values must be non-empty strings")
    return dict(value)


def check_lifetime(value: object, argument: str = "lifetime") -> str:
    if value not in LIFETIMES:
        raise InvalidArgumentError(argument, f"must be one of {', '.join(LIFETIMES)}, not {value!r}")
    return str(value)


def date_text(value: object, argument: str) -> str:
    """A file listing's ``start`` / ``end``: a date (or datetime) sent as ``YYYYMMDD``."""
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, str) and _DATE.match(value):
        return value
    raise InvalidArgumentError(argument, f"must be a date or YYYYMMDD text, not {value!r}")


def _shared(args: Arguments) -> dict[str, Any]:
    """What runs and triggers both take: the version, models, environment, retries, distribution."""
    body: dict[str, Any] = {"version_id": check_path_id(args["version_id"], "version_id")}
    if args["model_id"] is not None:
        body["models"] = {"alias": check_path_id(args["model_id"], "model_id")}
    # ABEJA's SDK always sends ``environment``, ``{}`` when none is given.
    body["environment"] = check_environment(args["environment"]) or {}
    return body | given(args, {"retry_count": _retry_count, "distribution": _count})


def run_body(args: Arguments) -> dict[str, Any]:
    return _shared(args) | given(args, dict.fromkeys(("input_data", "output_template"), _operator_map))


def trigger_body(args: Arguments) -> dict[str, Any]:
    body = _shared(args) | {name: check_path_id(args[name], name) for name in _TRIGGER_INPUT}
    if (args["output_service_name"] is None) != (args["output_service_id"] is None):
        raise InvalidArgumentError(
            "output_service_id", "give output_service_name and output_service_id together"
        )
    return body | given(args, dict.fromkeys(_TRIGGER_OUTPUT, check_path_id))


def channel_body(args: Arguments) -> dict[str, Any]:
    name = args["name"]
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError("name", "must be a non-empty string")
    body = {"name": name, "storage_type": check_path_id(args["storage_type"], "storage_type")}
    if args["description"] is not None:
        body["description"] = str(args["description"])
    return body


def metadata_headers(args: Arguments) -> dict[str, str]:
    """A file's metadata as ``x-abeja-meta-<key>`` headers, key and value percent-encoded (UTF-8)
    as ABEJA's SDK and CLI send them."""
    metadata = mapping(args["metadata"], "metadata", "a mapping of strings") or {}
    headers = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InvalidArgumentError(
                "metadata", f"{key!r}: keys and values must be strings (keys non-empty)"
            )
        name = key[len(METADATA_PREFIX) :] if key.lower().startswith(METADATA_PREFIX) else key
        headers[METADATA_PREFIX + quote(name, safe="")] = quote(value, safe="")
    return headers
