"""The JSONL result store: one line per input, resumable after a crash at any point.

A record is committed when its whole line, newline included, is in the output. On open, the store
reads what an earlier try left, collects the keys already done (`DoneKeys`) and the ok / error counts,
and repairs a torn tail. Two layouts:

- **append** (local files, `file://`): one file, opened for append. Each record is one `write()` of a
  complete line, so a killed process leaves at most one torn last line, which the next open truncates
  (that input is then sent again: never lost, never twice in the output). `fsync` runs every
  `fsync_interval` seconds and on close: after a power loss, lines written since the last fsync may be
  missing or torn, and are redone the same way.
- **parts** (object stores without append, e.g. `s3://`): records are buffered and uploaded as
  immutable part objects `<output>.parts/part-<seq>-<run>.jsonl` every `part_records` records or
  `part_interval` seconds (an object store makes a PUT visible whole or not at all). A kill loses at
  most the records of the part being filled; they are redone. On close the existing output (if any)
  and every part are concatenated into `<output>`, then the parts are deleted. A part found next to
  an output that already exists was merged into it before a kill, and is dropped.

An unreadable line that is not the last one is not a crash artefact (two writers, manual edits):
the store refuses to guess and raises `CorruptOutputError`.

`DoneKeys`, the keys already done, holds each key as the 128-bit BLAKE2b digest of its JSON form,
split into two parallel `array('Q')` (high and low 64 bits) sorted together: 16 bytes per key (16 MB
for a million), against roughly 100 bytes per key in a Python `set` of 128-bit ints. Two different
keys share a digest with probability about n^2 / 2^129 (1.5e-27 for a million keys). A shared digest
would make a resume skip an input that was never sent, so the digest is wide enough that this never
happens in practice (64 bits, about 3e-8 per million keys, was not).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import os
import pathlib
import shutil
import time
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from airflow_provider_abeja.batch.paths import iter_lines, local_path, open_binary, path_exists, published

_CHUNK = 65536
_LOW = (1 << 64) - 1


def key_digest(key: Any) -> int:
    """The 128-bit digest of a key; `1` and `"1"` differ because the JSON form is hashed."""
    raw = json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=16).digest(), "big")


def _split(digests: Iterable[int]) -> tuple[array, array]:
    high, low = array("Q"), array("Q")
    for digest in digests:
        high.append(digest >> 64)
        low.append(digest & _LOW)
    return high, low


def _joined(run: tuple[array, array]) -> Iterator[int]:
    return ((h << 64) | lo for h, lo in zip(*run, strict=True))


class DoneKeys:
    """Membership test for keys written by an earlier try; built once, read-only afterwards."""

    def __init__(self, high: array | None = None, low: array | None = None) -> None:
        self._high = high if high is not None else array("Q")
        self._low = low if low is not None else array("Q")

    @classmethod
    def build(cls, keys: Iterable[Any]) -> DoneKeys:
        """Digest and sort `keys` without ever holding them as Python objects all at once.

        Sorted runs of 64 Ki digests are merged into the final arrays, so the peak is about twice
        the final 16 bytes per key.
        """
        digests = map(key_digest, keys)
        chunks = iter(lambda: list(itertools.islice(digests, _CHUNK)), [])  # until an empty chunk
        runs = [_split(sorted(chunk)) for chunk in chunks]
        if len(runs) == 1:
            return cls(*runs[0])
        return cls(*_split(heapq.merge(*(_joined(run) for run in runs))))

    def __len__(self) -> int:
        return len(self._high)

    def __contains__(self, key: Any) -> bool:
        digest = key_digest(key)
        high, low = digest >> 64, digest & _LOW
        # Sorted by (high, low): equal high halves are neighbours, and almost never more than one.
        i = bisect_left(self._high, high)
        while i < len(self._high) and self._high[i] == high:
            if self._low[i] == low:
                return True
            i += 1
        return False

    def distinct(self) -> int:
        """How many different keys were given to `build` (equal keys are neighbours once sorted)."""
        return sum(1 for _ in itertools.groupby(zip(self._high, self._low, strict=True)))

    @property
    def nbytes(self) -> int:
        return self._high.itemsize * len(self._high) + self._low.itemsize * len(self._low)


class CorruptOutputError(ValueError):
    """The output holds a broken line that a crash of this code cannot have produced."""


def encode_record(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


#: How every line this code writes begins (the runner puts ``key`` first): a torn last line that
#: does not begin so was not written by it.
RECORD_START = b'{"key":'


def _torn_by_us(fh: IO[bytes], offset: int) -> bool:
    """Whether the bytes from ``offset`` on can be a record cut short by a crash: the start of
    one, or the zeros a power loss leaves where written data never reached the disk."""
    fh.seek(offset)
    head = fh.read(len(RECORD_START))
    return RECORD_START.startswith(head) or head.startswith(RECORD_START) or not head.strip(b"\0")


@dataclass
class _Tally:
    """Counts what a scan saw, filled while `DoneKeys.build` consumes the keys."""

    ok: int = 0
    errors: int = 0
    good_end: int = 0
    torn: bool = False


def _record(line: bytes) -> dict[str, Any] | None:
    """A committed result line as a dict; None for a torn (no newline) or unreadable one."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _scan(fh: IO[bytes], tally: _Tally, where: str) -> Iterator[Any]:
    """Yield the key of every committed record, noting where the committed part ends."""
    offset = 0
    error: str | None = None
    for line in iter_lines(fh):
        if error is not None:  # an unreadable line is only acceptable as the last one (a torn write)
            raise CorruptOutputError(error)
        record = _record(line)
        if record is None or "key" not in record:
            error = f"{where}: unreadable result line at byte {offset} is not the last line"
            tally.torn = True
        else:
            ok = record.get("status") == "ok"
            tally.ok, tally.errors = tally.ok + ok, tally.errors + (not ok)
            tally.good_end = offset + len(line)
            yield record["key"]
        offset += len(line)


