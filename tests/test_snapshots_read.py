"""The reading side of the snapshots (monitor.snapshots.SnapshotLog): records in the parts' order, merged code tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor._errors import InputError
from monitor._replay_stream import replay_to
from monitor.reports import _ratios as rat
from monitor.rules.loader import default_policy
from monitor._snaptables import merged_codes as _merged_codes
from monitor.snapshots import SnapshotLog

GOLDEN = Path(__file__).resolve().parent / "data" / "golden-events.jsonl.gz"


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> SnapshotLog:
    """The golden events replayed by three workers: three parts, whose borrowers interleave in id order."""
    out = tmp_path_factory.mktemp("three")
    replay_to([GOLDEN], default_policy(), out, workers=3)
    return SnapshotLog(out / "snapshots")


def test_unordered_records_are_the_records_by_id_in_the_parts_order(three: SnapshotLog) -> None:
    log = three
    assert len(log._parts) == 3 and not bool(np.all(log._rank == np.arange(log.n)))  # the orders differ
    first, last = log.checkpoint_days()[0], log.last_day
    assert last is not None
    days = [first - 40, first - 3, first, first + 5, *range(first + 11, last, 17), last]
    for day in days:
        for columns in (None, rat.POINT_COLUMNS):
            by_id, mixed = log.at(day, columns), log.unordered_at(day, columns)
            assert (mixed.day, mixed.at) == (by_id.day, by_id.at) and list(mixed.cols) == list(by_id.cols)
            for c, values in by_id.cols.items():
                assert mixed.cols[c].dtype == values.dtype and np.array_equal(mixed.cols[c], values[log._rank]), (day, c)
        if by_id.present.any():
            assert rat.point(mixed, "x") == rat.point(by_id, "x")
    with pytest.raises(InputError, match="no state for"):
        log.unordered_at(last + 1)


def test_merged_code_tables_are_sorted_once_each_with_each_parts_codes() -> None:
    tables = [["b", "a", "中文", "é", "b"], ["a", "z", "a\x01", "ab"], []]
    texts, remaps = _merged_codes(tables)
    assert texts == sorted({t for table in tables for t in table})
    for table, remap in zip(tables, remaps):
        assert remap.dtype == np.int32 and remap[-1] == -1 and [texts[k] for k in remap[:-1]] == table
    # a text ending with NUL (numpy's fixed-width text would drop it): still its own entry, in sorted order
    tables.append(["a\x00", "a"])
    texts, remaps = _merged_codes(tables)
    assert texts == sorted({t for table in tables for t in table}) and "a\x00" in texts
    assert [texts[k] for k in remaps[-1][:-1]] == ["a\x00", "a"]
    assert _merged_codes([[], []])[0] == [] and all(r.tolist() == [-1] for r in _merged_codes([[], []])[1])


def test_a_record_read_in_part_reads_any_other_column_when_looked_up(three: SnapshotLog) -> None:
    log = three
    day = log.checkpoint_days()[0] + 5
    whole = log.at(day)
    some = log.at(day, ("tier", "exposure"), more=True)
    assert sorted(some.cols) == ["exposure", "tier"]  # the others not read yet
    assert np.array_equal(some.tier_since, whole.tier_since) and np.array_equal(some.cols["name"], whole.cols["name"])
    assert sorted(some.cols) == ["exposure", "name", "tier", "tier_since"]  # read once, kept
    for c, values in whole.cols.items():
        assert some.cols[c].dtype == values.dtype and np.array_equal(some.cols[c], values), c
    with pytest.raises(AttributeError):
        some.no_such_column
    plain = log.at(day, ("tier",))  # without more: only the columns asked
    with pytest.raises(KeyError):
        plain.cols["exposure"]
