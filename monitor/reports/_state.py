"""Every borrower at the start and at the end of the period, as arrays (one slot per borrower).

The tier at an instant is the ``to_tier`` of the borrower's latest alert at or
before it (normal before its first alert); the profile (segment, industry,
branch, team, exposure) is the latest loan profile at or before it; the grade
is the latest rating change, else the first profile's grade (as the engine
keeps it); the minimum classification follows the highest days past due over
the borrower's accounts, counted forward to the instant (as the engine does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError
from monitor.reports._events import EventData
from monitor.reports._replay import TIERS, Alerts, Borrowers, Schedule
from monitor.rules.policy import Policy

__all__ = ["CLASSES", "State", "build_state", "latest_rows"]

CLASSES: tuple[str, ...] = ("normal", "special_mention", "substandard", "doubtful", "loss")
DAY = 86_400_000_000
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
I8 = NDArray[np.int8]


def latest_rows(bidx: NDArray[np.int32], t: I64, order: I64, n: int, first: bool = False) -> I64:
    """For each borrower the row of its latest (or first) entry by (instant, order); -1 when none."""
    out = np.full(n, -1, dtype=np.int64)
    if bidx.size == 0:
        return out
    o = np.lexsort((order, t, bidx))
    b = bidx[o]
    if first:
        edge = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    else:
        edge = np.flatnonzero(np.r_[b[1:] != b[:-1], True])
    out[b[edge]] = o[edge]
    return out


@dataclass(slots=True)
class State:
    n: int
    ids: NDArray[np.bytes_]
    prof_end: NDArray[np.bool_]
    prof_start: NDArray[np.bool_]
    first_profile_t: I64
    cents: I64  # exposure at the end, in fen
    segment: I32
    industry: I32
    branch: I32
    team: I32
    grade: I32
    mincls: I8
    tier_end: I8  # -1: no profile
    tier_start: I8
    due_end: I32  # next visit due at the end (days since the epoch), -1 none
    name: I32  # code in EventData.names of the latest profile's name, -1 none
    last_profile_t: I64  # instant of the latest profile up to the end (int64 max: none)

    def id_text(self, i: int) -> str:
        return bytes(self.ids[i]).decode("utf-8")


def _pick(values: NDArray[np.int64] | NDArray[np.int32], rows: I64, fill: int) -> I64:
    out = np.full(rows.size, fill, dtype=np.int64)
    has = rows >= 0
    out[has] = values[rows[has]]
    return out


def _classification(ev: EventData, n: int, cut: int, policy: Policy) -> I64:
    """The highest days past due of each borrower at ``cut`` (0 when none)."""
    top = np.zeros(n, dtype=np.int64)
    od = ev.overdue
    bidx = od.col("bidx", np.int32)
    if bidx.size == 0:
        return top
    t, order, acc, dpd = od.col("t"), od.col("order"), od.col("account", np.int32), od.col("dpd")
    o = np.lexsort((order, t, acc, bidx))
    key_b, key_a = bidx[o], acc[o]
    edge = np.flatnonzero(np.r_[(key_b[1:] != key_b[:-1]) | (key_a[1:] != key_a[:-1]), True])
    last = o[edge]
    now = np.where(dpd[last] > 0, dpd[last] + (cut - t[last]) // DAY, 0)
    np.maximum.at(top, bidx[last], now)
    return top


def _classes(dpd: I64, policy: Policy) -> I8:
    c = policy.classification
    out = np.zeros(dpd.size, dtype=np.int8)
    for i, floor in enumerate((c.special_mention, c.substandard, c.doubtful, c.loss), start=1):
        out[dpd >= floor] = i
    return out


def _check_history(alerts: Alerts, tier_start: I8) -> None:
    """The first alert of each borrower in the period must start from its tier at the start."""
    if alerts.bidx.size == 0:
        return
    _, first = np.unique(alerts.bidx, return_index=True)
    b = alerts.bidx[first]
    expect = np.maximum(tier_start[b], 0)
    wrong = np.flatnonzero(alerts.frm[first] != expect)
    if wrong.size:
        i = int(first[wrong[0]])
        raise InputError(f"alerts.jsonl: the tier history is broken at line offset {int(alerts.off[i])}: "
                         f"from_tier {TIERS[int(alerts.frm[i])]} but the tier before was "
                         f"{TIERS[int(expect[wrong[0]])]}")
    # and within the period, each alert starts where the borrower's previous one ended
    o = np.lexsort((np.arange(alerts.bidx.size), alerts.bidx))
    same = alerts.bidx[o][1:] == alerts.bidx[o][:-1]
    broken = same & (alerts.frm[o][1:] != alerts.to[o][:-1])
    if bool(broken.any()):
        raise InputError("alerts.jsonl: a borrower's alerts do not chain (from_tier differs from the previous "
                         "to_tier): not written by monitor replay?")


def last_alerts(alerts: Alerts, n: int) -> tuple[I64, I64]:
    """Line offset and length of each borrower's last alert up to the end of the period (-1 none)."""
    off, length = alerts.pre_off.copy(), alerts.pre_len.copy()
    if alerts.bidx.size:
        rows = latest_rows(alerts.bidx, alerts.t, np.arange(alerts.bidx.size, dtype=np.int64), n)
        has = rows >= 0
        off[has], length[has] = alerts.off[rows[has]], alerts.length[rows[has]]
    return off, length


