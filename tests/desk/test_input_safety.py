"""Names and text that would break an output, ids with a slash, dates out of range, unknown teams, and the one
answer for a borrower that does not exist or is outside an inspector's teams (issue 12)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from prometheus_client.parser import text_string_to_metric_families

from monitor.desk.api import create_app
from monitor.desk.safe import clean, content_disposition
from monitor.desk.teams import parse_teams
from monitor.desk.view import ALERTS, BORROWERS, SCHEDULE
from monitor.engine import Engine
from monitor.rules.loader import default_policy
from tests import factories as f
from tests.desk.desk_fakes import T0, LoopbackDesk, authenticator, bearer, portfolio, schedule


def not_found(bid: str) -> dict[str, object]:
    """The body of a 404 for a borrower (missing, or outside an inspector's teams: the same)."""
    return {"detail": f"borrower {bid!r} not found", "code": "borrower_not_found", "params": {"id": bid}}

NOW = T0 + timedelta(days=3)
TODAY = NOW.date()
Client = httpx.AsyncClient


def _engine_items(bid: str, team: str, branch: str = "SH01") -> list[tuple[str, bytes | None, bytes | None]]:
    engine = Engine(default_policy())
    state = engine.new_state(bid)
    items: list[tuple[str, bytes | None, bytes | None]] = []
    for ev in (f.profile(T0, bid=bid, team=team, branch=branch), f.overdue(T0 + timedelta(days=1), 45, bid=bid)):
        for a in engine.apply(state, ev).alerts:
            items.append((ALERTS, bid.encode(), a.model_dump_json().encode()))
    items.append((SCHEDULE, bid.encode(), engine.schedule_entry(state).model_dump_json().encode()))
    items.append((BORROWERS, bid.encode(), engine.detail(state).model_dump_json().encode()))
    return items


def run(test: Callable[[Client, LoopbackDesk], Awaitable[Any]], extra: list[Any] | None = None,
        teams: Any = None) -> Any:
    async def go() -> Any:
        desk = LoopbackDesk()
        desk.ingest(portfolio() + (extra or []))
        app = create_app(desk, auth=authenticator(), clock=lambda: NOW, teams=teams)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            return await test(c, desk)

    return asyncio.run(go())


def _header_safe(r: httpx.Response) -> None:
    """What h11 and every proxy accept: printable ASCII header values (no CR, LF, NUL)."""
    for name, value in r.headers.raw:
        assert all(32 <= b < 127 for b in value), (name, value)


# ------------------------------------------------------------------ control characters at every output

@pytest.mark.parametrize("char", ["%0A", "%0D", "%00", "%1B", "%E2%80%AE"])  # LF, CR, NUL, ESC, RLO
@pytest.mark.parametrize("route", ["schedule", "schedule.csv", "schedule.ics", "plan", "forecast"])
def test_a_team_name_with_a_control_character_in_the_path_is_a_422_naming_it(char, route):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get(f"/api/v1/teams/T{char}1/{route}", headers=bearer("risk"))
        assert r.status_code == 422, r.text
        assert re.search(r"control character U\+[0-9A-F]{4} not allowed", r.text)
        detail = r.json()["detail"]
        assert detail == "path: control character U+0000 not allowed" if char == "%00" else \
            detail[0]["loc"] == ["path", "team"]
        _header_safe(r)

    run(t)


@pytest.mark.parametrize("char", ["%0A", "%0D", "%00"])
def test_a_calendar_feed_for_a_team_with_a_control_character_is_refused_not_a_500(char):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get(f"/api/v1/feeds/T{char}1.ics", params={"key": "feed_x"})
        assert r.status_code == 422 and "control character" in r.text

    run(t)


def test_names_that_break_headers_calendars_csv_and_labels_in_old_records_are_neutralised():
    """Records written before the contract refused such names (or by another producer): every output stays
    well formed; the control characters become U+FFFD."""
    extra = _engine_items("B9", "T1") + [
        (SCHEDULE, b"B8", schedule("B8", TODAY, team="T\n8")),  # a team only old data knows
        (SCHEDULE, b"B7",
         schedule("B7", TODAY - timedelta(days=2), team="T1").replace(b'"BR1"', b'"SH\\r\\n01\\u0000"')),
    ]

    async def t(c: Client, desk: LoopbackDesk) -> None:
        end = (TODAY + timedelta(days=30)).isoformat()
        r = await c.get("/api/v1/teams/T1/schedule.csv", params={"end": end}, headers=bearer("risk"))
        assert r.status_code == 200
        _header_safe(r)
        body = r.content.decode("utf-8-sig")
        assert "\x00" not in body and "SH\ufffd\ufffd01\ufffd" in body
        r = await c.get("/api/v1/teams/T1/schedule.ics", params={"end": end}, headers=bearer("risk"))
        assert r.status_code == 200
        _header_safe(r)
        text = r.content.decode()
        assert all(line and "\r" not in line and "\x00" not in line for line in text.split("\r\n")[:-1])
        cal = Calendar.from_ical(r.content)
        descriptions = [str(e.get("description")) for e in cal.walk("VEVENT")]
        assert any("Branch: SH\ufffd\ufffd01\ufffd" in d for d in descriptions), descriptions
        r = await c.get("/metrics", headers=bearer("ops"))
        assert r.status_code == 200
        teams = {s.labels["team"] for fam in text_string_to_metric_families(r.text) for s in fam.samples
                 if "team" in s.labels}
        assert "T\ufffd8" in teams and not any(ch in "".join(teams) for ch in "\n\r\x00")
        r = await c.get("/api/v1/forecast", headers=bearer("risk"))
        assert r.status_code == 200 and "T\n8" in {x["team"] for x in r.json()}  # JSON escapes it

    run(t, extra)


def test_download_names_are_ascii_with_the_utf8_name_beside():
    header = content_disposition('schedule-华东"一队";\r\n-2026-03-04.csv')
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="schedule-_-2026-03-04.csv"; filename*=UTF-8\'\'schedule-')
    assert "%E5%8D%8E%E4%B8%9C%22" in header
    assert clean("a\u202eb\nc") == "a\ufffdb\ufffdc"


