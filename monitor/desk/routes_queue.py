"""The officers' case queue: filtered, sorted and searched pages with totals, and bulk acknowledge / assign.

One row per case (a borrower's episode from its first warning to its release),
from :mod:`monitor.desk.table`. Bulk actions write one audit record per case,
each with its own id (from the request id and the case id), and wait until
they are read back; a case whose status does not allow the action is refused
and the refusal recorded (:mod:`monitor.desk.refusals`). Releases and overrides
stay one case at a time, with four eyes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from monitor._time import from_us, local_date
from monitor.desk.auth import Principal
from monitor.desk.commands import check_case, make_record
from monitor.desk.errors import describe
from monitor.desk.models import BulkBody, BulkItem, BulkResult, QueueCounts, QueueItem, QueuePage
from monitor.desk.records import Action, AuditRecord
from monitor.desk.refusals import write_refusal
from monitor.desk.service import SendError
from monitor.desk.table import SORTS, CaseRow, counts, run
from monitor.desk.table import Query as CaseQuery
from monitor.desk.web import ACT_CASES, READ_CASES, Context, ctx_of, outcome_of, request_id_of, require
from monitor.events import NAME_PATTERN

__all__ = ["MAX_BULK", "mine_only", "queue_item", "queue_query", "queue_rows", "router"]

router = APIRouter(prefix="/api/v1", tags=["case queue"])
log = logging.getLogger("monitor.desk")

MAX_BULK = 500
Tier = Literal["normal", "watch", "warning", "severe"]
Status = Literal["open", "acknowledged", "release_requested", "released", "active", "all"]
Sort = Literal[SORTS]  # type: ignore[valid-type]
Label = Annotated[str, Query(min_length=1, max_length=100, pattern=NAME_PATTERN)]


def queue_query(request: Request,
                status: Status = Query("active", description="active = not released; all = every case"),
                tier: Tier | None = None, team: Label | None = None, branch: Label | None = None,
                assignee: Annotated[str | None, Query(min_length=1, max_length=128, pattern=NAME_PATTERN,
                                                      description="The officer the cases are assigned to")] = None,
                mine: bool = Query(False, description="Only the caller's cases"),
                unassigned: bool = Query(False, description="Only cases nobody is assigned to"),
                past_deadline: bool = Query(False, description="Only cases past their response deadline"),
                visit_overdue: bool = Query(False, description="Only borrowers whose next visit is overdue"),
                q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NAME_PATTERN,
                                               description="Search: part of the borrower id or name")] = None,
                sort: Sort = Query("opened", description="The column to sort by"),  # type: ignore[valid-type]
                order: Literal["asc", "desc"] = Query("desc"),
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> tuple[CaseQuery, bool]:
    """The queue's filters, search, sort and page, from the query string (and whether only the caller's)."""
    text = q.strip() if q is not None else None
    return CaseQuery(status=None if status == "all" else status, tier=tier, team=team, branch=branch,
                     assignee=assignee, unassigned=unassigned, past_deadline=past_deadline,
                     visit_overdue=visit_overdue, q=text or None, sort=sort, descending=order == "desc",
                     offset=offset, limit=limit), mine


def mine_only(query: tuple[CaseQuery, bool], who: Principal) -> CaseQuery:
    """The query, narrowed to the caller's cases when it asks for "mine" (with another assignee: none)."""
    q, mine = query
    if not mine:
        return q
    if q.assignee is not None and q.assignee != who.user:
        return replace(q, assignee="\x00")  # no officer has that name: nothing matches
    return replace(q, assignee=who.user)


def queue_rows(ctx: Context, query: CaseQuery) -> tuple[list[CaseRow], int]:
    return run(ctx.desk.view.table, query, ctx.today().toordinal())


def queue_item(row: CaseRow, ctx: Context, today: date) -> QueueItem:
    t = today.toordinal()
    responded = row.visited is not None and row.visited >= row.rise
    late = (row.deadline is not None and not responded and row.status != "released" and row.deadline < t)
    return QueueItem(
        case_id=row.case_id, borrower_id=row.borrower_id, name=row.name, status=row.status,  # type: ignore[arg-type]
        tier=row.tier, team=row.team, branch=row.branch, assignee=row.assignee,  # type: ignore[arg-type]
        opened_at=from_us(row.opened), age_days=t - local_date(row.opened, ctx.tz).toordinal(),
        last_alert_at=from_us(row.last_alert),
        deadline=date.fromordinal(row.deadline) if row.deadline is not None else None, responded=responded,
        days_past_deadline=(t - row.deadline) if late and row.deadline is not None else None,
        next_visit_due=date.fromordinal(row.due) if row.due is not None else None,
        visit_days_overdue=(t - row.due) if row.due is not None and row.due < t else None,
        exposure=row.exposure)


