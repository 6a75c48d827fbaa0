"""``AbejaChannelFileTrigger``: an event for each new file of a Datalake channel (for ``AssetWatcher``).

Where a DAG is started by new data (Airflow 3's event-driven scheduling). Three rules:

- **Shared listing.** The watchers of one channel on one triggerer (several assets, several DAGs)
  share one listing per smallest poll interval (``wait.pool.ListingGroup``, on the leases of
  ``wait.pool``): newest first (``sort=-uploaded_at``), paged only down to the oldest upload second
  a watcher still needs, so a quiet channel costs one request per interval whatever the watchers.
- **A cursor that cannot skip or repeat.** File ids start with their upload second (UTC, one
  second resolution, random tail). A :class:`Cursor` keeps the newest second seen and the ids seen
  from ``settle_seconds`` before it: a file fires when it is at or after that window and not seen
  yet, so files sharing a second, or listed a little late, fire once each.
- **Across triggerer restarts.** The cursor is saved before its event is handed over, in the
  asset's state store (Airflow 3.3+; ``asset_state_store``), so a rebuilt trigger resumes where
  the last one stopped. The save and the hand-over have no pause between them: a cancelled
  trigger stops either before the save or after the event. Without a state store (Airflow
  3.0-3.2, a trigger not used by an ``AssetWatcher``) the cursor lives in memory and a new
  trigger starts from the time it starts.

On Airflow 2.11 the class is a plain ``BaseTrigger`` (common-compat's fallback): there is no
``AssetWatcher``; see docs/runs-and-datalake.md for the scheduled fallback.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow.providers.common.compat.triggers import BaseEventTrigger
from airflow.triggers.base import TriggerEvent

from airflow_provider_abeja.client.runs import file_second
from airflow_provider_abeja.exceptions import is_transient
from airflow_provider_abeja.wait import pool

#: Seconds before the newest upload second seen in which a late-listed file still fires.
DEFAULT_SETTLE_SECONDS = 30
#: Pages of one listing at most (a watcher far behind catches up over several intervals).
MAX_LISTING_PAGES = 50
#: The state store key of a channel's cursor.
CURSOR_KEY = "abeja_channel_cursor/{channel_id}"
_EPOCH_SECOND = "00000000T000000"


def utc_second(moment: datetime.datetime) -> str:
    """``YYYYMMDDTHHMMSS`` in UTC: how a file id names its upload second."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")


def _shift(second: str, seconds: int) -> str:
    if second == _EPOCH_SECOND:
        return second
    moment = datetime.datetime.strptime(second, "%Y%m%dT%H%M%S").replace(tzinfo=datetime.timezone.utc)
    return utc_second(moment + datetime.timedelta(seconds=seconds))


