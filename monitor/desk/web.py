"""What the desk's routes share: the context, the caller check, request ids, and writing a change."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from monitor.desk.auth import Authenticator, Principal
from monitor.desk.metrics import DeskMetrics
from monitor.desk.models import CommandResult
from monitor.desk.records import AuditRecord
from monitor.desk.service import Desk, Event, SendError
from monitor.desk.settings import DeskSettings
from monitor.desk.teams import TeamsConfig
from monitor.desk.view import Book, DeskView

__all__ = ["ACT_CASES", "APPROVE", "AUDIT", "OPS", "READ_CASES", "TEAM_READ", "VISIT_WRITE", "Context",
           "answer", "book_of", "ctx_of", "outcome_of", "refuse", "request_id_of", "require", "write"]

log = logging.getLogger("monitor.desk")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BEARER = HTTPBearer(auto_error=False, description="A token from `monitor users add`")

READ_CASES = frozenset({"risk_officer", "supervisor", "admin"})
ACT_CASES = frozenset({"risk_officer", "admin"})
APPROVE = frozenset({"supervisor", "admin"})
AUDIT = frozenset({"risk_officer", "supervisor", "admin"})
TEAM_READ = frozenset({"inspector", "risk_officer", "supervisor", "admin"})
VISIT_WRITE = frozenset({"inspector", "admin"})
OPS = frozenset({"ops", "admin"})


@dataclass(slots=True)
class Context:
    """What the routes share (``request.app.state.ctx``)."""

    desk: Desk
    auth: Authenticator
    teams: TeamsConfig
    settings: DeskSettings
    clock: Callable[[], datetime]
    tz: ZoneInfo
    metrics: DeskMetrics
    floor_max_days: int = 365
    cap_max_days: int = 180

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.clock().astimezone(self.tz).date()


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def require(roles: frozenset[str], what: str) -> Any:
    """A dependency: the caller, who must hold one of ``roles`` (401 without a valid token, 403 otherwise)."""

    async def caller(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(BEARER)) -> Principal:
        ctx = ctx_of(request)
        who = ctx.auth.principal(creds.credentials if creds is not None else None)
        if who is None:
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        request.state.user = who.user
        if who.role not in roles:
            article = "an" if who.role[0] in "aeiou" else "a"
            raise HTTPException(403, f"{article} {who.role} may not {what}")
        return who

    return Depends(caller)


def request_id_of(request: Request) -> str:
    """The caller's ``X-Request-ID`` (an idempotency key for changes), or a new one."""
    given = request.headers.get("x-request-id")
    if given is None:
        return uuid.uuid4().hex
    if not _REQUEST_ID.match(given):
        raise HTTPException(422, "X-Request-ID: 1 to 128 characters of A-Z a-z 0-9 . _ : -")
    return given


def book_of(view: DeskView, borrower_id: str) -> Book:
    """The borrower, or 404."""
    book = view.borrower(borrower_id)
    if book is None:
        raise HTTPException(404, f"borrower {borrower_id!r} not found")
    return book


async def _send(ctx: Context, record: AuditRecord | None, events: list[Event]) -> None:
    try:
        await ctx.desk.send(record, events)
    except SendError as exc:
        log.warning("could not write a change to Kafka: %s", exc)
        raise HTTPException(503, "Kafka did not take the change; send the same request again with the same "
                            "X-Request-ID", headers={"Retry-After": "5"}) from None


async def write(ctx: Context, record: AuditRecord, events_of: Callable[[AuditRecord], list[Event]],
                precheck: Callable[[], None]) -> tuple[AuditRecord, bool]:
    """Write ``record`` and the events it carries, then wait until the view has read the record back.

    A request sent again (same user and X-Request-ID) finds its record in the view: its events are sent
    again (the engine ignores copies) and nothing else is written. Returns the record as stored and
    whether it was read back within the timeout.
    """
    view = ctx.desk.view
    existing = view.records.get(record.record_id)
    if existing is not None:
        if (existing.action, existing.borrower_id, existing.alert_id) != (record.action, record.borrower_id,
                                                                          record.alert_id):
            raise HTTPException(409, "X-Request-ID: already used for a different change")
        await _send(ctx, None, events_of(existing))
        return existing, True
    precheck()
    await _send(ctx, record, events_of(record))
    log.info("change written: %s by %s (record %s)", record.action, record.user, record.record_id)
    return record, await ctx.desk.wait_for(record.record_id, ctx.settings.write_timeout)


def outcome_of(view: DeskView, record: AuditRecord) -> str | None:
    """Why a record read back did not apply (None: it applied)."""
    book = view.books.get(record.borrower_id)
    if book is None:
        return "borrower not found"
    for action in book.derived.ignored:
        if action.record.record_id == record.record_id:
            return action.note or "not applied"
    case = view.cases.get(record.alert_id or "")
    if case is not None:
        for action in case.actions:
            if action.record.record_id == record.record_id:
                return None if action.applied else (action.note or "not applied")
    return None


def answer(result: CommandResult, read_back: bool) -> JSONResponse:
    """200 when the change was read back, 202 (accepted, not yet visible) when the wait timed out."""
    body = result if read_back else result.model_copy(update={"status": "accepted", "case": None})
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if read_back else 202,
                        headers={"X-Request-ID": result.request_id})


def refuse(note: str) -> HTTPException:
    """A change that does not fit the current state: 403 for four eyes, 409 otherwise."""
    return HTTPException(403 if note.startswith("four eyes") else 409, note)



# ------------------------------------------------------------------ security headers

#: what JSON, text and metrics answers may load: nothing (the page and /docs carry the page's own CSP)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_DEFAULTS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
             (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
             (b"content-security-policy", API_CSP.encode()))


class SecurityHeaders:
    """Pure ASGI middleware: every answer gets ``Cache-Control: no-store`` (borrower data never sits in a
    browser's or a proxy's cache), ``nosniff``, no referrer, no framing and a CSP that loads nothing,
    unless the route set its own (the page's files: ``no-cache`` with an ETag and the page's CSP)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in _DEFAULTS if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
