"""Optional persistence (`--state-dir`): every change written through to SQLite, read back at start."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .models import LogEvent

DB_NAME = "emulator.sqlite3"


class NullStore:
    """No persistence: the state lives and dies with the process."""

    path: Path | None = None

    def put(self, kind: str, key: str, data: dict[str, Any]) -> None:
        pass

    def delete(self, kind: str, key: str) -> None:
        pass

    def append_log(self, event: LogEvent) -> None:
        pass

    def delete_logs(self, service_id: str, up_to_seq: int | None = None) -> None:
        pass

    def load(self) -> dict[str, list[dict[str, Any]]]:
        return {}

    def load_logs(self) -> list[LogEvent]:
        return []

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


class SqliteStore(NullStore):
    """Entities as JSON rows keyed by (kind, id), log events in their own table."""

    def __init__(self, state_dir: str | Path) -> None:
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / DB_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS entities (kind TEXT, id TEXT, data TEXT, PRIMARY KEY (kind, id))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS logs"
            " (seq INTEGER PRIMARY KEY, service_id TEXT, ts TEXT, message TEXT)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS logs_by_service ON logs (service_id, seq)")

    def put(self, kind: str, key: str, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO entities (kind, id, data) VALUES (?, ?, ?)", (kind, key, json.dumps(data))
        )

    def delete(self, kind: str, key: str) -> None:
        self._db.execute("DELETE FROM entities WHERE kind = ? AND id = ?", (kind, key))

    def append_log(self, event: LogEvent) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO logs (seq, service_id, ts, message) VALUES (?, ?, ?, ?)",
            (event.seq, event.service_id, event.timestamp, event.message),
        )

    def delete_logs(self, service_id: str, up_to_seq: int | None = None) -> None:
        if up_to_seq is None:
            self._db.execute("DELETE FROM logs WHERE service_id = ?", (service_id,))
        else:
            self._db.execute("DELETE FROM logs WHERE service_id = ? AND seq <= ?", (service_id, up_to_seq))

    def load(self) -> dict[str, list[dict[str, Any]]]:
        loaded: dict[str, list[dict[str, Any]]] = {}
        for kind, data in self._db.execute("SELECT kind, data FROM entities ORDER BY rowid"):
            loaded.setdefault(kind, []).append(json.loads(data))
        return loaded

    def load_logs(self) -> list[LogEvent]:
        rows = self._db.execute("SELECT seq, service_id, ts, message FROM logs ORDER BY seq")
        return [LogEvent(seq, ser, ts, msg) for seq, ser, ts, msg in rows]

    def clear(self) -> None:
        self._db.execute("DELETE FROM entities")
        self._db.execute("DELETE FROM logs")

    def close(self) -> None:
        self._db.close()
