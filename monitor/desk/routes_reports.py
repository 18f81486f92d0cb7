"""Periodic reports: the list, one report's notice, and its files (HTML, JSON, CSV).

Readers: risk officers, supervisors and admins (the audit readers). The
reports are those stored in this service's ``reports_dir`` (every replica
builds every report: see :mod:`monitor.desk.reporting`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from monitor.desk.auth import Principal
from monitor.desk.reporting import Notice, ReportStore
from monitor.desk.web import AUDIT, require

__all__ = ["REPORT_READERS", "ReportList", "router"]

REPORT_READERS = AUDIT
ReportId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")]
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class ReportList(BaseModel):
    items: list[Notice]


def _store(request: Request) -> ReportStore:
    store: ReportStore | None = getattr(request.app.state, "reports", None)
    if store is None:
        raise HTTPException(404, "reports are not kept by this service")
    return store


def _notice(store: ReportStore, report_id: str) -> Notice:
    notice = store.get(report_id)
    if notice is None:
        raise HTTPException(404, f"report {report_id!r} not found")
    return notice


@router.get("", response_model=ReportList, responses={404: {"description": "Reports are not kept here"}})
async def list_reports(request: Request,
                       period: Annotated[Literal["day", "week", "month"] | None, Query()] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       who: Principal = require(REPORT_READERS, "read the reports")) -> ReportList:
    """The stored reports, newest first (by the period's last day; a month before a week before a day)."""
    return ReportList(items=_store(request).list(period)[:limit])


@router.get("/{report_id}", response_model=Notice, responses={404: {"description": "No such report"}})
async def get_report(request: Request, report_id: ReportId,
                     who: Principal = require(REPORT_READERS, "read the reports")) -> Notice:
    """A report's notice: period, as-of, policy version, input fingerprint, files with SHA-256, notes."""
    return _notice(_store(request), report_id)


@router.get("/{report_id}/{form}", response_class=FileResponse,
            responses={200: {"content": {"text/html": {}, "application/json": {}, "text/csv": {},
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
                       404: {"description": "No such report"}})
async def download_report(request: Request, report_id: ReportId, form: Literal["html", "json", "csv", "xlsx"],
                          who: Principal = require(REPORT_READERS, "read the reports")) -> FileResponse:
    """One form of the report: the HTML (self-contained, printable), the JSON figures, the warning list as CSV, or
    the workbook (XLSX)."""
    store = _store(request)
    notice = _notice(store, report_id)
    entry = notice.file(form)
    path = store.path(notice, form)
    if entry is None or path is None or not path.is_file():
        raise HTTPException(404, f"report {report_id!r} has no {form} file here")
    disposition = "inline" if form == "html" else "attachment"
    return FileResponse(path, media_type=entry.content_type, filename=entry.name, content_disposition_type=disposition,
                        headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, no-cache", "ETag": f'"{entry.sha256}"'})
