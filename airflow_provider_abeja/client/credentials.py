"""Credential resolution: an explicit dict, else the environment, else a clear error.

The result keeps the ``Authorization`` value private: its repr names only the kind of
credential, so that it can sit in a client, a session or a log line without leaking.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from airflow_provider_abeja.client.validation import text
from airflow_provider_abeja.exceptions import InvalidArgumentError, MissingCredentialsError

#: Each kind of credential and the keys it is given by, in order of precedence.
CREDENTIAL_KINDS = {
    "bearer": ("auth_token",),
    "user": ("user_id", "personal_access_token"),
    "datasource": ("datasource_id", "datasource_secret"),
}
CREDENTIAL_KEYS = tuple(key for keys in CREDENTIAL_KINDS.values() for key in keys)
#: The environment variable each key is read from when no credential is given.
ENV_NAMES = {
    "auth_token": "PLATFORM_AUTH_TOKEN",
    "user_id": "ABEJA_PLATFORM_USER_ID",
    "personal_access_token": "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN",
    "datasource_id": "ABEJA_PLATFORM_DATASOURCE_ID",
    "datasource_secret": "ABEJA_PLATFORM_DATASOURCE_SECRET",
}


#: A requests or httpx request: both keep their headers in ``headers``.
_Request = TypeVar("_Request", bound=Any)


@dataclass(frozen=True)
class Credential:
    """A resolved credential: its kind, a non-secret principal, where it came from, and the
    ``Authorization`` header value and secret strings, which its repr never shows."""

    kind: str
    principal: str
    #: The ``Authorization`` header value (secret: never log it).
    authorization: str
    #: Every secret string, for scrubbing texts that come back from elsewhere.
    secrets: tuple[str, ...]
    source: str

    def __call__(self, request: _Request) -> _Request:
        """Put the ``Authorization`` header on ``request``: the auth hook of requests and httpx,
        applied per request so that no session or client header holds the secret."""
        request.headers["Authorization"] = self.authorization
        return request

    def __repr__(self) -> str:
        who = f" {self.principal}" if self.principal else ""
        return f"<Credential {self.kind}{who} from {self.source}>"


#: A cut text may end in the start of a secret: a start this long or longer is hidden too.
MIN_FRAGMENT = 4
_HEX_ESCAPE = re.compile(r"(%|\\x)([0-9A-Fa-f]{2})|(\\u)([0-9A-Fa-f]{4})")


def _forms(secret: str) -> set[str]:
    """Every way ``secret`` is written into a text by the code it passes through."""
    encoded = secret.encode()
    b64 = base64.b64encode(encoded).decode("ascii")
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(encoded).decode("ascii").rstrip("="),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret)[1:-1],
        repr(encoded)[2:-1],  # how a library quotes the bytes it received
        encoded.decode("latin-1"),  # a header or status line read as Latin-1 ...
        repr(encoded.decode("latin-1"))[1:-1],  # ... and then quoted
    }
    lossy = secret.encode("ascii", "ignore").decode()  # ... or with its non-ASCII dropped
    if len(lossy) >= 2 * MIN_FRAGMENT:  # too short a rest would hide common words
        forms.add(lossy)
    for case in (str.lower, str.upper):  # escapes are written in either case of hex digit
        forms |= {_HEX_ESCAPE.sub(functools.partial(_hex_case, case), f) for f in forms}
    return forms


def _hex_case(case: Callable[[str], str], match: re.Match[str]) -> str:
    return (match[1] or match[3]) + case(match[2] or match[4])


@functools.lru_cache(maxsize=64)
def secret_forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """The forms of every secret (raw, percent-encoded, base64, JSON- and Python-escaped), longest first."""
    forms = set().union(*(_forms(s) for s in secrets if s))
    return tuple(sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def _pattern(forms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, forms)))


def _hide_cut_fragment(text: str, forms: tuple[str, ...]) -> str:
    """Hide the start of a secret that a cut left at the end of ``text`` (before a ``...`` marker
    or a U+FFFD that a cut through a character left)."""
    body = text.removesuffix("...").rstrip("\ufffd")
    tail = text[len(body) :]
    for form in forms:
        for size in range(min(len(form) - 1, len(body)), MIN_FRAGMENT - 1, -1):
            if body.endswith(form[:size]):
                return body[:-size] + "***" + tail
    return text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, in any form, replaced by ``***``: the one scrubber.

    Apply it last, to the text as shown: after any cut (a cut secret's start is hidden too) and
    after any escaping (``json.dumps``, percent-encoding, base64 are among the forms looked for).
    """
    forms = secret_forms(tuple(secrets))
    if not forms or not text:
        return text
    return _hide_cut_fragment(_pattern(forms).sub("***", text), forms)


