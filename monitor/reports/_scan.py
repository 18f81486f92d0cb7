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
import mmap
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from monitor._civil import days_from_civil
from monitor._errors import InputError

__all__ = [
    "Chunk", "FieldPos", "I64", "U8", "days_from_civil", "decode_strings", "flat_fields", "gather",
    "iter_chunks", "make_chunk", "parse_dates", "parse_instants", "prefixed_ids", "read_exact", "seq_fields",
    "sha256_file",
]

I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]
BoolA = NDArray[np.bool_]

CHUNK_BYTES = 4 << 20  # large enough to spread numpy's per-call cost, small enough to stay in cache
_QUOTE, _BSLASH, _COLON, _COMMA, _BRACE, _SPACE, _TAB = 34, 92, 58, 44, 125, 32, 9


def sha256_file(path: Path, lines: list[int] | None = None) -> tuple[str, int]:
    """SHA-256 and size of a file as stored (:func:`monitor.jsonl.file_digest`; run it on a helper thread:
    ``hashlib`` releases the interpreter lock, so hashing runs beside the parsing on another core). With
    ``lines``, the number of lines of the (decompressed) text is appended to it."""
    from monitor.jsonl import file_digest  # here: a reader started for borrowers.jsonl (_started) needs none of it

    d = file_digest(path, count_lines=lines is not None)
    if lines is not None:
        lines.append(d["lines"])
    return d["sha256"], d["bytes"]


@dataclass(slots=True)
class Chunk:
    """Whole lines of a file: ``data[starts[i]:ends[i]]`` is line ``first_line + i`` (no newline)."""

    data: bytes | memoryview
    buf: U8
    starts: I64
    ends: I64
    first_line: int
    offset: int  # byte offset of ``data`` in the (decompressed) file

    @property
    def lines(self) -> int:
        return int(self.starts.size)

    def line(self, i: int) -> bytes:
        return bytes(self.data[int(self.starts[i]):int(self.ends[i])])


_PAD = 4160  # zero bytes after a chunk: any window read past a line stays inside the array


def _lines(buf: U8, size: int, scratch: BoolA | None = None) -> tuple[I64, I64]:
    """Starts and ends (without the newline) of the lines in ``buf[:size]``."""
    view = buf[:size]
    if scratch is not None:
        hit = np.equal(view, 10, out=scratch[:size])
    else:
        hit = view == 10
    nl = np.flatnonzero(hit)
    if size and buf[size - 1] != 10:  # the last line of the file has no newline
        nl = np.append(nl, size)
    starts = np.empty_like(nl)
    if nl.size:
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
    ends = nl.copy()
    cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends[cr] -= 1  # like ``rstrip(b"\r\n")`` for CRLF files
    return starts, ends


def make_chunk(data: bytes, first_line: int = 1, offset: int = 0) -> Chunk:
    """A chunk of the lines in ``data`` (the last may lack its newline)."""
    buf = np.zeros(len(data) + _PAD, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _lines(buf, len(data))
    return Chunk(data, buf, starts, ends, first_line, offset)


def _open(path: Path) -> IO[bytes]:
    raw = path.open("rb")
    head = raw.read(2)
    raw.seek(0)
    if head != b"\x1f\x8b":
        return raw
    return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]