@dataclass(frozen=True)
class Cursor:
    """Where a watcher is: ``floor`` (no file before it fires), the newest upload second seen and
    the ids seen from ``settle`` seconds before it. JSON-able (``as_json`` / ``from_json``)."""

    floor: str
    newest: str
    seen: frozenset[str] = frozenset()
    settle: int = DEFAULT_SETTLE_SECONDS

    @property
    def low(self) -> str:
        """The oldest upload second a new file may have."""
        return max(self.floor, _shift(self.newest, -self.settle))

    def is_new(self, file_id: str) -> bool:
        second = file_second(file_id)
        return second is not None and second >= self.low and file_id not in self.seen

    def new_files(self, newest_first: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The entries of a newest-first listing that fire, oldest first (each id once): by upload
        second, then in the listing's order within one second."""
        fresh: dict[str, Mapping[str, Any]] = {}
        for entry in reversed(list(newest_first)):
            file_id = entry.get("file_id")
            if isinstance(file_id, str) and self.is_new(file_id):
                fresh.setdefault(file_id, entry)
        return sorted(fresh.values(), key=lambda e: str(file_second(str(e["file_id"]))))

    def advanced(self, file_id: str) -> Cursor:
        """The cursor once ``file_id`` fired: ids older than the window are forgotten."""
        newest = max(self.newest, file_second(file_id) or self.newest)
        low = max(self.floor, _shift(newest, -self.settle))
        seen = frozenset(f for f in (*self.seen, file_id) if (file_second(f) or "") >= low)
        return Cursor(self.floor, newest, seen, self.settle)

    def as_json(self) -> dict[str, Any]:
        return {"floor": self.floor, "newest": self.newest, "seen": sorted(self.seen)}

    @classmethod
    def from_json(cls, value: Any, settle: int) -> Cursor | None:
        fields = value if isinstance(value, Mapping) else {}
        floor, newest, seen = fields.get("floor"), fields.get("newest"), fields.get("seen")
        if not isinstance(floor, str) or not isinstance(newest, str) or not isinstance(seen, list):
            return None
        return cls(floor, newest, frozenset(str(s) for s in seen), settle)


class CursorStore(Protocol):
    """Where a cursor survives the trigger: Airflow's asset state store accessor fits."""

    async def aget(self, key: str, default: Any = None) -> Any: ...

    async def aset(self, key: str, value: Any) -> None: ...


class MemoryStore:
    """A cursor store for one process (tests, benchmarks, a trigger with no asset state store)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


# -- the shared listing -----------------------------------------------------------------------------


async def newest_files(
    channel_id: str, lease: pool.ClientLease, lows: list[Any]
) -> tuple[Mapping[str, Any], ...]:
    """A channel's files newest first, down to the first page that reaches before the oldest upload
    second a watcher still needs (``lows``), ``MAX_LISTING_PAGES`` at most."""
    low = min((low for low in lows if low is not None), default=_EPOCH_SECOND)
    files: list[Mapping[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_LISTING_PAGES):
        sort = None if token else "-uploaded_at"  # the next page keeps the first one's filters
        page = await lease.read("list_channel_files", channel_id, None, None, None, None, sort, None, token)
        batch = [f for f in page.get("files") or () if isinstance(f, Mapping)]
        files.extend(batch)
        token = page.get("next_page_token") or None
        oldest = file_second(str(batch[-1].get("file_id"))) if batch else None
        if token is None or not batch or (oldest is not None and oldest < low):
            break
    return tuple(files)


# -- the trigger ----------------------------------------------------------------------------------


class AbejaChannelFileTrigger(BaseEventTrigger):
    """Fire one event per new file of a Datalake channel: ``{"channel_id", "file_id",
    "uploaded_at", "content_type", "filename"}`` (the asset event's ``extra``). Never ends.

    :param channel_id: the channel to watch.
    :param poll_interval: seconds between listings (+- 10 %); the watchers of one channel share
        one listing per smallest interval.
    :param since: upload second (``YYYYMMDDTHHMMSS``, UTC) from which files fire when no cursor
        was saved yet; None: from when the trigger first runs (files already there do not fire).
    :param settle_seconds: how long before the newest file seen a late-listed file still fires.
    :param abeja_conn_id: Airflow connection of the ABEJA Platform.
    """

    #: Where the triggerer imports the class from: part of every stored trigger row, so it never changes.
    classpath = "airflow_provider_abeja.triggers.runs.AbejaChannelFileTrigger"

    def __init__(
        self,
        channel_id: str,
        poll_interval: float = 30.0,
        since: str | None = None,
        settle_seconds: int = DEFAULT_SETTLE_SECONDS,
        abeja_conn_id: str = "abeja_default",
    ) -> None:
        super().__init__()
        from airflow_provider_abeja.client.validation import check_path_id

        self.channel_id = check_path_id(channel_id, "channel_id")
        if since is not None and file_second(f"{since}-") != since:
            raise ValueError("since must be an upload second YYYYMMDDTHHMMSS (UTC)")
        if isinstance(settle_seconds, bool) or int(settle_seconds) < 0:
            raise ValueError("settle_seconds must be a whole number of seconds >= 0")
        self.poll_interval = pool.poll_interval(poll_interval)
        self.since = since
        self.settle_seconds = int(settle_seconds)
        self.abeja_conn_id = str(abeja_conn_id)
        self.cursor_key = CURSOR_KEY.format(channel_id=self.channel_id)
        #: Where the cursor is kept when no asset state store is given (one per trigger object).
        self._memory = MemoryStore()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        names = ("channel_id", "poll_interval", "since", "settle_seconds", "abeja_conn_id")
        return self.classpath, {name: getattr(self, name) for name in names}

    @property
    def store(self) -> CursorStore:
        """The asset state store when the triggerer gives one for exactly one asset (Airflow
        3.3+), else memory."""
        accessors = getattr(self, "asset_state_store", None)
        if accessors is None:
            return self._memory
        single = getattr(accessors, "_single_accessor", None)
        if single is None:  # a store of its own
            return accessors  # type: ignore[no-any-return]
        try:
            return single()  # type: ignore[no-any-return]
        except ValueError:
            self.log.warning(
                "Channel %s: several assets share this watcher; its cursor is kept in memory", self.channel_id
            )
            self.asset_state_store = None
            return self._memory

    async def load_cursor(self) -> tuple[Cursor, bool]:
        """The saved cursor, else a new one; True when the first listing only sets the cursor
        (no ``since``: the files there already do not fire)."""
        saved = Cursor.from_json(await self.store.aget(self.cursor_key), self.settle_seconds)
        if saved is not None:
            self.log.info("Resuming the watch of channel %s after %s", self.channel_id, saved.newest)
            return saved, False
        start = self.since or utc_second(datetime.datetime.now(datetime.timezone.utc))
        return Cursor(start, start, frozenset(), self.settle_seconds), self.since is None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        lease = await pool.lease_client(self.abeja_conn_id)
        key, ask = ("list_channel_files", self.channel_id), functools.partial(newest_files, self.channel_id)
        try:
            cursor, absorb = await self.load_cursor()
            seen_listing: pool.Listing | None = None
            with pool.joined(lease, key, self, self.poll_interval, ask) as group:
                while True:
                    group.watchers[self] = (self.poll_interval, cursor.low)
                    listing = await group.listing(lease, seen_listing)
                    seen_listing = listing
                    if listing.error is not None:
                        # A watcher has no task to fail: it says so and keeps watching (a channel
                        # made later, a credential fixed in the connection).
                        log = self.log.warning if is_transient(listing.error) else self.log.error
                        log("Listing channel %s failed: %s", self.channel_id, listing.error)
                    for entry in cursor.new_files(listing.entries or ()):
                        cursor = cursor.advanced(str(entry["file_id"]))
                        if absorb:  # the files already there when the watch began do not fire
                            continue
                        event = TriggerEvent(_payload(self.channel_id, entry))
                        if not await self._save(cursor):
                            # Saved while the trigger was being cancelled: hand it over, then stop.
                            yield event
                            raise asyncio.CancelledError
                        yield event
                    if absorb and listing.error is None:
                        await self.store.aset(self.cursor_key, cursor.as_json())
                        absorb = False
                    await asyncio.sleep(pool.jittered(self.poll_interval))
        finally:
            await asyncio.shield(lease.release())

    async def _save(self, cursor: Cursor) -> bool:
        """Save the cursor; False when the trigger was cancelled meanwhile (the save still finished).

        Raises CancelledError when the save itself did not finish: then the event is not handed over.
        """
        saving = asyncio.ensure_future(self.store.aset(self.cursor_key, cursor.as_json()))
        try:
            await asyncio.shield(saving)
        except asyncio.CancelledError:
            try:
                await saving
            except BaseException:
                raise asyncio.CancelledError from None
            return False
        return True


def _payload(channel_id: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    metadata = entry.get("metadata")
    filename = metadata.get("x-abeja-meta-filename") if isinstance(metadata, Mapping) else None
    return {
        "channel_id": channel_id,
        "file_id": str(entry["file_id"]),
        "uploaded_at": entry.get("uploaded_at"),
        "content_type": entry.get("content_type"),
        "filename": filename if isinstance(filename, str) else None,
    }
