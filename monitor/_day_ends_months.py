"""The closed months of a day-end fold (:class:`monitor.day_ends.DayEnds`) on disk, and its snapshots written.

A reader that keeps the whole portfolio's day-end rows in memory holds about 10 KB a borrower for a year (the
desk at a million borrowers: ~10 GiB), and every report's input directory sorts, copies and recodes all of them
again. When a month ends and every partition's rows are days past it (the desk decides:
:class:`monitor.desk.report_fold.ReportFold`), :func:`close` moves the month's change rows to a :class:`MonthStore`
(raw column files in the snapshots' codes and the store's borrower order, a block per close), except each
borrower's rows from the day of its newest row on: a worker applies an event that arrives late for its feed but
not for its borrower (an inspection reported days later) on that borrower's own day, so only the days before a
borrower's newest row are final. The fold keeps each borrower's last stored row (for what follows it: floor
crossings, and whether a later row is a change) and the rows not stored; a row of a stored day read later is
dropped (a restarted worker publishing it again). The schedule history and the alerts stay in memory.

:func:`write_snapshots` writes a report's ``snapshots/`` from the store's months (read back a month at a time,
merged with the rows in memory, checkpointed as ``monitor replay`` checkpoints them); the part lists the store's borrowers
first, in their order, then the others known at the cut (the snapshot reader orders borrowers by id, so the
records it gives are those of a part in id order, as ``monitor replay`` writes it).
"""

from __future__ import annotations

import shutil
from bisect import bisect_right
from itertools import chain
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.snapshots import (
    CHECKPOINT_END,
    COLUMNS,
    FEEDS,
    TEXT_COLUMNS,
    SnapshotPart,
    day_date,
    day_number,
    write_manifest,
)

__all__ = ["MonthStore", "borrower_rows", "close", "write_snapshots"]

_OPEN = -(2**31)  # the last closed day of a store with none closed
_NAMES = ("day", "bidx", *(c for c, _ in COLUMNS))
_DTYPES = {"day": np.dtype(np.int32), "bidx": np.dtype(np.int32), **{c: np.dtype(dt) for c, dt in COLUMNS}}


class MonthStore:
    """The closed months: change rows on disk, each borrower's last row in memory (see the module docstring)."""

    def __init__(self, directory: Path, row_dtype: np.dtype[Any]) -> None:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        self.dir = directory
        self.day = _OPEN  # the last closed day (a month end)
        self.ids: list[str] = []  # the store's borrowers, in the order their first row was stored
        self.sidx = np.zeros(0, dtype=np.int64)  # the fold's arrival index -> the store's index (-1: none)
        self.codes: dict[str, dict[str, int]] = {c: {} for c in TEXT_COLUMNS}
        self.rows = 0
        # the rows each close stored (by day, then the store's index): first row, month ends, rows up to each
        self.blocks: list[tuple[int, list[int], list[int]]] = []
        self.last: NDArray[Any] = np.zeros(0, dtype=row_dtype)  # each borrower's last stored row, by arrival index
        self.has = np.zeros(0, dtype=bool)
        self.final = np.zeros(0, dtype=np.int64)  # each borrower's rows of the days before this are stored
        self.first_day: int | None = None  # the first day of the rows stored

    code = SnapshotPart.code  # the code of a text in ``codes`` (-1: none), a new one when it has none yet

    def spans(self, after: int | None, upto: int) -> list[tuple[int, int]]:
        """The stored rows of the days after the month end ``after`` (None: from the first) up to ``upto`` (a
        month end, or any day after the last stored), as (first, end) row numbers, one span per block with some
        (their columns: :meth:`column`)."""
        out = []
        for first, ends, cum in self.blocks:
            lo = first if after is None else _pos(first, ends, cum, after)
            hi = _pos(first, ends, cum, upto)
            if hi > lo:
                out.append((lo, hi))
        return out

    def column(self, name: str, spans: list[tuple[int, int]]) -> NDArray[Any]:
        """One column of the stored rows of ``spans`` (:meth:`spans`)."""
        dt = _DTYPES[name]
        got = [np.fromfile(self.dir / f"{name}.bin", dtype=dt, count=hi - lo, offset=dt.itemsize * lo)
               for lo, hi in spans]
        return got[0] if len(got) == 1 else np.concatenate(got) if got else np.zeros(0, dtype=dt)


