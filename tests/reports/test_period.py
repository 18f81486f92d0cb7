"""Periods in the policy's time zone: day, ISO week, calendar month; the next period; working days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor._time import to_us
from monitor.reports._period import local_days, make_period, working_days

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("kind, as_of, first, label, nxt", [
    ("day", date(2025, 3, 5), date(2025, 3, 5), "2025-03-05", (date(2025, 3, 6), date(2025, 3, 6))),
    ("week", date(2025, 3, 12), date(2025, 3, 10), "2025-W11", (date(2025, 3, 13), date(2025, 3, 16))),
    ("week", date(2025, 3, 16), date(2025, 3, 10), "2025-W11", (date(2025, 3, 17), date(2025, 3, 23))),
    ("week", date(2024, 12, 31), date(2024, 12, 30), "2025-W01", (date(2025, 1, 1), date(2025, 1, 5))),
    ("month", date(2025, 2, 28), date(2025, 2, 1), "2025-02", (date(2025, 3, 1), date(2025, 3, 31))),
    ("month", date(2024, 2, 10), date(2024, 2, 1), "2024-02", (date(2024, 2, 11), date(2024, 2, 29))),
    ("month", date(2025, 12, 31), date(2025, 12, 1), "2025-12", (date(2026, 1, 1), date(2026, 1, 31))),
])
def test_period_bounds(kind, as_of, first, label, nxt) -> None:
    p = make_period(kind, as_of, SH)
    assert (p.first, p.last, p.label, p.next_days()) == (first, as_of, label, nxt)
    assert p.start_us == to_us(datetime(first.year, first.month, first.day, tzinfo=SH))
    assert p.end_us - to_us(datetime(as_of.year, as_of.month, as_of.day, tzinfo=SH)) == 86_400_000_000
    assert len(p.day_edges()) == (as_of - first).days + 2


def test_days_follow_daylight_saving_time() -> None:
    ny = ZoneInfo("America/New_York")
    p = make_period("day", date(2025, 3, 9), ny)  # 23 hours long
    assert p.end_us - p.start_us == 23 * 3_600_000_000


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
       st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London", "UTC"]))
def test_local_days_agree_with_zoneinfo(dt, zone) -> None:
    z = ZoneInfo(zone)
    us = to_us(dt.replace(tzinfo=UTC))
    got = int(local_days(np.array([us], dtype=np.int64), z)[0])
    assert got == (dt.replace(tzinfo=UTC).astimezone(z).date() - date(1970, 1, 1)).days


def test_working_days() -> None:
    assert working_days(date(2025, 4, 1), date(2025, 4, 30)) == 22
    assert working_days(date(2025, 3, 15), date(2025, 3, 16)) == 0
    assert working_days(date(2025, 3, 17), date(2025, 3, 17)) == 1
