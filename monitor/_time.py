"""Instants as integer microseconds since the Unix epoch (UTC).

The core keeps time as plain integers: exact, cheap to compare and compact in
JSON. Conversion to and from aware datetimes happens only at the edges.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic_core import TzInfo

SECOND = 1_000_000
DAY = 86_400 * SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


# A validated instant's tzinfo is pydantic's fixed-offset ``TzInfo`` (public in pydantic_core), a new object for
# every instant: its own ``utcoffset`` is cheap, but a dict keyed by it compares the objects (costly) and
# ``datetime.utcoffset`` or subtracting an aware datetime goes the long way round. Any other tzinfo (a ZoneInfo's
# offset depends on the date) takes the general path.
_EPOCH_ORDINAL = _EPOCH.toordinal()


def to_us(dt: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    tz = dt.tzinfo
    if tz.__class__ is TzInfo:
        o = tz.utcoffset(None)  # type: ignore[union-attr]
        if o.microseconds:  # (an ISO offset has whole seconds)
            return _to_us(dt)
        off = o.days * 86_400 + o.seconds
    elif tz is UTC:  # what from_us gives
        off = 0
    else:
        return _to_us(dt)
    return (((dt.toordinal() - _EPOCH_ORDINAL) * 86_400 + dt.hour * 3_600 + dt.minute * 60 + dt.second - off)
            * SECOND + dt.microsecond)


def _to_us(dt: datetime) -> int:
    try:
        d = dt - _EPOCH  # a naive datetime (no tzinfo, or one without an offset) cannot be subtracted
    except TypeError:
        raise ValueError("timezone offset required") from None
    return (d.days * 86_400 + d.seconds) * SECOND + d.microseconds  # exact: // _ONE_US, cheaper


def from_us(us: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(0, 0, us)  # = timedelta(microseconds=us), without keyword parsing


_ISO_DAYS: dict[int, str] = {}  # day number -> its ISO date


_MINUTE = 60 * SECOND
_CLOCK = tuple(f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60))  # minute of the day -> "THH:MM:"
_SECONDS = tuple(f"{s:02d}" for s in range(60))


def iso(us: int) -> str:
    """ISO 8601 text of an instant, in UTC with a ``Z`` suffix (``from_us(us).isoformat()`` with ``Z`` for
    ``+00:00``: the fraction only when there is one). The date is kept per day and the time read from tables
    (formatting each field with ``:02d`` cost three times as much)."""
    d, rem = divmod(us, DAY)
    day = _ISO_DAYS.get(d)
    if day is None:
        if len(_ISO_DAYS) >= 65_536:
            _ISO_DAYS.clear()
        day = _ISO_DAYS[d] = (_EPOCH + timedelta(d)).date().isoformat()
    m, rem = divmod(rem, _MINUTE)
    s, frac = divmod(rem, SECOND)
    if frac:
        return f"{day}{_CLOCK[m]}{_SECONDS[s]}.{frac:06d}Z"
    return f"{day}{_CLOCK[m]}{_SECONDS[s]}Z"


_HOUR = 3_600 * SECOND
# (zone, UTC hour) -> the local date of every instant of that hour (kept only for an hour that lies within one date)
_DATES: dict[tuple[ZoneInfo, int], date] = {}


def local_date(us: int, zone: ZoneInfo) -> date:
    """The calendar date of an instant in a time zone."""
    key = (zone, us // _HOUR)
    got = _DATES.get(key)
    if got is None:
        got = from_us(us).astimezone(zone).date()
        start = key[1] * _HOUR
        first, last = from_us(start).astimezone(zone).date(), from_us(start + _HOUR - 1).astimezone(zone).date()
        if first != last:
            return got
        if len(_DATES) >= 65_536:
            _DATES.clear()
        _DATES[key] = got
    return got


def ahead_reason(at: int, trusted: int, skew: int, what: str) -> str | None:
    """Why an instant ``at`` is refused as too far in the future, or None.

    ``trusted`` is the newest time that can be trusted (the wall clock, a partition's watermark, the
    newest instant of a replay's input), ``what`` names it; ``skew`` is how far ahead of it an event
    may be (the ``future_skew`` setting, one day by default). One wording for every shell that
    refuses such events, so that a dead letter and a reject say the same.
    """
    if at - trusted <= skew:
        return None
    hours = skew / (3600 * SECOND)
    span = f"{hours / 24:g} day{'s' if hours != 24 else ''}" if hours % 24 == 0 else f"{hours:g} h"
    return f"future: {iso(at)} is more than {span} ahead of {what} ({iso(trusted)})"


def parse_instant(text: str) -> int:
    """Parse an ISO 8601 instant with offset, or a date (midnight UTC)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 instant: {text!r}") from exc
    if dt.tzinfo is None:
        if len(value) == 10:  # a bare date
            dt = dt.replace(tzinfo=UTC)
        else:
            raise ValueError(f"timezone offset required: {text!r}")
    return to_us(dt)
