"""The end of a sharded replay: each output file from the shards' sorted runs, with its digest.

The shards leave their decisions as sorted runs (``LineSpill.dump``: records ``key<TAB>line``, keys unique);
an output is the k-way merge of its runs, the keys cut off. The runs are read and the output written as
bytes: UTF-8's byte order is the order of the code points, which is the text's, so the lines come in the
order (and with the bytes) the text would give, without decoding and encoding every line again. The
SHA-256 and size of each output (``files.json``) are taken as it is written, not by reading it again.

The outputs are independent of one another: with several processes, each merges its share (``plan``: the
largest outputs first, each to the process with the least so far), while the parent writes the rest.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from monitor._spill import run_files

__all__ = ["MERGED", "merge_outputs", "plan"]

# output (relative to the replay's directory) -> (header, the run files of a shard, merged one after another)
MERGED: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "schedule_history.jsonl": (b"", ("history.run",)),
    "alerts.jsonl": (b"", ("alerts.run",)),
    "borrowers.jsonl": (b"", ("views.run",)),
    "schedule.csv": (b"team,branch,borrower_id,tier,next_visit_due\n", ("schedule.run",)),
    "workout.csv": (b"team,branch,borrower_id,tier,handed_over\n", ("workout.run",)),
    "snapshots/signals.jsonl": (b"", ("signals.run",)),
    "rejects.jsonl": (b"", ()),  # one group per input file: see _groups
}


def _groups(name: str, files: int) -> tuple[str, ...]:
    runs = MERGED[name][1]
    return runs if name != "rejects.jsonl" else tuple(f"rejects-{fi}.run" for fi in range(files))


_BLOCK = 1 << 20  # bytes read from a run at once


class _Run:
    """A sorted run file read in blocks: ``lines[pos:]``, its next records (without their line breaks), sorted."""

    __slots__ = ("fh", "path", "lines", "pos", "rest", "done")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = path.open("rb")
        self.lines: list[bytes] = []
        self.pos = 0
        self.rest = b""
        self.done = False

    def fill(self) -> None:
        """Read until ``lines`` holds a record not taken or the file ends (then it is closed and removed)."""
        while self.pos == len(self.lines) and not self.done:
            block = self.fh.read(_BLOCK)
            self.pos = 0
            if not block:
                self.done = True
                self.fh.close()
                self.path.unlink(missing_ok=True)
                self.lines, self.rest = ([self.rest] if self.rest else []), b""  # (a run ends with a line break)
                return
            lines = (self.rest + block).split(b"\n")
            self.rest = lines.pop()
            self.lines = lines


def _batches(paths: list[Path]) -> Iterator[list[bytes]]:
    """The records of sorted run files (without line breaks) merged, in sorted lists: each time, every record
    read that is not above the smallest of the runs' last records read (no record still unread can come
    before it), sorted at once (the runs' lists are sorted: the sort merges them). Each file removed once read.
    Records compare as the text's order (UTF-8's bytes keep it; keys unique, so the line breaks don't count)."""
    runs = [_Run(p) for p in paths]
    try:
        while True:
            for r in runs:
                r.fill()
            live = [r for r in runs if r.pos < len(r.lines)]
            if not live:
                return
            waiting = [r.lines[-1] for r in live if not r.done]
            if len(live) == 1 or not waiting:  # (one run left, or every record read)
                batch = []
                for r in live:
                    batch += r.lines[r.pos:] if r.pos else r.lines
                    r.lines, r.pos = [], 0
                if len(live) > 1:
                    batch.sort()
                yield batch
                continue
            bound = min(waiting)
            batch = []
            for r in live:
                lines, pos = r.lines, r.pos
                k = len(lines) if lines[-1] <= bound else bisect_right(lines, bound, pos)
                if k > pos:
                    batch += lines[pos:k] if pos or k < len(lines) else lines
                    r.pos = k
            batch.sort()
            yield batch
    finally:
        for r in runs:
            if not r.done:
                r.fh.close()
                r.path.unlink(missing_ok=True)


def merge_output(out: Path, name: str, shards: Sequence[Path], files: int) -> dict[str, Any]:
    """Write ``out/name`` from the shards' runs; its digest as ``monitor.jsonl.file_digest`` gives it."""
    head, _ = MERGED[name]
    digest = hashlib.sha256(head)
    size = len(head)
    with (out / name).open("wb") as fh:
        fh.write(head)
        for run in _groups(name, files):
            for batch in _batches([p for d in shards for p in run_files(d / run)]):
                batch = [rec[rec.index(b"\t") + 1:] for rec in batch]  # (the key cut off)
                batch.append(b"")
                data = b"\n".join(batch)
                fh.write(data)
                digest.update(data)
                size += len(data)
    return {"sha256": digest.hexdigest(), "bytes": size}


def merge_outputs(out: Path, names: Sequence[str], shards: Sequence[Path], files: int) -> dict[str, dict[str, Any]]:
    """``merge_output`` of each of ``names``."""
    return {name: merge_output(out, name, shards, files) for name in names}


def plan(shards: Sequence[Path], files: int, processes: int) -> list[list[str]]:
    """The outputs each of ``processes`` merges: by the size of their runs, largest first, each to the
    process with the least bytes so far (the merge's work grows with the bytes and lines it reads)."""
    sizes = {name: sum(p.stat().st_size for d in shards for run in _groups(name, files) for p in run_files(d / run))
             for name in MERGED}
    shares: list[list[str]] = [[] for _ in range(processes)]
    load = [0] * processes
    for name in sorted(MERGED, key=lambda n: -sizes[n]):  # (stable: ties in MERGED's order)
        k = load.index(min(load))
        shares[k].append(name)
        load[k] += sizes[name]
    return shares
