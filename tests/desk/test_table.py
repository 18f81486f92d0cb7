"""The case queue's table (monitor.desk.table): rows reused, the search index through changes and compaction,
every sort a total order (ties by newest opened, then case id) whatever order the rows were added in."""

from __future__ import annotations

import random

import numpy as np
import pytest

from monitor.desk.table import SORTS, CaseRow, CaseTable, Query, TextIndex, counts, run

DAY_US = 86_400_000_000
T = 1_780_000_000_000_000  # 2026-05


def row(i: int, **kw: object) -> CaseRow:
    base = dict(case_id=f"c{i:04d}", borrower_id=f"B{i % 50:03d}", status=("open", "acknowledged",
                "release_requested", "released")[i % 4], tier=("watch", "warning", "severe")[i % 3],
                team=f"T{i % 3}", branch=f"BR{i % 2}", assignee=None if i % 5 == 0 else f"u{i % 4}",
                opened=T + (i % 7) * DAY_US, last_alert=T + (i % 11) * DAY_US, rise=T + (i % 7) * DAY_US,
                deadline=740_000 + i % 9 if i % 6 else None, visited=None, due=740_000 + i % 13 if i % 8 else None,
                exposure=float(i % 10) * 1e5 if i % 9 else None, name=f"公司{i % 17}号")
    base.update(kw)
    return CaseRow(**base)  # type: ignore[arg-type]


def test_text_index_finds_substrings_case_insensitively_and_forgets_old_texts():
    ix = TextIndex()
    ix.set(0, "B001\x1f上海华东机械")
    ix.set(1, "B002\x1f杭州西湖")
    ix.set(2, "X-b001\x1f")
    assert ix.rows("b001").tolist() == [0, 2] and ix.rows("华东").tolist() == [0] and ix.rows("Q").tolist() == []
    ix.set(0, "B001\x1f新名称")  # the name changed: the old one is not found any more
    assert ix.rows("华东").tolist() == [] and ix.rows("新名").tolist() == [0]
    ix.set(1, None)
    assert ix.rows("西湖").tolist() == []
    for k in range(5000):  # many changes: the buffer is compacted, the answers stay
        ix.set(3 + k % 7, f"Z{k}\x1f名{k}")
    assert ix.rows("b001").tolist() == [0, 2] and ix.rows("名4999").tolist() == [3 + 4999 % 7]
    assert ix.dead <= ix.nseg


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_is_the_same_whatever_order_rows_came_in_and_pages_tile(sort, descending):
    rows = [row(i) for i in range(300)]
    orders = []
    for seed in (1, 2):
        t = CaseTable()
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        for r in shuffled:
            t.put(r)
        for r in shuffled[:40]:  # some rows dropped and added again (rows reused)
            t.drop(r.case_id)
        for r in shuffled[:40]:
            t.put(r)
        q = Query(status=None, sort=sort, descending=descending, limit=None)
        full = [r.case_id for r in run(t, q, 740_005)[0]]
        pages = []
        for off in range(0, 300, 37):
            pages += [r.case_id for r in run(t, Query(status=None, sort=sort, descending=descending, offset=off,
                                                      limit=37), 740_005)[0]]
        assert pages == full and len(set(full)) == 300
        orders.append(full)
    assert orders[0] == orders[1]


def test_changes_move_a_row_between_filters_and_counts():
    t = CaseTable()
    for i in range(20):
        t.put(row(i, status="open", assignee=None))
    assert counts(t, 740_005, "u1")["unassigned"] == 20
    t.put(row(3, status="acknowledged", assignee="u1"))
    assert run(t, Query(assignee="u1"), 740_005)[1] == 1 and counts(t, 740_005, "u1")["mine"] == 1
    t.put(row(3, status="released", assignee="u1"))
    assert run(t, Query(assignee="u1"), 740_005)[1] == 0  # the default: not released
    assert run(t, Query(assignee="u1", status="released"), 740_005)[1] == 1
    t.drop("c0003")
    assert run(t, Query(status=None), 740_005)[1] == 19 and not bool(np.any(t.live[t.n:]))


def test_the_deadline_sort_puts_the_cases_still_waiting_first():
    t = CaseTable()
    t.put(row(1, deadline=740_010, visited=None, rise=T))
    t.put(row(2, deadline=740_001, visited=T + DAY_US, rise=T))  # responded: after the waiting ones
    t.put(row(3, deadline=740_005, visited=T - DAY_US, rise=T))  # a visit before the rise does not answer it
    t.put(row(4, deadline=None))
    got = [r.case_id for r in run(t, Query(status=None, sort="deadline", descending=False), 740_020)[0]]
    assert got == ["c0003", "c0001", "c0002", "c0004"]