@router.get("/queue", response_model=QueuePage)
async def queue(request: Request, who: Principal = require(READ_CASES, "read cases"),
                asked: tuple[CaseQuery, bool] = Depends(queue_query)) -> QueuePage:
    """The case queue: one row per case, filtered, searched, sorted by any column, a page of it with the total.

    Ties keep the newest opened case first, then the case id, so every page boundary is stable."""
    ctx = ctx_of(request)
    today = ctx.today()
    query = mine_only(asked, who)
    rows, total = queue_rows(ctx, query)
    summary = counts(ctx.desk.view.table, today.toordinal(), who.user)
    return QueuePage(items=[queue_item(r, ctx, today) for r in rows], total=total, offset=query.offset,
                     limit=query.limit or 0, sort=query.sort, order="desc" if query.descending else "asc",
                     today=today, counts=QueueCounts(**summary))


def _part(request_id: str, case_id: str) -> str:
    """The request id of one case's record in a bulk request (stable: the same request gives the same ids)."""
    return f"{request_id}/{hashlib.sha256(case_id.encode()).hexdigest()[:16]}"


@router.post("/cases/bulk", response_model=BulkResult, responses={202: {"model": BulkResult}})
async def bulk(request: Request, body: BulkBody, who: Principal = require(ACT_CASES, "act on cases")
               ) -> JSONResponse:
    """Acknowledge or assign many cases at once: one audit record per case (its own record id, the same reason),
    each read back before the answer (202 when some are not read back in time). A case whose status does not
    allow the action is refused and the refusal recorded; the others go ahead."""
    if len(body.case_ids) > MAX_BULK:
        raise HTTPException(422, f"case_ids: at most {MAX_BULK} cases at once")
    if body.action == "assign" and body.assignee is None:
        raise HTTPException(422, "assignee: required to assign")
    if body.action == "acknowledge" and body.assignee is not None:
        raise HTTPException(422, "assignee: only to assign")
    ctx = ctx_of(request)
    view = ctx.desk.view
    rid = request_id_of(request)
    now = ctx.now()
    action = Action.acknowledge if body.action == "acknowledge" else Action.assign
    details: dict[str, Any] = {"assignee": body.assignee} if body.action == "assign" else {}
    items: dict[str, BulkItem] = {}
    records: list[AuditRecord] = []
    for case_id in dict.fromkeys(body.case_ids):
        case = view.cases.get(case_id)
        if case is None:
            items[case_id] = BulkItem(case_id=case_id, status="not_found", record_id=None,
                                      note=f"case {case_id!r} not found", **_coded(f"case {case_id!r} not found"))
            continue
        record = make_record(who, action, case.borrower_id, body.reason, _part(rid, case_id), now, details,
                             alert_id=case_id)
        note = None if record.record_id in view.records else check_case(case, record)
        if note is not None:
            await write_refusal(ctx, who, method="POST", route="/api/v1/cases/bulk", status=409,
                                attempted=str(action), answered=note, why=note, borrower_id=case.borrower_id,
                                case_id=case_id, request_id=_part(rid, case_id))
            items[case_id] = BulkItem(case_id=case_id, status="refused", record_id=None, note=note, **_coded(note))
            continue
        records.append(record)
    stored = await _send_all(ctx, records)
    waits = await asyncio.gather(*(ctx.desk.wait_for(r.record_id, ctx.settings.write_timeout) for r in stored))
    for r, back in zip(stored, waits, strict=True):
        note = _outcome(ctx, r) if back else None
        status = "accepted" if not back else ("refused" if note is not None else "applied")
        items[r.alert_id or ""] = BulkItem(case_id=r.alert_id or "", status=status,  # type: ignore[arg-type]
                                           record_id=r.record_id, note=note, **_coded(note))
    ordered = [items[c] for c in dict.fromkeys(body.case_ids)]
    result = BulkResult(request_id=rid, action=body.action, applied=sum(i.status == "applied" for i in ordered),
                        refused=sum(i.status in ("refused", "not_found") for i in ordered), items=ordered)
    pending = any(i.status == "accepted" for i in ordered)
    return JSONResponse(result.model_dump(mode="json"), status_code=202 if pending else 200,
                        headers={"X-Request-ID": rid})


async def _send_all(ctx: Context, records: list[AuditRecord]) -> list[AuditRecord]:
    """Write the records not yet in the view (a request sent again writes nothing new); all of them back."""
    new = [r for r in records if r.record_id not in ctx.desk.view.records]
    try:
        await asyncio.gather(*(ctx.desk.send(r, []) for r in new))
    except SendError as exc:
        log.warning("could not write a bulk change to Kafka: %s", exc)
        raise HTTPException(503, "Kafka did not take the change; send the same request again with the same "
                            "X-Request-ID", headers={"Retry-After": "5"}) from None
    if new:
        log.info("bulk change written: %d %s records by %s", len(new), new[0].action, new[0].user,
                 extra={"user": new[0].user, "action": str(new[0].action), "records": len(new)})
    return records


def _outcome(ctx: Context, record: AuditRecord) -> str | None:
    return outcome_of(ctx.desk.view, record)


def _coded(note: str | None) -> dict[str, Any]:
    code, params = describe(note)
    return {"code": code, "params": params} if code is not None else {}
