"""Alerts (feed and push stream) and cases (list, detail, actions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from monitor._time import to_us
from monitor.desk.auth import Principal
from monitor.desk.cases import AlertRow, Case
from monitor.desk.commands import check_case, make_record
from monitor.desk.models import (
    AlertPage,
    AssignBody,
    CaseDetail,
    CasePage,
    CommandResult,
    IsoDateTime,
    NoteBody,
    Problem,
    ReasonBody,
)
from monitor.desk.params import CaseId
from monitor.desk.present import CursorError, alert_item, case_detail, case_summary, decode_cursor, encode_cursor
from monitor.desk.records import Action, AuditRecord
from monitor.desk.web import (
    ACT_CASES,
    APPROVE,
    READ_CASES,
    Context,
    answer,
    ctx_of,
    outcome_of,
    refuse,
    request_id_of,
    require,
    write,
)
from monitor.events import NAME_PATTERN

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["alerts and cases"])

Tier = Literal["normal", "watch", "warning", "severe"]
Kind = Literal["raised", "escalated", "de_escalated", "cleared"]
StatusFilter = Literal["open", "acknowledged", "release_requested", "released", "active"]
Label = Annotated[str, Query(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=400, description="next_cursor of the previous page")]
_CASE_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem},
                                                  503: {"model": Problem}}


def _cursor(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    try:
        return decode_cursor(text)
    except CursorError as exc:
        raise HTTPException(422, str(exc)) from None


def _since(value: datetime | None) -> int | None:
    if value is None:
        return None
    return to_us(value)


def _status_filter(filters: dict[str, Any], status: str | None) -> None:
    if status == "active":
        filters["active"] = True
    elif status is not None:
        filters["status"] = status


@router.get("/alerts", response_model=AlertPage)
async def alerts(request: Request, who: Principal = require(READ_CASES, "read alerts"),
                 tier: Tier | None = None, team: Label | None = None, branch: Label | None = None,
                 kind: Kind | None = None, since: IsoDateTime | None = Query(None, description="Alerts at or after"),
                 status: StatusFilter | None = Query(None, description="Status of the alert's case; active = "
                                                     "not released"),
                 cursor: Cursor = None, limit: Limit = 50) -> AlertPage:
    """The alert feed, newest first (event time), filtered and paginated by cursor."""
    ctx = ctx_of(request)
    filters: dict[str, Any] = {}
    for name, value in (("tier", tier), ("team", team), ("branch", branch), ("kind", kind)):
        if value is not None:
            filters[name] = value
    _status_filter(filters, status)
    rows, more = ctx.desk.view.alert_page(filters, after=_cursor(cursor), since=_since(since), limit=limit)
    items = [alert_item(ctx.desk.view, r) for r in rows]
    total = ctx.desk.view.alert_counts.count(filters, _since(since))
    return AlertPage(items=items, next_cursor=encode_cursor(rows[-1].key) if more and rows else None, total=total)


def _matches(row: AlertRow, tier: str | None, team: str | None, branch: str | None, kind: str | None) -> bool:
    return ((tier is None or row.to_tier == tier) and (team is None or row.team == team)
            and (branch is None or row.branch == branch) and (kind is None or row.kind == kind))


def _event(row: AlertRow, ctx: Context) -> str:
    item = alert_item(ctx.desk.view, row)
    return f"id: {encode_cursor(row.key)}\nevent: alert\ndata: {item.model_dump_json()}\n\n"


@router.get("/alerts/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-Sent Events: `event: alert`, `data:` an AlertItem"}})
async def alert_stream(request: Request, who: Principal = require(READ_CASES, "read alerts"),
                       tier: Tier | None = None, team: Label | None = None, branch: Label | None = None,
                       kind: Kind | None = None,
                       limit: int | None = Query(None, ge=1, le=10_000, description="Close after this many alerts"),
                       last_event_id: Annotated[str | None, Header(max_length=400)] = None) -> StreamingResponse:
    """New alerts as they are read (Server-Sent Events). After a reconnect (Last-Event-ID), the alerts
    newer than that id are sent first (at most 1,000)."""
    ctx = ctx_of(request)
    after = _cursor(last_event_id)
    queue = ctx.desk.subscribe()
    backlog: list[AlertRow] = []
    if after is not None:
        filters = {k: v for k, v in (("tier", tier), ("team", team), ("branch", branch), ("kind", kind)) if v}
        keys = list(ctx.desk.view.alert_index.scan(filters, start=after, start_exclusive=True))[:1000]
        backlog = [ctx.desk.view.alerts[k[1]] for k in keys]

    async def events() -> AsyncIterator[str]:
        sent: set[str] = set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ctx.settings.stream_seconds
        try:
            yield "retry: 3000\n\n"
            for row in backlog:
                sent.add(row.alert_id)
                yield _event(row, ctx)
                if limit is not None and len(sent) >= limit:
                    return
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    return
                try:
                    row = await asyncio.wait_for(queue.get(), timeout=min(15.0, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if row is None:
                    return
                if row.alert_id in sent or not _matches(row, tier, team, branch, kind):
                    continue
                sent.add(row.alert_id)
                yield _event(row, ctx)
                if limit is not None and len(sent) >= limit:
                    return
        finally:
            ctx.desk.unsubscribe(queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/cases", response_model=CasePage)
async def cases(request: Request, who: Principal = require(READ_CASES, "read cases"),
                status: StatusFilter | None = None, team: Label | None = None, branch: Label | None = None,
                tier: Tier | None = None, assignee: Label | None = None,
                cursor: Cursor = None, limit: Limit = 50) -> CasePage:
    """Cases, newest opened first, filtered and paginated by cursor."""
    ctx = ctx_of(request)
    filters: dict[str, Any] = {k: v for k, v in (("team", team), ("branch", branch), ("tier", tier),
                                                 ("assignee", assignee)) if v is not None}
    _status_filter(filters, status)
    found, more = ctx.desk.view.case_page(filters, after=_cursor(cursor), limit=limit)
    return CasePage(items=[case_summary(c) for c in found],
                    next_cursor=encode_cursor(found[-1].key) if more and found else None)


def _case(ctx: Context, case_id: str) -> Case:
    case = ctx.desk.view.cases.get(case_id)
    if case is None:
        raise HTTPException(404, f"case {case_id!r} not found")
    return case


@router.get("/cases/{case_id}", response_model=CaseDetail, responses={404: {"model": Problem}})
async def case(request: Request, case_id: CaseId, who: Principal = require(READ_CASES, "read cases")) -> CaseDetail:
    """One case: its alerts, notes, every action (applied or not), the active signals, visits."""
    ctx = ctx_of(request)
    c = _case(ctx, case_id)
    return _detail(ctx, c)


async def _act(request: Request, who: Principal, case_id: str, action: Action, reason: str,
               details: Callable[[Case], dict[str, Any]]) -> JSONResponse:
    ctx = ctx_of(request)
    c = _case(ctx, case_id)
    rid = request_id_of(request)
    record = make_record(who, action, c.borrower_id, reason, rid, ctx.now(), details(c), alert_id=case_id)

    def precheck() -> None:
        note = check_case(c, record)
        if note is not None:
            raise refuse(note)

    stored, read_back = await write(ctx, record, lambda r: [], precheck)
    return _result(ctx, stored, read_back)


def _detail(ctx: Context, c: Case) -> CaseDetail:
    """The case with what the queue shows of it (age, deadline, next visit) and its evidence as sentences."""
    from monitor.desk.routes_queue import queue_item

    detail = case_detail(c, ctx.desk.view.books[c.borrower_id], getattr(ctx.tz, "key", None))
    row = ctx.desk.view.table.get(c.case_id)
    return detail.model_copy(update={"queue": queue_item(row, ctx, ctx.today()) if row is not None else None})


def _result(ctx: Context, record: AuditRecord, read_back: bool) -> JSONResponse:
    view = ctx.desk.view
    if read_back:
        note = outcome_of(view, record)
        if note is not None:
            raise refuse(f"not applied: {note}")
    c = view.cases.get(record.alert_id or "")
    detail = _detail(ctx, c) if c is not None else None
    return answer(CommandResult(status="applied", record_id=record.record_id, request_id=record.request_id,
                                case=detail), read_back)


@router.post("/cases/{case_id}/acknowledge", response_model=CommandResult,
             responses={**_CASE_ERRORS, 202: {"model": CommandResult}})
async def acknowledge(request: Request, case_id: CaseId, body: ReasonBody,
                      who: Principal = require(ACT_CASES, "act on cases")) -> JSONResponse:
    """Take the case on (open -> acknowledged)."""
    return await _act(request, who, case_id, Action.acknowledge, body.reason, lambda c: {})


@router.post("/cases/{case_id}/assign", response_model=CommandResult,
             responses={**_CASE_ERRORS, 202: {"model": CommandResult}})
async def assign(request: Request, case_id: CaseId, body: AssignBody,
                 who: Principal = require(ACT_CASES, "act on cases")) -> JSONResponse:
    """Give the case to an officer."""
    return await _act(request, who, case_id, Action.assign, body.reason, lambda c: {"assignee": body.assignee})


@router.post("/cases/{case_id}/notes", response_model=CommandResult,
             responses={**_CASE_ERRORS, 202: {"model": CommandResult}})
async def note(request: Request, case_id: CaseId, body: NoteBody,
               who: Principal = require(ACT_CASES, "act on cases")) -> JSONResponse:
    """Add a note or an action plan."""
    return await _act(request, who, case_id, Action.note, body.reason,
                      lambda c: {"kind": body.kind, "text": body.text})


@router.post("/cases/{case_id}/release-request", response_model=CommandResult,
             responses={**_CASE_ERRORS, 202: {"model": CommandResult}})
async def request_release(request: Request, case_id: CaseId, body: ReasonBody,
                          who: Principal = require(ACT_CASES, "act on cases")) -> JSONResponse:
    """Ask for the case to be released (acknowledged -> release_requested); a supervisor approves."""
    return await _act(request, who, case_id, Action.request_release, body.reason,
                      lambda c: {"through_sequence": max(a.sequence for a in c.alerts)})


@router.post("/cases/{case_id}/release-approval", response_model=CommandResult,
             responses={**_CASE_ERRORS, 202: {"model": CommandResult}})
async def approve_release(request: Request, case_id: CaseId, body: ReasonBody,
                          who: Principal = require(APPROVE, "approve releases")) -> JSONResponse:
    """Release the case (four eyes: not the officer who requested it). Covers the alerts seen now; a later
    raised or escalated alert opens a new case."""
    return await _act(request, who, case_id, Action.approve_release, body.reason,
                      lambda c: {"through_sequence": max(a.sequence for a in c.alerts)})


@router.post("/cases/{case_id}/release-rejection", response_model=CommandResult,
             responses={**_CASE_ERRORS, 202: {"model": CommandResult}})
async def reject_release(request: Request, case_id: CaseId, body: ReasonBody,
                         who: Principal = require(ACT_CASES | APPROVE, "reject releases")) -> JSONResponse:
    """Turn the release request down (supervisor), or withdraw one's own (release_requested -> acknowledged)."""
    return await _act(request, who, case_id, Action.reject_release, body.reason, lambda c: {})
