"""The change rows of a day-end fold up to a day (:meth:`monitor.day_ends.DayEnds.changes`): the rows in memory after
the closed months' last ones, the last of each borrower's day, floor crossings added, unchanged records dropped.

Made column by column through index vectors: no structured copy of the rows is made (the peak is about one copy
of the result over the rows kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.day_ends import _DAY, _FULL, _ROW, _crossings
from monitor.snapshots import COLUMNS, NONE

__all__ = ["changes", "may_cross"]


def changes(fold: Any, until: int) -> dict[str, NDArray[Any]]:
    """:meth:`monitor.day_ends.DayEnds.changes` (see there)."""
    fold._flush()
    if len(fold._chunks) > 1:
        fold._chunks = [np.concatenate(fold._chunks)]
    t = fold._chunks[0] if fold._chunks else np.zeros(0, dtype=_ROW)
    rank = fold._rank()
    base = fold._closed(until)
    keep = np.flatnonzero(t["d"] <= until)  # (the rows in memory: those on disk are each before them)
    b = rank[t["b"][keep]]
    d = t["d"][keep]
    order = np.lexsort((keep, d, b))  # by borrower, day, then as read: the last of a day holds
    sel, b, d = keep[order], b[order], d[order]
    del keep, order
    last = np.ones(sel.size, dtype=bool)
    last[:-1] = (b[1:] != b[:-1]) | (d[1:] != d[:-1])
    sel, b, d = sel[last], b[last], d[last]
    del last
    present = t["tier"][sel] >= 0
    first = np.full(len(fold._ids), NONE, dtype=np.int64)
    seen = np.full(len(fold._ids), NONE, dtype=np.int64)
    for k, v in fold._first.items():
        first[rank[k]] = v
    for k, v in fold._seen.items():
        seen[rank[k]] = v
    made = {"b": b, "d": d, "name": np.where(present, fold._name_at(b, d, rank), -1),
            "first_seen": np.where(present, first[b], NONE), "seen_at": seen[b]}
    del present, first, seen
    prev: Any = None  # the closed months' last rows, put before (see close_months)
    if base is not None:
        tail = np.zeros(len(fold._ids), dtype=bool)
        tail[b] = True
        had = np.flatnonzero(base.has)
        had = had[(base.last["overdue"][had] != 0) | tail[rank[had]]]
        prev = _rows(base.last, had)
        prev["b"] = rank[had]
        del tail, had

    def stacked(name: str) -> NDArray[Any]:
        """The column of the closed months' last rows, then of the rows in memory (``_FULL``'s type)."""
        mem = made[name] if name in made else _column(t, name)[sel]
        mem = mem.astype(_FULL[name], copy=False)
        return mem if prev is None else np.concatenate([prev[name], mem])

    n_prev = 0 if prev is None else prev.size
    bb, dd = stacked("b"), stacked("d")
    o = np.lexsort((np.arange(bb.size), dd, bb))  # (stable: the old row before a new one of its day)
    bb, dd = bb[o], dd[o]
    nxt = np.full(bb.size, until, dtype=np.int64)  # the last day each row describes
    same = bb[1:] == bb[:-1]
    nxt[:-1][same] = dd[1:][same].astype(np.int64) - 1
    del same
    cross = {c: stacked(c)[o] for c in ("overdue", "cls", "dpd", "dpd_at")}
    extra: list[tuple[int, int, int]] = []  # (row, day, floor): floors crossed with no event
    for i in may_cross(fold, cross, nxt).tolist():
        extra.extend((i, dd_, level) for dd_, level in _crossings(
            int(cross["dpd"][i]), int(cross["dpd_at"][i]), int(cross["cls"][i]), int(dd[i]), int(nxt[i]),
            fold.days, fold.floors))
    del cross, nxt
    src = o  # each final row's position among the stacked rows
    if extra:
        moved = np.array([e[0] for e in extra], dtype=np.int64)
        mday = np.array([e[1] for e in extra], dtype=dd.dtype)
        mcls = np.array([e[2] for e in extra], dtype=_FULL["cls"])
        o2 = np.lexsort((np.arange(bb.size + moved.size), np.r_[dd, mday], np.r_[bb, bb[moved]]))
        src = np.r_[o, o[moved]][o2]
        is_moved = o2 >= bb.size
        cls_new = np.r_[np.zeros(bb.size, dtype=_FULL["cls"]), mcls][o2]
        bb, dd = np.r_[bb, bb[moved]][o2], np.r_[dd, mday][o2]
        del o2, moved, mday, mcls
    else:
        is_moved = np.zeros(src.size, dtype=bool)
        cls_new = None

    def gatherer(at: NDArray[np.int64], moved: NDArray[np.bool_], cls: NDArray[Any] | None) -> Any:
        """The columns of the stacked rows at positions ``at`` (``stacked(name)[at]``, made without the stacked
        column: the rows in memory gathered once through ``sel``, the closed months' rows put in their places),
        the floor crossings' own days and floors (``moved``, ``cls``) set."""
        if prev is None:
            im, ip, pos = None, None, at
        else:
            old = at < n_prev
            im, ip = np.flatnonzero(~old), np.flatnonzero(old)
            pos = at[im] - n_prev
        rows = sel[pos]

        def column(name: str) -> NDArray[Any]:
            mem = made[name][pos] if name in made else _column(t, name)[rows]
            if im is None:
                v = mem.astype(_FULL[name], copy=False)
            else:
                v = np.empty(at.size, dtype=_FULL[name])
                v[im] = mem
                v[ip] = prev[name][at[ip]]
            if name == "cls" and cls is not None:
                v[moved] = cls[moved]
            return v
        return column

    # a row equal to the borrower's previous one is no change; the closed months' rows are not written
    change = np.ones(src.size, dtype=bool)
    if src.size > 1:
        final = gatherer(src, is_moved, cls_new)
        diff = bb[1:] != bb[:-1]
        for c, _ in COLUMNS:
            v = final(c)
            diff |= v[1:] != v[:-1]
        change[1:] = diff
        del diff, final
    change &= (src >= n_prev) | is_moved
    kept = gatherer(src[change], is_moved[change], None if cls_new is None else cls_new[change])
    out = {"b": bb[change], "d": dd[change]}
    out.update((name, kept(name)) for name in _FULL.names if name not in out)
    out = {name: np.ascontiguousarray(out[name]) for name in _FULL.names}
    return out


def _column(t: NDArray[Any], name: str) -> NDArray[Any]:
    """A field of the structured rows as a contiguous array (its fields are unaligned: a gather through the
    strided field takes numpy's slow path, a copy then a gather several times less)."""
    return np.ascontiguousarray(t[name])


def _rows(a: NDArray[Any], at: NDArray[np.int64]) -> NDArray[Any]:
    """``a[at]`` of contiguous structured rows, gathered as rows of bytes (numpy's structured gather copies
    field by field)."""
    if not a.flags["C_CONTIGUOUS"] or a.dtype.itemsize == 0:
        return a[at]
    return a.view(np.uint8).reshape(a.size, a.dtype.itemsize)[at].view(a.dtype).reshape(-1)


def may_cross(fold: Any, rows: Any, nxt: NDArray[np.int64]) -> NDArray[np.int64]:
    """The overdue rows whose next classification threshold is reached by the end of the last day each
    describes (``nxt``): the only ones :func:`_crossings` finds a crossing for (thresholds rise with the
    level, so a first one out of reach means none)."""
    i = np.flatnonzero((rows["overdue"] != 0) & (rows["cls"] < len(fold.floors)))
    if not i.size:
        return i
    lo, hi = int(nxt[i].min()), int(nxt[i].max())
    ends = np.array([fold.days.start(d + 1) - 1 for d in range(lo, hi + 1)], dtype=np.int64)
    floors = np.array(fold.floors, dtype=np.int64)
    r = {c: rows[c][i] for c in ("dpd_at", "cls", "dpd")}
    at = r["dpd_at"].astype(np.int64) + (floors[r["cls"].astype(np.int64)] - r["dpd"].astype(np.int64)) * _DAY
    return i[at <= ends[nxt[i] - lo]]