#: How many links of an exception chain are copied; a deeper chain (or a loop) ends there.
MAX_CHAIN = 16


def scrubbed_exception(exc: BaseException, secrets: tuple[str, ...], depth: int = 0) -> BaseException:
    """A stand-in for a library's exception and its chain, as a traceback prints them: each link
    of the same type with its traceback and notes, its text scrubbed, and no other attribute (a
    request and its headers stay behind). Set it as the client's error's ``__cause__``."""
    try:
        text = scrub(str(exc), secrets)
    except Exception:  # a __str__ that fails on its own
        text = "(no text)"
    kind = type(exc)
    try:
        copy = kind.__new__(kind)
        copy.args = (text,)
        if str(copy) != text:
            raise TypeError(kind)
    except Exception:  # a type that builds its text from attributes its __init__ sets
        copy = Exception(f"{kind.__module__}.{kind.__qualname__}: {text}")
    copy.__traceback__ = exc.__traceback__
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        copy.__notes__ = [scrub(str(note), secrets) for note in notes]  # type: ignore[attr-defined]
    if exc.__cause__ is not None and depth < MAX_CHAIN:
        copy.__cause__ = scrubbed_exception(exc.__cause__, secrets, depth + 1)
    elif exc.__context__ is not None and not exc.__suppress_context__ and depth < MAX_CHAIN:
        copy.__context__ = scrubbed_exception(exc.__context__, secrets, depth + 1)
    return copy


def _value(values: Mapping[str, object], key: str, where: str, names: Mapping[str, str]) -> str | None:
    try:
        return text(values.get(key), names[key], optional=True, strip=False)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(exc.argument, f"{exc.reason} ({where})") from None


def credential_from_values(values: Mapping[str, object], where: str, names: Mapping[str, str]) -> Credential:
    """The credential in ``values`` (bearer > user > datasource); an error when it holds none.

    ``names`` says how to call each key in an error (an argument, an environment variable, a
    connection field); ``where`` says where the values came from. Errors never echo a value.
    """
    token = _value(values, "auth_token", where, names)
    if token is not None:
        return Credential("bearer", "", f"Bearer {token}", (token,), where)
    for kind in ("user", "datasource"):
        id_key, secret_key = CREDENTIAL_KINDS[kind]
        principal, secret = (_value(values, key, where, names) for key in (id_key, secret_key))
        if principal is None and secret is None:
            continue
        if principal is None or secret is None:
            raise MissingCredentialsError(
                f"{names[id_key]} and {names[secret_key]} must be given together ({where})"
            )
        if not principal.startswith(f"{kind}-"):
            principal = f"{kind}-{principal}"
        token = base64.b64encode(f"{principal}:{secret}".encode()).decode("ascii")
        return Credential(kind, principal, f"Basic {token}", (secret, token), where)
    kinds = ", or ".join(" + ".join(names[key] for key in keys) for keys in CREDENTIAL_KINDS.values())
    raise MissingCredentialsError(f"no ABEJA credential in the {where}: give {kinds}")


def resolve_credential(credential: Mapping[str, object] | None, environ: Mapping[str, str]) -> Credential:
    """Explicit dict first (bearer > user > datasource), else the environment, in the same order.

    An empty or ``None`` dict falls back to the environment. A non-empty dict without a usable
    credential is an error (it is never silently mixed with the environment). The caller's
    mapping is only read.
    """
    if not credential:
        env_values = {key: environ.get(name) for key, name in ENV_NAMES.items()}
        return credential_from_values(env_values, "environment", ENV_NAMES)
    if not isinstance(credential, Mapping):
        raise InvalidArgumentError("credential", "must be a dict")
    return credential_from_values(
        credential, "credential argument", {k: f"credential.{k}" for k in CREDENTIAL_KEYS}
    )
