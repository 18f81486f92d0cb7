"""Schedule exports: CSV as a spreadsheet reads it, iCalendar as a calendar reads it, JSON rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from monitor.desk.exports import COLUMNS, PRODID, schedule_csv, schedule_ics, schedule_rows
from monitor.desk.planner import DueVisit, PlannedVisit, plan
from monitor.desk.teams import parse_teams
from monitor.events import forbidden_character

TODAY = date(2026, 11, 2)  # a Monday
STAMP = datetime(2026, 11, 2, 8, 30, tzinfo=timezone(timedelta(hours=8)))  # 00:30 UTC
TEAMS = parse_teams('version = "t"\n[defaults]\nvisits_per_day = 2\n', "test")


def schedule() -> list[PlannedVisit]:
    visits = [
        DueVisit("B001", "T01", "severe", date(2026, 10, 28), 1_250_000.5, "上海分行", "评级下调两级; 逾期 45 天"),
        DueVisit("B002", "T01", "warning", date(2026, 11, 5), None, None, "=HYPERLINK(\"http://x\",\"click\")"),
        DueVisit("B003", "T01", "watch", date(2026, 11, 4), 80_000.0, "北京分行", "tier watch: every 90 days"),
        DueVisit("B004", "T01", "normal", date(2027, 6, 1), 10.0, None, "periodic"),  # beyond the horizon
        DueVisit("+86-B005", "T01", "watch", date(2026, 11, 3), 5.0, "@branch", "-1 notch, \"quoted\",\nnew line"),
    ]
    return plan(visits, TODAY, TEAMS, horizon=30)


def read_csv(data: bytes) -> list[list[str]]:
    """Open the bytes the way Excel does with a UTF-8 BOM file."""
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


# ------------------------------------------------------------ CSV

def test_csv_is_utf8_with_bom_crlf_and_a_header_row():
    data = schedule_csv(schedule())
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\r\n")
    body = data.decode("utf-8-sig")
    # records end with CRLF; the only bare LF is the one inside B005's quoted reason (a line break in the cell)
    assert body.count("\r\n") == 1 + 5
    assert body.count("\n") == 1 + 5 + 1
    assert '"\'-1 notch, ""quoted"",\nnew line"' in body
    rows = read_csv(data)
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 1 + 5


def test_csv_rows_carry_the_schedule_and_chinese_text_survives():
    rows = read_csv(schedule_csv(schedule()))
    by_id = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]}
    b1 = by_id["B001"]
    assert b1 == {"borrower_id": "B001", "team": "T01", "branch": "上海分行", "tier": "severe",
                  "reason": "评级下调两级; 逾期 45 天", "next_visit_due": "2026-10-28", "planned": "2026-11-02",
                  "exposure": "1250000.50", "days_overdue": "5", "late": "true", "status": "late"}
    assert by_id["B003"]["planned"] == "2026-11-04"
    assert by_id["B003"]["late"] == "false"
    assert by_id["B002"]["exposure"] == ""
    assert (by_id["B004"]["planned"], by_id["B004"]["status"]) == ("", "beyond_horizon")
    # planned visits first, by date
    assert [r[0] for r in rows[1:]] == ["B001", "'+86-B005", "B003", "B002", "B004"]


def test_csv_guards_cells_a_spreadsheet_would_run_as_formulas():
    rows = read_csv(schedule_csv(schedule()))
    by_id = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]}
    assert by_id["B002"]["reason"] == "'=HYPERLINK(\"http://x\",\"click\")"
    b5 = by_id["'+86-B005"]
    assert b5["branch"] == "'@branch"
    assert b5["reason"] == "'-1 notch, \"quoted\",\nnew line"  # commas, quotes and a newline survive quoting
    assert by_id["B003"]["reason"] == "tier watch: every 90 days"  # ordinary text untouched


def test_csv_headers_can_be_renamed_for_the_page():
    rows = read_csv(schedule_csv(schedule(), headers={"borrower_id": "借款人", "planned": "计划日期"}))
    assert rows[0][:1] == ["借款人"]
    assert rows[0][COLUMNS.index("planned")] == "计划日期"
    with pytest.raises(ValueError, match="unknown column 'name'"):
        schedule_csv(schedule(), headers={"name": "x"})


def test_csv_of_an_empty_schedule_is_the_header_row():
    assert read_csv(schedule_csv([])) == [list(COLUMNS)]


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_csv_round_trip_of_any_text(cells):
    visits = [PlannedVisit(borrower_id=bid, team="T01", tier="watch", next_visit_due=TODAY, exposure=1.0,
                           branch=branch, reason=reason, planned=TODAY, late=False, days_overdue=0, status="on_time")
              for bid, branch, reason in cells]
    rows = read_csv(schedule_csv(visits))[1:]

    def shown(text: str, free: bool = False) -> str:  # control characters become U+FFFD (free text: not tabs, CR, LF)
        text = "".join("\ufffd" if forbidden_character(c, free_text=free) else c for c in text)
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
    expected = sorted((shown(bid), shown(branch), shown(reason, True)) for bid, branch, reason in cells)
    assert sorted((r[0], r[2], r[4]) for r in rows) == expected


# ------------------------------------------------------------ iCalendar

def test_ics_parses_back_with_one_all_day_event_per_planned_visit():
    data = schedule_ics(schedule(), calendar_name="T01 巡检计划", dtstamp=STAMP)
    cal = Calendar.from_ical(data)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == PRODID
    assert str(cal["X-WR-CALNAME"]) == "T01 巡检计划"
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert sorted(events) == ["+86-B005-2026-11-03@monitor", "B001-2026-10-28@monitor", "B002-2026-11-05@monitor",
                              "B003-2026-11-04@monitor"]  # the visit beyond the horizon has no date: no event
    b1 = events["B001-2026-10-28@monitor"]
    assert b1.decoded("DTSTART") == date(2026, 11, 2)
    assert b1.decoded("DTEND") == date(2026, 11, 3)
    assert b1["DTSTART"].params.get("VALUE") == "DATE"
    assert b1.decoded("DTSTAMP") == datetime(2026, 11, 2, 0, 30, tzinfo=UTC)
    assert str(b1["SUMMARY"]) == "[severe] visit B001 (late)"
    description = str(b1["DESCRIPTION"])
    assert "评级下调两级; 逾期 45 天" in description
    assert "Exposure: 1250000.50" in description
    assert "Due: 2026-10-28" in description
    assert "Branch: 上海分行" in description
    b3 = events["B003-2026-11-04@monitor"]
    assert str(b3["SUMMARY"]) == "[watch] visit B003"
    assert b3.decoded("DTSTART") == date(2026, 11, 4)
    assert "Reason: =HYPERLINK" in str(events["B002-2026-11-05@monitor"]["DESCRIPTION"])


def test_ics_is_valid_rfc5545_text():
    data = schedule_ics(schedule(), calendar_name="T01 巡检计划", dtstamp=STAMP)
    assert data.startswith(b"BEGIN:VCALENDAR\r\n")
    assert data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines), "content lines are folded at 75 octets"
    data.decode("utf-8")  # folding never splits a character
    unfolded = data.replace(b"\r\n ", b"").decode("utf-8").split("\r\n")
    names = [line.split(":", 1)[0].split(";", 1)[0] for line in unfolded if line]
    assert names.count("BEGIN") == names.count("END") == 1 + 4
    for block in "\r\n".join(unfolded).split("BEGIN:VEVENT")[1:]:
        props = [line.split(":", 1)[0].split(";", 1)[0] for line in block.split("END:VEVENT")[0].split("\r\n") if line]
        for required in ("UID", "DTSTAMP", "DTSTART"):
            assert props.count(required) == 1, f"{required} must appear once in a VEVENT"


def test_ics_bytes_are_deterministic_whatever_the_input_order():
    visits = schedule()
    first = schedule_ics(visits, calendar_name="T01", dtstamp=STAMP)
    assert schedule_ics(list(reversed(visits)), calendar_name="T01", dtstamp=STAMP) == first
    later = schedule_ics(visits, calendar_name="T01", dtstamp=STAMP + timedelta(hours=1))
    assert later != first  # the stamp is the caller's, nothing else changes
    assert later.replace(b"DTSTAMP:20261102T013000Z", b"DTSTAMP:20261102T003000Z") == first


def test_ics_uid_follows_the_visit_so_a_replanned_visit_updates_its_event():
    visits = schedule()
    moved = plan([DueVisit("B003", "T01", "watch", date(2026, 11, 4), 80_000.0)], TODAY, TEAMS, horizon=30,
                 placement="earliest")
    before = {str(e["UID"]): e.decoded("DTSTART") for e in Calendar.from_ical(
        schedule_ics(visits, calendar_name="T", dtstamp=STAMP)).walk("VEVENT")}
    after = {str(e["UID"]): e.decoded("DTSTART") for e in Calendar.from_ical(
        schedule_ics(moved, calendar_name="T", dtstamp=STAMP)).walk("VEVENT")}
    assert before["B003-2026-11-04@monitor"] == date(2026, 11, 4)
    assert after == {"B003-2026-11-04@monitor": date(2026, 11, 2)}


def test_ics_needs_an_aware_stamp_and_takes_a_domain():
    with pytest.raises(ValueError, match="aware"):
        schedule_ics(schedule(), calendar_name="T", dtstamp=datetime(2026, 11, 2, 8, 0))
    data = schedule_ics(schedule(), calendar_name="T", dtstamp=STAMP, domain="desk.example.com")
    assert {str(e["UID"]).split("@")[1] for e in Calendar.from_ical(data).walk("VEVENT")} == {"desk.example.com"}


def test_ics_of_an_empty_schedule_is_a_calendar_without_events():
    cal = Calendar.from_ical(schedule_ics([], calendar_name="T", dtstamp=STAMP))
    assert cal.walk("VEVENT") == []
    assert str(cal["X-WR-CALNAME"]) == "T"


# ------------------------------------------------------------ JSON rows

def test_rows_are_plain_json_ready_dicts_in_the_canonical_order():
    rows = schedule_rows(schedule())
    assert [r["borrower_id"] for r in rows] == ["B001", "+86-B005", "B003", "B002", "B004"]
    assert all(list(r) == list(COLUMNS) for r in rows)
    assert rows[0] == {"borrower_id": "B001", "team": "T01", "branch": "上海分行", "tier": "severe",
                       "reason": "评级下调两级; 逾期 45 天", "next_visit_due": "2026-10-28", "planned": "2026-11-02",
                       "exposure": 1250000.5, "days_overdue": 5, "late": True, "status": "late"}
    assert rows[-1]["planned"] is None
    assert json.loads(json.dumps(rows, ensure_ascii=False)) == rows
    assert schedule_rows(list(reversed(schedule()))) == rows


# ------------------------------------------------------------ purity

@pytest.mark.parametrize(("name", "allowed"), [
    ("planner.py", {"__future__", "math", "collections", "dataclasses", "datetime", "typing", "monitor"}),
    ("exports.py", {"__future__", "csv", "io", "collections", "datetime", "typing", "icalendar", "monitor"}),
])
def test_planner_and_exports_read_no_clock_and_do_no_io(name, allowed):
    import ast
    from pathlib import Path

    from tests.test_architecture import FORBIDDEN_CALLS

    path = Path(__file__).resolve().parents[2] / "monitor" / "desk" / name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in modules:
                assert mod.split(".")[0] in allowed, f"{name} imports {mod}"
                assert mod in ("monitor.outputs", "monitor.desk.teams", "monitor.desk.planner", "monitor.desk.safe",
                           "monitor.events") or \
                    not mod.startswith("monitor"), f"{name} imports {mod}"
        if isinstance(node, ast.Call):
            fn = node.func
            called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            assert called not in FORBIDDEN_CALLS, f"{name}:{node.lineno} calls {called}()"
