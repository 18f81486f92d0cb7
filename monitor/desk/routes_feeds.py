"""Calendar feeds a calendar application can subscribe to: ``GET /api/v1/feeds/{team}.ics?key=FEED-KEY``.

A calendar application polls a URL and cannot send an ``Authorization`` header,
so the feed takes a **feed key** (``monitor users feed-key``) in the query
instead: a read-only secret of its own, stored as a SHA-256 hash next to the
user's token hash. It opens only the iCalendar feeds of the user's teams (every
team for risk officers, supervisors and admins) and nothing else; the bearer
check never accepts it, and this route never accepts a bearer token (neither
in ``key`` nor in a header).

The answer is the same calendar as ``/api/v1/teams/{team}/schedule.ics`` with
``end`` = today + 90 days (overdue visits included: they are planned from
today on). An unknown or revoked key and a team the key's user may not read
get the same 404, so the answer does not tell a wrong key from a wrong team.
The presented key is hashed and compared with every stored feed key hash
(:func:`hmac.compare_digest`, no early exit), so a wrong key costs the same
time as a right one.

Why the key is a query parameter rather than a path segment
(``/feeds/{key}/{team}.ics``): the route template, which names the request in
the metrics, holds no secret either way, but a query parameter has a name, so
every log line that carries the URL can be masked by that name (``key=***``)
without knowing the route, and proxies can be told to drop query strings from
their logs. The service itself writes request lines only in uvicorn's access log
(``monitor serve --loglevel debug``): :class:`FeedKeyMask`, installed on that
logger when this module is imported, masks the key there.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from monitor.desk.models import IsoDate, Problem
from monitor.desk.params import TeamId
from monitor.desk.routes_teams import FEED_DAYS, known_team, team_calendar
from monitor.desk.web import TEAM_READ, ctx_of

__all__ = ["FeedKeyMask", "mask_feed_keys", "router"]

router = APIRouter(prefix="/api/v1", tags=["feeds"])

_KEY_IN_URL = re.compile(r"([?&](?:amp;)?key=)[^&\s\"']*", re.IGNORECASE)
#: the loggers that write request lines (uvicorn's access log) or may quote a URL
_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "monitor.desk")
_NOT_FOUND = "no such feed (an unknown or revoked feed key, or a team the key does not open)"


def mask_feed_keys(text: str) -> str:
    """``text`` with the value of every ``key=`` query parameter replaced by ``***``."""
    return _KEY_IN_URL.sub(r"\1***", text)


def _masked(value: Any) -> Any:
    return mask_feed_keys(value) if isinstance(value, str) else value


class FeedKeyMask(logging.Filter):
    """Masks ``key=...`` in a record's message and arguments (keeping their shape: uvicorn's access
    formatter unpacks the arguments); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _masked(v) for k, v in record.args.items()}
        return True


def _install_mask() -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, FeedKeyMask) for f in logger.filters):
            logger.addFilter(FeedKeyMask())


_install_mask()

FeedKey = Annotated[str, Query(min_length=1, max_length=512,
                               description="The user's calendar feed key (monitor users feed-key); not a bearer token")]


@router.get("/feeds/{team}.ics", response_class=Response, responses={
    200: {"content": {"text/calendar": {}}, "description": "iCalendar (RFC 5545), as the team's schedule.ics"},
    404: {"model": Problem, "description": "Unknown or revoked key, or a team the key does not open"}})
async def team_feed(request: Request, team: TeamId, key: FeedKey,
                    start: Annotated[IsoDate | None, Query(description="First due date (default: every overdue "
                                                                       "visit)")] = None,
                    end: Annotated[IsoDate | None, Query(description="Last due date (default: today + 90 days)")]
                    = None) -> Response:
    """A team's visits as an iCalendar feed to subscribe to, opened by a feed key (no bearer token)."""
    ctx = ctx_of(request)
    who = ctx.auth.feed_principal(key)
    if who is None or who.role not in TEAM_READ or not who.in_team(team) or not known_team(ctx, who, team):
        raise HTTPException(404, _NOT_FOUND)
    request.state.user = who.user
    body = team_calendar(ctx, team, start, end, days=FEED_DAYS)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer"})
