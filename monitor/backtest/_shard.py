"""Splitting the event files by borrower, so that parts can be replayed separately.

The engine keeps one state per borrower and no borrower's decisions depend on
another's, so replaying the events of a subset of borrowers gives exactly the
alerts and schedule those borrowers get in a replay of everything, provided
every part is advanced to the same as-of instant.

The input is cut into *segments* (``segments``): each plain file into byte
ranges that begin at line starts (one per process, so that the processes split
the input side by side), each gzip file whole, read a megabyte at a time
(``chunks``). ``split_segment`` writes one file per part with the segment's
lines of that part's borrowers (the borrower chosen by CRC-32 of its id, read
without parsing the line: ``borrower_key``), in input order; a part is then its
files of every segment, in segment order: all of its lines in input order. It
also finds the segment's latest valid instant, a chunk at a time (``_Recent``:
chunks placed by their dates, the latest candidates validated with the event
contract by ``Latest``); the as-of instant of the whole input, exactly as
``monitor.replay`` would take it, is the latest of the segments'.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pydantic import ValidationError

from monitor._errors import InputError
from monitor._time import to_us
from monitor.events import EVENT_ADAPTER
from monitor.jsonl import MAX_LINE_BYTES

__all__ = ["Segment", "SegmentSplit", "Split", "auto_shards", "by_team", "part_files", "profile_teams", "segments",
           "split_events", "split_segment"]

SHARD_BYTES = 48 * 1024 * 1024  # about 180,000 events: ~0.5 GB of memory per part while it runs
_GZIP_RATIO = 8  # a rough size of gzip-compressed JSONL once inflated
_CANDIDATES = 256  # latest lines validated to find the as-of instant
_CHUNK = 1 << 20  # bytes read at a time (larger chunks leave the CPU's caches: slower)
_PLAIN = b'"borrower_id":"'
_NAME = b'"borrower_id"'
_AT = b'"occurred_at":"'
_AT_NAME = b'"occurred_at"'
_SPACED = re.compile(rb'"borrower_id"\s*:\s*"([^"\\]*)"')
_SPACED_AT = re.compile(rb'"occurred_at"\s*:\s*"([^"\\]*)"')


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


def chunks(path: str, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, list[bytes]]]:
    """The lines of a JSONL file (plain or gzip), as ``iter_lines`` gives them, a chunk at a time, with the
    chunk's bytes (its lines joined by newlines, carriage returns kept); of a plain file with ``end``, the
    lines starting in [start, end) (both line starts)."""
    try:
        with open(path, "rb", buffering=0) as fh:
            gz = fh.read(2) == b"\x1f\x8b"
            fh.seek(start)
            stream = gzip.GzipFile(fileobj=fh) if gz else fh
            left = -1 if end is None or gz else end - start
            rest = b""
            while left:
                block = stream.read(_CHUNK if left < 0 else min(_CHUNK, left))
                if not block:
                    break
                if left > 0:
                    left -= len(block)
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest += block  # a line longer than a chunk
                    continue
                data = rest + block[:cut] if rest else block[:cut]
                rest = block[cut + 1:]
                lines = data.split(b"\n")
                yield data, [x.rstrip(b"\r") for x in lines] if b"\r" in data else lines
            if rest:
                yield rest, [rest.rstrip(b"\r")]
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def _lines(seg: Segment) -> Iterator[bytes]:
    for _data, lines in chunks(seg.path, seg.start, seg.end):
        yield from lines


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
    """The latest valid instant of some lines, parsing and validating only the latest few.

    A line whose ``occurred_at`` is a plain ``YYYY-MM-DD...`` string with a UTC offset is placed by its
    local date alone (a dictionary look-up): its instant lies within a day either side of that date, so
    a line dated three or more days before the 256th latest date cannot be among the 256 latest lines
    and is dropped. The lines kept are parsed and sorted at the end and validated latest first. Other
    lines are validated at once."""

    __slots__ = ("candidates", "floor", "keep", "exact", "count", "days")

    def __init__(self) -> None:
        self.candidates: list[tuple[int, int, bytes, bytes]] = []  # (local day, line, occurred_at, raw)
        self.floor = -(2**62)  # lines dated before this day cannot be among the latest
        self.keep = 8 * _CANDIDATES
        self.exact: int | None = None  # the latest valid instant among the lines validated at once
        self.count = 0
        self.days: dict[bytes, int] = {}

    def _validate(self, raw: bytes) -> None:
        t = _valid_instant(raw)
        if t is not None and (self.exact is None or t > self.exact):
            self.exact = t

    def add(self, raw: bytes, at: bytes | None) -> None:
        self.count += 1
        if at is None or len(at) < 20 or not (at[-1:] == b"Z" or at[-6:-5] in (b"+", b"-")):
            self._validate(raw)
            return
        key = at[:10]
        day = self.days.get(key)
        if day is None:
            try:
                day = date.fromisoformat(key.decode("ascii")).toordinal() if key[4:5] == b"-" else -1
            except (ValueError, UnicodeDecodeError):
                day = -1
            self.days[key] = day
        if day < 0:
            self._validate(raw)
            return
        if day < self.floor:
            return
        cands = self.candidates
        cands.append((day, self.count, at, raw))
        if len(cands) >= self.keep:
            self._prune()

    def _prune(self) -> None:
        cands = self.candidates
        cands.sort(reverse=True)
        self.floor = max(self.floor, cands[_CANDIDATES - 1][0] - 2)
        cands[:] = [c for c in cands if c[0] >= self.floor]
        self.keep = max(8 * _CANDIDATES, 2 * len(cands))

    def best(self, lines: Iterator[bytes] | None = None) -> int | None:
        """The latest valid instant; ``lines`` (all the lines again) is read only when the 256 latest
        lines kept were all invalid, to validate each line."""
        timed: list[tuple[float, int, bytes]] = []
        for _day, n, at, raw in self.candidates:
            try:
                dt = datetime.fromisoformat(at.decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                dt = None
            if dt is None or dt.utcoffset() is None:
                self._validate(raw)
            else:
                timed.append((dt.timestamp(), n, raw))
        timed.sort(reverse=True)
        best: int | None = None
        for _ts, _n, raw in timed[:_CANDIDATES]:
            best = _valid_instant(raw)
            if best is not None:
                break
        if best is None and len(timed) >= _CANDIDATES and lines is not None:
            for raw in lines:  # every latest line invalid: validate them all (rare, slow, exact)
                t = _valid_instant(raw)
                if t is not None and (best is None or t > best):
                    best = t
        if self.exact is not None and (best is None or self.exact > best):
            best = self.exact
        return best


def borrower_key(raw: bytes) -> bytes:
    """The borrower id of a line as UTF-8 (b"": none), read without parsing the line when it names the
    field once, plainly or spaced, with no escape in the id (a JSON string cannot hold an unescaped quote);
    other lines are parsed in full."""
    i = raw.find(_PLAIN)
    if i >= 0:
        i += 15
        j = raw.find(b'"', i)
        key = raw[i:j]
        if j >= 0 and b"\\" not in key and raw.count(_NAME) == 1:
            return key
    elif (m := _SPACED.search(raw)) is not None and raw.count(_NAME) == 1:
        return m.group(1)
    return _borrower(raw)


def _instant_text(raw: bytes) -> bytes | None:
    """The line's ``occurred_at`` string when it is plainly written once (None: ``Latest`` validates it)."""
    k = raw.find(_AT)
    if k >= 0:
        k += 15
        m = raw.find(b'"', k)
        at = raw[k:m]
        return at if m >= 0 and b"\\" not in at and raw.count(_AT_NAME) == 1 else None
    got = _SPACED_AT.search(raw)
    return got.group(1) if got is not None and raw.count(_AT_NAME) == 1 else None


