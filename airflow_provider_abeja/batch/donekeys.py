"""A compact set of the keys already in the output, for resume.

Keys are kept as 64-bit BLAKE2b digests of their JSON form in one sorted `array('Q')`: 8 bytes per
key (8 MB for a million), against roughly 70 bytes per key in a Python `set` of ints. Two different
keys share a digest with probability about n^2 / 2^65 (3e-8 for a million keys); such a collision
would make a resume skip one input, which is the documented limit of this structure.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

_CHUNK = 65536


def key_digest(key: Any) -> int:
    """The 64-bit digest of a key; `1` and `"1"` differ because the JSON form is hashed."""
    raw = json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


class DoneKeys:
    """Membership test for keys written by an earlier try; built once, read-only afterwards."""

    def __init__(self, digests: array | None = None) -> None:
        self._digests = digests if digests is not None else array("Q")

    @classmethod
    def build(cls, keys: Iterable[Any]) -> DoneKeys:
        """Digest and sort `keys` without ever holding them as Python objects all at once.

        Sorted runs of 64 Ki digests are merged into the final array, so the peak is about twice
        the final 8 bytes per key.
        """
        runs: list[array] = []
        chunk: list[int] = []
        for key in keys:
            chunk.append(key_digest(key))
            if len(chunk) >= _CHUNK:
                chunk.sort()
                runs.append(array("Q", chunk))
                chunk = []
        if chunk:
            chunk.sort()
            runs.append(array("Q", chunk))
        if len(runs) == 1:
            return cls(runs[0])
        merged = array("Q")
        for digest in heapq.merge(*runs):
            merged.append(digest)
        return cls(merged)

    def __len__(self) -> int:
        return len(self._digests)

    def __contains__(self, key: Any) -> bool:
        digest = key_digest(key)
        i = bisect_left(self._digests, digest)
        return i < len(self._digests) and self._digests[i] == digest

    @property
    def nbytes(self) -> int:
        return self._digests.itemsize * len(self._digests)
