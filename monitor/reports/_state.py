"""Every borrower at the start and at the end of the period, as arrays (one slot per borrower).

From the engine's own records, which ``monitor replay`` wrote at each day's end
(``monitor.snapshots``): the state at the start of the period is the record at the
end of the day before it, the state at its end the record at the end of its last
day (or at the replay's as-of). Nothing is derived here a second way: profile,
grade, tier and classification floor are the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError
from monitor.outputs import ClassificationName
from monitor.reports._ids import Codes
from monitor.reports._replay import TIERS, Alerts, Borrowers
from monitor.snapshots import NONE, Snapshot

__all__ = ["CLASSES", "State", "build_state", "latest_rows"]

CLASSES: tuple[str, ...] = get_args(ClassificationName)  # the floor codes 0-4, in order
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


def build_state(b: Borrowers, alerts: Alerts, start_snap: Snapshot, end: Snapshot, teams: Codes,
                team_values: list[str]) -> State:
    """The state at both edges of the period from the records at the end of the day before and of its last day.

    ``team_values``: the snapshots' team table (their codes are expressed in ``teams``, shared with the
    schedule)."""
    n = int(b.ids.size)
    if end.tier.size != n:
        raise InputError("the snapshots are not of the borrowers in borrowers.jsonl")
    table = np.array([teams.code(v) for v in team_values] + [-1], dtype=np.int32)
    prof_end = end.tier >= 0
    prof_start = start_snap.tier >= 0
    tier_end = end.tier.astype(np.int8)
    tier_start = start_snap.tier.astype(np.int8)
    known = alerts.last_to >= 0
    if bool(np.any(alerts.last_to[known] != b.tier[known])):
        raise InputError("alerts.jsonl and borrowers.jsonl disagree on a borrower's tier (not the same replay)")
    _check_history(alerts, tier_start)
    never = np.iinfo(np.int64).max
    return State(
        n=n, ids=b.ids, prof_end=prof_end, prof_start=prof_start,
        first_profile_t=np.where(end.first_seen == NONE, never, end.first_seen),
        cents=np.where(prof_end, end.exposure, 0).astype(np.int64),
        segment=end.segment.astype(np.int32), industry=end.industry.astype(np.int32),
        branch=end.branch.astype(np.int32), team=table[end.team].astype(np.int32),
        grade=np.where(prof_end, end.grade, -1).astype(np.int32), mincls=np.where(prof_end, end.cls, -1).astype(np.int8),
        tier_end=tier_end, tier_start=tier_start, due_end=np.where(prof_end, end.due, -1).astype(np.int32),
        name=end.name.astype(np.int32), last_profile_t=np.where(end.profile_at == NONE, never, end.profile_at),
    )
