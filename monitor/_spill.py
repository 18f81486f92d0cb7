"""External sorting: sorted runs on disk, merged, so that memory does not grow with the input.

Two kinds of records: validated event lines keyed by (instant, file, line)
(:class:`EventRuns`, binary) and output lines keyed by a tuple of integers and
strings (:class:`LineSpill`, text). Each keeps up to ``limit`` bytes in memory,
then writes them sorted as one run; reading merges the runs (``heapq.merge``).
"""

from __future__ import annotations

import heapq
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["EventRuns", "LineSpill", "merge_runs"]

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


class LineSpill:
    """Text lines (without a newline) sorted by a key of integers and strings; ties keep the order added."""

    def __init__(self, directory: Path, name: str, limit: int = 32 << 20) -> None:
        self.dir = directory
        self.name = name
        self.limit = limit
        self.buf: list[tuple[tuple[Any, ...], int, str]] = []
        self.size = 0
        self.seq = 0
        self.runs: list[Path] = []
        self.count = 0

    def add(self, key: tuple[Any, ...], line: str) -> None:
        self.buf.append((key, self.seq, line))
        self.seq += 1
        self.count += 1
        self.size += len(line) + 120
        if self.size >= self.limit:
            self._flush()

    def _flush(self) -> None:
        if not self.buf:
            return
        self.buf.sort()
        path = self.dir / f"{self.name}-{len(self.runs):05d}.run"
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for key, seq, line in self.buf:
                fh.write(json.dumps([*key, seq], separators=(",", ":")))
                fh.write("\t")
                fh.write(line)
                fh.write("\n")
        self.runs.append(path)
        self.buf, self.size = [], 0

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[tuple[Any, ...], int, str]]:
        with path.open("r", encoding="utf-8", newline="\n") as fh:
            for text in fh:
                key, _, line = text.partition("\t")
                k = json.loads(key)
                yield tuple(k[:-1]), k[-1], line[:-1]
        path.unlink()

    def keyed(self) -> Iterator[tuple[tuple[Any, ...], int, str]]:
        """Every (key, order added, line), in key order."""
        if not self.runs:
            self.buf.sort()
            yield from self.buf
            self.buf = []
            return
        self._flush()
        yield from heapq.merge(*(self._read(p) for p in self.runs))

    def dump(self, path: Path) -> None:
        """Write every line in key order, with its key, as one run file (see :func:`merge_runs`)."""
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for key, seq, line in self.keyed():
                fh.write(json.dumps([*key, seq], separators=(",", ":")))
                fh.write("\t")
                fh.write(line)
                fh.write("\n")

    def lines(self) -> Iterator[str]:
        """Every line added, in key order."""
        if not self.runs:
            self.buf.sort()
            for _, _, line in self.buf:
                yield line
            self.buf = []
            return
        self._flush()
        for _, _, line in heapq.merge(*(self._read(p) for p in self.runs)):
            yield line


def merge_runs(paths: list[Path]) -> Iterator[str]:
    """The lines of run files written by :meth:`LineSpill.dump`, merged in key order (ties: file order)."""
    for _, _, line in heapq.merge(*(LineSpill._read(p) for p in paths), key=lambda r: r[0]):
        yield line
