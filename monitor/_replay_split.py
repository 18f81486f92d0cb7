"""Splitting the input by borrower before a sharded replay: each shard holds its borrowers' states only.

A shard's states stay in memory while it runs; a large input is therefore replayed
in more shards than processes, each process running its shards one after another
(shard j in process j mod processes). First every process splits its share of
the input (a byte range of each plain file; a compressed file is read whole by
one process): each line goes, unparsed, to the piece of its shard (``owner``:
the CRC-32 of its borrower id) for its source file, with its line number within
the range. A shard then reads each source file's lines from the pieces in range
order, numbered as in the source (the line counts of the ranges before), which
is the order and the numbering the file itself gives. The split reads its
ranges in blocks of whole lines and takes the keys of the lines' event ids as it
goes (``monitor._replay_keys``): the keys held twice in the whole input are then
found once for every shard (``repeated_keys_of``).

The as-of instant, when none is given, is the instant of the newest valid event,
and every shard needs it before it ends. The split finds it without validating
every line: it reads ``occurred_at`` from the text of each line (when written
once, as an ISO 8601 instant), keeps the lines with the newest such instants, and
validates those, newest first, with the replay's own rules: the first valid one
is the newest valid event of the range (a line whose instant could not be read
that way is validated at once). Should every kept line be invalid, the range is
validated line by line. An instant written in the plain form
``YYYY-MM-DDTHH:MM:SS`` with ``Z`` or ``+HH:MM`` (what the feeds and the
simulator write) is compared as text among the lines with the same offset
(for valid dates the text's order is the time's) and parsed only if it is
among the newest of its offset at the end; any other form is parsed at once.
"""

from __future__ import annotations

import heapq
import io
import json
import os
import re
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError
from monitor._replay_keys import joined
from monitor._replay_scan import scan_block
from monitor._time import to_us
from monitor.jsonl import UNREAD, compressed, iter_lines, range_blocks

__all__ = ["Split", "owner", "owners", "piece_lines", "remove_pieces", "repeated_keys_of", "split_input"]

# a piece is written in chunks (one a block read): this head (lines, bytes of their text), the lines' numbers within
# the range (from 0, int64), their instants as ``plain_instants`` read them (int64), then the lines, each ending
# with a newline (a line holds no other: the split cut it at one)
_CHUNK = struct.Struct("<QQ")
_KEEP = 64  # lines with the newest instants kept per range, validated at the end
_FAR = 2**63
_OCCURRED = b'"occurred_at"'
# occurred_at in the plain form: the local date and time (the text's order is the time's), then the offset
_PLAIN = re.compile(rb'"occurred_at":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(Z|[+-]\d\d:\d\d)"')


def owner(raw: bytes, shards: int) -> int:
    """The shard of a line: CRC-32 of its borrower id (read without parsing when the line is simple)."""
    i = raw.find(b'"borrower_id":"')
    if i >= 0:
        j = raw.find(b'"', i + 15)
        bid = raw[i + 15:j]
        if j > 0 and b"\\" not in bid and raw.find(b'"borrower_id"', j) < 0:
            return zlib.crc32(bid) % shards
    try:
        doc = json.loads(raw)
    except ValueError:
        return 0
    value = doc.get("borrower_id") if isinstance(doc, dict) else None
    if not isinstance(value, str):
        return 0  # no borrower: rejected, by the first shard
    return zlib.crc32(value.encode("utf-8", "surrogatepass")) % shards


def owners(block: bytes, lines: list[bytes], shards: int) -> list[int]:
    """``owner`` of each of ``lines`` (the lines of ``block``), at once for a plain block: no backslash and
    ``"borrower_id"`` written as many times as there are lines, each line holding ``"borrower_id":"``. Then
    each line holds it once (no match spans two lines), which is what ``owner`` reads without parsing."""
    if b"\\" not in block and block.count(b'"borrower_id"') == len(lines):
        crc = zlib.crc32
        out = []
        add = out.append
        for raw in lines:
            i = raw.find(b'"borrower_id":"')
            if i < 0:
                break
            j = raw.find(b'"', i + 15)
            if j < 0:
                break
            add(crc(raw[i + 15:j]) % shards)
        else:
            return out
    return [owner(raw, shards) for raw in lines]