def iter_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES, start: int = 0, stop: int | None = None,
                first_line: int = 1) -> Iterator[Chunk]:
    """Yield the (decompressed) file in chunks of whole lines, from byte ``start`` (a line start) to
    ``stop`` (a line start, or the end). ``first_line`` is the number of the line at ``start``.

    The chunks share one buffer: a chunk is valid until the next one is read (keep copies only).
    """
    try:
        stream = _open(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    line_no, offset, carry = first_line, start, 0
    buf = np.zeros(chunk_bytes + _PAD, dtype=np.uint8)
    scratch = np.zeros(chunk_bytes + _PAD, dtype=bool)
    left = None if stop is None else stop - start
    try:
        with stream:
            if start:
                stream.seek(start)
            while True:
                room = buf.size - _PAD - carry
                if room <= 0:  # a line longer than the buffer: grow it
                    buf = np.concatenate([buf, np.zeros(buf.size, dtype=np.uint8)])
                    scratch = np.zeros(buf.size, dtype=bool)
                    room = buf.size - _PAD - carry
                if left is not None:
                    room = min(room, left)
                got = stream.readinto(memoryview(buf)[carry:carry + room]) if room > 0 else 0  # type: ignore[attr-defined]
                if left is not None:
                    left -= got
                size = carry + got
                if got == 0:
                    if size:
                        buf[size:size + _PAD] = 0
                        starts, ends = _lines(buf, size, scratch)
                        yield Chunk(memoryview(buf)[:size], buf, starts, ends, line_no, offset)  # type: ignore[arg-type]
                    return
                tail = max(carry, size - (1 << 16))
                found = np.flatnonzero(buf[tail:size] == 10)
                if found.size == 0 and tail > carry:
                    found = np.flatnonzero(buf[carry:size] == 10)
                    tail = carry
                if found.size == 0:
                    carry = size
                    continue
                last_nl = tail + int(found[-1]) + 1
                saved = buf[last_nl:size].copy()
                buf[last_nl:last_nl + _PAD] = 0
                starts, ends = _lines(buf, last_nl, scratch)
                chunk = Chunk(memoryview(buf)[:last_nl], buf, starts, ends, line_no, offset)  # type: ignore[arg-type]
                yield chunk
                line_no += chunk.lines
                offset += last_nl
                carry = size - last_nl
                buf[:carry] = saved
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def gather(buf: U8, pos: I64, width: int) -> U8:
    """``buf[pos[i] : pos[i] + width]`` as rows of a matrix (bytes past the end read as 0)."""
    if pos.size == 0:
        return np.zeros((0, width), dtype=np.uint8)
    need = int(pos.max()) + width + 1 - buf.size
    if need > 0:  # a window past the end (chunks carry zero padding, so only for short buffers)
        buf = np.concatenate([buf, np.zeros(need, dtype=np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)
    return windows[np.clip(pos, 0, buf.size - width)]


def _match(buf: U8, pos: I64, literal: bytes) -> BoolA:
    """Whether ``literal`` stands at each position (compared eight bytes at a time)."""
    words = -(-len(literal) // 8)
    padded = np.zeros(words * 8, dtype=np.uint8)
    padded[: len(literal)] = np.frombuffer(literal, dtype=np.uint8)
    mask = np.zeros(words * 8, dtype=np.uint8)
    mask[: len(literal)] = 0xFF
    want, keep = padded.view("<u8"), mask.view("<u8")
    got = np.ascontiguousarray(gather(buf, pos, words * 8)).view("<u8")
    out = (got[:, 0] & keep[0]) == want[0]
    for j in range(1, words):
        out &= (got[:, j] & keep[j]) == want[j]
    return out


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


_HEADER = 256  # bytes of a line searched for the leading fields; longer headers get a second look
_LONGEST = 8192


def _walk(chunk: Chunk, rows: I64, keys: Sequence[str], then: str, width: int, begin: I64 | None = None) -> tuple[
        I64, I64, NDArray[np.int8], BoolA, I64]:
    """The leading fields of ``rows``: value starts, ends and kinds (key by key), which rows were
    read with certainty, and the position after ``"then":``.

    The first ``width`` bytes of each line are taken as a matrix; its quotes, in order, delimit
    the keys and values: ``{"k":"v","k2":null,...``. Every key, colon, comma and ``null`` is
    checked; a row with a backslash before ``then`` is left to the exact reader.
    """
    m, nk = rows.size, len(keys)
    starts = chunk.starts[rows] if begin is None else begin
    mat = gather(chunk.buf, starts, width)
    flat_mat = mat.ravel()
    flat = np.flatnonzero(flat_mat == _QUOTE)
    if flat.size == 0:
        flat = np.zeros(1, dtype=np.int64)
    base = np.arange(m, dtype=np.int64) * width
    last = np.searchsorted(flat, base + width)
    qi = np.searchsorted(flat, base)
    top, edge = flat.size - 1, width - 1

    def col(idx: I64) -> I64:
        return np.minimum(np.maximum(flat[np.minimum(idx, top)] - base, 0), edge)

    def at(c: I64) -> U8:
        return flat_mat[base + np.minimum(c, edge)]

    lead = ord("{") if begin is None else _COMMA
    ok = (mat[:, 0] == lead) & (col(qi) == 1) & (qi < last)
    vstart = np.zeros((nk, m), dtype=np.int64)
    vend = np.zeros((nk, m), dtype=np.int64)
    kind = np.zeros((nk, m), dtype=np.int8)

    def key_at(name: str) -> tuple[I64, BoolA]:
        kb = name.encode()
        ko, kc = col(qi), col(qi + 1)
        good = (qi + 1 < last) & (kc - ko - 1 == len(kb)) & _match(flat_mat, base + ko, b'"' + kb + b'":')
        return kc, good

    for i, key in enumerate(keys):
        kc, good = key_at(key)
        v = kc + 2
        first = at(v)
        is_str = first == _QUOTE
        is_null = _match(flat_mat, base + v, b"null")
        close = col(qi + 3)
        good &= is_null | (is_str & (qi + 3 < last) & (col(qi + 2) == v))
        after = np.where(is_str, close + 1, v + 4)
        step = np.where(is_str, 4, 2)
        is_list = first == ord("[")
        if bool(is_list.any()):  # a list of strings: walk its elements
            list_after, list_step, listed = _skip_list(is_list, v, qi, last, col, at)
            after = np.where(is_list, list_after, after)
            step = np.where(is_list, list_step, step)
            good |= listed
        ok &= good & (after < edge) & (at(after) == _COMMA)
        vstart[i], vend[i] = starts + v + 1, starts + close
        kind[i] = is_str
        qi = qi + step
    kc, good = key_at(then)
    then_pos = kc + 2
    ok &= good & (then_pos < width) & (starts + then_pos <= chunk.ends[rows])
    slashes = flat_mat == _BSLASH
    slash = np.flatnonzero(slashes) if bool(slashes.any()) else np.zeros(0, dtype=np.int64)
    if slash.size:  # an escape before the end of the fields: read the line exactly
        row = slash // width
        early = slash - row * width < then_pos[row]
        ok[row[early]] = False
    return vstart, vend, kind, ok, starts + then_pos


def _skip_list(is_list: BoolA, v: I64, qi: I64, last: I64, col: Callable[[I64], I64],
               at: Callable[[I64], U8]) -> tuple[I64, I64, BoolA]:
    """For rows whose value at ``v`` is ``[...]`` of strings: the position after ``]``, the quotes
    it spans (plus the key's two), and which rows hold such a well-formed list."""
    empty = is_list & (at(v + 1) == ord("]"))
    after = np.where(empty, v + 2, 0)
    step = np.full(v.size, 2, dtype=np.int64)
    q = qi + 2  # the first element's opening quote
    walking = is_list & ~empty & (at(v + 1) == _QUOTE) & (col(q) == v + 1) & (q + 1 < last)
    good = empty.copy()
    while bool(walking.any()):
        close = col(q + 1)
        nxt = at(close + 1)
        done = walking & (nxt == ord("]"))
        more = walking & (nxt == _COMMA) & (at(close + 2) == _QUOTE) & (q + 3 < last) & (col(q + 2) == close + 2)
        after = np.where(done, close + 2, after)
        step = np.where(walking, step + 2, step)
        good |= done
        q = np.where(more, q + 2, q)
        walking = more
    return after, step, good


def seq_fields(chunk: Chunk, keys: Sequence[str], then: str, begin: I64 | None = None,
               width: int = _HEADER) -> tuple[dict[str, FieldPos], BoolA, I64]:
    """Fields of lines written as ``{"k1":"v1","k2":null,...,"then":`` (string, null or list of
    strings), from the line start or from ``begin`` (at a comma: ``,"k1":...``).

    Returns the fields, a mask of the lines read with certainty (read the others exactly), and
    the position after ``"then":``.
    """
    n = chunk.lines
    rows = np.arange(n, dtype=np.int64)
    vstart, vend, kind, ok, pos = _walk(chunk, rows, keys, then, width, begin)
    from_ = chunk.starts if begin is None else begin
    retry = np.flatnonzero(~ok & (chunk.ends - from_ > width - 8))
    if retry.size:  # a long header: look further (as far as those lines go)
        far = int(min(_LONGEST, int((chunk.ends - from_)[retry].max()) + 8))
        vs2, ve2, k2, ok2, pos2 = _walk(chunk, retry, keys, then, far, None if begin is None else begin[retry])
        vstart[:, retry], vend[:, retry], kind[:, retry], ok[retry], pos[retry] = vs2, ve2, k2, ok2, pos2
    out = {key: FieldPos(vstart[i], vend[i], kind[i], np.zeros(n, dtype=bool)) for i, key in enumerate(keys)}
    return out, ok, pos


def prefixed_ids(chunk: Chunk, head: bytes, layouts: Sequence[tuple[int, bytes]],
                 width: int = 64) -> tuple[NDArray[np.bytes_], BoolA]:
    """A string value found at a fixed place: lines starting with ``head`` and holding ``literal`` at
    ``offset`` (the first layout that matches), the value running from there to its closing quote.

    The quick way to read one field of millions of lines written by the replay (e.g. the
    borrower of each alert); ``ok`` is False where no layout matches or the value is escaped.
    """
    buf, n = chunk.buf, chunk.lines
    ok = _match(buf, chunk.starts, head)
    vstart = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=bool)
    for offset, literal in layouts:
        hit = ~found & _match(buf, chunk.starts + offset, literal)
        vstart[hit] = chunk.starts[hit] + offset + len(literal)
        found |= hit
    win = gather(buf, vstart, width)
    length, closed = _first(win, (_QUOTE,))
    escaped = ((win == _BSLASH) & (np.arange(width)[None, :] < length[:, None])).any(axis=1)
    ok &= found & closed & ~escaped
    win[np.arange(width)[None, :] >= length[:, None]] = 0
    return np.ascontiguousarray(win).view(f"S{width}").ravel(), ok


def _key_code(length: I64, first: NDArray[np.integer], last: NDArray[np.integer]) -> I64:
    return (length.astype(np.int64) << 16) | (first.astype(np.int64) << 8) | last.astype(np.int64)


def flat_fields(chunk: Chunk, active: BoolA, keys: Sequence[str],
                universe: frozenset[str] = frozenset()) -> tuple[dict[str, FieldPos], BoolA]:
    """Fields of flat JSON objects, keys in any order. Returns the fields and the lines it could
    not read with certainty (an escaped quote, a doubled key, odd blanks): read those exactly.

    ``universe``: every key the active lines can hold (they were validated against a contract);
    a wanted key that no other key of it resembles (length, first and last letter) is then known
    by those alone."""
    buf, n = chunk.buf, chunk.lines
    escapes = bool((buf[: len(chunk.data)] == _BSLASH).any())
    q = np.flatnonzero(buf == _QUOTE)
    first = np.searchsorted(q, chunk.starts)
    count = np.diff(np.append(first, q.size))
    bad = (count % 2 == 1) & active
    if escapes:  # a quote after a backslash may be escaped: leave such lines to the exact reader
        esc = q[buf[np.maximum(q - 1, 0)] == _BSLASH]
        bad[np.searchsorted(chunk.starts, esc, side="right") - 1] = True
    drop = bad | ~active
    if bool(drop.any()):  # keep the quotes of the lines read here only
        keep = np.repeat(~drop, count)
        q = q[keep]
        count = np.where(drop, 0, count)
    li = np.repeat(np.arange(n, dtype=np.int64), count)
    # every line left has an even number of quotes: consecutive quotes pair up into strings
    opens, closes, sline = q[0::2], q[1::2], li[0::2]
    # the strings followed by ':' are keys; the value starts after the colon (and a blank or two)
    colon = closes + 1
    after = buf[colon]
    blank = (after == _SPACE) | (after == _TAB)
    if bool(blank.any()):
        colon[blank] += 1
        after = buf[colon]
    k = np.flatnonzero(after == _COLON)
    vstart = colon[k] + 1
    for _ in range(2):
        c = buf[vstart]
        blank = (c == _SPACE) | (c == _TAB)
        if not bool(blank.any()):
            break
        vstart[blank] += 1
    # which wanted key each key string may be: length, first and last byte; then checked in full
    kopen, kclose = opens[k], closes[k]
    code = _key_code(kclose - kopen - 1, buf[kopen + 1], buf[kclose - 1])
    wanted = [key.encode() for key in keys]
    wcodes = np.array([_key_code(np.array([len(w)]), np.array([w[0]]), np.array([w[-1]]))[0] for w in wanted])
    order = np.argsort(wcodes)
    pos = np.minimum(np.searchsorted(wcodes[order], code), len(wanted) - 1)
    kid = np.where(wcodes[order][pos] == code, order[pos], -1)
    by_key = np.argsort(kid, kind="stable")  # the key strings grouped by wanted key
    bounds = np.searchsorted(kid[by_key], np.arange(len(wanted) + 1))
    signature = [(len(u), u[0], u[-1]) for u in universe]
    out: dict[str, FieldPos] = {}
    for i, (key, kb) in enumerate(zip(keys, wanted)):
        cand = by_key[bounds[i]:bounds[i + 1]]
        if key not in universe or signature.count((len(key), key[0], key[-1])) > 1:
            cand = cand[_match(buf, kopen[cand] + 1, kb)]
        string = k[cand] + 1  # index of the string after the key
        lines = sline[k[cand]]
        bad |= np.bincount(lines, minlength=n) > 1
        vs = vstart[cand]
        string = np.minimum(string, opens.size - 1)
        as_str = (opens[string] == vs) & (sline[string] == lines)
        bare = buf[vs] != _QUOTE
        bad[lines[~bare & ~as_str]] = True
        start = np.full(n, -1, dtype=np.int64)
        end = np.full(n, -1, dtype=np.int64)
        kind = np.zeros(n, dtype=np.int8)
        start[lines] = np.where(as_str, vs + 1, vs)
        end[lines] = np.where(as_str, closes[string], vs)
        kind[lines] = np.where(as_str, 1, 2)
        b = np.flatnonzero(bare)
        if b.size:
            blen, found = _first(gather(buf, vs[b], 40), (_COMMA, _BRACE, _SPACE, _TAB, 13))
            end[lines[b]] = vs[b] + blen
            bad[lines[b[~found]]] = True
        out[key] = FieldPos(start, end, kind, np.zeros(n, dtype=bool))
    bs = np.flatnonzero(buf == _BSLASH) if escapes else np.zeros(0, dtype=np.int64)
    if bs.size:
        for fp in out.values():
            s0 = np.searchsorted(bs, fp.start)
            e0 = np.searchsorted(bs, fp.end)
            fp.escaped = (fp.kind == 1) & (e0 > s0)
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
        fixed = [_unescape(bytes(chunk.data[int(vs[i]):int(ve[i])])) for i in esc]
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
    out: list[bytes] = [b""] * offsets.size
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size and offsets.size > 1:  # many ranges: slices of the mapped file (no seek and read each)
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                    return [mm[o:o + n] for o, n in zip(offsets.tolist(), lengths.tolist())]
            for i in np.argsort(offsets, kind="stable"):
                fh.seek(int(offsets[i]))
                out[int(i)] = fh.read(int(lengths[i]))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return out
