"""Argument and settings validators of the client: public, and the only copy in the package.

The clients check every argument with these before anything is sent; the hook builds its
settings from a connection with them, and the operators check their arguments with them, so a
value is refused the same way (and named the same way) wherever it comes from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_abeja.exceptions import InvalidArgumentError

#: Where the ABEJA Platform API lives unless a connection or ABEJA_API_URL says otherwise.
DEFAULT_API_URL = "https://api.abeja.io"
#: (connect, read) seconds, or None for no timeout.
Timeout = tuple[float, float] | None
#: A call's arguments by name, as a client method passes them on.
Arguments = Mapping[str, Any]
#: Checks one argument's value (``argument`` names it in the error) and returns what is sent.
Check = Callable[[Any, str], Any]


def text(value: object, argument: str, *, optional: bool = False, strip: bool = True) -> str | None:
    """A short text argument (an id, a name, a secret): a string without control characters.

    Numbers are accepted as their text (ids written as JSON numbers). ``None`` or a blank value
    is an error unless ``optional`` (then None). The value is never echoed in an error: it may
    be a secret; ``strip=False`` keeps secrets exactly as given.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    if value is not None and strip:
        value = value.strip()
    if not value:
        if optional:
            return None
        raise InvalidArgumentError(argument, "is required" if value is None else "must not be empty")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise InvalidArgumentError(argument, "holds white space or control characters")
    return value


#: How inference URLs are addressed: ``auto`` picks path style for IP literals and localhost.
ADDRESSING_MODES = ("auto", "virtual-host", "path")


def given(args: Arguments, checks: Mapping[str, Check]) -> dict[str, Any]:
    """The arguments given (not None), in order, each as its check returns it (errors name it)."""
    return {name: check(args[name], name) for name, check in checks.items() if args[name] is not None}


