"""Borrowers (detail, audit trail, visits) and tier overrides (floors, caps with four eyes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from monitor.desk.auth import Principal
from monitor.desk.cases import OverrideRequest
from monitor.desk.commands import approval_event, make_record, override_event, visit_event
from monitor.desk.models import (
    BorrowerPage,
    CommandResult,
    OverrideBody,
    OverrideRequestOut,
    Problem,
    ReasonBody,
    VisitBody,
)
from monitor.desk.params import BorrowerId, RecordId
from monitor.desk.present import borrower_page, request_out
from monitor.desk.records import Action, AuditRecord, OverrideDecisionDetails, event_id_for
from monitor.desk.refusals import Refused, not_found
from monitor.desk.view import Book, DeskView
from monitor.desk.web import (
    ACT_CASES,
    APPROVE,
    AUDIT,
    READ_CASES,
    TEAM_READ,
    VISIT_WRITE,
    answer,
    book_of,
    ctx_of,
    outcome_of,
    refuse,
    request_id_of,
    require,
    write,
)
from monitor.events import NAME_PATTERN

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")

_TIERS = ("normal", "watch", "warning", "severe")
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem},
                                            503: {"model": Problem}, 202: {"model": CommandResult}}
_VISIT_BACKDATE = timedelta(days=7)
_CLOCK_SKEW = timedelta(minutes=5)


def _readable(who: Principal, book: Book) -> None:
    """An inspector's request for a borrower outside their teams is refused (and recorded) but answered like
    one for a borrower that does not exist: the answer does not tell which ids exist."""
    if who.role == "inspector" and not who.in_team(book.team):
        raise Refused(404, not_found(book.borrower_id), why="an inspector sees only the borrowers of their own "
                      "teams", borrower_id=book.borrower_id)


@router.get("/borrowers/{borrower_id}", response_model=BorrowerPage, tags=["borrowers"],
            responses={404: {"model": Problem}})
async def borrower(request: Request, borrower_id: BorrowerId,
                   who: Principal = require(TEAM_READ, "read borrowers")) -> BorrowerPage:
    """Profile (no name), tier and tier history, signals with evidence, overrides, lawsuits, overdue accounts,
    bureau figures, visits. Inspectors: borrowers of their own teams only."""
    book = book_of(ctx_of(request).desk.view, borrower_id)
    _readable(who, book)
    return borrower_page(book, getattr(ctx_of(request).tz, "key", None))


@router.get("/borrowers/{borrower_id}/audit", response_model=list[AuditRecord], tags=["borrowers"],
            responses={404: {"model": Problem}})
async def audit(request: Request, borrower_id: BorrowerId,
                who: Principal = require(AUDIT, "read the audit trail")) -> list[AuditRecord]:
    """Every change made through the desk for the borrower, in the order of the audit topic."""
    view = ctx_of(request).desk.view
    book = view.books.get(borrower_id)
    if book is None or not (book.known or book.records):
        raise HTTPException(404, not_found(borrower_id))
    return list(book.records)


@router.get("/refusals", response_model=list[AuditRecord], tags=["borrowers"])
async def refusals(request: Request, who: Principal = require(AUDIT, "read the audit trail"),
                   user: Annotated[str | None, Query(min_length=1, max_length=128, pattern=NAME_PATTERN)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditRecord]:
    """Requests the desk refused (403, four eyes, conflicts, another team's borrower), newest first: who, what,
    why refused. Each is also in its borrower's audit trail when it named one."""
    found = [r for r in reversed(ctx_of(request).desk.view.refusals) if user is None or r.user == user]
    return found[:limit]


def _computed_tier(book: Book) -> str | None:
    if book.detail is not None and book.detail.computed_tier in _TIERS:
        return book.detail.computed_tier
    return book.alerts[-1].computed_tier if book.alerts else None


@router.post("/borrowers/{borrower_id}/overrides", response_model=CommandResult, tags=["overrides"],
             responses=_ERRORS)
async def override(request: Request, borrower_id: BorrowerId, body: OverrideBody,
                   who: Principal = require(ACT_CASES, "override tiers")) -> JSONResponse:
    """Set a floor (at once), request a cap (a supervisor approves it), or clear either (at once).

    A floor keeps the borrower at least at ``tier`` until ``until``; a cap keeps it at most at ``tier``, below
    its computed tier, and needs a second officer's approval (four eyes)."""
    ctx = ctx_of(request)
    book = book_of(ctx.desk.view, borrower_id)
    now = ctx.now()
    rid = request_id_of(request)
    details: dict[str, Any]
    if body.action == "clear":
        if body.tier is not None or body.until is not None:
            raise HTTPException(422, "tier, until: not allowed when clearing")
    else:
        if body.tier is None or body.until is None:
            raise HTTPException(422, "tier, until: required to set an override")
        limit = ctx.floor_max_days if body.direction == "floor" else ctx.cap_max_days
        if body.until <= now:
            raise HTTPException(422, "until: must be in the future")
        if body.until > now + timedelta(days=limit):
            raise HTTPException(422, f"until: at most {limit} days ahead for a {body.direction}")
        if body.direction == "floor" and body.tier == "normal":
            raise HTTPException(422, "tier: a floor must be watch, warning or severe")
    if body.action == "set" and body.direction == "cap":
        computed = _computed_tier(book)
        if computed is None:
            raise HTTPException(409, "the borrower's computed tier is not known yet: nothing to cap")
        if _TIERS.index(body.tier or "normal") >= _TIERS.index(computed):
            raise HTTPException(422, f"tier: a cap must be below the computed tier ({computed})")
        details = {"direction": "cap", "tier": body.tier, "until": body.until.isoformat() if body.until else None,
                   "computed_tier": computed}
        record = make_record(who, Action.request_override, borrower_id, body.reason, rid, now, details)
        stored, read_back = await write(ctx, record, lambda r: [], lambda: None)
        return _answer(ctx.desk.view, stored, read_back, "pending", None)
    event_id = event_id_for(who.user, rid)
    details = {"action": body.action, "direction": body.direction, "tier": body.tier,
               "until": body.until.isoformat() if body.until else None, "event_id": event_id}
    record = make_record(who, Action.override, borrower_id, body.reason, rid, now, details)
    stored, read_back = await write(ctx, record, lambda r: [override_event(r)], lambda: None)
    return _answer(ctx.desk.view, stored, read_back, "applied", stored.details.get("event_id"))


def _answer(view: DeskView, record: AuditRecord, read_back: bool, status: str, event_id: str | None
            ) -> JSONResponse:
    if read_back:
        note = outcome_of(view, record)
        if note is not None:
            raise refuse(f"not applied: {note}")
    return answer(CommandResult(status=status, record_id=record.record_id, request_id=record.request_id,  # type: ignore[arg-type]
                                event_id=event_id), read_back)


def _request(view: DeskView, record_id: str) -> OverrideRequest:
    rec = view.records.get(record_id)
    book = view.books.get(rec.borrower_id) if rec is not None else None
    if book is not None:
        for r in book.derived.requests:
            if r.record_id == record_id:
                return r
    raise HTTPException(404, f"override request {record_id!r} not found")


@router.get("/override-requests", response_model=list[OverrideRequestOut], tags=["overrides"])
async def pending_requests(request: Request, who: Principal = require(READ_CASES, "read override requests")
                           ) -> list[OverrideRequestOut]:
    """Cap requests waiting for a second officer, oldest first."""
    pending = ctx_of(request).desk.view.pending_overrides.values()
    return [request_out(r) for r in sorted(pending, key=lambda r: (r.at, r.record_id))]


async def _decide(request: Request, record_id: str, body: ReasonBody, who: Principal, approve: bool) -> JSONResponse:
    ctx = ctx_of(request)
    view = ctx.desk.view
    req = _request(view, record_id)
    now = ctx.now()
    rid = request_id_of(request)
    event_id = event_id_for(who.user, rid) if approve else None
    action = Action.approve_override if approve else Action.reject_override
    details = {"request": req.record_id, "event_id": event_id}
    record = make_record(who, action, req.borrower_id, body.reason, rid, now, details)

    def precheck() -> None:
        if req.status != "pending":
            raise HTTPException(409, f"the request is {req.status}")
        if approve and req.requested_by.casefold() == who.user.casefold():
            raise HTTPException(403, "four eyes: the approver must not be the officer who requested the override")
        if approve and req.until <= now:
            raise HTTPException(409, "the requested override has already expired")

    def events(r: AuditRecord) -> list[Any]:
        if not approve:
            return []
        d = OverrideDecisionDetails.model_validate(r.details)
        return [approval_event(r, _request(view, d.request), d.event_id or "")]

    stored, read_back = await write(ctx, record, events, precheck)
    return _answer(view, stored, read_back, "applied", stored.details.get("event_id"))


@router.post("/override-requests/{record_id}/approve", response_model=CommandResult, tags=["overrides"],
             responses=_ERRORS)
async def approve_override(request: Request, record_id: RecordId, body: ReasonBody,
                           who: Principal = require(APPROVE, "approve overrides")) -> JSONResponse:
    """Approve a cap (four eyes: not its requester); its tier_override event goes to the engine."""
    return await _decide(request, record_id, body, who, True)


@router.post("/override-requests/{record_id}/reject", response_model=CommandResult, tags=["overrides"],
             responses=_ERRORS)
async def reject_override(request: Request, record_id: RecordId, body: ReasonBody,
                          who: Principal = require(APPROVE, "reject overrides")) -> JSONResponse:
    """Turn a cap request down."""
    return await _decide(request, record_id, body, who, False)


@router.post("/borrowers/{borrower_id}/visits", response_model=CommandResult, tags=["visits"], responses=_ERRORS)
async def record_visit(request: Request, borrower_id: BorrowerId, body: VisitBody,
                       who: Principal = require(VISIT_WRITE, "record visits")) -> JSONResponse:
    """Record an on-site visit: an inspection_completed event goes to the engine, which sets the next due date.
    Inspectors: borrowers of their own teams only."""
    ctx = ctx_of(request)
    book = book_of(ctx.desk.view, borrower_id)
    team = book.team
    if not who.in_team(team):
        raise Refused(404, not_found(borrower_id), why="an inspector records visits only for the borrowers of "
                      "their own teams", borrower_id=borrower_id)
    if team is None:
        raise HTTPException(409, "the borrower has no inspection team yet")
    now = ctx.now()
    visited_at = body.visited_at or now
    if visited_at > now + _CLOCK_SKEW:
        raise HTTPException(422, "visited_at: must not be in the future")
    if visited_at < now - _VISIT_BACKDATE:
        raise HTTPException(422, "visited_at: at most 7 days ago")
    rid = request_id_of(request)
    details = {"team": team, "inspector": body.inspector or who.user, "outcome": body.outcome.value,
               "notes": body.notes, "visited_at": visited_at.isoformat(), "event_id": event_id_for(who.user, rid)}
    record = make_record(who, Action.record_visit, borrower_id, f"on-site visit: {body.outcome.value}", rid, now,
                         details)
    stored, read_back = await write(ctx, record, lambda r: [visit_event(r)], lambda: None)
    return _answer(ctx.desk.view, stored, read_back, "applied", stored.details.get("event_id"))
