"""Exports for spreadsheets: the filtered case queue, the filtered alerts and a borrower's audit trail, each as
CSV (UTF-8 with BOM) and as an XLSX workbook, with Chinese (default) or English column names and labels.

The rows are those of the same query on the page (every page of it, in its
order), up to :data:`MAX_ROWS`; more is a 422 asking for narrower filters. Codes
(tiers, statuses, actions, kinds, rules, teams, branches) are labelled from
:mod:`monitor.vocabulary`; instants are shown in the policy's time zone, named in
the header; amounts are numbers in CNY with two decimals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from monitor._time import to_us
from monitor.desk.auth import Principal
from monitor.desk.errors import localized
from monitor.desk.models import IsoDateTime, Problem
from monitor.desk.params import BorrowerId
from monitor.desk.present import alert_model
from monitor.desk.records import AuditRecord
from monitor.desk.refusals import not_found
from monitor.desk.routes_queue import mine_only, queue_item, queue_query
from monitor.desk.safe import content_disposition
from monitor.desk.sheets import Column, csv_bytes, xlsx_bytes
from monitor.desk.table import Query as CaseQuery
from monitor.desk.table import mask_of, run
from monitor.desk.web import AUDIT, READ_CASES, Context, ctx_of, require
from monitor.events import NAME_PATTERN
from monitor.vocabulary import evidence_sentence, label

__all__ = ["MAX_ROWS", "router"]

router = APIRouter(prefix="/api/v1", tags=["exports"])

MAX_ROWS = 200_000
Form = Literal["csv", "xlsx"]
Lang = Annotated[Literal["zh", "en"], Query(description="Column names and labels: Chinese (default) or English")]
Label = Annotated[str, Query(min_length=1, max_length=100, pattern=NAME_PATTERN)]
_MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_FILES = {200: {"content": {_MEDIA["csv"]: {}, _MEDIA["xlsx"]: {}}, "description": "The file (a download)"}}

CASE_COLUMNS = (
    Column("case_id", "案件编号", "Case", width=22), Column("borrower_id", "借款人编号", "Borrower", width=14),
    Column("name", "借款人名称", "Name", width=24), Column("status", "案件状态", "Status", width=12),
    Column("tier", "预警等级", "Tier", width=10), Column("team", "检查团队", "Team", width=14),
    Column("branch", "分行", "Branch", width=12), Column("assignee", "负责人", "Owner", width=12),
    Column("opened_at", "立案时间", "Opened", "datetime", 18), Column("age_days", "案龄（天）", "Age (days)", "int", 9),
    Column("deadline", "响应截止日", "Response deadline", "date", 12),
    Column("responded", "已走访响应", "Responded", "bool", 10),
    Column("days_past_deadline", "超过响应期（天）", "Days past deadline", "int", 12),
    Column("next_visit_due", "下次检查日", "Next visit due", "date", 12),
    Column("visit_days_overdue", "检查逾期（天）", "Visit days overdue", "int", 12),
    Column("exposure", "敞口（元）", "Exposure (CNY)", "money", 16),
    Column("last_alert_at", "最近预警时间", "Latest alert", "datetime", 18),
)
ALERT_COLUMNS = (
    Column("at", "预警时间", "Time", "datetime", 18), Column("borrower_id", "借款人编号", "Borrower", width=14),
    Column("kind", "变动类型", "Kind", width=10), Column("from_tier", "原等级", "From", width=10),
    Column("to_tier", "新等级", "To", width=10), Column("computed_tier", "规则计算等级", "Computed", width=12),
    Column("team", "检查团队", "Team", width=14), Column("branch", "分行", "Branch", width=12),
    Column("rules", "触发规则", "Rules", "free", 28), Column("evidence", "证据", "Evidence", "free", 60),
    Column("case_id", "案件编号", "Case", width=22), Column("case_status", "案件状态", "Case status", width=12),
    Column("next_visit_due", "下次检查日", "Next visit due", "date", 12),
    Column("policy_version", "策略版本", "Policy version", width=16), Column("alert_id", "预警编号", "Alert", width=22),
)
AUDIT_COLUMNS = (
    Column("at", "时间", "Time", "datetime", 18), Column("user", "操作人", "User", width=12),
    Column("role", "角色", "Role", width=10), Column("action", "操作", "Action", width=14),
    Column("case_id", "案件编号", "Case", width=22), Column("reason", "原因", "Reason", "free", 40),
    Column("details", "内容", "Details", "free", 40), Column("result", "结果", "Result", "free", 30),
    Column("request_id", "请求编号", "Request", width=24), Column("record_id", "记录编号", "Record", width=24),
)


def _zone_label(ctx: Context, lang: str) -> str:
    key = getattr(ctx.tz, "key", "UTC")
    return label("timezone", key, lang)  # type: ignore[arg-type]


def _file(ctx: Context, form: str, columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], lang: str,
          name: str, sheet: str) -> Response:
    zone_label = _zone_label(ctx, lang)
    if form == "csv":
        data = csv_bytes(columns, rows, lang=lang, zone=ctx.tz, zone_label=zone_label)
    else:
        data = xlsx_bytes(columns, rows, lang=lang, zone=ctx.tz, zone_label=zone_label, sheet=sheet,
                          created=ctx.now())
    return Response(data, media_type=_MEDIA[form],
                    headers={"Content-Disposition": content_disposition(f"{name}.{form}")})


def _too_many(n: int) -> None:
    if n > MAX_ROWS:
        raise HTTPException(422, f"{n} rows match: an export holds at most {MAX_ROWS}; narrow the filters")


@router.get("/queue/export.{form}", response_class=Response, responses=_FILES)
async def export_queue(request: Request, form: Form, lang: Lang = "zh",
                       who: Principal = require(READ_CASES, "export cases"),
                       asked: tuple[CaseQuery, bool] = Depends(queue_query)) -> Response:
    """The queue's cases matching the filters and the search, every page, in the queue's order."""
    ctx = ctx_of(request)
    today = ctx.today()
    query = replace(mine_only(asked, who), offset=0, limit=None)
    _too_many(int(mask_of(ctx.desk.view.table, query, today.toordinal()).sum()))
    rows, _ = run(ctx.desk.view.table, query, today.toordinal())

    def shown() -> Iterable[dict[str, Any]]:
        for r in rows:
            item = queue_item(r, ctx, today).model_dump()
            item.update(status=label("case_status", item["status"], lang), tier=label("tier", item["tier"], lang),
                        team=label("team", item["team"], lang), branch=label("branch", item["branch"], lang))
            yield item

    return _file(ctx, form, CASE_COLUMNS, shown(), lang, f"cases-{today.isoformat()}",
                 "案件" if lang == "zh" else "Cases")


@router.get("/alerts/export.{form}", response_class=Response, responses=_FILES)
async def export_alerts(request: Request, form: Form, lang: Lang = "zh",
                        who: Principal = require(READ_CASES, "export alerts"),
                        tier: Literal["normal", "watch", "warning", "severe"] | None = None,
                        team: Label | None = None, branch: Label | None = None,
                        kind: Literal["raised", "escalated", "de_escalated", "cleared"] | None = None,
                        status: Literal["open", "acknowledged", "release_requested", "released", "active"] | None
                        = None, since: IsoDateTime | None = Query(None, description="Alerts at or after")
                        ) -> Response:
    """The alerts matching the filters, newest first, with their rules and evidence as sentences."""
    ctx = ctx_of(request)
    view = ctx.desk.view
    filters: dict[str, Any] = {k: v for k, v in (("tier", tier), ("team", team), ("branch", branch),
                                                  ("kind", kind)) if v is not None}
    if status == "active":
        filters["active"] = True
    elif status is not None:
        filters["status"] = status
    keys = []
    for key in view.alert_index.scan(filters, start=(to_us(since), "") if since else None, descending=True):
        keys.append(key)
        if len(keys) > MAX_ROWS:
            break
    _too_many(len(keys))
    tz = getattr(ctx.tz, "key", None)

    def shown() -> Iterable[dict[str, Any]]:
        for _, alert_id in keys:
            row = view.alerts[alert_id]
            a = alert_model(row)
            case = view.case_of_alert(alert_id)
            yield {"at": a.at, "borrower_id": a.borrower_id, "kind": label("alert_kind", str(a.kind), lang),
                   "from_tier": label("tier", a.from_tier, lang), "to_tier": label("tier", a.to_tier, lang),
                   "computed_tier": label("tier", a.computed_tier, lang), "team": label("team", a.team, lang),
                   "branch": label("branch", a.branch, lang),
                   "rules": ("、" if lang == "zh" else ", ").join(label("rule", s.rule, lang) for s in a.signals),
                   "evidence": "\n".join(evidence_sentence(s, lang, timezone=tz, title=True) for s in a.signals),
                   "case_id": case.case_id if case else None,
                   "case_status": label("case_status", case.status, lang) if case else None,
                   "next_visit_due": a.next_visit_due, "policy_version": a.policy_version, "alert_id": a.alert_id}

    return _file(ctx, form, ALERT_COLUMNS, shown(), lang, f"alerts-{ctx.today().isoformat()}",
                 "预警" if lang == "zh" else "Alerts")


@router.get("/borrowers/{borrower_id}/audit.{form}", response_class=Response, tags=["borrowers"],
            responses={**_FILES, 404: {"model": Problem}})
async def export_audit(request: Request, borrower_id: BorrowerId, form: Form, lang: Lang = "zh",
                       who: Principal = require(AUDIT, "read the audit trail")) -> Response:
    """The borrower's audit trail: every change and refusal through the desk, in the order of the audit topic,
    with whether it applied."""
    ctx = ctx_of(request)
    view = ctx.desk.view
    book = view.books.get(borrower_id)
    if book is None or not (book.known or book.records):
        raise HTTPException(404, not_found(borrower_id))
    outcome: dict[str, str] = {}
    for case in book.derived.cases:
        for act in case.actions:
            outcome[act.record.record_id] = "" if act.applied else (act.note or "not applied")
    for act in book.derived.ignored:
        outcome[act.record.record_id] = act.note or "not applied"

    def result(r: AuditRecord) -> str:
        note = outcome.get(r.record_id, "")
        if r.action == "refused":
            return localized(str(r.details.get("answered", "")), lang) or ""  # type: ignore[arg-type]
        if not note:
            return "已生效" if lang == "zh" else "applied"
        return localized(f"not applied: {note}", lang) or note  # type: ignore[arg-type]

    def shown() -> Iterable[dict[str, Any]]:
        for r in book.records:
            details = {k: v for k, v in r.details.items() if v is not None}
            yield {"at": r.at, "user": r.user, "role": label("user_role", r.role, lang),
                   "action": label("audit_action", str(r.action), lang), "case_id": r.alert_id,
                   "reason": r.reason, "details": json.dumps(details, ensure_ascii=False, sort_keys=True)
                   if details else "", "result": result(r), "request_id": r.request_id, "record_id": r.record_id}

    return _file(ctx, form, AUDIT_COLUMNS, shown(), lang, f"audit-{borrower_id}",
                 "审计轨迹" if lang == "zh" else "Audit trail")