def test_a_team_with_quotes_and_chinese_gets_a_well_formed_csv_name():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/teams/" + "%E5%8D%8E%E4%B8%9C%22%3B1" + "/schedule.csv", headers=bearer("risk"))
        assert r.status_code == 200, r.text
        _header_safe(r)
        assert "filename*=UTF-8''schedule-%E5%8D%8E%E4%B8%9C%22%3B1-" in r.headers["content-disposition"]

    run(t, _engine_items("B5", '华东";1'))


# ------------------------------------------------------------------ free text in requests

@pytest.mark.parametrize("text", ["\x00", "\x1b[31mred\x1b[0m", "abc\u202edef", "x\u2067y", "a\x85b"])
@pytest.mark.parametrize("where", ["reason", "note", "visit_notes", "assignee"])
def test_notes_and_reasons_with_nul_ansi_or_bidi_are_refused_with_the_field(text, where):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        case = next(c_.case_id for c_ in desk.view.cases.values() if c_.borrower_id == "B0")
        if where == "reason":
            r = await c.post(f"/api/v1/cases/{case}/acknowledge", json={"reason": text}, headers=bearer("risk"))
            field = "reason"
        elif where == "note":
            r = await c.post(f"/api/v1/cases/{case}/notes", json={"text": text, "reason": "r"}, headers=bearer("risk"))
            field = "text"
        elif where == "assignee":
            r = await c.post(f"/api/v1/cases/{case}/assign", json={"assignee": text, "reason": "r"},
                             headers=bearer("risk"))
            field = "assignee"
        else:
            r = await c.post("/api/v1/borrowers/B0/visits", json={"outcome": "normal", "notes": text},
                             headers=bearer("insp1"))
            field = "notes"
        assert r.status_code == 422, r.text
        err = r.json()["detail"][0]
        assert err["loc"][-1] == field and "not allowed" in err["msg"], err
        assert desk.records == []

    run(t)


def test_several_lines_and_tabs_in_a_note_are_kept():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        case = next(c_.case_id for c_ in desk.view.cases.values() if c_.borrower_id == "B0")
        r = await c.post(f"/api/v1/cases/{case}/notes", headers=bearer("risk"),
                         json={"text": "一、停产\n二、\t库存", "reason": "现场\r\n核实"})
        assert r.status_code == 200 and r.json()["case"]["notes"][-1]["text"] == "一、停产\n二、\t库存"

    run(t)


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/v1/alerts", {"team": "T\n1"}, "team"), ("/api/v1/cases", {"branch": "B\x00"}, "branch"),
    ("/api/v1/alerts", {"since": "9999-12-31T00:00:00+00:00"}, "since"),
])
def test_filters_refuse_control_characters_and_dates_out_of_range(path, params, field):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get(path, params=params, headers=bearer("risk"))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", field], r.text

    run(t)