def _range(path: Path, k: int, writers: int) -> tuple[int, int]:
    """The byte range of process ``k``: the lines that start in [size * k / writers, size * (k + 1) / writers)."""
    size = path.stat().st_size
    return size * k // writers, size * (k + 1) // writers


def _stripped(block: bytes) -> list[bytes]:
    return [raw.rstrip(b"\r") for raw in block.split(b"\n")]


def _range_lines(path: Path, lo: int, hi: int) -> Iterator[bytes]:
    """The lines (without line break) that start at a byte offset in [lo, hi) (``range_blocks`` gives them in
    blocks)."""
    try:
        with path.open("rb", buffering=1 << 20) as fh:
            pos = lo
            if lo > 0:
                fh.seek(lo - 1)
                pos = lo - 1 + len(fh.readline())  # the first line that starts at or after lo
            for line in fh if pos < hi else ():
                yield line.rstrip(b"\r\n")
                pos += len(line)
                if pos >= hi:
                    break
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def _quick_instant(raw: bytes) -> int | None:
    """``occurred_at`` read from the text when it is written once, as a plain ISO 8601 instant with offset."""
    i = raw.find(b'"occurred_at":"')
    if i < 0 or raw.count(_OCCURRED) != 1:
        return None
    j = raw.find(b'"', i + 15)
    text = raw[i + 15:j]
    if j < 0 or not 20 <= len(text) <= 32 or b"\\" in text:
        return None
    try:
        at = datetime.fromisoformat(text.decode("ascii"))
        return to_us(at)
    except ValueError:
        return None


class Split:
    """What one process's split found: the lines it read per source file and the newest valid instant."""

    def __init__(self, files: int) -> None:
        self.counts = [0] * files
        self.newest: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "newest": self.newest}


def split_input(files: Sequence[Path], k: int, writers: int, shards: int, out: Path,
                valid: Callable[[bytes], int | None] | None) -> dict[str, Any]:
    """Process ``k`` of ``writers`` writes its share of ``files`` into ``out/piece-<shard>-<file>-<k>``.

    ``valid``: the instant of a line that the replay accepts, else None; when given, the newest valid instant
    of the share is found (see the module's text). Returns ``Split.to_dict()``."""
    found = Split(len(files))
    keys = array("q")
    for fi, path in enumerate(files):
        if compressed(path):
            if fi % writers != k:
                continue
            blocks: Iterator[bytes] = joined(raw for _, raw in iter_lines(path))
            rescan: Callable[[], Iterator[bytes]] = lambda p=path: (raw for _, raw in iter_lines(p))  # noqa: E731
        else:
            lo, hi = _range(path, k, writers)
            blocks = range_blocks(path, lo, hi)
            rescan = lambda p=path, a=lo, b=hi: _range_lines(p, a, b)  # noqa: E731
        found.counts[fi] = _write_pieces(blocks, fi, k, shards, out, found, valid, rescan, keys)
    ordered = np.sort(np.frombuffer(keys, dtype=np.int64))
    del keys
    np.save(out / f"keys-{k}.npy", ordered)
    return found.to_dict()


def repeated_keys_of(out: Path, writers: int) -> np.ndarray:
    """The keys (``monitor._replay_keys``) held by more than one line of the whole input, from the keys of
    every process's share (``split_input``), sorted. Any line's event may thus be given the full duplicate
    memory when another shard holds its id: the outcomes are the same, only the work is more."""
    parts = []
    for k in range(writers):
        path = out / f"keys-{k}.npy"
        parts.append(np.load(path))
        path.unlink()
    ordered = np.sort(np.concatenate(parts), kind="stable")  # (sorted runs: merged)
    del parts
    same = ordered[1:] == ordered[:-1]
    return np.unique(ordered[1:][same])


