"""Inspection teams: schedule (JSON, CSV, iCalendar), capacity-aware plan, workload forecast."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from monitor.desk.auth import Principal
from monitor.desk.exports import ordered, schedule_csv, schedule_ics
from monitor.desk.models import ForecastOut, IsoDate, PlannedVisitOut, PlanOut, Problem, ScheduleOut
from monitor.desk.params import TeamId
from monitor.desk.planner import MAX_HORIZON_DAYS, DueVisit, PlannedVisit, TeamForecast, due_visits, forecast, plan
from monitor.desk.present import reason_words
from monitor.desk.safe import content_disposition
from monitor.desk.web import READ_CASES, TEAM_READ, Context, ctx_of, require

__all__ = ["FEED_DAYS", "known_team", "router", "team_calendar"]

router = APIRouter(prefix="/api/v1", tags=["teams"])

_ERRORS: dict[int | str, dict[str, Problem | type[Problem]]] = {403: {"model": Problem}, 404: {"model": Problem}}
_MAX_SPAN = 3660
FEED_DAYS = 90  # a subscribed calendar feed's default end: today + 90 days


def _team(ctx: Context, who: Principal, team: str) -> str:
    """``team`` when the caller may read it (403 first: an inspector learns nothing of other teams) and the desk
    knows it: a team of the schedule, of the teams file, or the inspector's own (404 otherwise)."""
    if not who.in_team(team):
        raise HTTPException(403, "an inspector sees only the schedules of their own teams")
    if not known_team(ctx, who, team):
        raise HTTPException(404, f"team {team!r} not found (no borrower has it and the teams file does not "
                            "list it)")
    return team


def known_team(ctx: Context, who: Principal, team: str) -> bool:
    """Whether ``team`` is the caller's own, listed in the teams file, or held by a borrower of the schedule."""
    return team in who.teams or team in ctx.teams.teams or team in ctx.desk.view.teams()


def _visits(ctx: Context, team: str, until: date) -> list[DueVisit]:
    view = ctx.desk.view
    entries = view.schedule(team, date.min, until)
    exposures = {}
    for e in entries:
        book = view.books.get(e.borrower_id)
        exposures[e.borrower_id] = book.detail.exposure if book is not None and book.detail is not None else None
    return due_visits(entries, exposures)


def _planned(ctx: Context, team: str, start: date | None, end: date | None,
             days: int = 30) -> tuple[date, date, list[PlannedVisit]]:
    today = ctx.today()
    end = end or today + timedelta(days=days)
    if start is not None and start > end:
        raise HTTPException(422, "start: must not be after end")
    if (end - today).days > _MAX_SPAN:
        raise HTTPException(422, f"end: at most {_MAX_SPAN} days after today")
    horizon = min(MAX_HORIZON_DAYS, max(1, (end - today).days + 1))
    planned = plan(_visits(ctx, team, end), today, ctx.teams, horizon=horizon)
    lo = start or date.min
    return today, end, [p for p in planned if lo <= p.next_visit_due <= end]


def _out(p: PlannedVisit, ctx: Context | None = None) -> PlannedVisitOut:
    book = ctx.desk.view.books.get(p.borrower_id) if ctx is not None else None
    sched = book.sched if book is not None else None
    return PlannedVisitOut(**asdict(p), days_late=p.days_late, name=book.name if book is not None else None,
                           reason_text=reason_words(p.reason, dict(sched.params) if sched is not None else {}))


StartQ = Annotated[IsoDate | None, Query(description="First due date (default: every overdue visit)")]
EndQ = Annotated[IsoDate | None, Query(description="Last due date (default: today + 30 days)")]


@router.get("/teams/{team}/schedule", response_model=ScheduleOut, responses=_ERRORS)
async def schedule(request: Request, team: TeamId, start: StartQ = None, end: EndQ = None,
                   who: Principal = require(TEAM_READ, "read schedules")) -> ScheduleOut:
    """Visits due in [start, end] with tier, reason, exposure, days overdue and the planned date."""
    ctx = ctx_of(request)
    today, end, planned = _planned(ctx, _team(ctx, who, team), start, end)
    return ScheduleOut(team=team, start=start, end=end, today=today, teams_version=ctx.teams.version,
                       items=[_out(p, ctx) for p in ordered(planned)])


