"""External sorting: sorted runs on disk, merged, so that memory does not grow with the input.

Two kinds of records: validated event lines keyed by (instant, file, line)
(:class:`EventRuns`, binary) and output lines keyed by a tuple of integers and
strings (:class:`LineSpill`, text). Each keeps up to ``limit`` bytes in memory,
then writes them sorted as one run; reading merges the runs (``heapq.merge``).
"""

from __future__ import annotations

import heapq
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["EventRuns", "LineSpill", "run_files", "sort_key"]

_HEAD = struct.Struct("<qIQI")  # instant, file, line, length


class EventRuns:
    """Raw event lines sorted by (instant, file index, line number)."""

    def __init__(self, directory: Path, limit: int = 256 << 20) -> None:
        self.dir = directory
        self.limit = limit
        self.buf: list[tuple[int, int, int, bytes]] = []
        self.size = 0
        self.runs: list[Path] = []

    def add(self, t: int, fi: int, line: int, raw: bytes) -> None:
        self.buf.append((t, fi, line, raw))
        self.size += len(raw) + 96
        if self.size >= self.limit:
            self._flush()

    def _flush(self) -> None:
        if not self.buf:
            return
        self.buf.sort()
        path = self.dir / f"events-{len(self.runs):05d}.run"
        pack = _HEAD.pack
        with path.open("wb", buffering=1 << 20) as fh:
            for t, fi, line, raw in self.buf:
                fh.write(pack(t, fi, line, len(raw)))
                fh.write(raw)
        self.runs.append(path)
        self.buf, self.size = [], 0

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[int, int, int, bytes]]:
        size = _HEAD.size
        unpack = _HEAD.unpack
        with path.open("rb", buffering=1 << 20) as fh:
            while head := fh.read(size):
                t, fi, line, n = unpack(head)
                yield t, fi, line, fh.read(n)
        path.unlink()

    def sorted(self) -> Iterator[tuple[int, int, int, bytes]]:
        if not self.runs:
            self.buf.sort()
            yield from self.buf
            self.buf = []
            return
        self._flush()
        yield from heapq.merge(*(self._read(p) for p in self.runs))


_CONTROL = re.compile("[\x00-\x1f]")


def _escape(m: re.Match[str]) -> str:
    return "\x1f" + chr(0x20 + ord(m.group()))


def sort_key(key: tuple[Any, ...]) -> str:
    """A tuple of integers and strings as text that sorts as the tuple does (plain string comparison).

    An integer is 16 hex digits of its value plus 2**63 (it must lie in [-2**63, 2**63)); a string ends with
    U+0000, its control characters written as U+001F and the character 0x20 places up (so that the text
    holds no tab or line break and the order is kept)."""
    out = []
    for v in key:
        if isinstance(v, str):
            out.append((_CONTROL.sub(_escape, v) if _CONTROL.search(v) else v) + "\x00")
        else:
            out.append(f"{v + (1 << 63):016x}")
    return "".join(out)


class LineSpill:
    """Text lines (without a line break) sorted by a key of integers and strings; ties keep the order added.

    Each line is kept as ``sort_key(key + (order added,))``, a tab and the line, so that sorting and merging
    compare plain strings."""

    def __init__(self, directory: Path, name: str, limit: int = 32 << 20) -> None:
        self.dir = directory
        self.name = name
        self.limit = limit
        self.buf: list[str] = []
        self.size = 0
        self.seq = 0
        self.runs: list[Path] = []
        self.count = 0

    def add(self, key: tuple[Any, ...], line: str) -> None:
        self.add_keyed(sort_key(key), line)

    def add_keyed(self, key: str, line: str) -> None:
        """``add`` with the key already written as ``sort_key(key)``."""
        self.add_record(f"{key}{self.seq:016x}\t{line}")

    def add_record(self, rec: str) -> None:
        """``add_keyed`` of a record already written: the key, ``self.seq`` as 16 hex digits, a tab, the line."""
        self.buf.append(rec)
        self.seq += 1
        self.count += 1
        self.size += len(rec) + 60
        if self.size >= self.limit:
            self._flush()

    def _flush(self) -> None:
        if not self.buf:
            return
        path = self.dir / f"{self.name}-{len(self.runs):05d}.run"
        _write_sorted(path, self.buf)
        self.runs.append(path)
        self.buf, self.size = [], 0

    @staticmethod
    def _read(path: Path) -> Iterator[str]:
        with path.open("r", encoding="utf-8", newline="\n", buffering=1 << 20) as fh:
            yield from fh
        path.unlink()

    def _records(self) -> Iterator[str]:
        """Every record (with its line break), in key order."""
        if not self.runs:
            self.buf.sort()
            for rec in self.buf:
                yield rec + "\n"
            self.buf = []
            return
        self._flush()
        yield from heapq.merge(*(self._read(p) for p in self.runs))

    def dump(self, path: Path) -> None:
        """Leave every line, with its key, as sorted runs: ``path`` and, when the lines filled more than one run,
        ``path.1``, ``path.2``, ... (:func:`run_files`; merged by :mod:`monitor._replay_merge`, which merges them
        with the other shards' runs: no merge here)."""
        if not self.runs:
            _write_sorted(path, self.buf)
            self.buf, self.size = [], 0
            return
        self._flush()
        for k, run in enumerate(self.runs):
            os.replace(run, path if k == 0 else path.with_name(f"{path.name}.{k}"))
        self.runs = []

    def lines(self) -> Iterator[str]:
        """Every line added, in key order."""
        for rec in self._records():
            yield rec[rec.index("\t") + 1:-1]


def _write_sorted(path: Path, records: list[str]) -> None:
    """The records sorted, one a line (written at once: a write a record cost more than the join)."""
    records.sort()
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        if records:
            fh.write("\n".join(records))
            fh.write("\n")


def run_files(path: Path) -> list[Path]:
    """The run files ``LineSpill.dump(path)`` left: ``path`` (if any) and ``path.1``, ``path.2``, ..."""
    if not path.exists():
        return []
    out = [path]
    while (nxt := path.with_name(f"{path.name}.{len(out)}")).exists():
        out.append(nxt)
    return out
