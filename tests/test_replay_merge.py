"""The end of a sharded replay: outputs merged from the shards' sorted runs, in the text's order, with digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from monitor._replay_merge import MERGED, merge_output, plan
from monitor._spill import LineSpill


def _shard(directory: Path, rows: list[tuple[tuple[object, ...], str]]) -> Path:
    directory.mkdir()
    spill = LineSpill(directory, "x", limit=64)  # several runs inside the shard too
    for key, line in rows:
        spill.add(key, line)
    spill.dump(directory / "alerts.run")
    return directory


def test_a_merge_gives_the_lines_in_the_order_of_their_keys_as_text_with_the_files_digest(tmp_path: Path) -> None:
    """Keys with characters outside ASCII and control characters: read as bytes, the merge keeps the order of
    the keys as text (the order of a sort of every line), and the digest is that of the file written."""
    rows = [((t, bid), f'{{"at":{t},"id":"{bid}"}}') for t in (-5, 0, 7, 2**40)
            for bid in ("B1", "B10", "B2", "é", "日本", "\U0001F600", "a\tb", "a\x01", "Z")]
    a = _shard(tmp_path / "a", rows[0::2])
    b = _shard(tmp_path / "b", rows[1::2])
    out = tmp_path / "out"
    out.mkdir()
    digest = merge_output(out, "alerts.jsonl", [a, b], 1)
    data = (out / "alerts.jsonl").read_bytes()
    expected = "".join(line + "\n" for _, line in sorted(rows, key=lambda r: r[0])).encode()
    assert data == expected
    assert digest == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert not (a / "alerts.run").exists()  # read once, then removed


def test_the_plan_gives_every_output_to_one_process_the_largest_first(tmp_path: Path) -> None:
    shards = []
    for k in range(3):
        d = tmp_path / f"shard-{k}"
        d.mkdir()
        for name, (_, runs) in MERGED.items():
            for run in runs or ("rejects-0.run", "rejects-1.run"):
                (d / run).write_bytes(b"x" * (1000 if run == "history.run" else 10))
        shards.append(d)
    shares = plan(shards, 2, 2)
    assert shares[0] == ["schedule_history.jsonl"]
    assert sorted(shares[1]) == sorted(n for n in MERGED if n != "schedule_history.jsonl")
    [alone] = plan(shards, 2, 1)
    assert alone[0] == "schedule_history.jsonl" and sorted(alone) == sorted(MERGED)
