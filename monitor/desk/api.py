"""The alert desk's HTTP API (FastAPI): ``create_app(desk, ...)``.

A thin shell over :class:`~monitor.desk.service.Desk`: it checks who calls
(bearer tokens, roles, teams), validates requests (422 with the field and the
problem), refuses bodies over the limit (413), reads the view for queries and
writes audit records (and the events they carry) for changes, waiting until
its own consumer has read the record back (read-your-writes; 202 when the
wait times out). Routes live in ``routes_queue`` (the case queue, bulk work),
``routes_exports`` (CSV and XLSX), ``routes_cases``, ``routes_borrowers`` and
``routes_teams``; health, readiness, metrics and ``/api/v1/me`` here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.buildinfo import register_process_metrics
from monitor.desk.apidocs import mount_api_docs
from monitor.desk.auth import Authenticator, Principal
from monitor.desk.errors import body as error_body
from monitor.desk.errors import validation_items
from monitor.desk.metrics import CONTENT_TYPE, DeskMetrics
from monitor.desk.models import Me, Problem
from monitor.desk.page import mount_page
from monitor.desk.params import keep_encoded_slashes
from monitor.desk.refusals import record_refusal
from monitor.desk.service import Desk
from monitor.desk.settings import DeskSettings
from monitor.desk.teams import Defaults, TeamsConfig
from monitor.desk.web import OPS, Context, SecurityHeaders, require

log = logging.getLogger("monitor.desk")


class _Guard:
    """Pure ASGI middleware: encoded slashes kept in path parameters, body size limit (413), request metrics by
    route template, and one log line per request naming the user (never the path: it may hold a borrower id)."""

    def __init__(self, app: ASGIApp, max_body: int, metrics: Callable[[], DeskMetrics]) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]
        if "\x00" in scope.get("path", ""):  # never a valid path; NUL stands for an encoded slash below
            await _plain(send, 422, "path: control character U+0000 not allowed")
            return
        kept = keep_encoded_slashes(scope.get("raw_path"))
        if kept is not None:
            scope["path"] = kept

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                replay = await self._read_body(scope, receive, sending)
                if replay is None:
                    return
                receive = replay
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - started
            self.metrics().observe(scope["method"], name, status[0], seconds)
            _log_request(scope, name, status[0], seconds)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = -1
                if size < 0:
                    await _plain(send, 400, "Content-Length: not a number")
                    return None
                if size > self.max_body:
                    await _plain(send, 413, f"request body larger than {self.max_body} bytes")
                    return None
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_body:
                await _plain(send, 413, f"request body larger than {self.max_body} bytes")
                return None
            chunks.append(body)
            more = message.get("more_body", False)
        data = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        return replay


_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


def _log_request(scope: Scope, route: str, status: int, seconds: float) -> None:
    """One line per request: method, route template, status, time, user and request id (probes at debug)."""
    level = logging.DEBUG if route in _QUIET and status < 400 else logging.INFO
    if not log.isEnabledFor(level):
        return
    state = scope.get("state") or {}
    request_id = next((v.decode("latin-1")[:128] for k, v in scope.get("headers", ()) if k == b"x-request-id"), None)
    user = state.get("user")
    log.log(level, "%s %s %d %.1f ms by %s", scope["method"], route, status, seconds * 1000, user or "-",
            extra={"method": scope["method"], "route": route, "status": status,
                   "duration_ms": round(seconds * 1000, 2), "user": user, "request_id": request_id})


async def _plain(send: Send, status: int, detail: str) -> None:
    body = Problem(**error_body(detail)).model_dump_json(exclude_none=True).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _known_query(request: Request) -> None:
    """Unknown query parameters are an error (a misspelt filter must not silently match everything), and so is
    a parameter given twice (which of the two would apply?)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known: set[str] = set()
    stack = [dependant]
    while stack:
        d = stack.pop()
        known.update(p.alias for p in d.query_params)
        stack.extend(d.dependencies)
    unknown = sorted(k for k in request.query_params if k not in known)
    if unknown:
        names = ", ".join(repr(k[:40]) for k in unknown[:5])
        allowed = ", ".join(sorted(known)) or "none"
        raise HTTPException(422, f"unknown query parameter(s) {names}; this operation takes: {allowed}")
    keys = [k for k, _ in request.query_params.multi_items()]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise HTTPException(422, f"{twice[0][:40]}: given more than once")


