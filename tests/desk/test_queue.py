"""The case queue's API: sort by any column, search by id and name, filters, totals from the server, bulk
acknowledge and assign (one audit record each, refusals on file), exports as CSV and real XLSX (issue 16)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest

from monitor.desk import routes_exports
from monitor.desk.api import create_app
from monitor.desk.records import Action
from monitor.desk.table import SORTS, ResponseDeadlines
from monitor.desk.view import ALERTS, BORROWERS, PROFILES, SCHEDULE, DeskView
from tests.desk.desk_fakes import LoopbackDesk, alert, authenticator, bearer, record

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
TODAY = NOW.astimezone(TZ).date()
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # desk_fakes.alert: at = T0 + day + sequence seconds
RESPONSE = {"watch": 30, "warning": 10, "severe": 5}
TEAMS = ("T1", "T2", "T3")
NAMES = ("上海华东机械有限公司", "杭州西湖贸易有限公司", "南京紫金科技股份公司", "苏州园林建材厂", "宁波港口物流集团")
Client = httpx.AsyncClient


def _detail(bid: str, team: str, exposure: float | None, visited: datetime | None) -> bytes:
    doc: dict[str, Any] = {"borrower_id": bid, "profile": {"team": team, "branch": "BR" + team[-1]}}
    if exposure is not None:
        doc["profile"]["exposure"] = exposure
    if visited is not None:
        doc["last_visit"] = {"at": visited.isoformat()}
    return json.dumps(doc).encode()


def _profile(bid: str, name: str, day: int) -> bytes:
    return json.dumps({"type": "loan_profile", "event_id": f"p-{bid}-{day}", "borrower_id": bid, "name": name,
                       "occurred_at": (T0 + timedelta(days=day)).isoformat()}).encode()


def world(n: int = 48, seed: int = 7) -> list[tuple[str, bytes | None, bytes | None]]:
    """``n`` borrowers with one case each (some two): tiers, teams, exposures, names, due dates, visits vary."""
    rnd = random.Random(seed)
    items: list[tuple[str, bytes | None, bytes | None]] = []
    for i in range(n):
        bid = f"B{i:03d}"
        team = TEAMS[i % 3]
        tier = ("watch", "warning", "severe")[rnd.randrange(3)]
        day = rnd.randrange(0, 18)
        items.append((ALERTS, bid.encode(), alert(bid, 1, "raised", tier, day=day, team=team, branch="BR" + team[-1])))
        if i % 7 == 0:  # an escalation: the deadline counts from it
            items.append((ALERTS, bid.encode(), alert(bid, 2, "escalated", "severe", from_tier=tier, day=day + 1,
                                                      team=team, branch="BR" + team[-1])))
        due = None if i % 11 == 0 else TODAY + timedelta(days=rnd.randrange(-20, 40))
        items.append((SCHEDULE, bid.encode(), _schedule(bid, due, team)))
        exposure = None if i % 13 == 0 else float(rnd.choice((5e5, 1e6, 2.5e6, 8e6, 1.2e7)))  # ties on purpose
        visited = T0 + timedelta(days=day + 3) if i % 5 == 0 else None
        items.append((BORROWERS, bid.encode(), _detail(bid, team, exposure, visited)))
        if i % 4 != 3:
            items.append((PROFILES, bid.encode(), _profile(bid, NAMES[i % len(NAMES)] + f"{i}号", 0)))
    return items


def _schedule(bid: str, due: date | None, team: str) -> bytes:
    from tests.desk.desk_fakes import schedule

    return schedule(bid, due, team=team)


def run(test: Callable[[Client, LoopbackDesk], Awaitable[Any]], n: int = 48) -> Any:
    async def go() -> Any:
        desk = LoopbackDesk(view=DeskView(ResponseDeadlines(RESPONSE, TZ)))
        desk.ingest(world(n))
        cases = sorted(desk.view.cases)
        for k, case_id in enumerate(cases[:20]):  # some acknowledged and assigned, one released
            bid = desk.view.cases[case_id].borrower_id
            recs = [record("rita", "risk_officer", Action.acknowledge, bid, f"ack-{k}", case=case_id, minute=k)]
            if k % 2 == 0:
                recs.append(record("rita", "risk_officer", Action.assign, bid, f"as-{k}", case=case_id,
                                   details={"assignee": ("rita", "ralf")[k % 4 // 2]}, minute=k))
            from tests.desk.desk_fakes import audit_item

            desk.ingest([audit_item(r) for r in recs])
        app = create_app(desk, auth=authenticator(), clock=lambda: NOW, tz=TZ)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            return await test(c, desk)

    return asyncio.run(go())


async def _all(c: Client, who: str = "risk", page: int = 7, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every page of a query; each page's total."""
    out: list[dict[str, Any]] = []
    totals = set()
    offset = 0
    while True:
        r = await c.get("/api/v1/queue", params={**params, "offset": offset, "limit": page}, headers=bearer(who))
        assert r.status_code == 200, r.text
        body = r.json()
        totals.add(body["total"])
        out += body["items"]
        offset += page
        if offset >= body["total"]:
            break
    assert len(totals) == 1, totals
    return out, totals.pop()


