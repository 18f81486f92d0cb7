"""The audit record: every change made through the alert desk (the append-only ``audit`` topic).

A command (acknowledge a case, request an override, record a visit, ...) is
written as one :class:`AuditRecord`, keyed by ``borrower_id``; it takes effect
when the desk reads it back from the topic, so every replica applies the same
records in the same order (one borrower's records share a partition).

Ids are deterministic: ``record_id`` and the id of an event a command produces
come from the user and the request id, so a request sent again (same
``X-Request-ID``) writes records the view and the engine recognise as copies.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from monitor.events import FREE_TEXT_PATTERN, NAME_PATTERN, InspectionOutcome

__all__ = [
    "APPROVER_ROLES",
    "CASE_ACTIONS",
    "Action",
    "AssignDetails",
    "AuditRecord",
    "NoteDetails",
    "OverrideDecisionDetails",
    "OverrideDetails",
    "OverrideRequestDetails",
    "RefusalDetails",
    "ReleaseDetails",
    "Role",
    "VisitDetails",
    "event_id_for",
    "record_id_for",
]

Role = Literal["risk_officer", "supervisor", "inspector", "ops", "admin"]
ROLES: tuple[str, ...] = ("risk_officer", "supervisor", "inspector", "ops", "admin")
APPROVER_ROLES = frozenset({"supervisor", "admin"})

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                          pattern=NAME_PATTERN)]
# What a request may say (control, escape and bidi characters refused, as in the event contract) ...
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000,
                                          pattern=FREE_TEXT_PATTERN)]
NoteText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000,
                                            pattern=FREE_TEXT_PATTERN)]
# ... and what a record read back may hold: records written before the desk refused such characters are
# still read (nothing on the audit topic is lost); every output neutralises them (monitor.desk.safe).
StoredReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
StoredUserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                                pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
TierName = Literal["normal", "watch", "warning", "severe"]


class Action(StrEnum):
    acknowledge = "acknowledge"  # a case: open -> acknowledged
    assign = "assign"  # a case: give it to an officer
    note = "note"  # a case: a note or an action plan
    request_release = "request_release"  # a case: acknowledged -> release_requested
    approve_release = "approve_release"  # a case: release_requested -> released (another officer)
    reject_release = "reject_release"  # a case: release_requested -> acknowledged
    override = "override"  # a floor set, or a clear: its tier_override event is sent with it
    request_override = "request_override"  # a cap: waits for a second officer
    approve_override = "approve_override"  # a cap approved: its tier_override event is sent with it
    reject_override = "reject_override"
    record_visit = "record_visit"  # an inspection_completed event is sent with it
    refused = "refused"  # a request the desk refused (403, four eyes, a conflict): who, what, why; no effect


CASE_ACTIONS = frozenset({Action.acknowledge, Action.assign, Action.note, Action.request_release,
                          Action.approve_release, Action.reject_release})


class AuditRecord(BaseModel):
    """One change made through the desk: who, when, what, why, and the request it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: Id = Field(description="Deterministic: from the user and the request id")
    at: AwareDatetime = Field(description="When the desk accepted the request (wall clock)")
    user: StoredUserId
    role: Role
    action: Action
    borrower_id: Id | None = Field(description="The borrower (the message key); null only for a refusal of a "
                                   "request that named no borrower")
    alert_id: Id | None = Field(None, description="For case actions: the alert that opened the case (the case id)")
    reason: StoredReason
    details: dict[str, Any] = Field(default_factory=dict, description="What the action carries (see the action)")
    request_id: Id

    @model_validator(mode="after")
    def _borrower(self) -> AuditRecord:
        if self.borrower_id is None and self.action != Action.refused:
            raise ValueError("borrower_id: required")
        return self

    @property
    def key(self) -> bytes:
        """The message key: the borrower id (one borrower's records share a partition), or for a refusal
        that named no borrower the user."""
        return (self.borrower_id if self.borrower_id is not None else "user:" + self.user).encode()


class _Details(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AssignDetails(_Details):
    assignee: StoredUserId


class NoteDetails(_Details):
    kind: Literal["note", "action_plan"] = "note"
    text: Text


class ReleaseDetails(_Details):
    through_sequence: int = Field(ge=1, description="The case's last alert the officer saw")


class OverrideDetails(_Details):
    """A floor set or an override cleared (applied at once)."""

    action: Literal["set", "clear"]
    direction: Literal["floor", "cap"]
    tier: TierName | None = None
    until: AwareDatetime | None = None
    event_id: Id


class OverrideRequestDetails(_Details):
    """A cap requested: it waits for a second officer."""

    direction: Literal["cap"] = "cap"
    tier: TierName
    until: AwareDatetime
    computed_tier: TierName | None = Field(None, description="The borrower's computed tier when requested")


class OverrideDecisionDetails(_Details):
    request: Id = Field(description="record_id of the request_override record")
    event_id: Id | None = Field(None, description="The tier_override event sent (approvals)")


class RefusalDetails(_Details):
    """What was refused: the operation (method and route template), the answer given, and the action
    the request asked for when it named one."""

    method: str
    route: str
    status: int = Field(description="The HTTP status answered (403, 404 for a borrower outside the caller's "
                        "teams, 409)")
    attempted: str | None = Field(None, description="The action asked for (acknowledge, approve_release, ...)")
    answered: str = Field(description="What the caller was told")


class VisitDetails(_Details):
    team: Id
    inspector: UserId
    outcome: InspectionOutcome
    notes: Annotated[str, StringConstraints(max_length=4000)] | None = None
    visited_at: AwareDatetime = Field(description="occurred_at of the inspection_completed event")
    event_id: Id


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def record_id_for(user: str, request_id: str) -> str:
    """The audit record id of ``user``'s request ``request_id``."""
    return "a-" + _digest("audit", user, request_id)


def event_id_for(user: str, request_id: str) -> str:
    """The id of the event that ``user``'s request ``request_id`` sends to the engine."""
    return "desk-" + _digest("event", user, request_id)
