"""Replaying the borrowers in parts gives the same figures as one replay; the as-of instant is exact."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.backtest import run_backtest
from monitor.backtest import _shard
from monitor.backtest._shard import split_events
from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.simulate import outcomes_path, simulate, write_simulation
from tests.backtest.histories import History


def test_parts_hold_whole_borrowers_in_input_order(tmp_path):
    events = tmp_path / "events.jsonl"
    write_simulation(simulate(60, 6, 3, duplicates=0.02, malformed=0.02), events)
    split = split_events([str(events)], 4, tmp_path)
    lines = events.read_bytes().splitlines()
    seen: dict[str, int] = {}
    total = 0
    for i, part in enumerate(split.paths):
        part_lines = Path(part).read_bytes().splitlines()
        total += len(part_lines)
        members = set(part_lines)
        assert part_lines == [x for x in lines if x in members]  # input order kept
        for raw in part_lines:
            try:
                bid = json.loads(raw).get("borrower_id")
            except (ValueError, AttributeError):
                continue
            if isinstance(bid, str):
                assert seen.setdefault(bid, i) == i, bid
    assert total == len(lines) == split.lines
    assert split.known and split.as_of == replay([events], default_policy()).as_of


def test_the_as_of_instant_ignores_invalid_lines_and_reads_odd_ones(tmp_path):
    events, _ = History().profile("B1").profile("B2", 3).write(tmp_path)
    extra = [
        # the latest instants, but not events: they must not move the as-of instant
        '{"event_id":"x1","type":"rumour","borrower_id":"B1","occurred_at":"2031-01-01T00:00:00Z"}',
        ('{"event_id":"x2","type":"overdue","borrower_id":"B1","occurred_at":"2030-01-01T00:00:00Z",'
        '"account_id":"A","product":"p","days_past_due":-1,"overdue_amount":0}'),
        # valid, spaced out and with a Unix timestamp: the latest valid event
        ('{"event_id" : "x3", "type" : "overdue", "borrower_id" : "B2", "occurred_at" : 1767225600,'
        ' "account_id" : "A", "product" : "p", "days_past_due" : 0, "overdue_amount" : 0}'),
    ]
    with events.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(extra) + "\n")
    (tmp_path / "parts").mkdir()
    split = split_events([str(events)], 3, tmp_path / "parts")
    expected = replay([events], default_policy()).as_of
    assert split.known and split.as_of == expected == 1767225600 * 1_000_000


def test_a_sharded_backtest_reports_the_same_figures(tmp_path):
    events = tmp_path / "events.jsonl"
    write_simulation(simulate(150, 14, 9, duplicates=0.01, malformed=0.01), events)
    one = run_backtest([str(events)], str(outcomes_path(events)), jobs=1, shards=1).report
    five = run_backtest([str(events)], str(outcomes_path(events)), jobs=1, shards=5).report
    assert one == five
    assert one["events"]["rejected"] > 0 and one["events"]["duplicates"] > 0


def _ordered_shuffled_and_bad_tail(tmp_path: Path) -> list[Path]:
    """A time-ordered input, the same shuffled, and one whose latest-dated lines are all invalid."""
    import random

    ordered = tmp_path / "ordered.jsonl"
    write_simulation(simulate(40, 8, 5, duplicates=0.02, malformed=0.02), ordered)
    lines = ordered.read_bytes().splitlines()
    shuffled = tmp_path / "shuffled.jsonl"
    random.Random(7).shuffle(lines)
    shuffled.write_bytes(b"\n".join(lines) + b"\n")
    bad = tmp_path / "bad-tail.jsonl"
    tail = [b'{"event_id":"bad%d","type":"overdue","borrower_id":"B%d","occurred_at":"2031-01-0%dT00:00:00+08:00"}'
            % (i, i % 7, 1 + i % 5) for i in range(400)]  # the latest dates, not events (no account, no amount)
    bad.write_bytes(b"\n".join(lines[:len(lines) // 2] + tail + lines[len(lines) // 2:]) + b"\n")
    escaped = tmp_path / "escaped.jsonl"  # the latest valid event names its instant with escapes
    doc = json.loads(next(x for x in lines if b'"type":"bureau_report"' in x))
    doc["occurred_at"] = "2030-06-01T00:00:00+08:00"
    late = json.dumps(doc, separators=(",", ":")).encode().replace(b'"occurred_at"', b'"occurred\\u005fat"')
    escaped.write_bytes(b"\n".join(lines[:100] + [late] + lines[100:]) + b"\n")
    return [ordered, shuffled, bad, escaped]


def test_the_as_of_instant_read_a_chunk_at_a_time_is_exact(tmp_path, monkeypatch):
    """Small chunks: the chunks placed by their dates, pruned, cut down (shuffled) and, when every latest
    line is invalid, read again line by line; the as-of instant is still the replay's."""
    monkeypatch.setattr(_shard, "_CHUNK", 4096)
    monkeypatch.setattr(_shard, "_KEEP_LINES", 300)
    for events in _ordered_shuffled_and_bad_tail(tmp_path):
        (tmp_path / events.stem).mkdir()
        expected = replay([events], default_policy()).as_of
        split = split_events([str(events)], 3, tmp_path / events.stem, ways=3)
        assert split.as_of == expected, events.name
        assert split.lines == len(events.read_bytes().splitlines())
