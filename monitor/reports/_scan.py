"""Vectorised reading of JSONL: chunks of whole lines, field positions, instants and dates.

The report reads millions of lines; a ``json.loads`` per line would take most
of its time budget. Here the lines of a chunk are cut and their fields located
with numpy, without a Python object per line. Every fast path checks its own
work line by line: a line it cannot read with certainty (an escaped quote, an
unusual layout, a time stamp in another form) is flagged, and the caller reads
that line with the exact parser instead. The result never depends on which path
read a line.

Two extractors:

* :func:`seq_fields` for the files the replay writes: their keys come in a fixed
  order (the pydantic field order), so each field is found right after the last.
* :func:`flat_fields` for event lines from any producer: flat JSON objects with
  keys in any order, with or without blanks after ``:`` and ``,``.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError

__all__ = [
    "Chunk", "Digest", "FieldPos", "I64", "U8", "days_from_civil", "decode_strings", "flat_fields",
    "gather", "iter_chunks", "parse_dates", "parse_instants", "read_exact", "seq_fields",
]

I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]
BoolA = NDArray[np.bool_]

CHUNK_BYTES = 32 << 20
_QUOTE, _BSLASH, _COLON, _COMMA, _BRACE, _SPACE, _TAB = 34, 92, 58, 44, 125, 32, 9
_DAY_US = 86_400_000_000


class Digest:
    """SHA-256 of a file, computed on a helper thread while the chunks are parsed.

    ``hashlib`` releases the interpreter lock for large buffers, so hashing runs
    beside the parsing on a second core. Updates keep their order (one worker).
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._hash = hashlib.sha256()
        self._pending: list[Future[None]] = []
        self.size = 0

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._pending.append(self._pool.submit(self._hash.update, data))
        if len(self._pending) > 3:  # bound the chunks held for hashing
            self._pending.pop(0).result()

    def hexdigest(self) -> str:
        for fut in self._pending:
            fut.result()
        self._pending.clear()
        return self._hash.hexdigest()


@dataclass(slots=True)
class Chunk:
    """Whole lines of a file: ``data[starts[i]:ends[i]]`` is line ``first_line + i`` (no newline)."""

    data: bytes
    buf: U8
    starts: I64
    ends: I64
    first_line: int
    offset: int  # byte offset of ``data`` in the (decompressed) file

    @property
    def lines(self) -> int:
        return int(self.starts.size)

    def line(self, i: int) -> bytes:
        return self.data[int(self.starts[i]):int(self.ends[i])]


def _cut(data: bytes, first_line: int, offset: int) -> Chunk:
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10).astype(np.int64)
    if data and data[-1:] != b"\n":  # the last line of the file has no newline
        nl = np.append(nl, np.int64(len(data)))
    starts = np.empty_like(nl)
    if nl.size:
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
    ends = nl.copy()
    cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends[cr] -= 1  # like ``rstrip(b"\r\n")`` for CRLF files
    return Chunk(data, buf, starts, ends, first_line, offset)


def _open(path: Path, digest: Digest) -> tuple[IO[bytes], IO[bytes] | None]:
    raw = path.open("rb")
    head = raw.read(2)
    raw.seek(0)
    if head != b"\x1f\x8b":
        return raw, None
    # hash the compressed bytes as stored, parse the decompressed lines
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            digest.update(block)
    return gzip.GzipFile(fileobj=raw), raw  # type: ignore[return-value]