def _oracle(items: list[dict[str, Any]], sort: str, descending: bool) -> list[str]:
    """The documented order: by the column (nulls last either way), then newest opened, then case id."""
    tiers = ["normal", "watch", "warning", "severe"]
    statuses = ["open", "acknowledged", "release_requested", "released"]

    def value(i: dict[str, Any]) -> Any:
        if sort == "opened":
            return i["opened_at"]
        if sort == "last_alert":
            return i["last_alert_at"]
        if sort == "tier":
            return tiers.index(i["tier"])
        if sort == "status":
            return statuses.index(i["status"])
        if sort == "deadline":
            return None if i["deadline"] is None else (i["responded"], i["deadline"])
        if sort == "due":
            return i["next_visit_due"]
        if sort == "borrower":
            return i["borrower_id"]
        return i[sort]

    present = [i for i in items if value(i) is not None]
    absent = [i for i in items if value(i) is None]
    newest = sorted(items, key=lambda i: (-datetime.fromisoformat(i["opened_at"]).timestamp(), i["case_id"]))
    rank = {i["case_id"]: k for k, i in enumerate(newest)}
    if sort in ("opened", "last_alert"):  # unique enough: the instant itself, then the case id
        ordered = sorted(present, key=lambda i: i["case_id"])
        ordered.sort(key=lambda i: datetime.fromisoformat(value(i)).timestamp(), reverse=descending)
    else:
        ordered = sorted(present, key=lambda i: rank[i["case_id"]])
        ordered.sort(key=value, reverse=descending)
    return [i["case_id"] for i in ordered + sorted(absent, key=lambda i: rank[i["case_id"]])]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_column_sorts_both_ways_and_pages_cover_every_case_once(sort, order):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        items, total = await _all(c, sort=sort, order=order, status="all")
        assert total == len(desk.view.cases) == len(items)
        assert len({i["case_id"] for i in items}) == total
        assert [i["case_id"] for i in items] == _oracle(items, sort, order == "desc")

    run(t)


