"""A compact set of the keys already in the output, for resume.

Keys are kept as 128-bit BLAKE2b digests of their JSON form, split into two parallel `array('Q')`
(high and low 64 bits) sorted together: 16 bytes per key (16 MB for a million), against roughly
100 bytes per key in a Python `set` of 128-bit ints. Two different keys share a digest with
probability about n^2 / 2^129 (1.5e-27 for a million keys). A shared digest would make a resume
skip an input that was never sent, so the digest is wide enough that this never happens in
practice (64 bits, about 3e-8 per million keys, was not).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any

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