def build_state(b: Borrowers, alerts: Alerts, sched: Schedule, ev: EventData, start: int, cut: int,
                policy: Policy) -> State:
    ids = b.ids
    n = int(ids.size)
    pr = ev.profiles
    pb, pt, po = pr.col("bidx", np.int32), pr.col("t"), pr.col("order")
    first = latest_rows(pb, pt, po, n, first=True)
    latest = latest_rows(pb, pt, po, n)
    first_t = _pick(pt, first, np.iinfo(np.int64).max)
    prof_end = first >= 0
    prof_start = first_t < start

    rt = ev.ratings
    rb = rt.col("bidx", np.int32)
    last_rating = latest_rows(rb, rt.col("t"), rt.col("order"), n)
    grade = np.where(last_rating >= 0, _pick(rt.col("grade", np.int32), last_rating, -1),
                     _pick(pr.col("grade", np.int32), first, -1))

    # the tier at an instant: from_tier of the first alert after it, else the tier at the replay's as-of
    known = alerts.last_to >= 0
    if bool(np.any(alerts.last_to[known] != b.tier[known])):
        raise InputError("alerts.jsonl and borrowers.jsonl disagree on a borrower's tier (not the same replay)")
    tier_start = np.where(alerts.from_after_start >= 0, alerts.from_after_start, b.tier)
    tier_start = np.where(prof_start, np.maximum(tier_start, 0), -1).astype(np.int8)
    tier_end = np.where(alerts.from_after_cut >= 0, alerts.from_after_cut, b.tier)
    if bool(np.any((tier_end > 0) & ~prof_end)):
        raise InputError("alerts.jsonl has alerts for a borrower without a loan profile in the events "
                         "(the events are not the ones the replay read)")
    tier_end = np.where(prof_end, np.maximum(tier_end, 0), -1).astype(np.int8)
    _check_history(alerts, tier_start)

    due_end = sched.pre_due.copy()
    if sched.bidx.size:
        rows = latest_rows(sched.bidx, sched.t, np.arange(sched.bidx.size, dtype=np.int64), n)
        has = rows >= 0
        due_end[has] = sched.due[rows[has]]

    mincls = np.where(prof_end, _classes(_classification(ev, n, cut, policy), policy), -1).astype(np.int8)
    return State(
        n=n, ids=ids, prof_end=prof_end, prof_start=prof_start, first_profile_t=first_t,
        cents=np.where(prof_end, _pick(pr.col("cents"), latest, 0), 0),
        segment=_pick(pr.col("segment", np.int32), latest, -1).astype(np.int32),
        industry=_pick(pr.col("industry", np.int32), latest, -1).astype(np.int32),
        branch=_pick(pr.col("branch", np.int32), latest, -1).astype(np.int32),
        team=_pick(pr.col("team", np.int32), latest, -1).astype(np.int32),
        grade=grade.astype(np.int32), mincls=mincls, tier_end=tier_end, tier_start=tier_start,
        due_end=due_end.astype(np.int32), name=_pick(pr.col("name", np.int32), latest, -1).astype(np.int32),
        last_profile_t=_pick(pt, latest, np.iinfo(np.int64).max),
    )