def create_app(desk: Desk, *, auth: Authenticator, teams: TeamsConfig | None = None,
               settings: DeskSettings | None = None, clock: Callable[[], datetime] | None = None,
               tz: ZoneInfo | None = None, floor_max_days: int = 365, cap_max_days: int = 180,
               lifespan: Callable[[FastAPI], Any] | None = None, policy_version: str = "unknown") -> FastAPI:
    """The FastAPI app over ``desk``. ``clock`` (default: the wall clock, UTC) is injectable for tests."""
    settings = settings or DeskSettings()
    teams = teams or TeamsConfig(version="default", defaults=Defaults(visits_per_day=4))
    tz = tz or ZoneInfo("Asia/Shanghai")
    wall: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
    app = FastAPI(title="Post-loan monitor: alert desk", version="1", docs_url=None, redoc_url=None,
                  description="Alerts, cases, overrides, borrower details, inspection schedules and visits. "
                  "Every change is written to the audit topic and read back before it is answered.",
                  lifespan=lifespan, dependencies=[Depends(_known_query)],
                  responses={status: {"model": Problem} for status in (400, 401, 403, 413, 422)})

    def today() -> date:
        return wall().astimezone(tz).date()

    metrics = DeskMetrics(lambda: desk.view, today, teams, lambda: desk.version)
    register_process_metrics(metrics.registry, "desk", policy_version)
    ctx = Context(desk, auth, teams, settings, wall, tz, metrics, floor_max_days, cap_max_days)
    app.state.ctx = ctx
    app.add_middleware(_Guard, max_body=settings.max_body_bytes, metrics=lambda: metrics)
    app.add_middleware(SecurityHeaders)  # no-store and the rest on every answer (web.py)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_items(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return JSONResponse(error_body("request body: not JSON in UTF-8"), status_code=400)
        if isinstance(exc, HTTPException):
            await record_refusal(request, exc)
        return JSONResponse(error_body(exc.detail), status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz", tags=["operations"], response_model=dict[str, str])
    async def healthz() -> dict[str, str]:
        """Alive (the process answers)."""
        return {"status": "alive"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Not ready"}})
    async def readyz() -> JSONResponse:
        """Ready: the view has read every topic up to its end offsets at start, and the broker answers."""
        h = await desk.health()
        body = {"ready": h.ready, "broker": h.broker, "caught_up": h.caught_up, **h.detail}
        return JSONResponse(body, status_code=200 if h.ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE: {}}}})
    async def metrics_endpoint(who: Principal = require(OPS, "read the metrics")) -> Response:
        """Prometheus metrics (ops, admin)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/api/v1/me", tags=["users"], response_model=Me)
    async def me(who: Principal = require(frozenset({"risk_officer", "supervisor", "inspector", "ops", "admin"}),
                                          "ask")) -> Me:
        """The caller: user, role, teams and whether they have a calendar feed key."""
        return Me(user=who.user, role=who.role, teams=sorted(who.teams), feed_key=who.feed_key,
                  timezone=getattr(tz, "key", "UTC"))

    from monitor.desk import (
        routes_borrowers,
        routes_cases,
        routes_exports,
        routes_feeds,
        routes_queue,
        routes_reports,
        routes_teams,
    )

    app.include_router(routes_queue.router)
    app.include_router(routes_exports.router)
    app.include_router(routes_cases.router)
    app.include_router(routes_borrowers.router)
    app.include_router(routes_teams.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_feeds.router)
    mount_page(app)
    mount_api_docs(app, settings.api_docs)
    return app

