"""From the view's objects to the API's response bodies. Pure."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from monitor._time import from_us
from monitor.desk.cases import AlertRow, Case, OverrideChange, OverrideRequest, Visit
from monitor.desk.models import (
    ActionOut,
    AlertItem,
    BorrowerPage,
    CaseDetail,
    CaseSummary,
    EvidenceOut,
    NoteOut,
    OverrideChangeOut,
    OverrideRequestOut,
    TierChange,
    VisitOut,
    Words,
)
from monitor.desk.view import Book, DeskView
from monitor.outputs import Alert, BorrowerDetail, Signal
from monitor.vocabulary import evidence_sentence, visit_reason

__all__ = ["alert_item", "borrower_page", "case_detail", "case_summary", "decode_cursor", "encode_cursor",
           "evidence", "reason_words"]

log = logging.getLogger("monitor.desk")


class CursorError(ValueError):
    pass


def encode_cursor(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}|{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, _, ident = raw.partition("|")
        if not ident:
            raise ValueError
        return int(at), ident
    except (ValueError, UnicodeDecodeError):
        raise CursorError("cursor: not a cursor this service gave out") from None


def alert_model(row: AlertRow) -> Alert:
    return Alert.model_validate_json(row.raw)


def alert_item(view: DeskView, row: AlertRow) -> AlertItem:
    case = view.case_of_alert(row.alert_id)
    return AlertItem(alert=alert_model(row), case_id=case.case_id if case else None,
                     case_status=case.status if case else None)  # type: ignore[arg-type]


def case_summary(c: Case) -> CaseSummary:
    last = c.last
    return CaseSummary(case_id=c.case_id, borrower_id=c.borrower_id, status=c.status,  # type: ignore[arg-type]
                       opened_at=from_us(c.opened_at), tier=last.to_tier, team=last.team,  # type: ignore[arg-type]
                       branch=last.branch, assignee=c.assignee, alert_count=len(c.alerts),
                       last_alert_at=from_us(max(a.at for a in c.alerts)), acknowledged_by=c.acknowledged_by,
                       release_requested_by=c.release_requested_by, released_by=c.released_by)


def detail_model(book: Book) -> BorrowerDetail | None:
    if book.detail is None:
        return None
    try:
        return BorrowerDetail.model_validate_json(book.detail.raw)
    except ValidationError as exc:
        log.warning("borrower detail does not match the model (%d errors): shown without it", exc.error_count())
        return None


def visit_out(v: Visit) -> VisitOut:
    return VisitOut(record_id=v.record_id, at=v.at, recorded_by=v.recorded_by, team=v.team, inspector=v.inspector,
                    outcome=v.outcome, notes=v.notes, visited_at=v.visited_at, event_id=v.event_id)


def words(zh: str, en: str) -> Words:
    return Words(zh=zh, en=en)


def evidence(signals: Sequence[Signal], tz: str | None) -> list[EvidenceOut]:
    """Each signal's evidence as a sentence with units, in Chinese and English (monitor.vocabulary)."""
    return [EvidenceOut(rule=s.rule, family=s.family, level=s.level, since=s.since, event_ids=list(s.event_ids),
                        text=words(evidence_sentence(s, "zh", timezone=tz), evidence_sentence(s, "en", timezone=tz)))
            for s in signals]


def reason_words(code: str | None, params: Mapping[str, Any]) -> Words | None:
    """A visit date's reason code and parameters as a sentence in both languages."""
    if not code:
        return None
    return words(visit_reason(code, params, "zh"), visit_reason(code, params, "en"))


def case_detail(c: Case, book: Book, tz: str | None = None) -> CaseDetail:
    detail = detail_model(book)
    signals: list[Any] = list(detail.signals) if detail is not None else []
    base = case_summary(c).model_dump()
    return CaseDetail(
        **base,
        evidence=evidence(signals, tz),
        name=book.name,
        alerts=[alert_model(a) for a in c.alerts],
        notes=[NoteOut(record_id=n.record_id, at=n.at, user=n.user, kind=n.kind, text=n.text)  # type: ignore[arg-type]
               for n in c.notes],
        actions=[ActionOut(record=a.record, applied=a.applied, note=a.note) for a in c.actions],
        signals=signals,
        next_visit_due=book.schedule.next_visit_due if book.schedule else None,
        visits=[visit_out(v) for v in book.derived.visits],
    )


def request_out(r: OverrideRequest) -> OverrideRequestOut:
    return OverrideRequestOut(record_id=r.record_id, borrower_id=r.borrower_id, at=r.at, requested_by=r.requested_by,
                              tier=r.tier, until=r.until, reason=r.reason, computed_tier=r.computed_tier,
                              status=r.status, decided_by=r.decided_by, decided_at=r.decided_at,  # type: ignore[arg-type]
                              decision_reason=r.decision_reason, event_id=r.event_id)


def change_out(c: OverrideChange) -> OverrideChangeOut:
    return OverrideChangeOut(record_id=c.record_id, at=c.at, action=c.action, direction=c.direction,  # type: ignore[arg-type]
                             tier=c.tier, until=c.until, reason=c.reason, requested_by=c.requested_by,
                             approved_by=c.approved_by, event_id=c.event_id)


def borrower_page(book: Book, tz: str | None = None) -> BorrowerPage:
    d = book.derived
    detail = detail_model(book)
    sched = book.sched
    return BorrowerPage(
        borrower_id=book.borrower_id,
        name=book.name,
        evidence=evidence(detail.signals, tz) if detail is not None else [],
        schedule_reason=reason_words(sched.reason, dict(sched.params)) if sched is not None else None,
        detail=detail,
        schedule=book.schedule,
        tier_history=[TierChange(alert_id=a.alert_id, at=from_us(a.at), kind=a.kind, from_tier=a.from_tier,  # type: ignore[arg-type]
                                 to_tier=a.to_tier, computed_tier=a.computed_tier, sequence=a.sequence)  # type: ignore[arg-type]
                      for a in book.alerts],
        cases=[case_summary(c) for c in d.cases],
        override_requests=[request_out(r) for r in d.requests],
        override_changes=[change_out(c) for c in d.changes],
        visits=[visit_out(v) for v in d.visits],
    )