def _write_pieces(blocks: Iterator[bytes], fi: int, k: int, shards: int, out: Path, found: Split,
                  valid: Callable[[bytes], int | None] | None, rescan: Callable[[], Iterator[bytes]],
                  keys: array[int]) -> int:
    handles: list[BinaryIO] = [(out / f"piece-{j}-{fi}-{k}").open("wb", buffering=0) for j in range(shards)]
    newest = _Newest(valid) if valid is not None else None
    count = 0
    try:
        for block in blocks:
            ended = b"\r" not in block
            lines = _ended(block) if ended else _stripped(block)
            first = count
            count += len(lines)
            # the shards, the event ids' keys (those of the whole input: see repeated_keys_of), the instants
            mine, ats = scan_block(block, lines, shards, keys, ended)
            if shards == 1:
                text = [block, b"\n"] if ended else [b"\n".join(lines), b"\n"]
                _write_chunk(handles[0], len(lines), text, np.arange(first, count, dtype=np.int64), ats)
            else:  # each shard's lines of the block, in order, as one chunk
                mine = np.asarray(mine, dtype=np.int64)
                order = np.argsort(mine, kind="stable")
                picked = list(map(lines.__getitem__, order.tolist()))
                numbers, at = order + first, ats[order]
                lo = 0
                for j, hi in enumerate(np.bincount(mine, minlength=shards).cumsum().tolist()):
                    if hi > lo:
                        text = [b"".join(picked[lo:hi])] if ended else [b"\n".join(picked[lo:hi]), b"\n"]
                        _write_chunk(handles[j], hi - lo, text, numbers[lo:hi], at[lo:hi])
                    lo = hi
            if newest is not None:
                newest.add(first, lines, ats, ended)
    finally:
        for fh in handles:
            fh.close()
    if newest is not None:
        got = newest.result(rescan)
        if got is not None and (found.newest is None or got > found.newest):
            found.newest = got
    return count


def _ended(block: bytes) -> list[bytes]:
    """The lines of a block (those ``block.split(b"\\n")`` gives) each with a newline at its end (the last one's
    added): found by ``memchr`` (``BytesIO.readlines``) rather than a byte at a time (``bytes.split``)."""
    lines = io.BytesIO(block).readlines()
    if not lines or lines[-1][-1:] == b"\n":  # an empty block, or one that ends with an empty line
        lines.append(b"\n")
    else:
        lines[-1] += b"\n"
    return lines


def _write_chunk(fh: BinaryIO, count: int, text: list[bytes], numbers: NDArray[np.int64],
                 ats: NDArray[np.int64]) -> None:
    """A chunk of ``count`` lines, ``text`` their bytes in parts, written without joining them (``os.writev``)."""
    parts = [_CHUNK.pack(count, sum(map(len, text))), numbers, ats, *text]
    total = sum(memoryview(p).nbytes for p in parts)
    done = os.writev(fh.fileno(), parts)
    if done < total:  # (a short write: the rest)
        rest = memoryview(b"".join(bytes(memoryview(p)) for p in parts))[done:]
        while rest:
            rest = rest[os.write(fh.fileno(), rest):]


class _Newest:
    """The newest valid instant of a range, from its lines given block by block (see the module's text)."""

    def __init__(self, valid: Callable[[bytes], int | None]) -> None:
        self.valid = valid
        self.keep: list[tuple[int, int, bytes]] = []  # min-heap of (instant, line, raw): the newest instants read
        self.plain: dict[bytes, list[tuple[bytes, int, bytes]]] = {}  # offset -> min-heap of (local text, line, raw)
        self.exact: int | None = None  # the newest instant of a line validated at once

    def add(self, first: int, lines: list[bytes], ats: NDArray[np.int64], ended: bool = False) -> None:
        """The lines numbered from ``first`` (with ``ended``, each with a newline at its end); ``ats``: their instants
        read by ``plain_instants`` (UNREAD: not)."""
        cut = -1 if ended else None
        read = ats != UNREAD
        idx = np.flatnonzero(read)
        if idx.size:
            at = ats[idx]
            if idx.size > _KEEP:  # only the block's newest can be among the range's
                top = np.argpartition(at, idx.size - _KEEP)[idx.size - _KEEP:]
                idx, at = idx[top], at[top]
            for i, t in zip(idx.tolist(), at.tolist()):
                self._keep(t, first + i, lines[i][:cut])
        if idx.size < len(lines):
            self._lines([(first + i, lines[i][:cut]) for i in np.flatnonzero(~read).tolist()])

    def _keep(self, t: int, n: int, raw: bytes) -> None:
        keep = self.keep
        if len(keep) < _KEEP:
            heapq.heappush(keep, (t, n, raw))
        elif t > keep[0][0]:
            heapq.heapreplace(keep, (t, n, raw))

    def _lines(self, lines: list[tuple[int, bytes]]) -> None:
        """Lines whose instant was not read at once: a plain instant compared as text per offset, another read
        from the text when it can be, else the line validated."""
        search, plain = _PLAIN.search, self.plain
        block_plain: dict[bytes, list[tuple[bytes, int, bytes]]] = {}  # offset -> the block's lines
        for n, raw in lines:
            m = search(raw)
            if m is not None and raw.count(_OCCURRED) == 1:  # the plain form: compared as text
                text, offset = m.groups()
                got = block_plain.get(offset)
                if got is None:
                    got = block_plain[offset] = []
                got.append((text, n, raw))
                continue
            t = _quick_instant(raw)
            if t is None:
                self._validated(raw)
            else:
                self._keep(t, n, raw)
        for offset, got in block_plain.items():  # the newest _KEEP of the offset's lines so far (a heap:
            heap = plain.get(offset)  # ascending), by one sort a block rather than a heap step a line
            if heap:
                got.extend(heap)
            got.sort()
            plain[offset] = got[-_KEEP:]

    def _validated(self, raw: bytes) -> None:
        t = self.valid(raw)
        if t is not None and (self.exact is None or t > self.exact):
            self.exact = t

    def result(self, rescan: Callable[[], Iterator[bytes]]) -> int | None:
        keep = self.keep
        floor = keep[0][0] if len(keep) >= _KEEP else None  # lines dated up to it may have been left out
        for offset, heap in self.plain.items():
            lowest = None
            for text, n, raw in heap:
                try:
                    t = to_us(datetime.fromisoformat((text + offset).decode("ascii")))
                except ValueError:  # no such date: validated at once, as any line not read from its text
                    self._validated(raw)
                    continue
                keep.append((t, n, raw))
                lowest = t if lowest is None or t < lowest else lowest
            if len(heap) >= _KEEP:  # lines of this offset dated up to its lowest kept one may have been left out
                worst = lowest if lowest is not None else _FAR
                floor = worst if floor is None or worst > floor else floor
        return _newest_of(keep, self.exact, self.valid, rescan, floor)


