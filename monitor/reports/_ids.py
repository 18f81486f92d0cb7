"""Borrower ids and other text values as small integers: codes, the id index, key sets."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["Codes", "IdIndex", "KeySet", "borrower_index"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]


class Codes:
    """Stable small integer codes for the distinct values of a text column."""

    def __init__(self) -> None:
        self.index: dict[bytes, int] = {}
        self.values: list[str] = []

    def encode(self, values: NDArray[np.bytes_]) -> I32:
        if values.size == 0:
            return np.zeros(0, dtype=np.int32)
        uniq, inverse = np.unique(values, return_inverse=True)
        table = np.empty(uniq.size, dtype=np.int32)
        for i, v in enumerate(uniq.tolist()):
            code = self.index.get(v)
            if code is None:
                code = self.index[v] = len(self.values)
                self.values.append(v.decode("utf-8"))
            table[i] = code
        return table[inverse.ravel()]

    def code(self, value: str) -> int:
        return int(self.encode(np.array([value.encode("utf-8")], dtype="S"))[0])


def _id_keys(values: NDArray[np.bytes_], width: int) -> NDArray[np.uint64]:
    """A 64-bit key per id (the id itself when it has at most 8 bytes, else a hash of it)."""
    words = -(-width // 8)
    mat = np.zeros((values.size, words * 8), dtype=np.uint8)
    mat[:, :width] = np.ascontiguousarray(values).view(np.uint8).reshape(values.size, width)
    cols = mat.view("<u8")
    if words == 1:
        return cols[:, 0].copy()
    key = np.zeros(values.size, dtype=np.uint64)
    for j in range(words):
        key = (key ^ cols[:, j]) * np.uint64(0x100000001B3) + np.uint64(j + 1)
    return key


class IdIndex:
    """Finds borrower ids among the sorted ids of ``borrowers.jsonl``, quickly.

    Ids become 64-bit keys; each batch of lookups is sorted first, so the binary searches walk
    the table in order (random searches in a table of a million ids wait on memory). Every hit is
    checked against the id itself; a key shared by two ids is resolved by a search on the ids.
    """

    def __init__(self, ids: NDArray[np.bytes_]) -> None:
        self.ids = ids
        self.n = int(ids.size)
        self.width = max(ids.dtype.itemsize, 1)
        keys = _id_keys(ids.astype(f"S{self.width}"), self.width) if ids.size else np.zeros(0, np.uint64)
        self.key_of = keys  # per borrower
        self.order = np.argsort(keys, kind="stable").astype(np.int32)
        self.keys = keys[self.order]

    def keys_of(self, values: NDArray[np.bytes_]) -> NDArray[np.uint64]:
        """The 64-bit keys of ids (longer ids than any known are cut: they can only miss later)."""
        return _id_keys(values.astype(f"S{self.width}"), self.width)

    def lookup(self, values: NDArray[np.bytes_]) -> I32:
        """Index of each id, -1 where unknown."""
        out = np.full(values.size, -1, dtype=np.int32)
        if values.size == 0 or self.n == 0:
            return out
        fits = np.ones(values.size, dtype=bool)
        if values.dtype.itemsize > self.width:
            fits = np.strings.str_len(values) <= self.width
        vals = values.astype(self.ids.dtype)
        key = _id_keys(vals.astype(f"S{self.width}"), self.width)
        o = np.argsort(key)
        pos = np.minimum(np.searchsorted(self.keys, key[o]), self.n - 1)
        cand = np.empty(values.size, dtype=np.int32)
        cand[o] = self.order[pos]
        hit = fits & (self.ids[cand] == vals)
        out[hit] = cand[hit]
        miss = np.flatnonzero(fits & ~hit)
        if miss.size:  # a shared key, or unknown: search the ids themselves
            p = np.minimum(np.searchsorted(self.ids, vals[miss]), self.n - 1)
            ok = self.ids[p] == vals[miss]
            out[miss[ok]] = p[ok]
        return out


class KeySet:
    """Which 64-bit keys may belong to a set of borrowers: a bit per hash value (2 MB), so that most
    lines of borrowers outside the set are dropped before the exact lookup."""

    _BITS = 24

    def __init__(self, keys: NDArray[np.uint64]) -> None:
        self.bits = np.zeros(1 << (self._BITS - 6), dtype=np.uint64)
        h = self._hash(keys)
        np.bitwise_or.at(self.bits, h >> 6, np.left_shift(np.uint64(1), (h & 63).astype(np.uint64)))

    @classmethod
    def _hash(cls, keys: NDArray[np.uint64]) -> I64:
        return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - cls._BITS)).astype(np.int64)

    def may_hold(self, keys: NDArray[np.uint64]) -> NDArray[np.bool_]:
        h = self._hash(keys)
        return ((self.bits[h >> 6] >> (h & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)


def borrower_index(ids: NDArray[np.bytes_] | IdIndex, values: NDArray[np.bytes_]) -> I32:
    """Index of each id in the sorted ids, -1 where unknown."""
    index = ids if isinstance(ids, IdIndex) else IdIndex(ids)
    return index.lookup(values)
