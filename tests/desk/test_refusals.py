"""Every request is logged with its user; every refusal is on file in the audit topic and in the log (issue 13)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx

from monitor.desk.api import create_app
from monitor.desk.view import AUDIT, DeskView
from tests.desk.desk_fakes import T0, LoopbackDesk, authenticator, bearer, portfolio

NOW = T0 + timedelta(days=3)
Client = httpx.AsyncClient


def run(test: Callable[[Client, LoopbackDesk], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        desk = LoopbackDesk()
        desk.ingest(portfolio())
        app = create_app(desk, auth=authenticator(), clock=lambda: NOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            return await test(c, desk)

    return asyncio.run(go())


def _case(desk: LoopbackDesk, bid: str = "B0") -> str:
    return next(c.case_id for c in desk.view.cases.values() if c.borrower_id == bid)


def test_request_logs_name_the_user_the_route_and_the_status_never_the_path(caplog):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        caplog.set_level(logging.DEBUG, logger="monitor.desk")
        await c.get("/api/v1/borrowers/B0", headers={**bearer("risk"), "X-Request-ID": "req-1"})
        await c.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"})
        await c.get("/healthz")

    run(t)
    lines = [r for r in caplog.records if getattr(r, "route", None) and hasattr(r, "duration_ms")]
    first, second, probe = lines
    assert (first.user, first.route, first.status, first.method, first.request_id, first.levelno) == \
        ("rita", "/api/v1/borrowers/{borrower_id}", 200, "GET", "req-1", logging.INFO)
    assert "B0" not in first.getMessage() and "rita" in first.getMessage()
    assert (second.user, second.status, second.levelno) == (None, 401, logging.INFO)
    assert (probe.route, probe.levelno) == ("/healthz", logging.DEBUG)


def test_refusals_are_recorded_in_the_audit_topic_and_logged(caplog):
    async def t(c: Client, desk: LoopbackDesk) -> None:
        case = _case(desk)
        caplog.set_level(logging.INFO, logger="monitor.desk")
        # a role that may not (403), a conflict (409), four eyes (403), a read outside the role (no borrower)
        r1 = await c.post(f"/api/v1/cases/{case}/acknowledge", json={"reason": "r"},
                          headers={**bearer("insp1"), "X-Request-ID": "x-1"})
        await c.post(f"/api/v1/cases/{case}/acknowledge", json={"reason": "mine"}, headers=bearer("risk"))
        r2 = await c.post(f"/api/v1/cases/{case}/acknowledge", json={"reason": "too"}, headers=bearer("risk2"))
        await c.post(f"/api/v1/cases/{case}/release-request", json={"reason": "cured"}, headers=bearer("admin"))
        r3 = await c.post(f"/api/v1/cases/{case}/release-approval", json={"reason": "ok"}, headers=bearer("admin"))
        r4 = await c.get("/api/v1/alerts", headers=bearer("insp1"))
        assert (r1.status_code, r2.status_code, r3.status_code, r4.status_code) == (403, 409, 403, 403)
        # what is not a refusal: bad input, a missing case, a missing token
        await c.post(f"/api/v1/cases/{case}/notes", json={"reason": "r"}, headers=bearer("risk"))
        await c.post("/api/v1/cases/nope/acknowledge", json={"reason": "r"}, headers=bearer("risk"))
        await c.get("/api/v1/alerts")
        # the same request again (same X-Request-ID) is on file once
        await c.post(f"/api/v1/cases/{case}/acknowledge", json={"reason": "r"},
                     headers={**bearer("insp1"), "X-Request-ID": "x-1"})
        return desk.records

    sent = [r for r in run(t) if r.action == "refused"]
    got = [(r.user, r.role, r.borrower_id, r.details["method"], r.details["route"], r.details["status"],
            r.details["attempted"], r.reason) for r in sent]
    assert got == [
        ("ivan", "inspector", "B0", "POST", "/api/v1/cases/{case_id}/acknowledge", 403, "acknowledge",
         "an inspector may not act on cases"),
        ("ralf", "risk_officer", "B0", "POST", "/api/v1/cases/{case_id}/acknowledge", 409, "acknowledge",
         "the case is acknowledged, not open"),
        ("ada", "admin", "B0", "POST", "/api/v1/cases/{case_id}/release-approval", 403, "approve_release",
         "four eyes: the approver must not be the officer who requested the release"),
        ("ivan", "inspector", None, "GET", "/api/v1/alerts", 403, None, "an inspector may not read alerts")]
    assert sent[0].request_id == "x-1" and sent[0].alert_id is not None and sent[3].key == b"user:ivan"
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.getMessage().startswith("refused")]
    assert [(r.user, r.status, r.record_id) for r in warned] == \
        [(s.user, s.details["status"], s.record_id) for s in sent] + [("ivan", 403, sent[0].record_id)]


def test_the_view_keeps_refusals_out_of_the_cases_and_in_the_trail():
    async def t(c: Client, desk: LoopbackDesk) -> None:
        case = _case(desk)
        await c.post(f"/api/v1/cases/{case}/release-approval", json={"reason": "ok"}, headers=bearer("super"))
        detail = (await c.get(f"/api/v1/cases/{case}", headers=bearer("risk"))).json()
        assert detail["status"] == "open" and detail["actions"] == []
        trail = (await c.get("/api/v1/borrowers/B0/audit", headers=bearer("risk"))).json()
        assert [(a["action"], a["details"]["attempted"]) for a in trail] == [("refused", "approve_release")]
        listed = (await c.get("/api/v1/refusals", headers=bearer("super"), params={"user": "sam"})).json()
        assert [a["record_id"] for a in listed] == [trail[0]["record_id"]]
        assert (await c.get("/api/v1/refusals", headers=bearer("insp1"))).status_code == 403
        # a replica reading the topic from the start holds the same refusals
        again = DeskView()
        again.apply_batch([(AUDIT, r.key, r.model_dump_json().encode()) for r in desk.records])
        assert [r.record_id for r in again.refusals] == [r.record_id for r in desk.view.refusals]

    run(t)
