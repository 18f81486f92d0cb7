"""Instants written as text and local dates, which the outputs derive from the engine's integer instants."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe",
                                  "Europe/London", "UTC"])
def test_cached_instant_texts_and_local_dates_are_those_of_datetime(zone: str) -> None:
    """``iso`` and ``local_date`` (cached by day and by hour) give what the datetime arithmetic gives, for instants
    across 1900-2199, around the local midnights and daylight-saving changes, twice (the cached answers)."""
    import random
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from monitor._time import DAY, from_us, iso, local_date, to_us

    tz = ZoneInfo(zone)
    rng = random.Random(7)
    lo, hi = to_us(datetime(1900, 1, 1, tzinfo=UTC)), to_us(datetime(2200, 1, 1, tzinfo=UTC)) - 1
    instants = [lo, hi, 0, -1, 1, DAY - 1, *(rng.randint(lo, hi) for _ in range(3000))]
    instants += [rng.randint(0, 200 * 365) * DAY + rng.choice([0, 1, 999_999, 1_000_000]) for _ in range(500)]
    for year in (1950, 2025, 2150):  # every quarter hour around the year's changes of offset and local midnights
        start = to_us(datetime(year, 3, 1, tzinfo=UTC))
        instants += [start + k * 900_000_000 + d for k in range(0, 24 * 4 * 250, 7) for d in (-1, 0)]
    for _ in range(2):
        for us in instants:
            dt = from_us(us)
            assert iso(us) == dt.isoformat().replace("+00:00", "Z")
            assert local_date(us, tz) == dt.astimezone(tz).date()
