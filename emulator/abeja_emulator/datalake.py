"""The emulated Datalake: channels and their files, kept in the state folder (HTTP-free).

Shapes follow ABEJA's SDK and CLI (docs/emulator-conformance.md, "Runs, triggers and the Datalake").
The emulator's own choices, where the platform's are not public: a pre-signed URL is an emulator
URL signed with a per-process key and valid ``datalake_url_lifetime`` seconds (so URLs handed out
before a restart answer 403, as an expired one does, and a client re-reads the file);
``lifetime`` is recorded, not enforced; ``q`` is ``key:value`` terms (all must hold, the value a
substring of that metadata value) or free text (a substring of any metadata value or the file id);
``start`` / ``end`` are whole days (``YYYYMMDD``, inclusive) in ``timezone`` (IANA name or
``+09:00``, default UTC); sort fields are ``uploaded_at`` and ``file_id``; a page holds
``items_per_page`` files (1-1000, default ``files_page_size``).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import cmp_to_key
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ApiError, bad_request, not_found
from .ids import new_numeric_id, utcnow
from .models import _Record

RecordT = TypeVar("RecordT", bound=_Record)

if TYPE_CHECKING:
    from .core import Emulator

LIFETIMES = ("1day", "1week", "1month", "6months", "1year")
STORAGE_TYPES = ("datalake", "file")
META_PREFIX = "x-abeja-meta-"
ORG_META_KEY = "x-abeja-sys-meta-organizationid"
DOWNLOAD_PATH = "/_emulator/datalake/files/{channel_id}/{file_id}"
UPLOAD_PATH = "/_emulator/datalake/uploads/{channel_id}/{file_id}"
SORT_FIELDS = ("uploaded_at", "file_id")
MAX_ITEMS_PER_PAGE = 1000
_FILE_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f-]{36}$")
_CHANNEL_ID = re.compile(r"^[0-9]{1,20}$")
_OFFSET = re.compile(r"^([+-])([0-9]{2}):?([0-9]{2})$")

FileListener = Callable[["StoredFile"], None]
CHANNEL_FIELDS = ("channel_id", "name", "description", "storage_type", "archived", "created_at", "updated_at")


def wire_fields(record: _Record, names: tuple[str, ...]) -> dict[str, Any]:
    """The answer of a record: the named fields, containers copied."""
    return {name: copy.copy(getattr(record, name)) for name in names}


def by_id(
    loaded: Mapping[str, list[dict[str, Any]]], kind: str, cls: type[RecordT], key: str
) -> dict[str, RecordT]:
    """The records of one kind the state folder held at start, by id."""
    records = (cls.from_dict(data) for data in loaded.get(kind, []))
    return {str(getattr(record, key)): record for record in records}


def channel_ts(moment: datetime) -> str:
    """Channels' time format: ``2018-05-15T17:14:02Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_ts(moment: datetime) -> str:
    """Files' time format: ``2018-05-10T11:02:08+00:00``."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Channel(_Record):
    channel_id: str
    organization_id: str
    name: str
    description: str
    storage_type: str
    archived: bool
    created_at: str
    updated_at: str

    def wire(self) -> dict[str, Any]:
        return dict(wire_fields(self, CHANNEL_FIELDS), display_name=self.name)


@dataclass
class StoredFile(_Record):
    channel_id: str
    file_id: str
    organization_id: str
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    lifetime: str | None = None
    uploaded_at: str | None = None  # None until the bytes are there (two-step upload)
    size: int = 0
    seq: int = 0
    #: The run whose answer this file is (emulator bookkeeping: a trigger never fires on its own output).
    run_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.channel_id}/{self.file_id}"


class Datalake:
    """All channels and files of one emulator (used from its event loop only)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        state = emulator.store.path
        self._temporary = state is None
        self.root = (
            Path(tempfile.mkdtemp(prefix="abeja-datalake-")) if state is None else state.parent / "datalake"
        )
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, StoredFile] = {}
        self._seq = 0
        self._key = secrets.token_bytes(32)
        #: Called once per file whose bytes have arrived (the triggers listen here).
        self.listeners: list[FileListener] = []

    # ----- lifecycle ---------------------------------------------------------------------------------

    def load(self, loaded: Mapping[str, list[dict[str, Any]]]) -> None:
        self.channels.update(by_id(loaded, "channel", Channel, "channel_id"))
        self.files.update(by_id(loaded, "datalake_file", StoredFile, "key"))
        self._seq = max([self._seq, *(f.seq for f in self.files.values())])

    def clear(self) -> None:
        self.channels.clear()
        self.files.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def counters(self) -> dict[str, int]:
        data = {
            key: self.emu.counters.get(key, 0)
            for key in ("channels_created", "datalake_files_uploaded", "datalake_files_deleted")
        }
        data["channels_total"] = len(self.channels)
        data["datalake_files_total"] = sum(1 for f in self.files.values() if f.uploaded_at)
        return data

    # ----- channels ----------------------------------------------------------------------------------

    def _org_wire(self, org: str) -> dict[str, Any]:
        stamp = channel_ts(datetime(2018, 1, 1, tzinfo=timezone.utc))
        return {"organization_id": org, "organization_name": org, "created_at": stamp, "updated_at": stamp}

    def channel(self, org: str, channel_id: str) -> Channel:
        found = self.channels.get(channel_id)
        if found is None or found.organization_id != org:
            raise not_found(f"channel {channel_id} not found")
        return found

    def channel_org(self, channel_id: str) -> str:
        """The organization a root-level file route acts for (404 when the channel does not exist)."""
        found = self.channels.get(channel_id)
        if found is None:
            raise not_found(f"channel {channel_id} not found")
        return found.organization_id

    def _save_channel(self, channel: Channel) -> dict[str, Any]:
        self.emu.store.put("channel", channel.channel_id, channel.to_dict())
        return dict(self._org_wire(channel.organization_id), channel=channel.wire())

    def create_channel(self, org: str, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body.get("name") or ""
        description = body.get("description") or ""
        storage_type = body.get("storage_type") or "datalake"
        if not isinstance(name, str) or not isinstance(description, str):
            raise bad_request("name and description must be strings")
        if storage_type not in STORAGE_TYPES:
            raise bad_request(f"storage_type must be one of {', '.join(STORAGE_TYPES)}")
        stamp = channel_ts(utcnow())
        channel = Channel(new_numeric_id(), org, name, description, storage_type, False, stamp, stamp)
        self.channels[channel.channel_id] = channel
        self.emu.counters["channels_created"] += 1
        return self._save_channel(channel)

    def list_channels(self, org: str, query: Mapping[str, str]) -> dict[str, Any]:
        limit = _int_param(query, "limit", 1000, 1, 1000)
        offset = _int_param(query, "offset", 0, 0, None)
        archived = query.get("filter_archived") or "include_archived"
        if archived not in ("include_archived", "exclude_archived"):
            raise bad_request("filter_archived must be include_archived or exclude_archived")
        chosen = [
            c
            for c in self.channels.values()
            if c.organization_id == org and not (archived == "exclude_archived" and c.archived)
        ]
        page = chosen[offset : offset + limit]
        return dict(
            self._org_wire(org),
            channels=[c.wire() for c in page],
            limit=limit,
            offset=offset,
            has_next=offset + limit < len(chosen),
        )

    def get_channel(self, org: str, channel_id: str) -> dict[str, Any]:
        return dict(self._org_wire(org), channel=self.channel(org, channel_id).wire())

    def patch_channel(self, org: str, channel_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        channel = self.channel(org, channel_id)
        for name in ("name", "description"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise bad_request(f"{name} must be a string")
        channel.name = body.get("name") or channel.name
        channel.description = body.get("description") or channel.description
        channel.updated_at = channel_ts(utcnow())
        return self._save_channel(channel)

    def set_archived(self, org: str, channel_id: str, archived: bool) -> dict[str, Any]:
        channel = self.channel(org, channel_id)
        channel.archived = archived
        channel.updated_at = channel_ts(utcnow())
        answer = self._save_channel(channel)
        answer["channel"]["security_method"] = "organization"
        return answer

    # ----- files: upload -----------------------------------------------------------------------------

    def _path(self, stored: StoredFile) -> Path:
        return self.root / stored.channel_id / stored.file_id

    def _new_file(
        self,
        channel_id: str,
        content_type: str,
        metadata: Mapping[str, str],
        lifetime: str | None,
        conflict_target: str | None,
    ) -> StoredFile:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise not_found(f"channel {channel_id} not found")
        if lifetime is not None and lifetime not in LIFETIMES:
            raise bad_request(f"lifetime must be one of {', '.join(LIFETIMES)}")
        if conflict_target:
            key = META_PREFIX + conflict_target.lower()
            value = metadata.get(key)
            if value is not None and any(
                f.channel_id == channel_id and f.metadata.get(key) == value for f in self.files.values()
            ):
                raise ApiError(409, f"a file with the same {key} already exists in channel {channel_id}")
        moment = utcnow()
        file_id = f"{moment.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4()}"
        self._seq += 1
        meta = dict(metadata)
        meta[ORG_META_KEY] = channel.organization_id
        return StoredFile(
            channel_id, file_id, channel.organization_id, content_type, meta, lifetime, seq=self._seq
        )

    def upload(
        self,
        channel_id: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str],
        *,
        lifetime: str | None = None,
        conflict_target: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """The direct upload (``POST /channels/{id}/upload``): stored at once, listeners told."""
        stored = self._new_file(channel_id, content_type, metadata, lifetime, conflict_target)
        stored.run_id = run_id
        self._store_bytes(stored, data)
        return {
            "file_id": stored.file_id,
            "content_type": stored.content_type,
            "metadata": dict(stored.metadata),
            "uploaded_at": stored.uploaded_at,
            "lifetime": stored.lifetime,
        }

    def start_upload(self, channel_id: str, content_type: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        """The first step of the two-step upload (``POST /channels/{id}``): a file without bytes yet."""
        stored = self._new_file(channel_id, content_type, metadata, None, None)
        self.files[stored.key] = stored
        self.emu.store.put("datalake_file", stored.key, stored.to_dict())
        url, expires = self._signed(UPLOAD_PATH, stored, "PUT")
        return {
            "file_id": stored.file_id,
            "upload_url": url,
            "url_expires_on": expires,
            "uploaded_at": None,
            "metadata": dict(stored.metadata),
            "content_type": stored.content_type,
        }

    def finish_upload(
        self, channel_id: str, file_id: str, query: Mapping[str, str], data: bytes
    ) -> dict[str, Any]:
        """The second step: the bytes PUT to ``upload_url`` (no credential; signature and expiry checked)."""
        stored = self._verified(UPLOAD_PATH, channel_id, file_id, query, "PUT")
        if stored.uploaded_at is not None:
            raise ApiError(409, f"file {file_id} was already uploaded")
        self._store_bytes(stored, data)
        return {"file_id": file_id, "size": len(data)}

    def _store_bytes(self, stored: StoredFile, data: bytes) -> None:
        path = self._path(stored)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)  # a crash leaves the whole file or none, never half of one
        stored.size = len(data)
        stored.uploaded_at = file_ts(
            datetime.strptime(stored.file_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
        )
        self.files[stored.key] = stored
        self.emu.store.put("datalake_file", stored.key, stored.to_dict())
        self.emu.counters["datalake_files_uploaded"] += 1
        for listener in list(self.listeners):
            listener(stored)

    # ----- files: read, change, delete ---------------------------------------------------------------

    def stored(self, channel_id: str, file_id: str) -> StoredFile:
        found = self.files.get(f"{channel_id}/{file_id}") if _FILE_ID.fullmatch(file_id) else None
        if found is None or found.uploaded_at is None:
            raise not_found(f"file {file_id} not found in channel {channel_id}")
        return found

    def read_bytes(self, stored: StoredFile) -> bytes:
        return self._path(stored).read_bytes()

    def file_wire(self, stored: StoredFile) -> dict[str, Any]:
        url, expires = self._signed(DOWNLOAD_PATH, stored, "GET")
        return {
            "file_id": stored.file_id,
            "content_type": stored.content_type,
            "metadata": dict(stored.metadata),
            "uploaded_at": stored.uploaded_at,
            "url_expires_on": expires,
            "download_uri": url,
            "download_url": url,
            "lifetime": stored.lifetime,
        }

    def get_file(self, channel_id: str, file_id: str) -> dict[str, Any]:
        return self.file_wire(self.stored(channel_id, file_id))

    def delete_file(self, channel_id: str, file_id: str) -> dict[str, Any]:
        stored = self.stored(channel_id, file_id)
        self.files.pop(stored.key, None)
        self.emu.store.delete("datalake_file", stored.key)
        self._path(stored).unlink(missing_ok=True)
        self.emu.counters["datalake_files_deleted"] += 1
        return {"message": f"deleted file ({file_id})"}

    def put_metadata(self, channel_id: str, file_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replaces the file's ``x-abeja-meta-*`` keys with the body's (system keys are kept)."""
        stored = self.stored(channel_id, file_id)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in body.items()):
            raise bad_request("metadata must be an object of string values")
        kept = {k: v for k, v in stored.metadata.items() if not k.startswith(META_PREFIX)}
        stored.metadata = dict(
            kept, **{k.lower(): v for k, v in body.items() if k.lower().startswith(META_PREFIX)}
        )
        self.emu.store.put("datalake_file", stored.key, stored.to_dict())
        return self.file_wire(stored)

    def put_lifetime(self, channel_id: str, file_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        stored = self.stored(channel_id, file_id)
        lifetime = body.get("lifetime")
        if lifetime not in LIFETIMES:
            raise bad_request(f"lifetime must be one of {', '.join(LIFETIMES)}")
        stored.lifetime = str(lifetime)
        self.emu.store.put("datalake_file", stored.key, stored.to_dict())
        return {"channel_id": channel_id, "file_id": file_id, "lifetime": stored.lifetime}

    # ----- files: list -------------------------------------------------------------------------------

    def list_files(self, channel_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        token = query.get("next_page_token")
        if token:
            params, last = _decode_page_token(token)
        else:
            params = {
                k: query[k] for k in ("start", "end", "timezone", "items_per_page", "sort", "q") if k in query
            }
            last = None
        size = _int_param(params, "items_per_page", self.emu.config.files_page_size, 1, MAX_ITEMS_PER_PAGE)
        fields = _sort_fields(params.get("sort") or "uploaded_at")
        chosen = [f for f in self.files.values() if f.channel_id == channel_id and f.uploaded_at]
        chosen = _in_days(chosen, params)
        if params.get("q"):
            chosen = [f for f in chosen if _matches(f, params["q"])]

        def order(a: StoredFile, b: StoredFile) -> int:
            return _compare(_key(a, fields), _key(b, fields), fields)

        chosen.sort(key=cmp_to_key(order))
        if last is not None:
            chosen = [f for f in chosen if _compare(_key(f, fields), last, fields) > 0]
        page = chosen[:size]
        next_token = None
        if len(chosen) > size:
            next_token = _encode_page_token(params, _key(page[-1], fields))
        return {"files": [self.file_wire(f) for f in page], "next_page_token": next_token}

    # ----- pre-signed URLs ---------------------------------------------------------------------------

    def _signature(self, method: str, key: str, expires: int) -> str:
        return hmac.new(self._key, f"{method}\n{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def _signed(self, template: str, stored: StoredFile, method: str) -> tuple[str, str]:
        expires = int(time.time() + self.emu.config.datalake_url_lifetime)
        path = template.format(channel_id=stored.channel_id, file_id=stored.file_id)
        query = urlencode({"Expires": expires, "Signature": self._signature(method, stored.key, expires)})
        moment = datetime.fromtimestamp(expires, timezone.utc)
        return f"{self.emu.public_url}{path}?{query}", file_ts(moment)

    def _verified(
        self, template: str, channel_id: str, file_id: str, query: Mapping[str, str], method: str
    ) -> StoredFile:
        """The file a pre-signed URL names, or 403 (bad signature, expired) / 404 (gone)."""
        try:
            expires = int(query.get("Expires", ""))
        except ValueError:
            raise ApiError(403, "the URL is not signed") from None
        given = query.get("Signature", "")
        expected = self._signature(method, f"{channel_id}/{file_id}", expires)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(403, "the URL's signature does not match")
        if time.time() >= expires:  # valid before url_expires_on
            raise ApiError(403, "the URL has expired")
        found = self.files.get(f"{channel_id}/{file_id}")
        if found is None:
            raise not_found(f"file {file_id} not found in channel {channel_id}")
        return found

    def download(self, channel_id: str, file_id: str, query: Mapping[str, str]) -> tuple[bytes, str]:
        stored = self._verified(DOWNLOAD_PATH, channel_id, file_id, query, "GET")
        if stored.uploaded_at is None:
            raise not_found(f"file {file_id} has no content yet")
        self.emu.counters["datalake_downloads"] += 1
        return self.read_bytes(stored), stored.content_type


# ----- helpers --------------------------------------------------------------------------------------


def check_channel_id(channel_id: str) -> str:
    if not _CHANNEL_ID.fullmatch(channel_id):
        raise bad_request("channel_id must be digits")
    return channel_id


def _int_param(query: Mapping[str, Any], name: str, default: int, minimum: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    text = str(raw)
    if not text.isdigit() or int(text) < minimum or (maximum is not None and int(text) > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise bad_request(f"{name} must be a whole number >= {minimum}{upper}")
    return int(text)


def _sort_fields(text: str) -> list[tuple[str, bool]]:
    fields: list[tuple[str, bool]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        descending = part.startswith("-")
        name = part.lstrip("-")
        if name not in SORT_FIELDS:
            raise bad_request(f"sort field must be one of {', '.join(SORT_FIELDS)} (prefix '-' to descend)")
        fields.append((name, descending))
    return fields or [("uploaded_at", False)]


def _key(stored: StoredFile, fields: list[tuple[str, bool]]) -> list[Any]:
    return [getattr(stored, name) for name, _ in fields] + [stored.seq]


def _compare(a: list[Any], b: list[Any], fields: list[tuple[str, bool]]) -> int:
    directions = [d for _, d in fields] + [fields[0][1]]  # upload order follows the first field
    for x, y, descending in zip(a, b, directions, strict=True):
        if x != y:
            result = -1 if x < y else 1
            return -result if descending else result
    return 0


def _zone(name: str | None) -> tzinfo:
    if not name:
        return timezone.utc
    match = _OFFSET.fullmatch(name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request("timezone must be an IANA name like Asia/Tokyo or an offset like +09:00") from None


def _day(value: str, name: str) -> date:
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise bad_request(f"{name} must be a date YYYYMMDD") from None


def _in_days(files: list[StoredFile], params: Mapping[str, str]) -> list[StoredFile]:
    start, end = params.get("start"), params.get("end")
    if not start and not end:
        return files
    zone = _zone(params.get("timezone"))
    first = _day(start, "start") if start else date.min
    last = _day(end, "end") if end else date.max

    def day_of(stored: StoredFile) -> date:
        return datetime.fromisoformat(str(stored.uploaded_at)).astimezone(zone).date()

    return [f for f in files if first <= day_of(f) <= last]


def _matches(stored: StoredFile, query: str) -> bool:
    """``q``: every ``key:value`` term's value is in that metadata value; a free word is in any."""
    for term in query.split():
        key, colon, value = term.partition(":")
        if colon and key:
            name = key.lower() if key.lower().startswith("x-abeja-") else META_PREFIX + key.lower()
            found = stored.metadata.get(name)
            if found is None or value not in found:
                return False
        elif not any(term in v for v in (*stored.metadata.values(), stored.file_id)):
            return False
    return True


def _encode_page_token(params: Mapping[str, str], last: list[Any]) -> str:
    raw = json.dumps({"p": dict(params), "l": last}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str) -> tuple[dict[str, str], list[Any]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        params, last = data["p"], data["l"]
        if not isinstance(params, dict) or not isinstance(last, list):
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request("invalid next_page_token") from None
    return {str(k): str(v) for k, v in params.items()}, last


def header_metadata(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """``x-abeja-meta-*`` headers, names lower-cased, values as sent (UTF-8, else Latin-1)."""
    metadata: dict[str, str] = {}
    for name, value in raw_headers:
        key = name.decode("latin-1").lower()
        if key.startswith(META_PREFIX):
            try:
                metadata[key] = value.decode("utf-8")
            except UnicodeDecodeError:
                metadata[key] = value.decode("latin-1")
    return metadata
