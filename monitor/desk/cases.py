"""One borrower's cases, override requests and recorded visits: a pure function of its records.

:func:`derive` takes the borrower's alerts (ordered by their ``sequence``, as
the engine numbers them) and its audit records (in the order of the audit
topic, one partition per borrower) and returns the cases. Nothing depends on
the order in which the desk happened to read the alerts and the audit topics,
so every replica that has read the same records holds the same cases.

Cases:

* The first alert that is not ``cleared`` opens a case; its ``alert_id`` is the
  case id. Every later alert joins the case, ``cleared`` ones included: a
  borrower back to normal is still a case until an officer releases it, and a
  new ``raised`` alert before the release carries on the same case.
* Status: ``open`` -> ``acknowledged`` -> ``release_requested`` ->
  ``released``; a rejected release request goes back to ``acknowledged``. The
  release is approved by a supervisor (or admin) other than the officer who
  requested it (four eyes). A record that does not fit the case's status is
  kept in the case's actions with ``applied = False`` and the reason.
* A release covers the alerts up to the sequence the approver saw
  (``through_sequence``). A later ``raised`` or ``escalated`` alert opens a new
  case; a later ``de_escalated`` or ``cleared`` alert joins the released case.

Overrides: a floor (or a clear) takes effect at once (``override``); a cap is a
request (``request_override``) that a supervisor or admin other than the
requester approves (``approve_override``) or rejects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ValidationError

from monitor.desk.records import (
    APPROVER_ROLES,
    CASE_ACTIONS,
    Action,
    AssignDetails,
    AuditRecord,
    NoteDetails,
    OverrideDecisionDetails,
    OverrideDetails,
    OverrideRequestDetails,
    ReleaseDetails,
    VisitDetails,
)

__all__ = ["AlertRow", "Case", "CaseAction", "Derived", "Note", "OverrideChange", "OverrideRequest", "Visit",
           "apply_case_action",
           "derive", "ACTIVE_STATUSES", "CASE_STATUSES"]

CASE_STATUSES = ("open", "acknowledged", "release_requested", "released")
ACTIVE_STATUSES = frozenset({"open", "acknowledged", "release_requested"})
_OPENERS = frozenset({"raised", "escalated"})


@dataclass(slots=True)
class AlertRow:
    """An alert as the view indexes it (the JSON it came in is kept in ``raw``)."""

    alert_id: str
    borrower_id: str
    kind: str
    from_tier: str
    to_tier: str
    computed_tier: str
    at: int  # microseconds since the epoch
    sequence: int
    team: str | None
    branch: str | None
    raw: bytes

    @property
    def key(self) -> tuple[int, str]:
        return (self.at, self.alert_id)


@dataclass(slots=True)
class CaseAction:
    record: AuditRecord
    applied: bool
    note: str | None = None


@dataclass(slots=True)
class Note:
    record_id: str
    at: datetime
    user: str
    kind: str
    text: str


@dataclass(slots=True)
class Case:
    case_id: str
    borrower_id: str
    opened_at: int
    status: str = "open"
    alerts: list[AlertRow] = field(default_factory=list)
    assignee: str | None = None
    acknowledged_by: str | None = None
    release_requested_by: str | None = None
    release_through: int | None = None
    released_by: str | None = None
    released_through: int | None = None
    notes: list[Note] = field(default_factory=list)
    actions: list[CaseAction] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, str]:
        return (self.opened_at, self.case_id)

    @property
    def last(self) -> AlertRow:
        return self.alerts[-1]


@dataclass(slots=True)
class OverrideRequest:
    record_id: str
    borrower_id: str
    at: datetime
    requested_by: str
    tier: str
    until: datetime
    reason: str
    computed_tier: str | None
    status: str = "pending"  # pending, approved, rejected
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    event_id: str | None = None


@dataclass(slots=True)
class OverrideChange:
    """An override the desk sent to the engine (a tier_override event)."""

    record_id: str
    at: datetime
    action: str
    direction: str
    tier: str | None
    until: datetime | None
    reason: str
    requested_by: str
    approved_by: str | None
    event_id: str


@dataclass(slots=True)
class Visit:
    record_id: str
    at: datetime
    recorded_by: str
    team: str
    inspector: str
    outcome: str
    notes: str | None
    visited_at: datetime
    event_id: str


@dataclass(slots=True)
class Derived:
    cases: list[Case] = field(default_factory=list)
    case_of: dict[str, str] = field(default_factory=dict)  # alert id -> case id
    requests: list[OverrideRequest] = field(default_factory=list)
    changes: list[OverrideChange] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    ignored: list[CaseAction] = field(default_factory=list)  # records outside cases that did not apply


def _details(model: type[BaseModel], record: AuditRecord) -> BaseModel | str:
    try:
        return model.model_validate(record.details)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        return f"details.{where}: {first['msg']}" if where else f"details: {first['msg']}"


def _a(role: str) -> str:
    return ("an " if role[:1] in "aeiou" else "a ") + role


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def apply_case_action(case: Case, r: AuditRecord) -> str | None:
    """Apply one record to its case; the reason when it does not apply."""
    a = r.action
    if a == Action.acknowledge:
        if case.status != "open":
            return f"the case is {case.status}, not open"
        case.status, case.acknowledged_by = "acknowledged", r.user
        return None
    if a == Action.assign:
        d = _details(AssignDetails, r)
        if isinstance(d, str):
            return d
        if case.status == "released":
            return "the case is released"
        case.assignee = d.assignee  # type: ignore[attr-defined]
        return None
    if a == Action.note:
        d = _details(NoteDetails, r)
        if isinstance(d, str):
            return d
        case.notes.append(Note(r.record_id, r.at, r.user, d.kind, d.text))  # type: ignore[attr-defined]
        return None
    if a == Action.request_release:
        d = _details(ReleaseDetails, r)
        if isinstance(d, str):
            return d
        if case.status != "acknowledged":
            return f"the case is {case.status}: only an acknowledged case can be put up for release"
        case.status, case.release_requested_by = "release_requested", r.user
        case.release_through = d.through_sequence  # type: ignore[attr-defined]
        return None
    if a == Action.approve_release:
        d = _details(ReleaseDetails, r)
        if isinstance(d, str):
            return d
        if r.role not in APPROVER_ROLES:
            return f"{_a(r.role)} cannot approve a release"
        if case.status != "release_requested":
            return f"the case is {case.status}: no release to approve"
        if _same(r.user, case.release_requested_by):
            return "four eyes: the approver must not be the officer who requested the release"
        case.status, case.released_by = "released", r.user
        case.released_through = d.through_sequence  # type: ignore[attr-defined]
        return None
    if a == Action.reject_release:
        if case.status != "release_requested":
            return f"the case is {case.status}: no release to reject"
        if r.role not in APPROVER_ROLES and not _same(r.user, case.release_requested_by):
            return f"{_a(r.role)} cannot reject another officer's release request"
        case.status, case.release_requested_by, case.release_through = "acknowledged", None, None
        return None
    return f"{a} is not a case action"


def _open(alert: AlertRow, records: list[AuditRecord]) -> Case:
    case = Case(alert.alert_id, alert.borrower_id, alert.at, alerts=[alert])
    for r in records:
        why = apply_case_action(case, r)
        case.actions.append(CaseAction(r, why is None, why))
    return case


def _override(r: AuditRecord, out: Derived, pending: dict[str, OverrideRequest]) -> str | None:
    a = r.action
    if a == Action.override:
        d = _details(OverrideDetails, r)
        if isinstance(d, str):
            return d
        if d.action == "set" and d.direction == "cap":  # type: ignore[attr-defined]
            return "a cap needs a second officer's approval (request_override)"
        out.changes.append(OverrideChange(r.record_id, r.at, d.action, d.direction, d.tier,  # type: ignore[attr-defined]
                                          d.until, r.reason, r.user, None, d.event_id))  # type: ignore[attr-defined]
        return None
    if a == Action.request_override:
        d = _details(OverrideRequestDetails, r)
        if isinstance(d, str):
            return d
        req = OverrideRequest(r.record_id, r.borrower_id, r.at, r.user, d.tier, d.until, r.reason,  # type: ignore[attr-defined]
                              d.computed_tier)  # type: ignore[attr-defined]
        out.requests.append(req)
        pending[r.record_id] = req
        return None
    d = _details(OverrideDecisionDetails, r)
    if isinstance(d, str):
        return d
    req = pending.get(d.request)  # type: ignore[attr-defined]
    if req is None:
        return "no pending override request " + d.request  # type: ignore[attr-defined]
    if r.role not in APPROVER_ROLES:
        return f"{_a(r.role)} cannot decide on an override request"
    if a == Action.approve_override:
        if _same(r.user, req.requested_by):
            return "four eyes: the approver must not be the officer who requested the override"
        if d.event_id is None:  # type: ignore[attr-defined]
            return "details.event_id: required to approve"
        req.status, req.event_id = "approved", d.event_id  # type: ignore[attr-defined]
        out.changes.append(OverrideChange(r.record_id, r.at, "set", "cap", req.tier, req.until, req.reason,
                                          req.requested_by, r.user, d.event_id))  # type: ignore[attr-defined]
    else:
        req.status = "rejected"
    req.decided_by, req.decided_at, req.decision_reason = r.user, r.at, r.reason
    del pending[req.record_id]
    return None


def derive(alerts: list[AlertRow], records: list[AuditRecord]) -> Derived:
    """The borrower's cases, overrides and visits; ``alerts`` sorted by sequence, ``records`` in topic order."""
    out = Derived()
    by_case: dict[str, list[AuditRecord]] = {}
    pending: dict[str, OverrideRequest] = {}
    for r in records:
        if r.action == Action.refused:
            continue  # on file for the audit trail; it changed nothing
        if r.action in CASE_ACTIONS:
            if r.alert_id is None:
                out.ignored.append(CaseAction(r, False, "alert_id: the case is required"))
            else:
                by_case.setdefault(r.alert_id, []).append(r)
        elif r.action == Action.record_visit:
            d = _details(VisitDetails, r)
            if isinstance(d, str):
                out.ignored.append(CaseAction(r, False, d))
            else:
                out.visits.append(Visit(r.record_id, r.at, r.user, d.team, d.inspector,  # type: ignore[attr-defined]
                                        str(d.outcome), d.notes, d.visited_at, d.event_id))  # type: ignore[attr-defined]
        else:
            why = _override(r, out, pending)
            if why is not None:
                out.ignored.append(CaseAction(r, False, why))
    current: Case | None = None
    for alert in alerts:
        if current is None:
            if alert.to_tier == "normal":
                continue  # a clearance with no case before it (nothing to work on)
        elif not (current.status == "released" and alert.kind in _OPENERS
                  and alert.sequence > (current.released_through or 0)):
            current.alerts.append(alert)
            out.case_of[alert.alert_id] = current.case_id
            continue
        current = _open(alert, by_case.pop(alert.alert_id, []))
        out.cases.append(current)
        out.case_of[alert.alert_id] = current.case_id
    for case_id, recs in by_case.items():
        for r in recs:  # the case is not (yet) known here: its alert has not been read
            out.ignored.append(CaseAction(r, False, f"case {case_id} not found"))
    return out
