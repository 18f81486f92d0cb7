"""Splitting the event files by borrower, so that parts can be replayed separately.

The engine keeps one state per borrower and no borrower's decisions depend on
another's, so replaying the events of a subset of borrowers gives exactly the
alerts and schedule those borrowers get in a replay of everything, provided
every part is advanced to the same as-of instant.

The input is cut into *segments* (``segments``): each plain file into byte
ranges that begin at line starts (one per process, so that the processes split
the input side by side), each gzip file whole. ``split_segment`` writes one
file per part with the segment's lines of that part's borrowers (the borrower
chosen by CRC-32 of its id, read without parsing the line), in input order; a
part is then its files of every segment, in segment order: all of its lines in
input order. It also finds the segment's latest valid instant
(``Latest``: the latest candidates are validated with the event contract);
the as-of instant of the whole input, exactly as ``monitor.replay`` would
take it, is the latest of the segments'.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from monitor._errors import InputError
from monitor._time import to_us
from monitor.events import EVENT_ADAPTER
from monitor.jsonl import MAX_LINE_BYTES, iter_lines

__all__ = ["Segment", "SegmentSplit", "Split", "auto_shards", "part_files", "segments", "split_events",
           "split_segment"]

SHARD_BYTES = 48 * 1024 * 1024  # about 180,000 events: ~0.5 GB of memory per part while it runs
_GZIP_RATIO = 8  # a rough size of gzip-compressed JSONL once inflated
_CANDIDATES = 256  # latest lines validated to find the as-of instant
# both string fields of a line, read without parsing it (a JSON string cannot hold an unescaped quote)
_FIELDS = re.compile(rb'"(borrower_id|occurred_at)"\s*:\s*"([^"\\]*)"')


@dataclass(frozen=True, slots=True)
class Segment:
    """Lines of one input file: those starting in [start, end) of a plain file, or all of a gzip file."""

    index: int
    path: str
    start: int = 0
    end: int | None = None  # None: to the end (and the only way a gzip file is read)


@dataclass(frozen=True, slots=True)
class SegmentSplit:
    index: int
    files: tuple[str | None, ...]  # per part: its lines of this segment (None: none)
    sizes: tuple[int, ...]  # bytes per part
    lines: int
    latest: int | None  # the latest valid instant among the segment's lines (None: no valid line)


@dataclass(frozen=True, slots=True)
class Split:
    paths: tuple[str, ...]  # part files, in part order
    as_of: int | None  # the latest valid event (None: no valid event)
    known: bool  # always True (kept for callers): the as-of instant is exact
    lines: int


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def input_bytes(paths: Sequence[str]) -> int:
    """The size of the inputs, gzip files counted as inflated (roughly)."""
    total = 0
    for p in paths:
        try:
            size = os.path.getsize(p)
            gz = _is_gzip(p)
        except OSError:
            continue  # the replay reports the unreadable file
        total += size * (_GZIP_RATIO if gz else 1)
    return total


def auto_shards(paths: Sequence[str]) -> int:
    """How many parts to replay the input in: one per ~48 MB of JSONL."""
    return max(1, -(-input_bytes(paths) // SHARD_BYTES))


def _line_start(fh, at: int) -> int:  # type: ignore[no-untyped-def]
    """The first line start at or after byte ``at``."""
    if at <= 0:
        return 0
    fh.seek(at - 1)
    fh.readline()  # the rest of the line holding byte at - 1
    return fh.tell()


def segments(paths: Sequence[str], ways: int) -> list[Segment]:
    """Each plain file in ``ways`` byte ranges cut at line starts (small files whole), each gzip file whole."""
    out: list[Segment] = []
    for path in paths:
        size = os.path.getsize(path)
        if ways <= 1 or size < 1 << 20 or _is_gzip(path):
            out.append(Segment(len(out), path))
            continue
        with open(path, "rb") as fh:
            cuts = sorted({_line_start(fh, size * k // ways) for k in range(ways)} | {size})
        for a, b in zip(cuts, cuts[1:]):
            if a < b:
                out.append(Segment(len(out), path, a, b))
    return out


def _lines(seg: Segment) -> Iterator[bytes]:
    if seg.end is None:
        for _number, raw in iter_lines(seg.path):
            yield raw
        return
    left = seg.end - seg.start
    try:
        with open(seg.path, "rb") as fh:
            fh.seek(seg.start)
            for line in fh:
                yield line.rstrip(b"\r\n")
                left -= len(line)
                if left <= 0:
                    return
    except OSError as exc:
        raise InputError(f"{seg.path}: cannot read: {exc}") from None


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


class Latest:
    """The latest valid instant of some lines, validating only the latest few candidates."""

    __slots__ = ("candidates", "floor", "exact", "count", "prev_text", "prev_ts")

    def __init__(self) -> None:
        self.candidates: list[tuple[float, int, bytes]] = []
        self.floor = float("-inf")
        self.exact: int | None = None  # the latest valid instant among lines that were not simple to read
        self.count = 0
        self.prev_text = b""
        self.prev_ts: float | None = None

    def add(self, raw: bytes, at: bytes | None) -> None:
        self.count += 1
        ts: float | None = None
        if at is not None:
            if at == self.prev_text:
                ts = self.prev_ts
            else:
                try:
                    dt = datetime.fromisoformat(at.decode("ascii"))
                    ts = dt.timestamp() if dt.utcoffset() is not None else None
                except (ValueError, UnicodeDecodeError):
                    ts = None
                self.prev_text, self.prev_ts = at, ts
        if ts is None:
            t = _valid_instant(raw)
            if t is not None and (self.exact is None or t > self.exact):
                self.exact = t
        elif ts >= self.floor:
            self.candidates.append((ts, self.count, raw))
            if len(self.candidates) >= 8 * _CANDIDATES:
                self.candidates.sort(reverse=True)
                del self.candidates[_CANDIDATES:]
                self.floor = self.candidates[-1][0]

    def best(self, lines: Iterator[bytes] | None = None) -> int | None:
        """The latest valid instant; ``lines`` (all the lines again) is read only when every candidate
        kept was invalid, to validate each line."""
        self.candidates.sort(reverse=True)
        del self.candidates[_CANDIDATES:]
        best: int | None = None
        for _ts, _n, raw in self.candidates:
            best = _valid_instant(raw)
            if best is not None:
                break
        if best is None and len(self.candidates) == _CANDIDATES and lines is not None:
            for raw in lines:  # every candidate invalid: validate them all (rare, slow, exact)
                t = _valid_instant(raw)
                if t is not None and (best is None or t > best):
                    best = t
        if self.exact is not None and (best is None or self.exact > best):
            best = self.exact
        return best


def split_segment(seg: Segment, parts: int, directory: Path) -> SegmentSplit:
    """Write the segment's lines of each part into ``directory``; see the module docstring."""
    names = [str(directory / f"seg{seg.index:04d}-part{p:04d}.jsonl") for p in range(parts)]
    files: list = [None] * parts  # type: ignore[type-arg]
    sizes = [0] * parts
    crc = zlib.crc32
    find = _FIELDS.findall
    latest = Latest()
    add = latest.add
    try:
        for raw in _lines(seg):
            got = find(raw)
            bid = at = None
            if len(got) == 2 and got[0][0] != got[1][0]:
                bid, at = (got[0][1], got[1][1]) if got[0][0] == b"borrower_id" else (got[1][1], got[0][1])
            part = crc(bid if bid is not None else _borrower(raw)) % parts
            fh = files[part]
            if fh is None:
                fh = files[part] = open(names[part], "wb")  # noqa: SIM115 - closed below
            fh.write(raw)
            fh.write(b"\n")
            sizes[part] += len(raw) + 1
            add(raw, at)
    finally:
        for fh in files:
            if fh is not None:
                fh.close()
    best = latest.best(_lines(seg))
    return SegmentSplit(seg.index, tuple(n if f is not None else None for n, f in zip(names, files)),
                        tuple(sizes), latest.count, best)


def part_files(splits: Sequence[SegmentSplit], parts: int) -> list[tuple[int, tuple[str, ...], int]]:
    """Per part: (index, its files in segment order, bytes)."""
    ordered = sorted(splits, key=lambda s: s.index)
    out = []
    for p in range(parts):
        files = tuple(f for s in ordered if (f := s.files[p]) is not None)
        out.append((p, files, sum(s.sizes[p] for s in ordered)))
    return out


def split_events(paths: Sequence[str], parts: int, directory: Path, ways: int = 1) -> Split:
    """Split in this process: one file per part in ``directory`` (segments' files concatenated)."""
    splits = [split_segment(seg, parts, directory) for seg in segments(paths, ways)]
    names = []
    for p, files, _size in part_files(splits, parts):
        name = directory / f"part-{p:04d}.jsonl"
        with open(name, "wb") as out:
            for f in files:
                with open(f, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        out.write(chunk)
                os.unlink(f)
        names.append(str(name))
    instants = [s.latest for s in splits if s.latest is not None]
    return Split(tuple(names), max(instants) if instants else None, True, sum(s.lines for s in splits))
