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

import json
import os
import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from monitor._time import to_us
from monitor.events import EVENT_ADAPTER
from monitor.jsonl import MAX_LINE_BYTES, iter_lines

__all__ = ["Split", "auto_shards", "split_events"]

SHARD_BYTES = 48 * 1024 * 1024  # about 180,000 events: ~0.5 GB of memory per part while it runs
_GZIP_RATIO = 8  # a rough size of gzip-compressed JSONL once inflated
_CANDIDATES = 256  # latest lines validated to find the as-of instant
# both string fields of a line, read without parsing it (a JSON string cannot hold an unescaped quote)
_FIELDS = re.compile(rb'"(borrower_id|occurred_at)"\s*:\s*"([^"\\]*)"')


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


def _borrower(raw: bytes) -> bytes:
    """The borrower id of a line that is not simple to read (parsed in full; b"" when none)."""
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
    find = _FIELDS.findall
    fromiso = datetime.fromisoformat
    latest: list[tuple[float, int, bytes]] = []  # candidates for the latest valid event
    floor = float("-inf")
    exact: int | None = None  # the latest valid instant among lines that were not simple to read
    count = 0
    prev_text = b""
    prev_ts: float | None = None
    try:
        for path in paths:
            for _number, raw in iter_lines(path):
                count += 1
                got = find(raw)
                bid = at = None
                if len(got) == 2 and got[0][0] != got[1][0]:
                    bid, at = (got[0][1], got[1][1]) if got[0][0] == b"borrower_id" else (got[1][1], got[0][1])
                part = crc(bid if bid is not None else _borrower(raw)) % parts
                line = raw + b"\n"
                files[part].write(line)
                ts: float | None = None
                if at is not None:
                    if at == prev_text:
                        ts = prev_ts
                    else:
                        try:
                            dt = fromiso(at.decode("ascii"))
                            ts = dt.timestamp() if dt.utcoffset() is not None else None
                        except (ValueError, UnicodeDecodeError):
                            ts = None
                        prev_text, prev_ts = at, ts
                if ts is None:
                    t = _valid_instant(raw)
                    if t is not None and (exact is None or t > exact):
                        exact = t
                elif ts >= floor:
                    latest.append((ts, count, raw))
                    if len(latest) >= 8 * _CANDIDATES:
                        latest.sort(reverse=True)
                        del latest[_CANDIDATES:]
                        floor = latest[-1][0]
    finally:
        for fh in files:
            fh.close()
    latest.sort(reverse=True)
    del latest[_CANDIDATES:]
    best: int | None = None
    for _ts, _n, raw in latest:
        best = _valid_instant(raw)
        if best is not None:
            break
    if best is None and len(latest) == _CANDIDATES:
        return Split(tuple(names), None, False, count)  # every candidate invalid: cannot tell cheaply
    if exact is not None and (best is None or exact > best):
        best = exact
    return Split(tuple(names), best, True, count)
