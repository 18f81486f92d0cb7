"""Commands: the audit records the desk writes and the events they carry to the engine. Pure.

The event a record carries is a function of the record alone (and, for an
approved cap, of the request it approves), so sending a request again sends
the same event with the same id: the engine ignores the copy.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from monitor.desk.auth import Principal
from monitor.desk.cases import Case, OverrideRequest, apply_case_action
from monitor.desk.records import Action, AuditRecord, OverrideDetails, VisitDetails, record_id_for
from monitor.events import InspectionCompleted, TierOverride

__all__ = ["approval_event", "check_case", "make_record", "override_event", "visit_event"]

SOURCE = "alert-desk"


def make_record(who: Principal, action: Action, borrower_id: str, reason: str, request_id: str, at: datetime,
                details: dict[str, Any] | None = None, alert_id: str | None = None) -> AuditRecord:
    return AuditRecord(record_id=record_id_for(who.user, request_id), at=at, user=who.user, role=who.role,  # type: ignore[arg-type]
                       action=action, borrower_id=borrower_id, alert_id=alert_id, reason=reason,
                       details=details or {}, request_id=request_id)


def check_case(case: Case, record: AuditRecord) -> str | None:
    """Why ``record`` would not apply to the case as it is now (None: it would)."""
    trial = dataclasses.replace(case, alerts=list(case.alerts), notes=list(case.notes), actions=list(case.actions))
    return apply_case_action(trial, record)


def override_event(record: AuditRecord) -> TierOverride:
    """The tier_override event of an ``override`` record (a floor set, or a clear)."""
    d = OverrideDetails.model_validate(record.details)
    return TierOverride(event_id=d.event_id, borrower_id=record.borrower_id, occurred_at=record.at, source=SOURCE,
                        action=d.action, direction=d.direction, tier=d.tier, until=d.until,  # type: ignore[arg-type]
                        reason=record.reason, requested_by=record.user)


def approval_event(record: AuditRecord, request: OverrideRequest, event_id: str) -> TierOverride:
    """The tier_override event of an approved cap."""
    return TierOverride(event_id=event_id, borrower_id=record.borrower_id, occurred_at=record.at, source=SOURCE,
                        action="set", direction="cap", tier=request.tier, until=request.until,  # type: ignore[arg-type]
                        reason=request.reason, requested_by=request.requested_by, approved_by=record.user)


def visit_event(record: AuditRecord) -> InspectionCompleted:
    """The inspection_completed event of a ``record_visit`` record."""
    d = VisitDetails.model_validate(record.details)
    return InspectionCompleted(event_id=d.event_id, borrower_id=record.borrower_id, occurred_at=d.visited_at,
                               source=SOURCE, team=d.team, inspector=d.inspector, outcome=d.outcome, notes=d.notes)
