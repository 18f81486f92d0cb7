"""The split's reading of a block of lines in one go: each line's shard, event-id key and occurred_at.

The split (``monitor._replay_split``) needs three things of every line of the input: its shard (``owner``: the
CRC-32 of its borrower id, modulo the shards), the key of its event id (``monitor._replay_keys``: Python's hash of
the id) and its occurred_at as ``monitor.jsonl.plain_instants`` reads it. Read one at a time, each is a pass over
the block's bytes and a call or more a line. ``scan_block`` reads the three from the same places at once when the
block is plain, the form the feeds and the simulator write:

* no backslash (no escape anywhere: every value is its text) and no carriage return;
* ``"event_id"``, ``"borrower_id"`` and ``"occurred_at"`` are each written as many times in the block as there
  are lines, and every line starts ``{"event_id":"<id>","type":"<type>","borrower_id":"<id>","occurred_at":"``
  (so each line holds each of the three once, as a key of the top-level object: a line written otherwise
  holds one of them twice, or lacks one), the event id ASCII, ending within ``_ID`` bytes, the type within
  ``_KIND``, the borrower id within ``_BID``.

Then the values read are those of ``owners``, ``block_keys`` and ``plain_instants`` (the keys in the same
order): the borrower id's CRC-32 is computed on the array of the ids' bytes (zlib's CRC-32, by a table, a byte
position at a time), the ids' hashes from their bytes (an ASCII id's hash is its text's), the instants by the
arithmetic of ``plain_instants``. Any other block is read by those three functions (tests/test_replay_scan.py
holds the two ways to the same results).
"""

from __future__ import annotations

from array import array

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

from monitor._replay_keys import block_keys
from monitor.jsonl import instants_at, plain_instants

__all__ = ["crc32_rows", "scan_block"]

_PREFIX = np.frombuffer(b'{"event_id":"', dtype=np.uint8)
_PREFIX_AT = np.arange(len(_PREFIX))
_ID = 48  # the longest event id read at once (bytes); a longer one sends its block to the slower way
_BID = 32  # the same for borrower ids
_UPTO = (np.arange(_ID)[None, :] < np.arange(_ID + 1)[:, None]).astype(np.uint8) * np.uint8(255)  # [k]: k 0xFF, then 0
_KIND = 24  # the same for the event's type
_EID_KEY, _BID_KEY, _OCC_KEY = b'"event_id"', b'"borrower_id"', b'"occurred_at"'
_TYPE = np.frombuffer(b'","type":"', dtype=np.uint8)
_BORROWER = np.frombuffer(b'","borrower_id":"', dtype=np.uint8)
_OCCURRED = np.frombuffer(b'","occurred_at":"', dtype=np.uint8)
_WIDE = 64  # the rows of bytes taken at once (no more than this from any place)
_SPAN = 13 + _ID + 10 + _KIND + 17 + _BID + 2 + 13 + _WIDE  # the most bytes read from a line's start


def _crc_table() -> NDArray[np.uint32]:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC = _crc_table()


def crc32_rows(rows: NDArray[np.uint8], lengths: NDArray[np.int64]) -> NDArray[np.uint32]:
    """``zlib.crc32`` of each row's first ``lengths[i]`` bytes."""
    crc = np.full(len(rows), 0xFFFFFFFF, dtype=np.uint32)
    top = int(lengths.max()) if len(rows) else 0
    for k in range(top):
        nxt = _CRC[(crc ^ rows[:, k]) & 0xFF] ^ (crc >> 8)
        if k < int(lengths.min()):
            crc = nxt
        else:
            np.copyto(crc, nxt, where=lengths > k)
    return crc ^ np.uint32(0xFFFFFFFF)


def _fallback(block: bytes, lines: list[bytes], shards: int, keys: array[int],
              ended: bool = False) -> tuple[list[int], NDArray[np.int64]]:
    from monitor._replay_split import owners

    if ended:  # (the lines without their newlines)
        lines = block.split(b"\n")
    block_keys(block, keys)
    return owners(block, lines, shards), plain_instants(block, lines)


def _value(rows: NDArray[np.uint8]) -> NDArray[np.int64] | None:
    """The length of each row's text up to its first quote (None: a row without one)."""
    quote = rows == 34
    if not quote.any(axis=1).all():
        return None
    return quote.argmax(axis=1)


def scan_block(block: bytes, lines: list[bytes], shards: int, keys: array[int],
               ended: bool = False) -> tuple[list[int] | NDArray[np.int64], NDArray[np.int64]]:
    """The shard of each of ``lines`` (the lines of ``block``, split at its newlines; with ``ended``, each with a
    newline at its end, the last one's added) and their instants as ``plain_instants`` reads them; the keys of
    their event ids are appended to ``keys`` (``block_keys``)."""
    n = len(lines)
    if (not n or b"\\" in block or b"\r" in block or block.count(_EID_KEY) != n or block.count(_BID_KEY) != n
            or block.count(_OCC_KEY) != n):
        return _fallback(block, lines, shards, keys, ended)
    lens = np.fromiter(map(len, lines), dtype=np.int64, count=n)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lens[:-1] if ended else lens[:-1] + 1, out=starts[1:])
    last = int(starts[-1]) + _SPAN
    data = np.frombuffer(block if last <= len(block) else block + b"\n" * (last - len(block)), dtype=np.uint8)
    view = as_strided(data, shape=(len(data) - _WIDE + 1, _WIDE), strides=(1, 1), writeable=False)  # (no copy)
    if not (view[starts, :len(_PREFIX)] == _PREFIX).all():
        return _fallback(block, lines, shards, keys, ended)
    ids = view[starts + len(_PREFIX), :_ID]  # (rows copied at once)
    eid_len = _value(ids)
    if eid_len is None:
        return _fallback(block, lines, shards, keys, ended)
    at = starts + len(_PREFIX) + eid_len
    if not (view[at, :len(_TYPE)] == _TYPE).all() or (kind_len := _value(view[at + len(_TYPE), :_KIND])) is None:
        return _fallback(block, lines, shards, keys, ended)
    at += len(_TYPE) + kind_len
    bids = view[at + len(_BORROWER), :_BID]
    if not (view[at, :len(_BORROWER)] == _BORROWER).all() or (bid_len := _value(bids)) is None:
        return _fallback(block, lines, shards, keys, ended)
    at += len(_BORROWER) + bid_len
    if not (view[at, :len(_OCCURRED)] == _OCCURRED).all():
        return _fallback(block, lines, shards, keys, ended)
    np.bitwise_and(ids, _UPTO[eid_len], out=ids)  # the id's bytes, then zeros: a NUL byte ends a bytes item
    if int(ids.max()) >= 128 or not ids[:, 0].all():  # (an id with a NUL byte is no valid JSON's)
        return _fallback(block, lines, shards, keys, ended)
    found = ids.view(f"S{_ID}").ravel().tolist()
    keys.frombytes(np.fromiter(map(hash, found), dtype=np.int64, count=n).tobytes())  # (not extend: a call an item)
    mine = crc32_rows(bids, bid_len).astype(np.int64) % shards
    return mine, instants_at(data, at + 2, np.arange(n), n, view[at + 2 + 13, :28])
