"""A team's schedule as JSON rows, CSV for spreadsheets and an iCalendar feed.

Pure: planned visits in, text or bytes out; no clock (the caller passes the
feed's ``DTSTAMP``), no files. Every export lists the visits in one canonical
order: planned date (unplanned last), team, then the planner's priority, so
the same visits always give the same bytes.

* :func:`schedule_rows`: a list of plain dicts (dates as ISO text) for JSON.
* :func:`schedule_csv`: UTF-8 with a byte-order mark (so Excel reads Chinese
  text), CRLF line ends, a header row; text cells that a spreadsheet would
  run as a formula (starting with ``= + - @``, a tab or a carriage return)
  get a leading apostrophe.
* Names (team, branch, borrower, reason) pass through :func:`monitor.desk.safe.clean`: a control character
  a record may still hold never reaches a CSV cell or an iCalendar line.
* :func:`schedule_ics`: an RFC 5545 calendar (built with ``icalendar``) with one
  all-day ``VEVENT`` per planned visit, on its planned date; the ``UID`` is
  ``{borrower_id}-{due date}@{domain}``, so a re-planned visit updates the same
  event in a subscribed calendar.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from monitor.desk.planner import PlannedVisit, priority_key
from monitor.desk.safe import clean, clean_text

__all__ = ["COLUMNS", "PRODID", "ordered", "schedule_csv", "schedule_ics", "schedule_rows"]

COLUMNS = ("borrower_id", "team", "branch", "tier", "reason", "next_visit_due", "planned", "exposure",
           "days_overdue", "late", "status")
PRODID = "-//monitor//post-loan alert desk//EN"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = frozenset({"borrower_id", "team", "branch", "tier", "reason", "status"})


def ordered(visits: Iterable[PlannedVisit]) -> list[PlannedVisit]:
    """The canonical order: planned date (unplanned last), team, then priority."""
    return sorted(visits, key=lambda p: (p.planned is None, p.planned.toordinal() if p.planned else 0,
                                         p.team is None, p.team or "", priority_key(p)))


def _row(p: PlannedVisit) -> dict[str, Any]:
    return {"borrower_id": p.borrower_id, "team": p.team, "branch": p.branch, "tier": p.tier, "reason": p.reason,
            "next_visit_due": p.next_visit_due.isoformat(),
            "planned": p.planned.isoformat() if p.planned else None, "exposure": p.exposure,
            "days_overdue": p.days_overdue, "late": p.late, "status": p.status}


def schedule_rows(visits: Iterable[PlannedVisit]) -> list[dict[str, Any]]:
    """One JSON-ready dict per visit, keys as :data:`COLUMNS`."""
    return [_row(p) for p in ordered(visits)]


def _guard(text: str, free: bool = False) -> str:
    """A text cell a spreadsheet will show as text, never run as a formula, and with no control character
    (``free``: free text, which keeps tabs and line breaks)."""
    text = clean_text(text) if free else clean(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "exposure":
        return f"{value:.2f}"
    if column == "late":
        return "true" if value else "false"
    if column in _TEXT_COLUMNS:
        return _guard(str(value), free=column == "reason")
    return str(value)


def schedule_csv(visits: Iterable[PlannedVisit], headers: Mapping[str, str] | None = None) -> bytes:
    """The schedule as CSV bytes: UTF-8 with BOM, CRLF, a header row, formula cells guarded.

    ``headers`` may rename columns (e.g. to Chinese labels); by default the
    header row holds the :data:`COLUMNS` names. Exposure has two decimals;
    an unplanned visit has an empty ``planned`` cell.
    """
    labels = dict(zip(COLUMNS, COLUMNS, strict=True))
    for key, label in (headers or {}).items():
        if key not in labels:
            raise ValueError(f"unknown column {key!r}; columns are {', '.join(COLUMNS)}")
        labels[key] = label
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_guard(labels[c]) for c in COLUMNS])
    for row in schedule_rows(visits):
        writer.writerow([_cell(c, row[c]) for c in COLUMNS])
    return buf.getvalue().encode("utf-8-sig")


def _describe(p: PlannedVisit) -> str:
    exposure = f"{p.exposure:.2f}" if p.exposure is not None else "unknown"
    lines = [f"Reason: {clean(p.reason)}" if p.reason else "Reason: (none given)",
             f"Tier: {p.tier}",
             f"Due: {p.next_visit_due.isoformat()}",
             f"Exposure: {exposure}",
             f"Days overdue: {p.days_overdue}"]
    if p.late:
        lines.append(f"LATE: planned {p.days_late} days after the due date")
    if p.branch:
        lines.append(f"Branch: {clean(p.branch)}")
    if p.team:
        lines.append(f"Team: {clean(p.team)}")
    return "\n".join(lines)


def schedule_ics(visits: Iterable[PlannedVisit], *, calendar_name: str, dtstamp: datetime,
                 domain: str = "monitor") -> bytes:
    """An iCalendar feed: one all-day event per planned visit (unplanned visits are left out).

    ``dtstamp`` (an aware datetime, e.g. when the plan was made) becomes
    every event's ``DTSTAMP`` in UTC, so the same plan gives the same bytes.
    """
    if dtstamp.tzinfo is None or dtstamp.utcoffset() is None:
        raise ValueError("dtstamp must be an aware datetime (with a time zone)")
    stamp = dtstamp.astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", clean(calendar_name))
    for p in ordered(visits):
        if p.planned is None:
            continue
        event = Event()
        bid = clean(p.borrower_id)
        event.add("uid", f"{bid}-{p.next_visit_due.isoformat()}@{clean(domain)}")
        event.add("dtstamp", stamp)
        event.add("dtstart", p.planned)
        event.add("dtend", p.planned + timedelta(days=1))
        event.add("summary", f"[{p.tier}] visit {bid}" + (" (late)" if p.late else ""))
        event.add("description", _describe(p))
        event.add("categories", [p.tier])
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return cal.to_ical()