@pytest.mark.parametrize(("params", "keep"), [
    ({}, lambda i: i["status"] != "released"),
    ({"status": "open"}, lambda i: i["status"] == "open"),
    ({"status": "acknowledged", "team": "T2"}, lambda i: i["status"] == "acknowledged" and i["team"] == "T2"),
    ({"tier": "severe"}, lambda i: i["tier"] == "severe"),
    ({"branch": "BR3", "tier": "watch"}, lambda i: i["branch"] == "BR3" and i["tier"] == "watch"),
    ({"assignee": "ralf"}, lambda i: i["assignee"] == "ralf"),
    ({"mine": "true"}, lambda i: i["assignee"] == "rita"),
    ({"unassigned": "true"}, lambda i: i["assignee"] is None),
    ({"past_deadline": "true"}, lambda i: i["days_past_deadline"] is not None),
    ({"visit_overdue": "true"}, lambda i: i["visit_days_overdue"] is not None),
    ({"q": "b01"}, lambda i: "b01" in i["borrower_id"].lower()),
    ({"q": "西湖贸易"}, lambda i: "西湖贸易" in (i["name"] or "")),
    ({"q": "有限公司1"}, lambda i: "有限公司1" in (i["name"] or "")),
    ({"q": "nobody-like-this"}, lambda i: False),
    ({"q": "B0", "team": "T1", "sort": "exposure"}, lambda i: i["team"] == "T1"),
])
def test_filters_and_search_match_the_oracle_with_the_total_from_the_server(params, keep):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        every, _ = await _all(c, status="all", page=100)
        expected = {i["case_id"] for i in every if keep(i) and (params.get("status") == "all" or
                                                                 i["status"] != "released" or "status" in params)}
        got, total = await _all(c, **params)
        assert {i["case_id"] for i in got} == expected and total == len(expected)

    run(t)


def test_the_page_carries_ages_deadlines_overdue_days_names_and_counts():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        page = (await c.get("/api/v1/queue", params={"limit": 500, "status": "all"}, headers=bearer("risk"))).json()
        assert page["today"] == TODAY.isoformat() and page["sort"] == "opened" and page["order"] == "desc"
        by_bid = {i["borrower_id"]: i for i in page["items"]}
        b7 = by_bid["B007"]  # escalated to severe a day after it opened: deadline 5 days after the escalation
        rise = (T0 + timedelta(days=_day("B007") + 1, seconds=2)).astimezone(TZ).date()
        assert b7["tier"] == "severe" and b7["deadline"] == (rise + timedelta(days=5)).isoformat()
        assert by_bid["B006"]["name"].endswith("6号") and b7["name"] is None  # B007 has no named profile
        assert by_bid["B005"]["responded"] is True and by_bid["B005"]["days_past_deadline"] is None
        for i in page["items"]:
            opened = datetime.fromisoformat(i["opened_at"]).astimezone(TZ).date()
            assert i["age_days"] == (TODAY - opened).days
            if i["deadline"] and not i["responded"] and i["status"] != "released" and \
                    date.fromisoformat(i["deadline"]) < TODAY:
                assert i["days_past_deadline"] == (TODAY - date.fromisoformat(i["deadline"])).days > 0
            else:
                assert i["days_past_deadline"] is None
            due = i["next_visit_due"]
            assert i["visit_days_overdue"] == ((TODAY - date.fromisoformat(due)).days
                                               if due and date.fromisoformat(due) < TODAY else None)
        counts = page["counts"]
        active = [i for i in page["items"] if i["status"] != "released"]
        assert counts["active"] == len(active) and counts["mine"] == sum(i["assignee"] == "rita" for i in active)
        assert counts["past_deadline"] == sum(i["days_past_deadline"] is not None for i in active) > 0
        assert sum(counts["by_tier"].values()) == len(active)

    run(t)


def _day(bid: str) -> int:
    for kind, _, value in world():
        if kind == ALERTS and value is not None and json.loads(value)["alert_id"] == f"{bid}-1":
            at = datetime.fromisoformat(json.loads(value)["at"])
            return (at - T0).days
    raise KeyError(bid)


def test_a_name_that_changes_is_found_by_the_new_one_only():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        desk.ingest([(PROFILES, b"B001", _profile("B001", "改名后的新公司", 5)),
                     (PROFILES, b"B002", _profile("B002", "更早的旧名称", -1))])  # older than the one held: ignored
        new = (await c.get("/api/v1/queue", params={"q": "改名后"}, headers=bearer("risk"))).json()
        assert [i["borrower_id"] for i in new["items"]] == ["B001"]
        old = (await c.get("/api/v1/queue", params={"q": "更早的旧"}, headers=bearer("risk"))).json()
        assert old["total"] == 0

    run(t)


