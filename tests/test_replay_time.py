"""The replay's instants: ``to_us`` of what pydantic validates equals the exact datetime arithmetic."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from monitor._time import from_us, to_us
from monitor.events import parse_event


def test_to_us_of_validated_instants_with_every_kind_of_offset() -> None:
    rng = random.Random(7)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    offsets = ["Z", "+00:00", "+08:00", "-05:30", "+14:00", "-12:00", "+05:45", "-00:01", "+23:59"]
    for k in range(400):
        base = datetime(1900, 1, 3) + timedelta(seconds=rng.randrange(0, 299 * 365 * 86_400),
                                                microseconds=rng.choice([0, rng.randrange(1, 1_000_000)]))
        off = offsets[k % len(offsets)]
        text = base.isoformat() + off
        event = parse_event(f'{{"event_id":"e{k}","type":"rating_change","borrower_id":"b","occurred_at":"{text}",'
                            '"old_grade":"A","new_grade":"BBB"}')
        aware = datetime.fromisoformat(text.replace("Z", "+00:00"))
        want = (aware - epoch) // timedelta(microseconds=1)
        assert to_us(event.occurred_at) == want, text
        assert to_us(aware) == want  # the standard library's own fixed offsets
        assert to_us(from_us(want)) == want
    other = datetime(2025, 3, 1, 12, tzinfo=timezone(timedelta(hours=-3)))
    assert to_us(other) == (other - epoch) // timedelta(microseconds=1)