@router.get("/teams/{team}/schedule.csv", response_class=Response, responses={
    **_ERRORS, 200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM, CRLF"}})
async def schedule_as_csv(request: Request, team: TeamId, start: StartQ = None, end: EndQ = None,
                          who: Principal = require(TEAM_READ, "read schedules")) -> Response:
    """The schedule as CSV (opens in a spreadsheet; UTF-8 with BOM for Chinese text)."""
    ctx = ctx_of(request)
    _, end, planned = _planned(ctx, _team(ctx, who, team), start, end)
    return Response(schedule_csv(planned), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": content_disposition(f"schedule-{team}-{end.isoformat()}.csv")})


@router.get("/teams/{team}/schedule.ics", response_class=Response, responses={
    **_ERRORS, 200: {"content": {"text/calendar": {}}, "description": "iCalendar (RFC 5545)"}})
async def schedule_as_ics(request: Request, team: TeamId, start: StartQ = None, end: EndQ = None,
                          who: Principal = require(TEAM_READ, "read schedules")) -> Response:
    """The schedule as an iCalendar feed: one all-day event per planned visit."""
    ctx = ctx_of(request)
    return Response(team_calendar(ctx, _team(ctx, who, team), start, end), media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": content_disposition(f"schedule-{team}.ics")})


def team_calendar(ctx: Context, team: str, start: date | None, end: date | None, days: int = 30) -> bytes:
    """The team's iCalendar bytes for due dates in [start, end] (defaults: every overdue visit, today + ``days``).

    The caller has checked that the team may be read."""
    _, end, planned = _planned(ctx, team, start, end, days)
    return schedule_ics(planned, calendar_name=f"Visits {team}", dtstamp=ctx.now())


@router.get("/teams/{team}/plan", response_model=PlanOut, responses=_ERRORS)
async def team_plan(request: Request, team: TeamId,
                    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON_DAYS)] = 30,
                    placement: Literal["latest", "earliest"] = "latest",
                    who: Principal = require(TEAM_READ, "read plans")) -> PlanOut:
    """Every due visit with a planned date within the horizon (capacity-aware), late ones flagged."""
    ctx = ctx_of(request)
    today = ctx.today()
    visits = _visits(ctx, _team(ctx, who, team), today + timedelta(days=horizon))
    planned = plan(visits, today, ctx.teams, horizon=horizon, placement=placement)
    return PlanOut(team=team, today=today, horizon=horizon, placement=placement, teams_version=ctx.teams.version,
                   items=[_out(p, ctx) for p in planned])


Days = Annotated[int, Query(ge=1, le=366, description="Window length: 30 or 90 are the usual")]


def _forecast_out(rows: list[TeamForecast]) -> list[ForecastOut]:
    return [ForecastOut(**asdict(r)) for r in rows]


@router.get("/teams/{team}/forecast", response_model=ForecastOut, responses=_ERRORS)
async def team_forecast(request: Request, team: TeamId, days: Days = 30,
                        who: Principal = require(TEAM_READ, "read forecasts")) -> ForecastOut:
    """The team's workload over the next ``days`` days against its capacity."""
    ctx = ctx_of(request)
    today = ctx.today()
    visits = _visits(ctx, _team(ctx, who, team), today + timedelta(days=days))
    rows = [r for r in forecast(visits, today, ctx.teams, days=days) if r.team == team]
    if not rows:  # a team with no visits, not in the teams file: its (default) capacity
        cap = ctx.teams.capacity(team)
        dates = [today + timedelta(days=i) for i in range(days)]
        rows = [TeamForecast(team=team, start=today, until=dates[-1],
                             working_days=sum(cap.is_working(d) for d in dates),
                             capacity=sum(cap.visits_on(d) for d in dates), overdue=0, due=0, demand=0, planned=0,
                             late=0, short_from=None, shortfall=0)]
    return _forecast_out(rows)[0]


@router.get("/forecast", response_model=list[ForecastOut])
async def all_forecasts(request: Request, days: Days = 30,
                        who: Principal = require(READ_CASES, "read every team's forecast")) -> list[ForecastOut]:
    """Every team's workload over the next ``days`` days (teams with visits and teams in the teams file)."""
    ctx = ctx_of(request)
    today = ctx.today()
    until = today + timedelta(days=days)
    visits: list[DueVisit] = []
    for team in ctx.desk.view.teams():
        visits.extend(_visits(ctx, team, until))
    return _forecast_out(forecast(visits, today, ctx.teams, days=days))