class _Merged:
    """The stored rows of ``spans`` and the rows ``mem`` (columns), put in the order ``order``, a column at a time
    when asked for (``SnapshotPart.write_rows`` takes one after another: no copy of all the rows is held)."""

    def __init__(self, store: MonthStore, spans: list[tuple[int, int]], mem: dict[str, NDArray[Any]],
                 order: NDArray[np.int64]) -> None:
        self.store, self.spans, self.mem, self.order = store, spans, mem, order

    def __getitem__(self, name: str) -> NDArray[Any]:
        return np.concatenate([self.store.column(name, self.spans), self.mem[name]])[self.order]


class _Ordered:
    """The change rows ``lo:hi`` in the order written (``order``: their rows in the fold's columns ``cols``), a column
    at a time when asked for: a text column from ``coded`` (already the part's codes, in that order), another
    taken from ``cols`` (no reordered copy of every column is held)."""

    def __init__(self, cols: dict[str, NDArray[Any]], coded: dict[str, NDArray[Any]], order: NDArray[np.int64],
                 lo: int, hi: int) -> None:
        self.cols, self.coded, self.order, self.lo, self.hi = cols, coded, order, lo, hi

    def __getitem__(self, name: str) -> NDArray[Any]:
        if name in self.coded:
            return self.coded[name][self.lo:self.hi]
        return self.cols[name][self.order[self.lo:self.hi]]


def _pos(first: int, ends: list[int], cum: list[int], day: int) -> int:
    """The rows of a block up to the month end ``day`` (or a later day): their count after ``first``."""
    k = bisect_right(ends, day) - 1
    return first if k < 0 else cum[k]


def recode(part: Any, column: str, texts: list[str | None], v: NDArray[Any]) -> NDArray[np.int32]:
    """Codes of ``texts`` as ``part``'s codes (``part.code(column, text)``), given in the order the values
    first appear in ``v``."""
    uniq, first = np.unique(v, return_index=True)
    table = np.full(len(texts) + 1, -1, dtype=np.int32)  # -1 (no text) reads the last entry: -1
    for code in uniq[np.argsort(first, kind="stable")].tolist():
        if code >= 0:
            table[code] = part.code(column, texts[code])
    return table[v]