def mapping(value: object, argument: str, what: str = "a mapping") -> dict[Any, Any] | None:
    """A copy of a mapping argument (None stays None), else an error naming the argument."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(argument, f"must be {what}, not {type(value).__name__}")
    return dict(value)


def check_addressing(value: object, argument: str = "inference_addressing") -> str:
    """One of ``ADDRESSING_MODES`` (case-insensitive)."""
    mode = str(value).strip().lower()
    if mode not in ADDRESSING_MODES:
        raise InvalidArgumentError(argument, f"must be one of {', '.join(ADDRESSING_MODES)}, got {value!r}")
    return mode


_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
#: Platform ids are at most 21 characters; aliases are short names. Longer is a mistake or an attack.
MAX_PATH_ID_LENGTH = 255


def check_organization_id(value: object, argument: str = "organization_id") -> str:
    """The organization id becomes a host label: it must be exactly one DNS label."""
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    if not _DNS_LABEL.match(value):
        raise InvalidArgumentError(
            argument, f"{value!r} is not a single DNS label (letters, digits, '-'; at most 63)"
        )
    return value


_ID_CHARACTERS = "printable ASCII without white space and / ? # % @ \\"
#: What a clean path id is made of: ``_ID_CHARACTERS``.
_CLEAN_PATH_ID = re.compile(rf"[^\x00-\x20\x7f-\U0010ffff/?#%@\\]{{1,{MAX_PATH_ID_LENGTH}}}\Z")


#: Values that pass the character rules but name no resource: the HTTP stack drops a ``.``
#: segment (the call would read the listing above), and a template that rendered nothing says so.
_NOT_IDS = {
    ".": "'.' is not an id (the segment would be dropped and the parent addressed)",
    "None": "'None' is not an id: did a template render a missing value?",
    "null": "'null' is not an id: did a template render a missing value?",
}


def check_path_id(value: object, argument: str) -> str:
    """A path segment id: refuse anything that could change which resource is addressed."""
    # Fast path (every call checks two or three ids): one regex and one substring scan; the
    # checks below only run to name what is wrong.
    if isinstance(value, str) and _CLEAN_PATH_ID.match(value) and ".." not in value and value not in _NOT_IDS:
        return value
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidArgumentError(argument, "must not be empty")
    if value in _NOT_IDS:
        raise InvalidArgumentError(argument, _NOT_IDS[value])
    if len(value) > MAX_PATH_ID_LENGTH:
        raise InvalidArgumentError(
            argument, f"is {len(value)} characters long (at most {MAX_PATH_ID_LENGTH})"
        )
    if ".." in value:
        raise InvalidArgumentError(argument, f"{value!r} must not contain '..'")
    bad = next(char for char in value if not _CLEAN_PATH_ID.match(char))
    raise InvalidArgumentError(argument, f"{value!r} must not contain {bad!r} (ids are {_ID_CHARACTERS})")


_ENV_NAME = re.compile(r"[^=\s\x00-\x1f\x7f]+\Z")


def whole_number(value: object, argument: str, minimum: int = 0, *, digits: bool = True) -> int:
    """A whole number >= ``minimum``; a digit string too unless ``digits`` is False (the API
    contract documents counts as either)."""
    if digits and isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(argument, f"must be a whole number >= {minimum}, not {value!r}")
    return value


def check_update_payload(payload: object) -> None:
    """The fields of an update_service payload that the platform defines, checked like create's.

    Other keys pass through unchanged: the platform may accept fields that are not public.
    Errors name the field as ``payload.<key>``.
    """
    payload = mapping(payload, "payload", "a dict")
    if payload is None:
        return
    for key in payload:
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError("payload", f"keys must be non-empty strings, got {key!r}")
    check_sizing(payload, "payload.")
    for name, value in payload.items():
        if name in _PAYLOAD_CHECKS:
            _PAYLOAD_CHECKS[name](value, f"payload.{name}")


def check_sizing(fields: Mapping[str, Any], prefix: str = "") -> None:
    """The instance count, range, autoscale flag and type among ``fields`` (create_service's
    arguments, or an update payload), refused before anything is sent; errors name ``prefix + field``."""
    if "instance_number" in fields:
        whole_number(fields["instance_number"], f"{prefix}instance_number", 1)
    # 0 is left to the platform to judge for the autoscaling floor; negative never makes sense.
    minimum, maximum = fields.get("min_instance_number"), fields.get("max_instance_number")
    if minimum is not None:
        minimum = whole_number(minimum, f"{prefix}min_instance_number")
    if maximum is not None:
        maximum = whole_number(maximum, f"{prefix}max_instance_number", 1)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidArgumentError(
            f"{prefix}min_instance_number", f"{minimum} is more than max_instance_number {maximum}"
        )
    flag = fields.get("enable_autoscale")
    if flag is not None and not isinstance(flag, bool) and str(flag).strip().lower() not in ("true", "false"):
        raise InvalidArgumentError(f"{prefix}enable_autoscale", "must be true or false")
    if "instance_type" in fields:
        check_instance_type(fields["instance_type"], f"{prefix}instance_type")


def check_instance_type(value: object, argument: str = "instance_type") -> str:
    """An instance type's name (``cpu-0.25``, ``gpu-1``): no white space, ``=`` or controls."""
    if not (isinstance(value, str) and _ENV_NAME.match(value)):
        raise InvalidArgumentError(argument, "must be a non-empty name such as 'cpu-0.25'")
    return value


def check_environment(value: object, argument: str = "environment") -> dict[str, str] | None:
    """Environment variables: a mapping of names (no '=', white space or control characters) to
    strings, returned as a dict.

    Values are never echoed in the error: environments carry secrets.
    """
    value = mapping(value, argument, "a mapping of names to strings")
    if value is None:
        return None
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise InvalidArgumentError(
                argument, f"variable name {key!r} must be non-empty, without '=', white space or controls"
            )
        if not isinstance(item, str):
            raise InvalidArgumentError(argument, f"{key}: value must be a string, not {type(item).__name__}")
    return value


#: The fields of an update payload that are checked as create_service checks its arguments.
_PAYLOAD_CHECKS: dict[str, Check] = {"version_id": check_path_id, "model_id": check_path_id}
_PAYLOAD_CHECKS |= dict.fromkeys(("environment", "user_env_vars"), check_environment)


