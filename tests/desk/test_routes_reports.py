"""The reports' API in process, over reports built by the service's reporter from a simulated portfolio."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.desk.api import create_app
from monitor.desk.reporting import Notice, Reporter, ReportStore
from tests.desk.desk_fakes import LoopbackDesk, authenticator, bearer
from tests.desk.report_world import FakeSource, build_world
from tests.desk.test_reporting import END, MID


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ReportStore:
    world = build_world(tmp_path_factory.mktemp("world"), borrowers=40)
    s = ReportStore(tmp_path_factory.mktemp("reports"))
    reporter = Reporter(s, FakeSource(world.inputs), world.policy, topics=world.topics)
    for day in (MID, END):
        asyncio.run(reporter.ensure(day))
    return s


def call(store: ReportStore | None, test: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        app = create_app(LoopbackDesk(), auth=authenticator())
        if store is not None:
            app.state.reports = ReportStore(store.root)  # a fresh replica on the same directory
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            return await test(c)

    return asyncio.run(go())


def test_the_list_is_newest_first_and_filters_by_period(store):
    async def t(c: httpx.AsyncClient) -> None:
        r = await c.get("/api/v1/reports", headers=bearer("risk"))
        assert r.status_code == 200
        items = [Notice.model_validate(i) for i in r.json()["items"]]
        assert [(n.period, n.last_day) for n in items] == [("month", "2025-02-28"), ("day", "2025-02-28"),
                                                           ("week", "2025-02-16"), ("day", "2025-02-16")]
        weeks = (await c.get("/api/v1/reports", params={"period": "week"}, headers=bearer("super"))).json()
        assert [i["label"] for i in weeks["items"]] == ["2025-W07"]
        one = (await c.get("/api/v1/reports", params={"limit": 1}, headers=bearer("admin"))).json()["items"]
        assert [i["report_id"] for i in one] == [items[0].report_id]
        assert (await c.get("/api/v1/reports", params={"period": "year"}, headers=bearer("risk"))).status_code == 422
        assert (await c.get("/api/v1/reports", params={"kind": "day"}, headers=bearer("risk"))).status_code == 422
        got = await c.get(f"/api/v1/reports/{items[1].report_id}", headers=bearer("risk"))
        assert got.status_code == 200 and Notice.model_validate(got.json()) == items[1]

    call(store, t)


def test_each_form_downloads_with_its_type_name_and_the_published_digest(store):
    async def t(c: httpx.AsyncClient) -> None:
        notice = next(n for n in store.list("day") if n.last_day == "2025-02-28")
        expected = {"html": ("text/html; charset=utf-8", "inline", "report-day-2025-02-28.html"),
                    "json": ("application/json", "attachment", "report-day-2025-02-28.json"),
                    "csv": ("text/csv; charset=utf-8", "attachment", "warning-list-day-2025-02-28.csv")}
        for form, (ctype, disposition, name) in expected.items():
            r = await c.get(f"/api/v1/reports/{notice.report_id}/{form}", headers=bearer("risk"))
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == ctype
            assert r.headers["content-disposition"] == f'{disposition}; filename="{name}"'
            entry = notice.file(form)
            assert entry is not None and hashlib.sha256(r.content).hexdigest() == entry.sha256
            assert r.headers["x-content-type-options"] == "nosniff"
        html = (await c.get(f"/api/v1/reports/{notice.report_id}/html", headers=bearer("super"))).text
        assert html.startswith("<!DOCTYPE html>") and "2025-02-28" in html
        assert "default-src 'none'" in (await c.get(f"/api/v1/reports/{notice.report_id}/html",
                                                    headers=bearer("admin"))).headers["content-security-policy"]
        body = (await c.get(f"/api/v1/reports/{notice.report_id}/json", headers=bearer("risk"))).json()
        assert body["meta"]["period"] == "day" and body["meta"]["as_of"] == notice.as_of
        csv_bytes = (await c.get(f"/api/v1/reports/{notice.report_id}/csv", headers=bearer("risk"))).content
        assert csv_bytes.startswith(b"\xef\xbb\xbf")

    call(store, t)


def test_unknown_reports_and_forms_and_who_may_read(store):
    async def t(c: httpx.AsyncClient) -> None:
        rid = store.list()[0].report_id
        for path in ("/api/v1/reports/day-2025-01-01-0000000000000000", "/api/v1/reports/nope/html"):
            r = await c.get(path, headers=bearer("risk"))
            assert r.status_code == 404 and "not found" in r.json()["detail"]
        assert (await c.get(f"/api/v1/reports/{rid}/pdf", headers=bearer("risk"))).status_code == 422
        assert (await c.get("/api/v1/reports/a%20b", headers=bearer("risk"))).status_code == 422
        for who in ("insp1", "ops"):
            for path in ("/api/v1/reports", f"/api/v1/reports/{rid}", f"/api/v1/reports/{rid}/html"):
                r = await c.get(path, headers=bearer(who))
                assert r.status_code == 403 and "may not read the reports" in r.json()["detail"], (who, path)
        r = await c.get(f"/api/v1/reports/{rid}/csv")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

    call(store, t)


def test_a_file_missing_from_the_directory_is_a_404_not_a_500(store, tmp_path):
    copy = ReportStore(tmp_path)
    notice = store.list()[0]
    (tmp_path / notice.stored_at).mkdir(parents=True)
    (tmp_path / notice.stored_at / "notice.json").write_text(notice.model_dump_json())

    async def t(c: httpx.AsyncClient) -> None:
        r = await c.get(f"/api/v1/reports/{notice.report_id}/html", headers=bearer("risk"))
        assert r.status_code == 404 and "no html file" in r.json()["detail"]

    call(copy, t)


def test_without_a_report_store_the_routes_say_so():
    async def t(c: httpx.AsyncClient) -> None:
        r = await c.get("/api/v1/reports", headers=bearer("risk"))
        assert r.status_code == 404 and r.json()["detail"] == "reports are not kept by this service"

    call(None, t)


def test_the_notice_on_disk_is_the_one_served(store):
    notice = store.list()[0]
    on_disk = json.loads((Path(store.root) / notice.stored_at / "notice.json").read_text())
    assert Notice.model_validate(on_disk) == notice