@pytest.mark.parametrize("params", [{"sort": "name"}, {"order": "up"}, {"limit": 0}, {"q": "a\nb"},
                                    {"status": "closed"}, {"offset": -1}])
def test_bad_queue_parameters_are_422(params):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/queue", params=params, headers=bearer("risk"))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "query"

    run(t)


def test_inspectors_and_ops_have_no_queue():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        for who in ("insp1", "ops"):
            assert (await c.get("/api/v1/queue", headers=bearer(who))).status_code == 403
            assert (await c.get("/api/v1/queue/export.csv", headers=bearer(who))).status_code == 403

    run(t)


# ------------------------------------------------------------------ bulk work

def test_bulk_acknowledge_writes_one_record_per_case_and_refuses_what_does_not_fit():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        page = (await c.get("/api/v1/queue", params={"status": "open", "limit": 4}, headers=bearer("risk"))).json()
        fresh = [i["case_id"] for i in page["items"]]
        done = next(cid for cid, case in desk.view.cases.items() if case.status == "acknowledged")
        ids = [*fresh, done, "no-such-case"]
        before = len(desk.records)
        r = await c.post("/api/v1/cases/bulk", headers={**bearer("risk2"), "X-Request-ID": "bulk-1"},
                         json={"action": "acknowledge", "case_ids": ids, "reason": "批量确认：电话已联系"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["applied"], body["refused"]) == (4, 2)
        assert [(i["case_id"], i["status"]) for i in body["items"]] == \
            [(cid, "applied") for cid in fresh] + [(done, "refused"), ("no-such-case", "not_found")]
        assert body["items"][4]["code"] == "case_not_open" and body["items"][5]["code"] == "case_not_found"
        new = desk.records[before:]
        acks = [x for x in new if x.action == Action.acknowledge]
        assert sorted(x.alert_id for x in acks) == sorted(fresh)  # each its own record, id and request id
        assert len({x.record_id for x in acks}) == len({x.request_id for x in acks}) == 4
        assert all(x.user == "ralf" and x.reason == "批量确认：电话已联系" for x in acks)
        assert [(x.action, x.alert_id, x.details["route"]) for x in new if x.action == Action.refused] == \
            [(Action.refused, done, "/api/v1/cases/bulk")]
        for cid in fresh:
            assert desk.view.cases[cid].status == "acknowledged" and desk.view.cases[cid].acknowledged_by == "ralf"
        again = await c.post("/api/v1/cases/bulk", headers={**bearer("risk2"), "X-Request-ID": "bulk-1"},
                             json={"action": "acknowledge", "case_ids": ids, "reason": "批量确认：电话已联系"})
        assert [i["record_id"] for i in again.json()["items"][:4]] == [i["record_id"] for i in body["items"][:4]]
        assert [i["status"] for i in again.json()["items"][:4]] == ["applied"] * 4
        assert len([x for x in desk.records if x.action == Action.acknowledge]) == len(
            [x for x in desk.records[:before] if x.action == Action.acknowledge]) + 4  # nothing written twice

    run(t)


def test_bulk_assign_gives_every_case_its_owner_and_releases_stay_single():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        ids = [i["case_id"] for i in (await c.get("/api/v1/queue", params={"unassigned": "true", "limit": 6},
                                                  headers=bearer("risk"))).json()["items"]]
        r = await c.post("/api/v1/cases/bulk", headers=bearer("risk"),
                         json={"action": "assign", "case_ids": ids, "assignee": "ralf", "reason": "片区调整"})
        assert r.status_code == 200 and r.json()["applied"] == 6
        mine = (await c.get("/api/v1/queue", params={"mine": "true", "limit": 500}, headers=bearer("risk2"))).json()
        assert set(ids) <= {i["case_id"] for i in mine["items"]}
        for body, field in (({"action": "approve_release", "case_ids": ids, "reason": "x"}, "action"),
                            ({"action": "assign", "case_ids": ids, "reason": "x"}, None),
                            ({"action": "acknowledge", "case_ids": [], "reason": "x"}, "case_ids")):
            r = await c.post("/api/v1/cases/bulk", headers=bearer("risk"), json=body)
            assert r.status_code == 422, r.text
            if field:
                assert r.json()["detail"][0]["loc"][-1] == field
        r = await c.post("/api/v1/cases/bulk", headers=bearer("risk"),
                         json={"action": "acknowledge", "case_ids": [f"c{i}" for i in range(501)], "reason": "x"})
        assert r.status_code == 422 and r.json()["code"] == "bulk_too_many"
        r = await c.post("/api/v1/cases/bulk", headers=bearer("super"),
                         json={"action": "acknowledge", "case_ids": ids, "reason": "x"})
        assert r.status_code == 403  # supervisors approve; they do not take cases on

    run(t)


# ------------------------------------------------------------------ exports

def _csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_case_exports_hold_the_filtered_queue_in_its_order_as_csv_and_xlsx(tmp_path):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        params = {"team": "T1", "sort": "exposure", "order": "desc"}
        items, total = await _all(c, **params)
        r = await c.get("/api/v1/queue/export.csv", params=params, headers=bearer("risk"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "filename*=UTF-8''cases-2026-03-20.csv" in r.headers["content-disposition"]
        rows = _csv(r.content)
        assert rows[0][:5] == ["案件编号", "借款人编号", "借款人名称", "案件状态", "预警等级"]
        assert "立案时间（北京时间）" in rows[0] and "敞口（元）" in rows[0]
        assert [row[0] for row in rows[1:]] == [i["case_id"] for i in items] and len(rows) == total + 1
        status_col = rows[0].index("案件状态")
        assert {row[status_col] for row in rows[1:]} <= {"待确认", "处置中", "待批准解除"}
        r = await c.get("/api/v1/queue/export.xlsx", params=params, headers=bearer("risk"))
        assert r.status_code == 200 and r.content[:2] == b"PK"
        path = tmp_path / "cases.xlsx"
        path.write_bytes(r.content)
        ws = openpyxl.load_workbook(path).active
        assert ws.title == "案件" and ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
        head = [cell.value for cell in ws[1]]
        assert head == rows[0]
        got = [[cell.value for cell in row] for row in ws.iter_rows(min_row=2)]
        assert [g[0] for g in got] == [i["case_id"] for i in items]
        col = {name: k for k, name in enumerate(head)}
        for g, i in zip(got, items, strict=True):
            assert g[col["敞口（元）"]] == i["exposure"]
            assert g[col["预警等级"]] == {"watch": "观察", "warning": "预警", "severe": "严重预警"}[i["tier"]]
            opened = datetime.fromisoformat(i["opened_at"]).astimezone(TZ).replace(tzinfo=None)
            assert g[col["立案时间（北京时间）"]] == opened.replace(microsecond=0)
            due = i["next_visit_due"]
            assert g[col["下次检查日"]] == (datetime.fromisoformat(due) if due else None)
        money = ws.cell(row=2, column=col["敞口（元）"] + 1)
        assert money.number_format == "#,##0.00"
        assert ws.cell(row=2, column=col["下次检查日"] + 1).number_format == "yyyy-mm-dd"
        english = await c.get("/api/v1/queue/export.csv", params={**params, "lang": "en"}, headers=bearer("risk"))
        assert _csv(english.content)[0][:3] == ["Case", "Borrower", "Name"]

    run(t)


def test_alert_and_audit_exports_read_back_with_labels_and_evidence(tmp_path):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/alerts/export.xlsx", params={"tier": "severe"}, headers=bearer("super"))
        assert r.status_code == 200
        path = tmp_path / "alerts.xlsx"
        path.write_bytes(r.content)
        ws = openpyxl.load_workbook(path).active
        head = [cell.value for cell in ws[1]]
        assert head[:3] == ["预警时间（北京时间）", "借款人编号", "变动类型"] and ws.freeze_panes == "A2"
        rows = [[cell.value for cell in row] for row in ws.iter_rows(min_row=2)]
        severe = [a for a in desk.view.alerts.values() if a.to_tier == "severe"]
        assert len(rows) == len(severe) and all(row[head.index("新等级")] == "严重预警" for row in rows)
        evidence = rows[0][head.index("证据")]
        assert "本行逾期" in evidence and "天" in evidence  # a sentence with units, not days_past_due = 45
        case = next(cid for cid, x in desk.view.cases.items() if x.status == "acknowledged")
        bid = desk.view.cases[case].borrower_id
        r = await c.get(f"/api/v1/borrowers/{bid}/audit.csv", headers=bearer("super"))
        rows = _csv(r.content)
        assert rows[0][:4] == ["时间（北京时间）", "操作人", "角色", "操作"]
        assert rows[1][1:4] == ["rita", "风险经理", "确认接手"] and rows[1][rows[0].index("结果")] == "已生效"
        r = await c.get(f"/api/v1/borrowers/{bid}/audit.xlsx", headers=bearer("risk"))
        assert r.status_code == 200 and r.content[:2] == b"PK"
        assert (await c.get("/api/v1/borrowers/NOPE/audit.csv", headers=bearer("risk"))).status_code == 404
        assert (await c.get(f"/api/v1/borrowers/{bid}/audit.pdf", headers=bearer("risk"))).status_code == 422

    run(t)


def test_an_export_larger_than_the_limit_asks_for_narrower_filters(monkeypatch):
    monkeypatch.setattr(routes_exports, "MAX_ROWS", 10)

    async def t(c: Client, desk: LoopbackDesk) -> None:
        r = await c.get("/api/v1/queue/export.xlsx", headers=bearer("risk"))
        assert r.status_code == 422 and r.json()["code"] == "export_too_large"
        r = await c.get("/api/v1/queue/export.csv", params={"team": "T1", "tier": "severe"}, headers=bearer("risk"))
        assert r.status_code == 200

    run(t)


def test_the_desk_counts_the_cases_past_their_deadline_in_a_metric():
    from prometheus_client.parser import text_string_to_metric_families

    async def t(c: Client, desk: LoopbackDesk) -> None:
        page = (await c.get("/api/v1/queue", params={"past_deadline": "true", "limit": 500},
                            headers=bearer("risk"))).json()
        text = (await c.get("/metrics", headers=bearer("ops"))).text
        fam = next(f for f in text_string_to_metric_families(text) if f.name == "monitor_cases_past_deadline")
        got = {s.labels["tier"]: s.value for s in fam.samples}
        want = {tier: sum(i["tier"] == tier for i in page["items"]) for tier in ("watch", "warning", "severe")}
        assert got == want and sum(got.values()) == page["total"] > 0
        # a visit after the rise answers the case: it leaves the count
        case = page["items"][0]
        visited = datetime.fromisoformat(case["last_alert_at"]) + timedelta(days=1)
        desk.ingest([(BORROWERS, case["borrower_id"].encode(),
                      _detail(case["borrower_id"], case["team"], case["exposure"], visited))])
        after = (await c.get("/api/v1/queue", params={"past_deadline": "true", "limit": 500},
                             headers=bearer("risk"))).json()
        assert after["total"] == page["total"] - 1 and case["case_id"] not in {i["case_id"] for i in after["items"]}

    run(t)


@pytest.mark.parametrize("params", [{}, {"tier": "severe"}, {"status": "active"}, {"status": "acknowledged"},
                                    {"team": "T2", "kind": "raised"}, {"since": "2026-03-10T00:00:00+08:00"},
                                    {"branch": "nowhere"}])
def test_the_alert_feed_gives_the_total_of_every_page(params):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        seen, cursor, totals = [], None, set()
        while True:
            r = await c.get("/api/v1/alerts", params={**params, "limit": 9, **({"cursor": cursor} if cursor else {})},
                            headers=bearer("risk"))
            body = r.json()
            totals.add(body["total"])
            seen += body["items"]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert totals == {len(seen)}

    run(t)
