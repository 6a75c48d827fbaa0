"""Pre-signed download URLs in the platform's shape: S3-style ``Expires`` (epoch seconds) and
``Signature`` query parameters; a URL past its expiry, or altered, answers 403 as S3 does.

ABEJA's CLI takes a downloaded file's name from the URL's path up to the ``?`` (a URL without a
query lost its last character), so every URL carries the file name as its last segment.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from .errors import ApiError, not_found

PREFIX = "/_emulator/artifacts"


@dataclass(frozen=True)
class Artifact:
    """What a pre-signed URL serves: the file's name and a reader of its bytes (read when fetched)."""

    filename: str
    read: Callable[[], bytes]
    media_type: str = "application/octet-stream"


class Presigner:
    """Signs artifact URLs with a key of this emulator process, each valid for the ``ttl`` it is made with."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        #: token -> (artifact, expiry in epoch seconds); expired ones are dropped as new ones come
        self._artifacts: dict[str, tuple[Artifact, int]] = {}

    def clear(self) -> None:
        self._artifacts.clear()

    def url(self, public_url: str, artifact: Artifact, ttl: float) -> str:
        now = time.time()
        for old in [t for t, (_, until) in self._artifacts.items() if until <= now]:
            del self._artifacts[old]
        token = secrets.token_urlsafe(16)
        path = f"{PREFIX}/{token}/{quote(artifact.filename)}"
        expires = int(now + ttl)
        self._artifacts[token] = (artifact, expires)
        return f"{public_url}{path}?Expires={expires}&Signature={quote(self._sign(path, expires), safe='')}"

    def open(self, token: str, filename: str, query: Mapping[str, str]) -> Artifact:
        """The artifact behind a URL whose signature holds and has not expired (else 403 / 404)."""
        path = f"{PREFIX}/{token}/{quote(filename)}"
        expires = query.get("Expires", "")
        if not expires.isdigit() or not hmac.compare_digest(
            query.get("Signature", ""), self._sign(path, int(expires))
        ):
            raise ApiError(
                403,
                "The request signature we calculated does not match the signature you provided",
                "SignatureDoesNotMatch",
            )
        if int(expires) <= time.time():
            raise ApiError(403, "Request has expired", "AccessDenied")
        found = self._artifacts.get(token)
        if found is None or found[0].filename != filename:
            raise not_found("The specified key does not exist.")
        return found[0]

    def _sign(self, path: str, expires: int) -> str:
        return hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
