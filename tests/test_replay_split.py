"""The split's lines with their newlines (``monitor._replay_split._ended``), and a split input's lines read back
that way by the replay: the same outcomes as the lines read one by one, at the line-length limit too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor._replay_split import _ended
from monitor._replay_stream import replay_to
from monitor._time import parse_instant
from monitor.jsonl import MAX_LINE_BYTES
from monitor.rules.loader import default_policy


@pytest.mark.parametrize("block", [b"", b"\n", b"\n\n", b"a", b"a\n", b"a\nb", b"a\n\nb\n", b"\n\na\nbb\nccc",
                                   b"x" * 70_000 + b"\n" + b"y" * 3])
def test_the_lines_with_their_newlines_are_those_split_gives(block: bytes) -> None:
    assert _ended(block) == [x + b"\n" for x in block.split(b"\n")]


def _line(i: int, size: int = 0, event_id: str | None = None, outcome: str = "normal") -> bytes:
    doc = {"event_id": event_id or f"e{i}", "type": "inspection_completed", "borrower_id": f"B{i % 7}",
           "occurred_at": f"2025-03-{1 + i // 2:02d}T08:00:00+08:00", "source": "inspection-app", "team": "t-1",
           "inspector": "insp-1", "outcome": outcome}
    text = json.dumps(doc, separators=(",", ":")).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}" if size else text  # (JSON's whitespace: still valid)


def test_lines_at_the_length_limit_and_bad_ones_are_judged_as_one_by_one(tmp_path: Path, monkeypatch) -> None:
    """In time order: each shard's lines are streamed to the engine (``_Reader.feed``), not sorted on disk."""
    from monitor import _replay_stream

    def unordered(*args: object) -> None:
        raise AssertionError("the lines were to be streamed in time order")

    monkeypatch.setattr(_replay_stream._Reader, "sorted", unordered)
    lines = [_line(i) for i in range(40)]
    lines[5] = _line(5, MAX_LINE_BYTES)  # at the limit: read
    lines[9] = _line(9, MAX_LINE_BYTES + 1)  # one more: rejected
    lines[12] = b'{"event_id":"e12","type":"inspection_completed"'  # cut short
    lines[15] = b"   "
    lines[18] = _line(18, event_id="e4", outcome="concern")  # a conflicting copy of e4: the engine rejects it
    assert len(lines[5]) == MAX_LINE_BYTES and len(lines[9]) == MAX_LINE_BYTES + 1
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    outs = {}
    for shards in (1, 3):
        out = tmp_path / f"s{shards}"
        replay_to([src], default_policy(), out, now=parse_instant("2030-01-01T00:00:00Z"), workers=2, shards=shards)
        outs[shards] = out
        assert not list(out.glob(".replay-*"))
    rejects = [json.loads(x) for x in (outs[3] / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"][:40]) for r in rejects] == [
        (10, f"line longer than {MAX_LINE_BYTES} bytes"[:40]), (13, rejects[1]["reason"][:40]),
        (16, "empty line"), (19, rejects[3]["reason"][:40])]
    assert rejects[1]["text"] == lines[12].decode() and rejects[3]["text"] == lines[18].decode()
    assert "duplicate" in rejects[3]["reason"]
    for name in ("rejects.jsonl", "alerts.jsonl", "borrowers.jsonl", "summary.json", "schedule_history.jsonl"):
        assert (outs[1] / name).read_bytes() == (outs[3] / name).read_bytes(), name
