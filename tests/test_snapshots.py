"""The snapshots a replay writes equal ``monitor replay --as-of`` at every day's end tried (one derivation)."""

from __future__ import annotations

import gzip
import random
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.events import GRADES
from monitor.replay import replay, write_outputs
from monitor.reports._period import midnight_us
from monitor.rules.loader import default_policy
from monitor.snapshots import DUE_WHY, SnapshotLog, day_number
from monitor.snapshots import day_date

ROOT = Path(__file__).resolve().parent
GOLDEN = ROOT / "data" / "golden-events.jsonl.gz"
CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")
TIERS = ("normal", "watch", "warning", "severe")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden events out of order, with extra copies of some (duplicates), in two files."""
    lines = gzip.decompress(GOLDEN.read_bytes()).splitlines()
    rng = random.Random(5)
    lines += rng.sample(lines, 300)
    rng.shuffle(lines)
    d = tmp_path_factory.mktemp("messy")
    half = len(lines) // 2
    (d / "a.jsonl").write_bytes(b"\n".join(lines[:half]) + b"\n")
    (d / "b.jsonl").write_bytes(b"\n".join(lines[half:]) + b"\n")
    return d


@pytest.fixture(scope="module")
def full(messy: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SnapshotLog]:
    out = tmp_path_factory.mktemp("full")
    policy = default_policy()
    result = replay([messy / "a.jsonl", messy / "b.jsonl"], policy, snapshots=out / "snapshots")
    write_outputs(result, out)
    return out, SnapshotLog(out / "snapshots")


def _check_day(messy: Path, log: SnapshotLog, day: date) -> int:
    policy = default_policy()
    cut = midnight_us(day + timedelta(days=1), policy.zone) - 1
    if log.as_of is not None and cut > log.as_of:
        cut = log.as_of
    result = replay([messy / "a.jsonl", messy / "b.jsonl"], policy, as_of=cut)
    snap = log.at(day)
    pos = log.index([v.borrower_id for v in result.views])
    assert bool(np.all(pos >= 0))
    by_id = {s.id: s for s in result.states.values()}
    checked = 0
    for v, i in zip(result.views, pos.tolist()):
        if v.tier is None:
            assert snap.tier[i] == -1, v.borrower_id
            continue
        state = by_id[v.borrower_id]
        assert TIERS[snap.tier[i]] == v.tier, (v.borrower_id, day)
        assert TIERS[snap.computed[i]] == v.computed_tier, (v.borrower_id, day)
        assert CLASSES[snap.cls[i]] == v.min_classification, (v.borrower_id, day)
        assert log.codes["team"][snap.team[i]] == v.team and log.codes["branch"][snap.branch[i]] == v.branch
        assert snap.exposure[i] == round(v.exposure * 100)
        assert GRADES[snap.grade[i]] == state.grade
        assert log.codes["industry"][snap.industry[i]] == state.profile.industry
        due = -1 if v.next_visit_due is None else day_number(v.next_visit_due)
        assert snap.due[i] == due and DUE_WHY[snap.due_why[i]] == state.due_why
        assert snap.tier_since[i] == (state.tier_since if state.tier_since is not None else snap.tier_since[i])
        assert snap.alerts[i] == state.alerts
        assert (snap.dpd_now()[i] > 0) == (v.min_classification != "normal")
        checked += 1
    assert int(np.count_nonzero(snap.present)) == checked
    return checked


def test_snapshots_equal_replay_as_of_at_random_day_ends(messy: Path, full: tuple[Path, SnapshotLog]) -> None:
    _, log = full
    first = log.checkpoint_days()[0]
    last = log.last_day
    assert last is not None
    rng = random.Random(11)
    days = sorted({day_date(rng.randint(first - 20, last)) for _ in range(8)} | {day_date(last), day_date(first)})
    assert sum(_check_day(messy, log, d) for d in days) > 0


def test_month_ends_are_checkpoints_and_agree_with_the_rows(full: tuple[Path, SnapshotLog]) -> None:
    _, log = full
    ends = log.month_ends(log.last_day, 13)
    assert len(ends) == 13 and ends[0].day == log.last_day
    assert all(day_date(s.day + 1).day == 1 for s in ends[1:])
    assert set(s.day for s in ends[1:]) <= set(log.checkpoint_days())


def test_a_part_writes_a_row_only_when_the_record_changed(tmp_path: Path) -> None:
    """Rows across days and across flushes: a record equal to the borrower's previous one is no row, the first
    one always is (even all fill values), and a value too wide for its column is an error, not a wrapped number."""
    from monitor.snapshots import COLUMNS, DYNAMIC, RECORD, STATIC, SnapshotPart

    names = [c for c, _ in COLUMNS]
    part = SnapshotPart(tmp_path / "part-000")
    for b in ("a", "b", "c"):
        part.add_borrower(b)

    def recs(*rows: list[int]) -> bytes:  # whole records (COLUMNS order) as write_day takes them
        out = []
        for r in rows:
            sid = part.static_row([r[names.index(c)] for c in STATIC])
            out.append(RECORD.pack(*[r[names.index(c)] for c in DYNAMIC], sid))
        return b"".join(out)

    fill = [-1] * len(names)
    base = list(range(len(names)))
    part.write_day(10, [0, 1], recs(base, fill))
    part.write_day(11, [0, 1, 2], recs(base, fill, base))  # nothing new for 0 and 1
    part._flush()  # the next rows compare against the written ones
    moved, moved2 = list(base), list(base)
    moved[1] = 7  # computed: a dynamic column
    moved2[names.index("team")] = 8  # a static one
    part.write_day(12, [0, 2], recs(moved, moved2))
    part.write_day(13, [0], recs(base))  # back to an earlier record: a change
    meta = part.close()
    assert meta["rows"] == 6
    days = np.fromfile(tmp_path / "part-000" / "changes" / "day.bin", dtype=np.int32)
    bidx = np.fromfile(tmp_path / "part-000" / "changes" / "bidx.bin", dtype=np.int32)
    assert days.tolist() == [10, 10, 11, 12, 12, 13]
    assert bidx.tolist() == [0, 1, 2, 0, 2, 0]
    computed = np.fromfile(tmp_path / "part-000" / "changes" / "computed.bin", dtype=np.int8)
    assert computed.tolist() == [1, -1, 1, 7, 1, 1]
    team = np.fromfile(tmp_path / "part-000" / "changes" / "team.bin", dtype=np.int32)
    assert team.tolist() == [9, -1, 9, 9, 8, 9]
    seen = np.fromfile(tmp_path / "part-000" / "changes" / "seen_at.bin", dtype=np.int64)
    assert seen.tolist() == [24, -1, 24, 24, 24, 24]

    wide = SnapshotPart(tmp_path / "part-001")
    wide.add_borrower("a")
    part = wide
    bad = list(base)
    bad[0] = 300  # tier is one byte
    wide.write_day(1, [0], recs(bad))
    with pytest.raises(OverflowError, match="tier"):
        wide.close()