def iter_chunks(path: Path, digest: Digest, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Yield the file in chunks of whole lines; the digest sees every byte of the file."""
    try:
        stream, raw = _open(path, digest)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    plain = raw is None
    line_no, offset, rest = 1, 0, b""
    try:
        with stream:
            while True:
                block = stream.read(chunk_bytes)
                if plain and block:
                    digest.update(block)
                if not block:
                    break
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest += block
                    continue
                data = rest + block[:cut + 1] if rest else block[:cut + 1]
                rest = block[cut + 1:]
                chunk = _cut(data, line_no, offset)
                yield chunk
                line_no += chunk.lines
                offset += len(data)
            if rest:
                yield _cut(rest, line_no, offset)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    finally:
        if raw is not None:
            raw.close()


def gather(buf: U8, pos: I64, width: int) -> U8:
    """``buf[pos[i] : pos[i] + width]`` as rows of a matrix (bytes past the end read as 0)."""
    if pos.size == 0:
        return np.zeros((0, width), dtype=np.uint8)
    idx = pos[:, None] + np.arange(width, dtype=np.int64)[None, :]
    out = buf[np.minimum(idx, buf.size - 1)]
    out[idx >= buf.size] = 0
    return out


def _match(buf: U8, pos: I64, literal: bytes) -> BoolA:
    want = np.frombuffer(literal, dtype=np.uint8)
    return np.asarray((gather(buf, pos, len(literal)) == want[None, :]).all(axis=1))


@dataclass(slots=True)
class FieldPos:
    """Where a field's value lies in each line: ``[start, end)``; kind 0 absent, 1 string, 2 bare."""

    start: I64
    end: I64
    kind: NDArray[np.int8]
    escaped: BoolA  # the string holds a backslash escape: decode it exactly


def _first(mat: U8, targets: Sequence[int]) -> tuple[I64, BoolA]:
    hit = np.zeros(mat.shape, dtype=bool)
    for t in targets:
        hit |= mat == t
    return hit.argmax(axis=1).astype(np.int64), hit.any(axis=1)


_LONGEST = 4096


def _string_ends(buf: U8, pos: I64, width: int) -> tuple[I64, BoolA, BoolA]:
    """Length of the string value starting at each position, whether its closing quote was found
    within ``width`` bytes, and whether it holds a backslash."""
    win = gather(buf, pos, width + 1)
    length, found = _first(win, (_QUOTE,))
    cols = np.arange(width + 1)[None, :]
    escaped = np.asarray(((win == _BSLASH) & (cols < length[:, None])).any(axis=1))
    return length, found, escaped


def seq_fields(chunk: Chunk, keys: Sequence[tuple[str, int]], then: str) -> tuple[dict[str, FieldPos], BoolA, I64]:
    """Fields of lines written as ``{"k1":"v1","k2":null,...,"then":`` (string or null values).

    ``keys`` gives each key and the longest value read without help. Returns the
    fields, a mask of the lines read with certainty, and the position after
    ``"then":``.
    """
    buf, n = chunk.buf, chunk.lines
    ok = buf[np.minimum(chunk.starts, max(buf.size - 1, 0))] == ord("{") if buf.size else np.zeros(n, bool)
    pos = chunk.starts + 1
    out: dict[str, FieldPos] = {}
    for key, width in keys:
        lit = f'"{key}":'.encode()
        ok &= _match(buf, pos, lit)
        p = pos + len(lit)
        first = buf[np.minimum(p, buf.size - 1)]
        is_str = first == _QUOTE
        is_null = _match(buf, p, b"null")
        ok &= is_str | is_null
        length, found, escaped = _string_ends(buf, p + 1, width)
        retry = np.flatnonzero(is_str & ~found)
        if retry.size:  # a value longer than usual: look further
            length[retry], found[retry], escaped[retry] = _string_ends(buf, p[retry] + 1, _LONGEST)
        ok &= ~is_str | found
        end = np.where(is_str, p + 1 + length, p)
        nxt = np.where(is_str, end + 1, p + 4)
        ok &= nxt < chunk.ends
        out[key] = FieldPos(p + 1, end, np.where(is_str, 1, 0).astype(np.int8), escaped & is_str)
        ok &= buf[np.minimum(nxt, buf.size - 1)] == _COMMA
        pos = nxt + 1
    lit = f'"{then}":'.encode()
    ok &= _match(buf, pos, lit)
    return out, ok, pos + len(lit)


def flat_fields(chunk: Chunk, active: BoolA, keys: Sequence[str]) -> tuple[dict[str, FieldPos], BoolA]:
    """Fields of flat JSON objects, keys in any order. Returns the fields and the lines it could
    not read with certainty (an escaped quote, a doubled key, odd blanks): read those exactly."""
    buf, n = chunk.buf, chunk.lines
    bad = np.zeros(n, dtype=bool)
    q = np.flatnonzero(buf == _QUOTE).astype(np.int64)
    li = np.searchsorted(chunk.starts, q, side="right") - 1
    keep = active[li] & (q < chunk.ends[li])
    q, li = q[keep], li[keep]
    esc = buf[np.maximum(q - 1, 0)] == _BSLASH
    bad[li[esc]] = True
    bad |= np.bincount(li, minlength=n) % 2 == 1
    keep = ~bad[li]
    q, li = q[keep], li[keep]
    rank = np.arange(q.size) - np.searchsorted(li, li, side="left")
    opens, closes, sline = q[rank % 2 == 0], q[rank % 2 == 1], li[rank % 2 == 0]
    after = buf[np.minimum(closes + 1, buf.size - 1)]
    colon = closes + 1
    blank = (after == _SPACE) | (after == _TAB)
    colon[blank] += 1
    is_key = buf[np.minimum(colon, buf.size - 1)] == _COLON
    vstart = colon + 1
    for _ in range(2):
        c = buf[np.minimum(vstart, buf.size - 1)]
        vstart = np.where(is_key & ((c == _SPACE) | (c == _TAB)), vstart + 1, vstart)
    klen = closes - opens - 1
    out: dict[str, FieldPos] = {}
    nxt_open = np.append(opens[1:], -1)
    nxt_close = np.append(closes[1:], -1)
    nxt_line = np.append(sline[1:], -1)
    for key in keys:
        kb = key.encode()
        cand = np.flatnonzero(is_key & (klen == len(kb)))
        cand = cand[_match(buf, opens[cand] + 1, kb)]
        lines = sline[cand]
        dup = np.bincount(lines, minlength=n) > 1
        bad |= dup
        vs = vstart[cand]
        as_str = (nxt_open[cand] == vs) & (nxt_line[cand] == lines)
        bare = buf[np.minimum(vs, buf.size - 1)] != _QUOTE
        start = np.full(n, -1, dtype=np.int64)
        end = np.full(n, -1, dtype=np.int64)
        kind = np.zeros(n, dtype=np.int8)
        start[lines] = np.where(as_str, vs + 1, vs)
        win = gather(buf, vs, 48)
        blen, bfound = _first(win, (_COMMA, _BRACE, _SPACE, _TAB, 13))
        bad[lines[bare & ~bfound]] = True
        bad[lines[~bare & ~as_str]] = True
        end[lines] = np.where(as_str, nxt_close[cand], vs + blen)
        kind[lines] = np.where(as_str, 1, 2)
        out[key] = FieldPos(start, end, kind, np.zeros(n, dtype=bool))
    bs = np.flatnonzero(buf == _BSLASH)
    if bs.size:
        for fp in out.values():
            s = np.searchsorted(bs, fp.start)
            e = np.searchsorted(bs, fp.end)
            fp.escaped = (fp.kind == 1) & (e > s)
    return out, bad & active


def decode_strings(chunk: Chunk, fp: FieldPos, rows: I64) -> NDArray[np.bytes_]:
    """The string values of ``rows`` as UTF-8 ``S`` array (escapes decoded exactly)."""
    if rows.size == 0:
        return np.zeros(0, dtype="S1")
    vs, ve = fp.start[rows], fp.end[rows]
    lengths = ve - vs
    width = max(int(lengths.max()), 1)
    mat = gather(chunk.buf, vs, width)
    mat[np.arange(width)[None, :] >= lengths[:, None]] = 0
    values = np.ascontiguousarray(mat).view(f"S{width}").ravel()
    esc = np.flatnonzero(fp.escaped[rows])
    if esc.size:
        fixed = [_unescape(chunk.data[int(vs[i]):int(ve[i])]) for i in esc]
        wide = max(width, max(len(f) for f in fixed))
        values = values.astype(f"S{wide}")
        values[esc] = fixed
    return values


def _unescape(raw: bytes) -> bytes:
    """A JSON string's content decoded; the raw bytes when it is not one (a line read another way)."""
    import json

    try:
        value = json.loads(b'"' + raw + b'"')
    except ValueError:
        return raw
    return value.encode("utf-8") if isinstance(value, str) else raw


def days_from_civil(y: I64, m: I64, d: I64) -> I64:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).astype(np.int64)


_MDAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _num(mat: NDArray[np.int64], cols: Sequence[int]) -> I64:
    out = np.zeros(mat.shape[0], dtype=np.int64)
    for c in cols:
        out = out * 10 + mat[:, c]
    return out


def _date_part(d: NDArray[np.int64], digit: BoolA) -> tuple[I64, BoolA]:
    ok = digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1) & (d[:, 4] == ord("-") - 48) & (d[:, 7] == ord("-") - 48)
    y, m, day = _num(d, (0, 1, 2, 3)), _num(d, (5, 6)), _num(d, (8, 9))
    ok &= (m >= 1) & (m <= 12) & (day >= 1)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = _MDAYS[np.clip(m, 0, 12)] - ((m == 2) & ~leap)
    ok &= day <= mdays
    return days_from_civil(y, np.clip(m, 1, 12), day), ok


def parse_dates(mat: U8, length: I64) -> tuple[I64, BoolA]:
    """``YYYY-MM-DD`` rows (as from :func:`gather`) as days since the epoch, and which parsed."""
    d = mat[:, :10].astype(np.int64) - 48
    digit = (d >= 0) & (d <= 9)
    days, ok = _date_part(d, digit)
    return days, ok & (length == 10)


def parse_instants(mat: U8, length: I64) -> tuple[I64, BoolA]:
    """ISO 8601 instants with ``Z`` or ``±HH:MM`` (fraction of up to 6 digits) as microseconds
    since the epoch, and which rows parsed; others must be read exactly by the caller."""
    if mat.shape[1] < 32:
        mat = np.pad(mat, ((0, 0), (0, 32 - mat.shape[1])))
    d = mat[:, :32].astype(np.int64) - 48
    digit = (d >= 0) & (d <= 9)
    days, ok = _date_part(d, digit)
    sep = mat[:, 10]
    ok &= (sep == ord("T")) | (sep == ord("t")) | (sep == _SPACE)
    ok &= digit[:, [11, 12, 14, 15, 17, 18]].all(axis=1) & (mat[:, 13] == _COLON) & (mat[:, 16] == _COLON)
    hh, mi, ss = _num(d, (11, 12)), _num(d, (14, 15)), _num(d, (17, 18))
    ok &= (hh <= 23) & (mi <= 59) & (ss <= 59)
    frac = mat[:, 19] == ord(".")
    run = np.cumprod(digit[:, 20:27], axis=1).sum(axis=1)
    ok &= ~frac | ((run >= 1) & (run <= 6))
    us = np.zeros(mat.shape[0], dtype=np.int64)
    for j in range(6):
        us = us * 10 + np.where(frac & (run > j), d[:, 20 + j], 0)
    tz = np.where(frac, 20 + run, 19)
    rows = np.arange(mat.shape[0])
    tzc = mat[rows, np.minimum(tz, 31)]
    zulu = (tzc == ord("Z")) | (tzc == ord("z"))
    sign = np.where(tzc == ord("+"), 1, np.where(tzc == ord("-"), -1, 0))
    oh = d[rows, np.minimum(tz + 1, 31)] * 10 + d[rows, np.minimum(tz + 2, 31)]
    om = d[rows, np.minimum(tz + 4, 31)] * 10 + d[rows, np.minimum(tz + 5, 31)]
    off_ok = (sign != 0) & (mat[rows, np.minimum(tz + 3, 31)] == _COLON) & (oh <= 23) & (om <= 59)
    for k in (1, 2, 4, 5):
        off_ok &= digit[rows, np.minimum(tz + k, 31)]
    ok &= (zulu & (length == tz + 1)) | (off_ok & (length == tz + 6))
    offset = np.where(zulu, 0, sign * (oh * 3600 + om * 60))
    secs = days * 86_400 + hh * 3600 + mi * 60 + ss - offset
    return secs * 1_000_000 + us, ok


def read_exact(path: Path, offsets: I64, lengths: I64) -> list[bytes]:
    """The byte ranges ``[offsets[i], offsets[i] + lengths[i])`` of a plain file, in the given order."""
    order = np.argsort(offsets, kind="stable")
    out: list[bytes] = [b""] * offsets.size
    try:
        with path.open("rb") as fh:
            for i in order:
                fh.seek(int(offsets[i]))
                out[int(i)] = fh.read(int(lengths[i]))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return out