def _newest_of(keep: list[tuple[int, int, bytes]], exact: int | None, valid: Callable[[bytes], int | None],
               rescan: Callable[[], Iterator[bytes]], floor: int | None) -> int | None:
    """The newest valid instant: of the kept lines (newest first) and ``exact`` (the lines validated at once);
    ``floor``: lines dated up to it may have been left out (None: every line was kept or validated)."""
    for t, _, raw in sorted(keep, reverse=True):
        got = valid(raw)
        if got is None:
            continue
        if got != t or (floor is not None and t < floor):  # read differently from the text than by the contract
            break  # (trust neither), or a line left out may be newer: validate all
        return t if exact is None or t > exact else exact
    else:
        if floor is None:  # every line of the range was kept or validated
            return exact
    newest = None
    for raw in rescan():
        got = valid(raw)
        if got is not None and (newest is None or got > newest):
            newest = got
    return newest


def piece_lines(directory: Path, shard: int, fi: int, bases: Sequence[int],
                ended: bool = False) -> Iterator[tuple[int, int, bytes]]:
    """The lines of source file ``fi`` that belong to ``shard``, numbered from 1 as in the file, in order, each
    with its instant as ``plain_instants`` read it (UNREAD: not read); ``bases[k]``: the lines of the ranges
    before process ``k``'s. With ``ended``, each line with its newline at its end (read by ``memchr``)."""
    return chain.from_iterable(_piece_chunks(directory, shard, fi, bases, ended))


def _piece_chunks(directory: Path, shard: int, fi: int, bases: Sequence[int],
                  ended: bool) -> Iterator[Iterator[tuple[int, int, bytes]]]:
    head = _CHUNK.size
    for k, base in enumerate(bases):
        path = directory / f"piece-{shard}-{fi}-{k}"
        if not path.exists():
            continue
        with path.open("rb") as fh:
            while got := fh.read(head):
                count, size = _CHUNK.unpack(got)
                numbers = np.frombuffer(fh.read(8 * count), dtype=np.int64) + (base + 1)
                ats = np.frombuffer(fh.read(8 * count), dtype=np.int64)
                text = fh.read(size)  # (split: a last empty item after the last newline, which zip leaves)
                yield zip(numbers.tolist(), ats.tolist(), io.BytesIO(text).readlines() if ended else text.split(b"\n"))


def remove_pieces(directory: Path, shard: int) -> None:
    for path in directory.glob(f"piece-{shard}-*"):
        path.unlink()
