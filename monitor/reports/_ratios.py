"""The figures a monthly monitoring report leads with, from the portfolio at a few instants.

A :class:`Snapshot` is the portfolio at one instant, one slot per borrower: in
the portfolio (a loan profile by then), exposure, tier, highest days past due
(the classification floor follows from it and the policy) and grade. The
report takes snapshots at the period's end, the previous period's end (环比),
the same period a year earlier (同比) and the last twelve month ends (the
trend); every ratio, the five-category migration and the new defaults come
from them, never from another pass over the history.

The snapshots are the engine's own records, which ``monitor replay`` wrote at each
day's end (:class:`monitor.snapshots.SnapshotLog`): nothing here derives a
borrower's state from events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from monitor.events import GRADES
from monitor.reports._events import EventData
from monitor.reports._period import Period, _period_last, local_days, midnight_us
from monitor.reports._replay import TIERS
from monitor.reports._state import CLASSES, DAY, State
from monitor.snapshots import Snapshot
from monitor.reports.model import (
    ClassMigration, DefaultRow, NewDefaults, PortfolioPoint, RatioPoint, RatioRow, Ratios, TierCounts,
)
from monitor.rules.policy import Policy

__all__ = ["POINT_COLUMNS", "Snapshot", "class_migration", "comparison_instants", "month_ends", "new_default_rows", "new_defaults",
           "point", "ratios"]

I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
RATIO_KEYS = ("npl", "overdue", "special_mention", "watch_list")
SUBSTANDARD = CLASSES.index("substandard")
GRADE_D = 9


# ------------------------------------------------------------------ instants


def _day_end(day: date, period: Period) -> int:
    return midnight_us(day + timedelta(days=1), period.zone) - 1


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def comparison_instants(period: Period, cut: int) -> dict[str, tuple[int, str, date]]:
    """The period's end, the previous period's end and the end of the same period a year earlier."""
    prev_last = period.first - timedelta(days=1)
    if period.kind == "month":
        prev_label = prev_last.strftime("%Y-%m")
        ya_first = _year_earlier(period.first)
        ya_last = _period_last("month", ya_first) if period.last == _period_last("month", period.first) else \
            _year_earlier(period.last)
        ya_label = ya_first.strftime("%Y-%m")
    elif period.kind == "week":
        iso = prev_last.isocalendar()
        prev_label = f"{iso.year}-W{iso.week:02d}"
        ya_last = period.last - timedelta(days=364)
        iso = ya_last.isocalendar()
        ya_label = f"{iso.year}-W{iso.week:02d}"
    else:
        prev_label = prev_last.isoformat()
        ya_last = _year_earlier(period.last)
        ya_label = ya_last.isoformat()
    return {"end": (cut, period.label, period.last), "previous": (_day_end(prev_last, period), prev_label, prev_last),
            "year_ago": (_day_end(ya_last, period), ya_label, ya_last)}


def month_ends(period: Period, cut: int, months: int = 12) -> list[tuple[int, str, date]]:
    """The ends of the last ``months`` calendar months, the last one being the period's end (or the
    month to date)."""
    out = [(cut, period.last.strftime("%Y-%m"), period.last)]
    first = period.last.replace(day=1)
    for _ in range(months - 1):
        last = first - timedelta(days=1)
        out.append((_day_end(last, period), last.strftime("%Y-%m"), last))
        first = last.replace(day=1)
    return out[::-1]


# ------------------------------------------------------------------ figures


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


POINT_COLUMNS = ("tier", "cls", "exposure", "overdue", "dpd", "dpd_at")  # what point() reads of a snapshot


def _masks(s: Snapshot) -> dict[str, NDArray[np.bool_]]:
    present, cls = s.present, s.cols["cls"]
    return {"npl": present & (cls >= SUBSTANDARD), "overdue": present & (s.dpd_now() > 0),
            "special_mention": present & (cls == 1), "watch_list": present & (s.cols["tier"] >= 1)}


def _cents(s: Snapshot) -> I64:
    return np.where(s.present, s.cols["exposure"], 0).astype(np.int64)


def point(s: Snapshot, label: str) -> PortfolioPoint:
    present = s.present
    n = int(present.sum())
    cents = _cents(s)
    total = int(cents.sum())
    counts = np.bincount(s.cols["tier"][present].astype(np.int64), minlength=4)
    rows = []
    for key, m in _masks(s).items():
        k, c = int(np.count_nonzero(m)), int(cents[m].sum())
        rows.append(RatioPoint(key=key, borrowers=k, exposure=c / 100,  # type: ignore[arg-type]
                               count_ratio=_share(k, n), exposure_ratio=_share(c, total)))
    day = date(1970, 1, 1) + timedelta(days=int(s.day))
    return PortfolioPoint(label=label, day=day.isoformat(), borrowers=n, exposure=total / 100,
                          tiers=TierCounts(**{name: int(counts[i]) for i, name in enumerate(TIERS)}), ratios=rows)


def _diff(a: float, b: float | None) -> float | None:
    return None if b is None else round(a - b, 6)


def ratios(end: Snapshot, previous: Snapshot | None, year_ago: Snapshot | None, labels: Sequence[str]) -> Ratios:
    """The ratios at the end; 环比 against ``previous``, 同比 against ``year_ago`` (none: no history then)."""
    cur = point(end, labels[0])
    prev = point(previous, labels[1]) if previous is not None and previous.present.any() else None
    ya = point(year_ago, labels[2]) if year_ago is not None and year_ago.present.any() else None
    rows = []
    for i, r in enumerate(cur.ratios):
        p = prev.ratios[i] if prev else None
        y = ya.ratios[i] if ya else None
        rows.append(RatioRow(key=r.key, borrowers=r.borrowers, exposure=r.exposure, count_ratio=r.count_ratio,
                             exposure_ratio=r.exposure_ratio,
                             mom_count=_diff(r.count_ratio, p.count_ratio if p else None),
                             mom_exposure=_diff(r.exposure_ratio, p.exposure_ratio if p else None),
                             yoy_count=_diff(r.count_ratio, y.count_ratio if y else None),
                             yoy_exposure=_diff(r.exposure_ratio, y.exposure_ratio if y else None)))
    return Ratios(rows=rows, previous=prev, year_ago=ya)


def class_migration(start: Snapshot, end: Snapshot) -> ClassMigration:
    m = end.present
    row = np.where(start.present, start.cols["cls"].astype(np.int64) + 1, 0)[m]  # 0 = new
    col = end.cols["cls"][m].astype(np.int64)
    size = len(CLASSES)
    cell = row * size + col
    counts = np.bincount(cell, minlength=(size + 1) * size).reshape(size + 1, size)
    cents = np.zeros((size + 1) * size, dtype=np.int64)
    np.add.at(cents, cell, _cents(end)[m])
    return ClassMigration(start=["new", *CLASSES], end=list(CLASSES), counts=counts.tolist(),
                          exposure=[[int(c) / 100 for c in r] for r in cents.reshape(size + 1, size).tolist()])


def in_default(s: Snapshot) -> NDArray[np.bool_]:
    return s.present & ((s.cols["cls"] >= SUBSTANDARD) | (s.cols["grade"] == GRADE_D))


def new_default_rows(start: Snapshot, end: Snapshot) -> I64:
    """Borrowers in default at the end and not at the start, largest exposure first."""
    rows = np.flatnonzero(in_default(end) & ~in_default(start))
    return rows[np.lexsort((rows, -_cents(end)[rows]))]


def new_defaults(start: Snapshot, end: Snapshot, state: State, ev: EventData, period: Period, policy: Policy,
                 names: Sequence[str | None]) -> NewDefaults:
    """The new defaults of the period (``names``: one per row of :func:`new_default_rows`)."""
    rows = new_default_rows(start, end)
    floor = policy.classification.substandard
    cents, dpd, cls, grade = _cents(end), end.dpd_now(), end.cols["cls"], end.cols["grade"]
    out: list[DefaultRow] = []
    for i, r in enumerate(rows.tolist()):
        by_dpd = bool(cls[r] >= SUBSTANDARD)
        by_grade = bool(grade[r] == GRADE_D)
        # the highest days past due grows a day a day: it reached the floor (dpd - floor) days ago
        since = _since_day(end.at, int(dpd[r]) - floor, period) if by_dpd else None
        out.append(DefaultRow(
            borrower_id=state.id_text(r), name=names[i], exposure=int(cents[r]) / 100,
            branch=_code_text(ev.branches.values, int(state.branch[r])),
            industry=_code_text(ev.industries.values, int(state.industry[r])),
            grade=_grade_text(int(grade[r])), min_classification=CLASSES[int(cls[r])],
            days_past_due=int(dpd[r]), trigger="both" if by_dpd and by_grade else "dpd" if by_dpd else "grade",
            since=since))
    return NewDefaults.model_construct(borrowers=int(rows.size), exposure=int(cents[rows].sum()) / 100, rows=out)


def _since_day(at: int, days_ago: int, period: Period) -> str | None:
    if days_ago < 0:
        return None
    day = local_days(np.array([at - days_ago * DAY], dtype=np.int64), period.zone)[0]
    return (date(1970, 1, 1) + timedelta(days=int(day))).isoformat()


def _code_text(values: list[str], code: int) -> str:
    return values[code] if code >= 0 else "—"


def _grade_text(code: int) -> str:
    return GRADES[code] if 0 <= code < len(GRADES) else "—"