_DATE = re.compile(rb'"occurred_at":"(\d{4}-\d\d-\d\d)')
_KEEP_LINES = 1 << 18  # lines of recent chunks held before they are cut down to their recent lines
_TOP = 256


def _day(text: bytes) -> int | None:
    try:
        return date.fromisoformat(text.decode("ascii")).toordinal()
    except (ValueError, UnicodeDecodeError):
        return None


class _Recent:
    """The latest valid instant of all the lines, read a chunk at a time (``_shard.Latest`` line by line
    cost a microsecond a line).

    A chunk whose every ``"occurred_at"`` is written plainly as ``"occurred_at":"YYYY-MM-DD...`` is placed
    by its dates (one pattern over the chunk; its lines with a backslash, where the name could be written
    with escapes, also go to a ``Latest`` one by one): a valid line dated ``d`` lies within a day either side
    of ``d``, so with ``D`` the 256th latest date seen, a line dated before ``D - 2`` is earlier than any
    valid line dated ``D`` or later, and the chunks wholly before then are dropped (``floor``). Other
    chunks' lines go to a ``Latest`` one by one. At the end the lines kept go to a ``Latest``; when its
    answer is earlier than ``D - 1`` (every line dated ``D`` or later invalid: rare), every line of the
    input is validated instead."""

    __slots__ = ("top", "floor", "floor_day", "kept", "n_kept", "limit", "odd")

    def __init__(self) -> None:
        self.top: list[bytes] = []  # the 256 latest dates seen, latest first
        self.floor = b""  # a chunk dated wholly before this date (YYYY-MM-DD) holds no candidate
        self.floor_day: int | None = None
        self.kept: list[tuple[bytes, list[bytes]]] = []  # (latest date, lines) of the chunks that may
        self.n_kept = 0
        self.limit = _KEEP_LINES
        self.odd = Latest()  # the lines of chunks not written plainly

    def chunk(self, data: bytes, lines: list[bytes]) -> None:
        dates = _DATE.findall(data)
        if len(dates) != data.count(_AT_NAME):
            add = self.odd.add
            for raw in lines:
                add(raw, _instant_text(raw))
            return
        if b"\\" in data:  # a field name written with escapes is invisible to the pattern: such lines one by one
            add = self.odd.add
            for raw in lines:
                if b"\\" in raw:
                    add(raw, _instant_text(raw))
        if not dates:
            return  # no line with an occurred_at written plainly: none is valid but those just added
        dates.sort(reverse=True)
        if dates[0] < self.floor:
            return
        self.kept.append((dates[0], lines))
        self.n_kept += len(lines)
        top = self.top
        if len(top) < _TOP or dates[0] > top[-1]:
            top.extend(dates[:_TOP])
            top.sort(reverse=True)
            del top[_TOP:]
            if len(top) == _TOP and (d := _day(top[-1])) is not None and \
                    (self.floor_day is None or d - 2 > self.floor_day):
                self.floor_day = d - 2
                self.floor = date.fromordinal(max(1, d - 2)).isoformat().encode("ascii")
                self.kept = [k for k in self.kept if k[0] >= self.floor]
                self.n_kept = sum(len(k[1]) for k in self.kept)
        if self.n_kept > self.limit:
            self._cut()
            self.limit = max(_KEEP_LINES, 2 * self.n_kept)

    def _cut(self) -> None:
        """Keep only the lines dated on or after the floor (a chunk of lines in no time order)."""
        floor = self.floor
        cut = []
        for _latest, lines in self.kept:
            mine = [raw for raw in lines if any(d >= floor for d in _DATE.findall(raw))]
            if mine:
                cut.append((max(d for raw in mine for d in _DATE.findall(raw)), mine))
        self.kept = cut
        self.n_kept = sum(len(k[1]) for k in cut)

    def best(self, again: Callable[[], Iterator[bytes]]) -> int | None:
        """The latest valid instant; ``again()``: all the lines once more (read only in the rare cases)."""
        finder = self.odd
        for _latest, lines in self.kept:
            for raw in lines:
                finder.add(raw, _instant_text(raw))
        got = finder.best(again())
        if self.floor_day is None or (got is not None and got >= (self.floor_day + 1 - _EPOCH_DAY) * _DAY_US):
            return got
        every = Latest()  # every line dated from D on invalid: the lines dropped are read again
        for raw in again():
            every.add(raw, _instant_text(raw))
        return every.best(again())