def parse_api_url(value: object, argument: str = "api_url") -> str:
    """Validate the API base URL: http(s), a host, no credentials, no query or fragment."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(argument, f"must be a non-empty URL such as {DEFAULT_API_URL}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise InvalidArgumentError(argument, "must start with http:// or https://")
    if "@" in parts.netloc:
        # Never echo the value: the userinfo part is a secret.
        raise InvalidArgumentError(
            argument, "must not contain credentials (user:password@host); pass them as credential instead"
        )
    if not parts.hostname:
        raise InvalidArgumentError(argument, f"{value!r} has no host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidArgumentError(argument, f"{value!r} has an invalid port") from None
    if parts.query or parts.fragment:
        raise InvalidArgumentError(argument, f"{value!r} must not have a query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def parse_timeout(value: object, argument: str) -> Timeout:
    """``None`` is not accepted here; ``0`` turns the timeout off; a number or (connect, read)."""
    if isinstance(value, tuple | list) and len(value) == 2:
        connect, read = (parse_timeout(v, argument) for v in value)
        if connect is None or read is None:
            raise InvalidArgumentError(
                argument, "(connect, read) values must be > 0; use 0 alone for no timeout"
            )
        return (connect[0], read[0])
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            reason = f"{value!r} is not a number of seconds (0 turns the timeout off)"
            raise InvalidArgumentError(argument, reason) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(argument, "must be seconds (a number) or a (connect, read) pair")
    if not 0 <= value < float("inf"):  # NaN fails this too
        raise InvalidArgumentError(argument, f"{value!r} must be a finite number >= 0")
    return (float(value), float(value)) if value else None


def mapping_argument(value: Any, argument: str) -> dict[str, Any] | None:
    """A dict, or a JSON object given as text (what a template renders); None stays None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidArgumentError(argument, "expected a mapping or a JSON object") from None
    return mapping(value, argument)


def coerce_environment(value: Any) -> dict[str, str] | None:
    """An operator's ``environment`` (a mapping, or JSON text a template rendered): numbers become
    text, then it is checked by ``check_environment`` (values are never echoed: secrets)."""
    env = mapping_argument(value, "environment")
    if env is None:
        return None
    for key, item in env.items():
        if isinstance(item, int | float) and not isinstance(item, bool):
            env[key] = str(item)
    return check_environment(env)


def check_datasets(value: object, argument: str = "datasets") -> dict[str, str] | None:
    """``{alias: dataset_id}``; ids are digits on the platform (the runtime refuses others)."""
    out = mapping(value, argument, "a mapping of alias to id")
    if out is None:
        return None
    for alias, dataset_id in out.items():
        if not isinstance(alias, str) or not alias:
            raise InvalidArgumentError(argument, f"alias {alias!r} must be a non-empty string")
        if isinstance(dataset_id, bool) or not str(dataset_id).isdigit():  # a number's text is its id
            raise InvalidArgumentError(argument, f"{alias}: dataset id must be digits, not {dataset_id!r}")
        out[alias] = str(dataset_id)
    return out


#: What a template renders for a missing value (``{{ dag_run.conf.get("x") }}``), case aside.
MISSING_RENDERINGS = frozenset({"none", "null"})


def check_named_argument(value: Any, argument: str) -> None:
    """Refuse a rendered argument naming a file, a folder, an id or a target that names nothing:
    empty, blank, or what a template renders for a missing value (``None``, ``null``).

    An empty path is the worker's current directory and an empty id another resource (the
    default endpoint, a listing): both send or overwrite what nobody asked for. ``None`` (not
    given) passes: whether the argument is required is the operator's own check. Only the
    refused values are echoed, never a real one (it may be a secret).
    """
    if isinstance(value, str) and (not value.strip() or value.strip().lower() in MISSING_RENDERINGS):
        raise InvalidArgumentError(
            argument, f"rendered to {value!r}, which names nothing: check the value or template that fills it"
        )
