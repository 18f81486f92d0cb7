"""Refused requests go on file: an ``audit`` record (who, what, why refused) and a log line.

Every 403 (a role that may not, an inspector outside their teams, four eyes),
every 409 on a change (a case in a status the action does not fit, an expired
request) and every :class:`Refused` (a refusal answered otherwise, such as the
404 an inspector gets for another team's borrower, which must read the same as
a borrower that does not exist) is written to the audit topic as a record with
``action = "refused"``: the caller, the operation, the answer and the reason.
The record changes nothing (the view keeps it in the borrower's trail and in
:attr:`DeskView.refusals`); its id comes from the user and the request id, so a
request sent again is on file once. A 401 names no user: it is logged only.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import HTTPException, Request

from monitor.desk.auth import Principal
from monitor.desk.records import Action, AuditRecord, record_id_for
from monitor.desk.safe import clean_text
from monitor.desk.service import SendError
from monitor.desk.web import Context, ctx_of

__all__ = ["Refused", "not_found", "record_refusal", "write_refusal"]

log = logging.getLogger("monitor.desk")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class Refused(HTTPException):
    """A refusal answered with ``status_code`` and ``detail``, recorded with ``why`` (the real reason)."""

    def __init__(self, status_code: int, detail: str, *, why: str, borrower_id: str | None = None) -> None:
        super().__init__(status_code, detail)
        self.why = why
        self.borrower_id = borrower_id


def not_found(borrower_id: str) -> str:
    """The answer for a borrower that does not exist, and for one the caller may not see (the same words as
    :func:`monitor.desk.web.book_of`)."""
    return f"borrower {borrower_id!r} not found"


def _is_refusal(request: Request, exc: HTTPException) -> bool:
    if isinstance(exc, Refused) or exc.status_code == 403:
        return True
    return exc.status_code == 409 and request.method in _WRITES


def _borrower(ctx: Context, request: Request, exc: HTTPException) -> tuple[str | None, str | None]:
    """The borrower and the case the refused request was about, when it named one that exists."""
    if isinstance(exc, Refused) and exc.borrower_id is not None:
        return exc.borrower_id, None
    params = request.path_params
    view = ctx.desk.view
    case_id = params.get("case_id")
    if isinstance(case_id, str) and case_id in view.cases:
        return view.cases[case_id].borrower_id, case_id
    bid = params.get("borrower_id")
    if isinstance(bid, str) and view.borrower(bid) is not None:
        return bid, None
    rid = params.get("record_id")
    rec = view.records.get(rid) if isinstance(rid, str) else None
    if rec is not None:
        return rec.borrower_id, None
    return None, None


async def record_refusal(request: Request, exc: HTTPException) -> None:
    """Write the audit record and the log line of a refused request (nothing when it is not a refusal)."""
    if not _is_refusal(request, exc):
        return
    ctx = ctx_of(request)
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    who = ctx.auth.principal(token)
    if who is None:
        return  # no user to name (the feed route answers 404 for a wrong key: nothing to record either)
    route = getattr(request.scope.get("route"), "path", None) or "unmatched"
    endpoint = getattr(request.scope.get("route"), "name", None)
    answered = exc.detail if isinstance(exc.detail, str) else "refused"
    why = exc.why if isinstance(exc, Refused) else answered
    borrower_id, case_id = _borrower(ctx, request, exc)
    given = request.headers.get("x-request-id") or ""
    request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    await write_refusal(ctx, who, method=request.method, route=route, status=exc.status_code,
                        attempted=endpoint if request.method in _WRITES else None, answered=answered, why=why,
                        borrower_id=borrower_id, case_id=case_id, request_id=request_id)


async def write_refusal(ctx: Context, who: Principal, *, method: str, route: str, status: int,
                        attempted: str | None, answered: str, why: str, borrower_id: str | None,
                        case_id: str | None, request_id: str) -> AuditRecord:
    """Log the refusal and write its audit record (once per user and request id); the record."""
    details: dict[str, Any] = {"method": method, "route": route, "status": status, "attempted": attempted,
                               "answered": clean_text(answered)[:2000]}
    record = AuditRecord(record_id=record_id_for(who.user, request_id + "/refused"), at=ctx.now(), user=who.user,
                         role=who.role, action=Action.refused, borrower_id=borrower_id,  # type: ignore[arg-type]
                         alert_id=case_id, reason=clean_text(why)[:2000] or "refused", details=details,
                         request_id=request_id)
    log.warning("refused %s %s for %s (%s): %s", method, route, who.user, who.role, why,
                extra={"user": who.user, "role": who.role, "method": method, "route": route, "status": status,
                       "request_id": request_id, "record_id": record.record_id})
    if record.record_id not in ctx.desk.view.records:
        try:
            await ctx.desk.send(record, [])
        except SendError as err:
            log.error("could not write the refusal record %s to Kafka: %s", record.record_id, err,
                      extra={"record_id": record.record_id})
    return record
