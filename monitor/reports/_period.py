"""Report periods: calendar days, ISO weeks and months in the policy's time zone.

A period runs from the start of its first day to the end of the as-of date
(half-open, ``[start, end)``): a week is the ISO week (Monday to Sunday) that
contains the as-of date, a month the calendar month; both up to the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from monitor._time import to_us

__all__ = ["PERIODS", "Period", "PeriodKind", "local_days", "make_period", "midnight_us", "working_days"]

PeriodKind = Literal["day", "week", "month"]
PERIODS: tuple[PeriodKind, ...] = ("day", "week", "month")
EPOCH = date(1970, 1, 1)
_MAX_SPAN_DAYS = 200_000  # a day table longer than this means a corrupt instant


def midnight_us(day: date, zone: ZoneInfo) -> int:
    """The instant a calendar day starts in a time zone."""
    return to_us(datetime.combine(day, time(0), tzinfo=zone))


def _period_start(kind: PeriodKind, day: date) -> date:
    if kind == "day":
        return day
    if kind == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _period_last(kind: PeriodKind, first: date) -> date:
    """The last day of the full calendar period that starts on ``first``."""
    if kind == "day":
        return first
    if kind == "week":
        return first + timedelta(days=6)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    first: date  # first day of the period
    last: date  # the as-of date: the period ends at the end of this day
    zone: ZoneInfo

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.last.isoformat()
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return self.first.strftime("%Y-%m")

    @property
    def start_us(self) -> int:
        return midnight_us(self.first, self.zone)

    @property
    def end_us(self) -> int:
        """The end of the as-of date (exclusive)."""
        return midnight_us(self.last + timedelta(days=1), self.zone)

    @property
    def complete_last(self) -> date:
        """The last day of the full calendar period (after ``last`` for a period-to-date report)."""
        return _period_last(self.kind, self.first)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def day_edges(self) -> NDArray[np.int64]:
        """Start instants of each day of the period, and the period's end."""
        days = self.days()
        return np.array([midnight_us(d, self.zone) for d in days] + [self.end_us], dtype=np.int64)

    def next_days(self) -> tuple[date, date]:
        """The days after the as-of date to the end of the calendar period that holds the next day:
        the rest of this period for a period-to-date report, else the whole next period."""
        first = self.last + timedelta(days=1)
        return first, _period_last(self.kind, _period_start(self.kind, first))


def make_period(kind: PeriodKind, as_of: date, zone: ZoneInfo) -> Period:
    return Period(kind, _period_start(kind, as_of), as_of, zone)


def working_days(first: date, last: date) -> int:
    """Monday to Friday between two dates, inclusive (no holiday calendar)."""
    n = (last - first).days + 1
    return sum(1 for i in range(max(n, 0)) if (first + timedelta(days=i)).weekday() < 5)


def local_days(us: NDArray[np.int64], zone: ZoneInfo) -> NDArray[np.int64]:
    """The calendar date (days since 1970-01-01) of each instant in a time zone (vectorised)."""
    if us.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo = int(us.min()) // 86_400_000_000 - 2
    hi = int(us.max()) // 86_400_000_000 + 2
    if hi - lo > _MAX_SPAN_DAYS:
        lo = max(lo, hi - _MAX_SPAN_DAYS)
    lo = max(lo, -EPOCH.toordinal() + 2)
    edges = np.array([midnight_us(EPOCH + timedelta(days=d), zone) for d in range(lo, hi + 1)], dtype=np.int64)
    return (np.searchsorted(edges, us, side="right") - 1 + lo).astype(np.int64)


def day_date(days: int) -> date:
    return EPOCH + timedelta(days=int(days))