def month_ends(first: int, last: int) -> list[int]:
    """The day numbers of the month ends from the month holding ``first`` up to ``last`` (inclusive)."""
    out = []
    d = day_date(first).replace(day=1)
    while True:
        end = (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        if day_number(end) > last:
            return out
        out.append(day_number(end))
        d = end + timedelta(days=1)


def _last_month_end(day: int) -> int:
    d = day_date(day + 1)
    return day if d.day == 1 else day_number(d.replace(day=1) - timedelta(days=1))


def close(fold: Any, store: MonthStore, until: int) -> int | None:
    """Move ``fold``'s change rows up to the last month end on or before ``until`` to ``store``, but each
    borrower's rows from the day of its newest row on (see the module docstring); the new last closed day, or
    None when none closes."""
    end = _last_month_end(until)
    if end <= store.day:
        return None
    newest = fold._newest_days()  # by arrival index
    cols = fold.changes(end)
    n = len(fold._ids)
    if store.sidx.size < n:
        grow = n - store.sidx.size
        store.sidx = np.r_[store.sidx, np.full(grow, -1, dtype=np.int64)]
        last = np.zeros(n, dtype=store.last.dtype)
        last[:store.last.size] = store.last
        store.last = last
        store.has = np.r_[store.has, np.zeros(grow, dtype=bool)]
        store.final = np.r_[store.final, np.full(grow, -(2**40), dtype=np.int64)]
    final = np.where(newest >= 0, np.maximum(store.final, np.minimum(newest, end + 1)), store.final)
    arrival = np.empty(n, dtype=np.int64)  # position in id order -> arrival index
    arrival[fold._rank()] = np.arange(n)
    a = arrival[cols["b"]]
    w = np.flatnonzero(cols["d"] < final[a])  # a borrower's rows from its newest row's day on stay open
    cols = {k: v[w] for k, v in cols.items()}
    a = a[w]
    order = np.lexsort((cols["b"], cols["d"]))  # by day, then borrower
    a_sorted = a[order]
    new = a_sorted[store.sidx[a_sorted] < 0]
    if new.size:
        _, first = np.unique(new, return_index=True)
        fresh = new[np.sort(first)]
        store.sidx[fresh] = np.arange(len(store.ids), len(store.ids) + fresh.size)
        names = list(fold._ids)  # in arrival order
        store.ids.extend(names[i] for i in fresh.tolist())
    texts = fold.texts()
    out = {"day": cols["d"][order].astype(np.int32), "bidx": store.sidx[a_sorted].astype(np.int32)}
    for c, _ in COLUMNS:
        v = cols[c][order]
        out[c] = recode(store, c, texts[c], v) if c in texts else v
    for name, dt in _DTYPES.items():
        with (store.dir / f"{name}.bin").open("ab") as fh:
            np.ascontiguousarray(out[name], dtype=dt).tofile(fh)
    days = out["day"]
    if days.size:
        ends = month_ends(int(days[0]), end)  # the rows stored are of days up to ``end``, a month end
        cum = [store.rows + int(np.searchsorted(days, np.int32(me), side="right")) for me in ends]
        store.blocks.append((store.rows, ends, cum))
        store.first_day = int(days[0]) if store.first_day is None else min(store.first_day, int(days[0]))
    store.rows += int(days.size)
    b = cols["b"]
    if b.size:  # each borrower's last stored row
        k = np.flatnonzero(np.r_[b[1:] != b[:-1], True])
        for name in store.last.dtype.names:
            store.last[name][a[k]] = cols[name][k]
        store.has[a[k]] = True
    store.final = final
    fold._drop_rows(final)
    store.day = end
    return end


def write_snapshots(fold: Any, directory: Path, until: int, as_of: int, *, policy_version: str, timezone: str,
                    known_only: bool = False) -> None:
    """``DayEnds.write``: the snapshots of the rows up to the day ``until`` (stored and in memory)."""
    shutil.rmtree(directory, ignore_errors=True)
    part = SnapshotPart(directory / "part-000")
    days_of = fold.days
    store: MonthStore | None = fold._base
    ids = fold.borrowers()
    n = len(ids)
    pidx = np.full(n + 1, -1, dtype=np.int64)  # position in id order -> the part's index
    if store is not None and store.ids:
        for c in TEXT_COLUMNS:  # the store's codes, in its order: its rows are written as they are (the part's
            part.codes[c] = dict(store.codes[c])  # tables are empty: the store's were given by the same code(), 0 up)
        stored = np.flatnonzero(store.sidx >= 0)
        pidx[fold._rank()[stored]] = store.sidx[stored]
        part.ids.extend(store.ids)  # (SnapshotPart.add_borrower, the store's order)
    if known_only:  # the others known at the cut, in id order
        kept = fold.known_mask(until)
    else:
        kept = np.ones(n, dtype=bool)
    new = np.flatnonzero((pidx[:n] < 0) & kept)
    pidx[new] = np.arange(len(part.ids), len(part.ids) + new.size)
    part.ids.extend(ids[k] for k in new.tolist())
    cols = fold.changes(until)
    idx_all = pidx[cols["b"]]
    sel = idx_all >= 0
    kept_rows = None if sel.all() else np.flatnonzero(sel)  # (no copy of the columns: their rows by index)
    idx_all = idx_all[sel] if kept_rows is not None else idx_all
    order = np.lexsort((idx_all, cols["d"] if kept_rows is None else cols["d"][kept_rows]))  # by day, part's index
    del sel, idx_all
    if kept_rows is not None:
        order = kept_rows[order]  # the rows of cols, in the order written
    days, idx = cols["d"][order].astype(np.int32), pidx[cols["b"][order]].astype(np.int32)
    texts = fold.texts()
    # the text columns as the part's codes (given in the order their values first appear, column by column, before
    # the visits' teams: as before); the others taken in order a column at a time when written (_Ordered)
    coded = {c: recode(part, c, texts[c], cols[c][order]) for c, _ in COLUMNS if c in texts}
    _write_visits(fold, part, pidx[fold._rank()], days_of.start(until + 1) - 1)
    firsts = [int(days[0])] if days.size else []
    if store is not None and store.first_day is not None:
        firsts.append(store.first_day)
    prev: int | None = None
    for d in [*(e for e in month_ends(min(firsts, default=until), until) if e < until), until]:
        # the rows of the days after the last month end up to this one (or the cut): stored and in memory
        lo = 0 if prev is None else int(np.searchsorted(days, np.int32(prev), side="right"))
        hi = int(np.searchsorted(days, np.int32(d), side="right"))
        rows: _Ordered | None = _Ordered(cols, coded, order, lo, hi)
        if store is not None and store.blocks and (prev is None or prev < store.day):
            spans = store.spans(prev, d)
            if spans:  # the stored rows and those in memory merged by day, then the part's index, a column at a time
                day_ = np.concatenate([store.column("day", spans), days[lo:hi]])
                bidx_ = np.concatenate([store.column("bidx", spans), idx[lo:hi]])
                # (runs sorted by day and index, one a block and the open rows: a stable sort of one key merges
                # them in about linear time, where lexsort sorts them again; the same order)
                o = np.argsort((day_.astype(np.int64) << 32) + bidx_.astype(np.int64), kind="stable")
                merged = _Merged(store, spans, rows, o)  # type: ignore[arg-type]
                part.write_rows(day_[o], bidx_[o], merged)  # type: ignore[arg-type]
                del day_, bidx_, o, merged
                rows = None
        if rows is not None:
            part.write_rows(days[lo:hi], idx[lo:hi], rows)  # type: ignore[arg-type]
        if d < until:
            part.checkpoint(d, days_of.start(d + 1) - 1, day_date(d).isoformat())
        prev = d
    part.checkpoint(until, as_of, CHECKPOINT_END)
    part.feeds = [[d, FEEDS[f], *v] for (d, f), v in sorted(fold._feeds.items()) if d <= until]
    write_manifest(directory, [part.close()], policy_version=policy_version, timezone=timezone, as_of=as_of)


def _write_visits(fold: Any, part: SnapshotPart, where: NDArray[np.int64], last: int) -> None:
    """The inspections up to the instant ``last`` of the part's borrowers (``where``: arrival index -> the part's
    index, -1 none), by the part's index, instant, then event id; team codes given in that order."""
    per = fold._visits  # arrival index -> event id -> [instant, team, outcome, due day before, event id]
    visits = list(chain.from_iterable(d.values() for d in per.values()))
    if not visits:
        return
    n = len(visits)
    arrival = np.repeat(np.fromiter(per.keys(), dtype=np.int64, count=len(per)),
                        np.fromiter(map(len, per.values()), dtype=np.int64, count=len(per)))
    # each field a column straight from the visits (no list of each at once: ~0.1 GiB at a million borrowers)
    at = np.fromiter((v[0] for v in visits), dtype=np.int64, count=n)
    i = where[arrival]
    sel = np.flatnonzero((i >= 0) & (at <= last))
    o = sel[np.lexsort((at[sel], i[sel]))]
    if o.size > 1:  # the same borrower and instant: by event id (as sorted by (instant, event id) before)
        same = (i[o][1:] == i[o][:-1]) & (at[o][1:] == at[o][:-1])  # o[k] and o[k + 1] tie
        starts = np.flatnonzero(same & ~np.r_[False, same[:-1]])
        ends = np.flatnonzero(same & ~np.r_[same[1:], False]) + 2
        for a, z in zip(starts.tolist(), ends.tolist()):
            o[a:z] = sorted(o[a:z].tolist(), key=lambda j: visits[j][4])
    if not o.size:
        return
    names: dict[Any, int] = {}
    tcode = np.fromiter((names.setdefault(v[1], len(names)) for v in visits), dtype=np.int64, count=n)[o]
    texts = list(names)
    uniq, first = np.unique(tcode, return_index=True)
    table = np.full(len(texts), -1, dtype=np.int32)
    for c in uniq[np.argsort(first, kind="stable")].tolist():  # codes given in the visits' order
        table[c] = part.code("team", texts[c])
    part.visit_columns((i[o], at[o], table[tcode], np.fromiter((v[2] for v in visits), dtype=np.int64, count=n)[o],
                        np.fromiter((v[3] for v in visits), dtype=np.int64, count=n)[o]))


def borrower_rows(fold: Any, borrower: str, until: int) -> list[tuple[int, tuple[Any, ...]]]:
    """``DayEnds.rows``: ``(day, record)`` of the open days up to ``until`` on which the record changed."""
    if borrower not in fold._ids:
        return []
    cols = fold.changes(until)
    pos = fold.borrowers().index(borrower)
    lo, hi = np.searchsorted(cols["b"], [pos, pos + 1])
    texts = fold.texts()
    out = []
    for k in range(int(lo), int(hi)):
        values = []
        for c, _ in COLUMNS:
            v = cols[c][k].item()
            values.append((texts[c][v] if v >= 0 else None) if c in texts else v)
        out.append((int(cols["d"][k]), tuple(values)))
    return out
