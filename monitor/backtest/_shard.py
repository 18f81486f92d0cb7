"""Splitting the event files by borrower, so that parts can be replayed separately.

The engine keeps one state per borrower and no borrower's decisions depend on
another's, so replaying the events of a subset of borrowers gives exactly the
alerts and schedule those borrowers get in a replay of everything, provided
every part is advanced to the same as-of instant. Splitting bounds the memory
of each replay (the replay holds all its events) and lets several cores share
one policy's replay.

``split_events`` writes part files (lines in input order, the borrower chosen
by CRC-32 of its id) and finds the default as-of instant of the whole input:
the latest ``occurred_at`` of a valid event, exactly as ``monitor.replay``
would (the latest candidates are validated with the event contract).
"""

from __future__ import annotations

import heapq
import json
import os
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from monitor._time import to_us
from monitor.events import EVENT_ADAPTER
from monitor.jsonl import MAX_LINE_BYTES, iter_lines

__all__ = ["Split", "auto_shards", "split_events"]

SHARD_BYTES = 48 * 1024 * 1024  # about 200,000 events: ~0.5 GB of replay memory per part
_GZIP_RATIO = 8  # a rough size of gzip-compressed JSONL once inflated
_CANDIDATES = 256  # latest lines validated to find the as-of instant
_BID = b'"borrower_id":"'
_AT = b'"occurred_at":"'


@dataclass(frozen=True, slots=True)
class Split:
    paths: tuple[str, ...]  # part files, in part order
    as_of: int | None  # the latest valid event (None: no valid event)
    known: bool  # False: every candidate was invalid, the as-of instant is unknown: do not split
    lines: int


def input_bytes(paths: list[str]) -> int:
    """The size of the inputs, gzip files counted as inflated (roughly)."""
    total = 0
    for p in paths:
        try:
            size = os.path.getsize(p)
            with open(p, "rb") as fh:
                gz = fh.read(2) == b"\x1f\x8b"
        except OSError:
            continue  # the replay reports the unreadable file
        total += size * (_GZIP_RATIO if gz else 1)
    return total


def auto_shards(paths: list[str]) -> int:
    """How many parts to replay the input in: one per ~48 MB of JSONL."""
    return max(1, -(-input_bytes(paths) // SHARD_BYTES))


def _field(raw: bytes, key: bytes) -> bytes | None:
    """The value of a string field in compact JSON, or None when unsure (then parse the line)."""
    i = raw.find(key)
    if i < 0 or raw.find(key, i + 1) >= 0:
        return None
    start = i + len(key)
    end = raw.find(b'"', start)
    if end < 0:
        return None
    value = raw[start:end]
    return None if b"\\" in value else value


def _borrower(raw: bytes) -> bytes:
    value = _field(raw, _BID)
    if value is not None:
        return value
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return b""
    bid = doc.get("borrower_id") if isinstance(doc, dict) else None
    return bid.encode("utf-8", "surrogatepass") if isinstance(bid, str) else b""


def _valid_instant(raw: bytes) -> int | None:
    if len(raw) > MAX_LINE_BYTES or not raw.strip():
        return None
    try:
        return to_us(EVENT_ADAPTER.validate_json(raw).occurred_at)
    except ValidationError:
        return None


def split_events(paths: list[str], parts: int, directory: Path) -> Split:
    """Write ``parts`` part files into ``directory``; see the module docstring."""
    names = [str(directory / f"part-{i:04d}.jsonl") for i in range(parts)]
    files = [open(n, "wb") for n in names]  # noqa: SIM115 - closed below
    crc = zlib.crc32
    heap: list[tuple[float, int, bytes]] = []  # the latest lines by their apparent instant
    floor = float("-inf")
    exact: int | None = None  # the latest valid instant among lines that were not simple to read
    count = 0
    try:
        for path in paths:
            for _number, raw in iter_lines(path):
                count += 1
                files[crc(_borrower(raw)) % parts].write(raw + b"\n")
                text = _field(raw, _AT)
                ts: float | None = None
                if text is not None:
                    try:
                        dt = datetime.fromisoformat(text.decode("ascii"))
                        if dt.tzinfo is not None and dt.utcoffset() is not None:
                            ts = dt.timestamp()
                    except (ValueError, UnicodeDecodeError):
                        ts = None
                if ts is None:
                    t = _valid_instant(raw)
                    if t is not None and (exact is None or t > exact):
                        exact = t
                elif ts >= floor:
                    item = (ts, count, raw)
                    if len(heap) < _CANDIDATES:
                        heapq.heappush(heap, item)
                        if len(heap) == _CANDIDATES:
                            floor = heap[0][0]
                    else:
                        heapq.heapreplace(heap, item)
                        floor = heap[0][0]
    finally:
        for fh in files:
            fh.close()
    best: int | None = None
    full = len(heap) == _CANDIDATES
    for _ts, _n, raw in sorted(heap, reverse=True):
        best = _valid_instant(raw)
        if best is not None:
            break
    if best is None and full:
        return Split(tuple(names), None, False, count)  # every candidate invalid: cannot tell cheaply
    if exact is not None and (best is None or exact > best):
        best = exact
    return Split(tuple(names), best, True, count)
