"""A 1,000,000-borrower replay for the report bench, tiled from a real replay of 100,000 of them.

    python bench/report_tile.py --replay replay-100k --events events-100k-12.jsonl --copies 10 \
        --out replay-1m-tiled --events-out events-1m-tiled.jsonl

Why: ``monitor replay`` of the 1 M x 12 months simulation (29.7 M events) takes about 40 CPU-minutes, more
than a shared machine gives in a session. The borrowers are independent of each other (the replay shards by
borrower), so a real replay of the borrowers whose id ends in ``0`` (every tenth of the simulation, their
whole history) is copied ten times with the last digit of the id set to 0 .. 9: the ids are then exactly
those of the 1 M simulation, and every file is the replay's own output, relabelled:

* borrower ids (``"borrower_id":"B0000010"`` -> ``B0000011`` ...); event ids ``sim-14-0...`` -> ``sim-14-K...``
  (unique again); alert ids get the copy's digit as first character (copy 0 keeps its own);
* line files (``borrowers.jsonl``, ``alerts.jsonl``, ``schedule_history.jsonl``, ``snapshots/signals.jsonl``):
  each line is followed by its copies, so the files stay sorted as the replay sorts them (by instant, then
  borrower; borrowers by id);
* snapshots: each part copied with its ids relabelled (``ids.bin``), every column file as it is (copied, not
  linked: the report reads ten times the bytes, as it would); the manifest lists every copy's parts;
* ``summary.json``: every count times the copies; ``rejects.jsonl`` tiled the same way;
* the events file: the copies one after the other (relabelled the same way), so that its line count and
  digest are those of the tiled replay's input; ``files.json`` records its digest and the outputs' as
  ``monitor replay`` does.

What differs from a real 1 M replay: the portfolio is ten times the same 100,000 histories (same instants,
names, amounts), so code tables (names) are a tenth of their real size; everything else -- rows, bytes,
alerts, change rows, checkpoints -- has the size a 1 M replay of this simulation has.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np

from monitor.jsonl import write_files

LINE_FILES = ("borrowers.jsonl", "alerts.jsonl", "schedule_history.jsonl", "rejects.jsonl")

_BID = re.compile(rb'("borrower_id":"[^"]*)0"')
_EID = re.compile(rb"(sim-\d+-)0")
_AID = re.compile(rb'"alert_id":"[0-9a-f]')


def relabel(data: bytes, k: int) -> bytes:
    if k == 0:
        return data
    d = str(k).encode()
    data = _BID.sub(rb"\g<1>" + d + b'"', data)
    data = _EID.sub(rb"\g<1>" + d, data)
    return _AID.sub(b'"alert_id":"' + d, data)


def _chunks(path: Path, size: int = 1 << 24):
    with path.open("rb") as fh:
        rest = b""
        while True:
            block = fh.read(size)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                yield block[:cut]
        if rest:
            yield rest + b"\n"


def tile_lines(src: Path, dst: Path, copies: int) -> None:
    """Each line, then its copies (the file's order is kept: instants and ids are those of the original)."""
    with dst.open("wb") as out:
        for block in _chunks(src):
            versions = [relabel(block, k).split(b"\n")[:-1] for k in range(copies)]
            out.write(b"".join(b"\n".join(group) + b"\n" for group in zip(*versions)))


def tile_events(src: Path, dst: Path, copies: int) -> dict[str, object]:
    """The copies one after the other; returns the file's digest as ``monitor replay`` records it."""
    digest, size, lines = hashlib.sha256(), 0, 0
    with dst.open("wb") as out:
        for k in range(copies):
            for block in _chunks(src):
                block = relabel(block, k)
                out.write(block)
                digest.update(block)
                size += len(block)
                lines += block.count(b"\n")
    return {"sha256": digest.hexdigest(), "bytes": size, "lines": lines}


def tile_snapshots(src: Path, dst: Path, copies: int) -> None:
    doc = json.loads((src / "manifest.json").read_text())
    dst.mkdir(parents=True, exist_ok=True)
    parts = []
    for k in range(copies):
        for p in doc["parts"]:
            name = f"{p['dir']}-c{k}"
            shutil.copytree(src / p["dir"], dst / name, dirs_exist_ok=True)
            ids = np.fromfile(src / p["dir"] / "ids.bin", dtype=f"S{p['id_width']}")
            width = p["id_width"]
            raw = ids.view(np.uint8).reshape(-1, width).copy()
            if not bool(np.all(raw[:, width - 1] == ord("0"))):
                raise SystemExit(f"{src / p['dir']}: every borrower id must end in 0 (and have the same length)")
            raw[:, width - 1] = ord(str(k))
            raw.tofile(dst / name / "ids.bin")
            parts.append({**p, "dir": name})
    doc["parts"] = parts
    (dst / "manifest.json").write_text(json.dumps(doc, indent=1) + "\n")
    if (src / "signals.jsonl").is_file():
        tile_lines(src / "signals.jsonl", dst / "signals.jsonl", copies)


def _times(doc: object, copies: int, keep: frozenset[str]) -> object:
    if isinstance(doc, dict):
        return {k: (v if k in keep else _times(v, copies, keep)) for k, v in doc.items()}
    if isinstance(doc, bool):
        return doc
    if isinstance(doc, int):
        return doc * copies
    return doc


def tile(replay: Path, events: Path, copies: int, out: Path, events_out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = json.loads((replay / "summary.json").read_text())
    summary = _times(summary, copies, frozenset({"as_of", "newest_by_type"}))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    for name in LINE_FILES:
        print(f"tiling {name}", flush=True)
        tile_lines(replay / name, out / name, copies)
    print("tiling snapshots", flush=True)
    tile_snapshots(replay / "snapshots", out / "snapshots", copies)
    print("tiling the events", flush=True)
    record = tile_events(events, events_out, copies)
    print("files.json", flush=True)  # as monitor replay writes it: the report need not hash 8 GiB again
    write_files(out, [(str(events_out), record)], [n for n in (*LINE_FILES, "summary.json")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replay", type=Path, required=True, help="a replay of borrowers whose ids end in 0")
    ap.add_argument("--events", type=Path, required=True, help="the events it read")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--events-out", type=Path, required=True)
    args = ap.parse_args()
    if not 1 <= args.copies <= 10:
        ap.error("--copies: 1 .. 10 (the last digit of the id)")
    tile(args.replay, args.events, args.copies, args.out, args.events_out)


if __name__ == "__main__":
    main()
