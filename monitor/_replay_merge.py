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
import heapq
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

__all__ = ["MERGED", "merge_outputs", "plan"]

_BATCH = 4096  # records cut and written at once

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


def _records(paths: list[Path]) -> Iterator[bytes]:
    """The records of sorted run files, merged (each file removed once read)."""
    handles = [p.open("rb", buffering=1 << 20) for p in paths]
    try:
        yield from heapq.merge(*handles) if len(handles) > 1 else handles[0]
    finally:
        for fh, p in zip(handles, paths):
            fh.close()
            p.unlink(missing_ok=True)


def merge_output(out: Path, name: str, shards: Sequence[Path], files: int) -> dict[str, Any]:
    """Write ``out/name`` from the shards' runs; its digest as ``monitor.jsonl.file_digest`` gives it."""
    head, _ = MERGED[name]
    digest = hashlib.sha256(head)
    size = len(head)
    with (out / name).open("wb") as fh:
        fh.write(head)
        for run in _groups(name, files):
            merged = _records([d / run for d in shards])
            while batch := [rec[rec.index(b"\t") + 1:] for rec in islice(merged, _BATCH)]:
                data = b"".join(batch)
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
    sizes = {name: sum((d / run).stat().st_size for d in shards for run in _groups(name, files) if (d / run).exists())
             for name in MERGED}
    shares: list[list[str]] = [[] for _ in range(processes)]
    load = [0] * processes
    for name in sorted(MERGED, key=lambda n: -sizes[n]):  # (stable: ties in MERGED's order)
        k = load.index(min(load))
        shares[k].append(name)
        load[k] += sizes[name]
    return shares