def test_an_override_ending_in_9999_is_refused_with_the_range():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.post("/api/v1/borrowers/B0/overrides", headers=bearer("risk"), json={
            "action": "set", "direction": "floor", "tier": "warning", "until": "9999-12-31T00:00:00+08:00",
            "reason": "r"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["msg"] == "9999-12-30T16:00:00Z is outside the supported years 1900-2199"

    run(t)


# ------------------------------------------------------------------ ids with a slash

def test_a_borrower_id_with_a_slash_opens_and_takes_visits():
    extra = _engine_items("B/1", "T1") + _engine_items("X/audit", "T1")

    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/borrowers/B%2F1", headers=bearer("risk"))
        assert r.status_code == 200 and r.json()["borrower_id"] == "B/1"
        r = await c.get("/api/v1/borrowers/X%2Faudit", headers=bearer("risk"))  # the borrower, not X's audit trail
        assert r.status_code == 200 and r.json()["borrower_id"] == "X/audit"
        r = await c.post("/api/v1/borrowers/B%2F1/visits", json={"outcome": "normal"}, headers=bearer("insp1"))
        assert r.status_code == 200, r.text
        assert desk.events[-1].borrower_id == "B/1"
        r = await c.get("/api/v1/borrowers/B%2F1/audit", headers=bearer("risk"))
        assert [a["action"] for a in r.json()] == ["record_visit"]
        case = next(x.case_id for x in desk.view.cases.values() if x.borrower_id == "B/1")
        r = await c.get(f"/api/v1/cases/{case}", headers=bearer("risk"))
        assert r.json()["borrower_id"] == "B/1"
        r = await c.get("/api/v1/borrowers/B%252F1", headers=bearer("risk"))  # an encoded %: the id "B%2F1"
        assert r.status_code == 404 and r.json()["detail"] == "borrower 'B%2F1' not found"

    run(t, extra)


def test_a_team_with_a_slash_has_its_schedule():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/teams/%E5%8D%8E%E4%B8%9C%2F1/schedule", headers=bearer("risk"),
                        params={"end": (TODAY + timedelta(days=90)).isoformat()})
        assert r.status_code == 200 and [i["borrower_id"] for i in r.json()["items"]] == ["B5"]

    run(t, _engine_items("B5", "华东/1"))


# ------------------------------------------------------------------ schedule ranges and unknown teams

def test_a_schedule_from_an_old_start_date_is_answered_and_bad_ranges_name_the_right_parameter():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/teams/T1/schedule", params={"start": "2000-01-01"}, headers=bearer("risk"))
        assert r.status_code == 200 and r.json()["start"] == "2000-01-01"
        r = await c.get("/api/v1/teams/T1/schedule", params={"start": "2026-05-01", "end": "2026-04-01"},
                        headers=bearer("risk"))
        assert r.status_code == 422 and r.json()["detail"].startswith("start:")
        far = (TODAY + timedelta(days=4000)).isoformat()
        r = await c.get("/api/v1/teams/T1/schedule", params={"end": far}, headers=bearer("risk"))
        assert r.status_code == 422 and r.json()["detail"].startswith("end:")
        r = await c.get("/api/v1/teams/T1/schedule", params={"start": "1899-12-31"}, headers=bearer("risk"))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "start"]

    run(t)


@pytest.mark.parametrize("route", ["schedule", "schedule.csv", "schedule.ics", "plan", "forecast"])
def test_an_unknown_team_is_a_404_and_a_known_one_without_visits_is_empty(route):
    teams = parse_teams('version = "t1"\n[defaults]\nvisits_per_day = 4\n[teams.T9]\nvisits_per_day = 2\n')

    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get(f"/api/v1/teams/NOPE/{route}", headers=bearer("risk"))
        assert r.status_code == 404 and "team 'NOPE' not found" in r.json()["detail"]
        r = await c.get(f"/api/v1/teams/T9/{route}", headers=bearer("risk"))  # in the teams file only
        assert r.status_code == 200
        r = await c.get(f"/api/v1/teams/NOPE/{route}", headers=bearer("insp1"))  # not theirs: 403 whatever it is
        assert r.status_code == 403

    run(t, teams=teams)


# ------------------------------------------------------------------ one answer for absent and hidden borrowers

def test_an_inspector_gets_the_same_answer_for_another_teams_borrower_and_a_missing_one():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        hidden = await c.get("/api/v1/borrowers/B1", headers=bearer("insp1"))  # exists, team T2
        missing = await c.get("/api/v1/borrowers/B404", headers=bearer("insp1"))
        assert (hidden.status_code, missing.status_code) == (404, 404)
        assert hidden.json() == not_found("B1")
        assert missing.json() == not_found("B404")
        assert {k: v for k, v in hidden.headers.items() if k != "content-length"} == \
            {k: v for k, v in missing.headers.items() if k != "content-length"}
        hidden = await c.post("/api/v1/borrowers/B1/visits", json={"outcome": "normal"}, headers=bearer("insp1"))
        missing = await c.post("/api/v1/borrowers/B404/visits", json={"outcome": "normal"}, headers=bearer("insp1"))
        assert (hidden.status_code, hidden.json()) == (404, not_found("B1"))
        assert (missing.status_code, missing.json()) == (404, not_found("B404"))
        # on file: the refused ones (not the missing borrower: nothing was there to refuse)
        assert [(r.user, r.borrower_id, r.details["status"], r.reason) for r in desk.view.refusals] == [
            ("ivan", "B1", 404, "an inspector sees only the borrowers of their own teams"),
            ("ivan", "B1", 404, "an inspector records visits only for the borrowers of their own teams")]

    run(t)


def test_a_team_first_seen_in_the_schedule_becomes_known():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/teams/NEW/schedule", headers=bearer("risk"))
        assert r.status_code == 404
        desk.ingest([(SCHEDULE, b"N1", schedule("N1", date(2026, 3, 10), team="NEW"))])
        r = await c.get("/api/v1/teams/NEW/schedule", headers=bearer("risk"))
        assert r.status_code == 200 and [i["borrower_id"] for i in r.json()["items"]] == ["N1"]

    run(t)