def iter_records(path: Any) -> Iterator[dict[str, Any]]:
    """Every committed record of a JSONL result file (a torn last line is skipped)."""
    if path_exists(path):
        with open_binary(path) as fh:
            yield from filter(None, map(_record, iter_lines(fh)))


class ResultStore(Protocol):
    """What the runner writes to: the keys and counts an earlier try left, then one record per input."""

    path: Any
    done: DoneKeys
    prior_ok: int
    prior_errors: int
    repaired: bool = False

    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class AppendResultStore(ResultStore):
    """A single local JSONL file written by appending; see the module docstring."""

    def __init__(self, path: str, *, fsync_interval: float = 5.0) -> None:
        self.path = path
        self.fsync_interval = fsync_interval
        tally = _Tally()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "a+b") as fh:  # a missing output is created empty: nothing to resume
            fh.seek(0)
            self.done = DoneKeys.build(_scan(fh, tally, path))
            self.repaired = tally.torn or fh.seek(0, os.SEEK_END) != tally.good_end
            if self.repaired and not _torn_by_us(fh, tally.good_end):
                raise CorruptOutputError(
                    f"{path} ends with a line this operator did not write: not a result file "
                    "of this operator, or edited by hand; it was left as it is"
                )
        if self.repaired:
            os.truncate(path, tally.good_end)
        self.prior_ok, self.prior_errors = tally.ok, tally.errors
        self._fh: IO[bytes] | None = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._last_sync = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        assert self._fh is not None, "store is closed"
        self._fh.write(encode_record(record))
        if self.fsync_interval >= 0 and time.monotonic() - self._last_sync >= self.fsync_interval:
            os.fsync(self._fh.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


class PartsResultStore(ResultStore):
    """Immutable part objects merged into one output on close; see the module docstring."""

    def __init__(self, path: Any, *, part_records: int = 10_000, part_interval: float = 60.0) -> None:
        self.path = path = pathlib.Path(path) if isinstance(path, str) else path
        self.parts_dir = path.with_name(path.name + ".parts")
        self.part_records = part_records
        self.part_interval = part_interval
        self._run = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        self._buffer: list[bytes] = []
        self._last_upload = time.monotonic()
        self._closed = False
        tally = _Tally()
        for part in self._list_parts() if path_exists(path) else []:  # merged into the output before a kill
            part.unlink()
            self.repaired = True
        self.done = DoneKeys.build(self._scan_all(tally))
        # Part numbers continue across tries, so that name order is write order.
        numbers = (part.name.split("-")[1] for part in self._list_parts())
        self._seq = max((int(number) for number in numbers if number.isdigit()), default=0)
        self.prior_ok, self.prior_errors = tally.ok, tally.errors

    def _list_parts(self) -> list[Any]:
        try:
            children = list(self.parts_dir.iterdir())
        except (FileNotFoundError, NotADirectoryError):  # object stores drop "directories" once empty
            return []
        parts = (p for p in children if p.name.startswith("part-") and p.name.endswith(".jsonl"))
        return sorted(parts, key=lambda p: p.name)

    def _sources(self) -> list[Any]:
        """The output, if there is one, then every part: what the merged output will hold, in order."""
        return ([self.path] if path_exists(self.path) else []) + self._list_parts()

    def _scan_all(self, tally: _Tally) -> Iterator[Any]:
        for source in self._sources():
            with open_binary(source) as fh:
                yield from _scan(fh, tally, str(source))
            if tally.torn:
                raise CorruptOutputError(f"{source}: torn line in an object that was uploaded whole")

    def write(self, record: dict[str, Any]) -> None:
        assert not self._closed, "store is closed"
        self._buffer.append(encode_record(record))
        due = time.monotonic() - self._last_upload >= self.part_interval
        if due or len(self._buffer) >= self.part_records:
            self._upload()

    def _upload(self) -> None:
        self._last_upload = time.monotonic()
        if not self._buffer:
            return
        self._seq += 1
        with published(self.parts_dir / f"part-{self._seq:08d}-{self._run}.jsonl") as fh:
            fh.write(b"".join(self._buffer))
        self._buffer = []

    def close(self) -> None:
        if self._closed:
            return
        self._upload()
        parts = self._list_parts()
        if parts or not path_exists(self.path):  # with neither, an empty output
            with published(self.path) as out:
                for source in self._sources():
                    with open_binary(source) as fh:
                        shutil.copyfileobj(fh, out, 1 << 20)
            for part in parts:
                part.unlink()
        self._closed = True


def open_result_store(path: Any, *, layout: str = "auto", fsync_interval: float = 5.0) -> ResultStore:
    """The store for `path`: append for local files, parts elsewhere (`layout` forces one)."""
    local = local_path(path)
    if layout not in ("auto", "append", "parts") or (layout == "append" and local is None):
        raise ValueError(f"layout {layout!r} for {path}: not 'auto', 'parts' or 'append' (a local path)")
    if layout == "parts" or local is None:
        return PartsResultStore(path)
    return AppendResultStore(local, fsync_interval=fsync_interval)


def write_errors_file(store: ResultStore, errors_path: Any) -> int:
    """Copy the failed records of the (closed) output to `errors_path`; returns how many.

    Derived from the output after the run, so it never disagrees with it, whatever a crash did.
    When nothing failed there is no errors file (one left by an earlier try is removed).
    """
    failed = (encode_record(record) for record in iter_records(store.path) if record.get("status") != "ok")
    first = next(failed, None)
    if first is None:
        errors_path.unlink(missing_ok=True)
        return 0
    with published(errors_path) as out:
        return sum(1 for _ in map(out.write, itertools.chain([first], failed)))