_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000


def profile_teams(seg: Segment) -> dict[bytes, set[str]]:
    """The teams each borrower's loan profiles in the segment name (lines that are no profile skipped)."""
    out: dict[bytes, set[str]] = {}
    for raw in _lines(seg):
        if b"loan_profile" not in raw:
            continue
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(doc, dict) or doc.get("type") != "loan_profile":
            continue
        bid, team = doc.get("borrower_id"), doc.get("team")
        if isinstance(bid, str) and isinstance(team, str):
            out.setdefault(bid.encode("utf-8", "surrogatepass"), set()).add(team)
    return out


def by_team(found: Sequence[dict[bytes, set[str]]], parts: int) -> dict[bytes, int]:
    """A part for every borrower such that the borrowers of a team, and of every team any of them ever
    belonged to, share a part; the groups spread over the parts by size, largest first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    teams_of: dict[bytes, set[str]] = {}
    for got in found:
        for bid, names in got.items():
            teams_of.setdefault(bid, set()).update(names)
    for names in teams_of.values():
        first, *rest = sorted(names)
        for other in rest:
            a, b = root(first), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    size: dict[str, int] = {}
    for names in teams_of.values():
        r = root(min(names))
        size[r] = size.get(r, 0) + 1
    load = [0] * parts
    part_of: dict[str, int] = {}
    for r in sorted(size, key=lambda k: (-size[k], k)):
        p = min(range(parts), key=lambda k: (load[k], k))
        part_of[r] = p
        load[p] += size[r]
    return {bid: part_of[root(min(names))] for bid, names in teams_of.items()}


def split_segment(seg: Segment, parts: int, directory: Path, assign: dict[bytes, int] | None = None
                  ) -> SegmentSplit:
    """Write the segment's lines of each part into ``directory``; see the module docstring. ``assign``: the
    part of some borrowers (``by_team``); the others by CRC-32 of their id."""
    names = [str(directory / f"seg{seg.index:04d}-part{p:04d}.jsonl") for p in range(parts)]
    buffers: list[list[bytes]] = [[] for _ in range(parts)]
    written = [False] * parts
    sizes = [0] * parts
    crc = zlib.crc32
    recent = _Recent()
    count = 0

    def flush(part: int) -> None:
        with open(names[part], "ab" if written[part] else "wb") as fh:
            fh.write(b"\n".join(buffers[part]) + b"\n")
        written[part] = True
        buffers[part].clear()

    for data, lines in chunks(seg.path, seg.start, seg.end):
        recent.chunk(data, lines)
        count += len(lines)
        for raw in lines:
            i = raw.find(_PLAIN) + 15  # the id as it stands when written plainly once, else parsed (borrower_key)
            bid = raw[i:raw.find(b'"', i)] if i >= 15 else b"\\"
            if b"\\" in bid or raw.count(_NAME) != 1:
                bid = borrower_key(raw)
            part = crc(bid) % parts if assign is None else assign.get(bid, crc(bid) % parts)
            buf = buffers[part]
            buf.append(raw)
            sizes[part] += len(raw) + 1
            if len(buf) >= 8192:
                flush(part)
    for part in range(parts):
        if buffers[part]:
            flush(part)
    best = recent.best(lambda: _lines(seg))
    return SegmentSplit(seg.index, tuple(n if w else None for n, w in zip(names, written)), tuple(sizes),
                        count, best)


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
