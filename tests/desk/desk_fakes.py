"""Builders for the desk's unit tests: records as the topics carry them, a loopback desk, tokens.

The loopback desk (unit tests only) folds what the API sends straight back into
the view, as the Kafka consumer would read it; the integration tests use the
real broker.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from monitor.desk.auth import Authenticator, UserEntry, UsersFile, hash_token
from monitor.desk.records import Action, AuditRecord, record_id_for
from monitor.desk.service import Desk, Event, SendError
from monitor.desk.view import ALERTS, AUDIT, BORROWERS, SCHEDULE, DeskView
from monitor.engine import Engine
from monitor.outputs import Alert, ScheduleEntry, Signal
from tests import factories as f

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TIERS = ("normal", "watch", "warning", "severe")


def alert(bid: str, seq: int, kind: str, to_tier: str, *, from_tier: str | None = None, day: float = 0,
          team: str | None = "T1", branch: str | None = "BR1", computed: str | None = None) -> bytes:
    """An alert's JSON as the worker publishes it (``alert_id`` = ``{bid}-{seq}``)."""
    if from_tier is None:
        from_tier = {"raised": "normal", "escalated": "watch", "de_escalated": "severe", "cleared": "warning"}[kind]
    sig = Signal(rule="overdue.dpd", family="overdue", level="warning", since=T0, values={"dpd": 45},
                 thresholds={"dpd": 30}, event_ids=[f"e-{bid}-{seq}"])
    a = Alert(alert_id=f"{bid}-{seq}", borrower_id=bid, kind=kind, from_tier=from_tier, to_tier=to_tier,  # type: ignore[arg-type]
              computed_tier=computed or to_tier, at=T0 + timedelta(days=day, seconds=seq), signals=[sig],  # type: ignore[arg-type]
              policy_version="test-1", next_visit_due=(T0 + timedelta(days=day + 14)).date(), team=team,
              branch=branch, sequence=seq)
    return a.model_dump_json().encode()


def schedule(bid: str, due: date | None, *, team: str | None = "T1", tier: str = "warning") -> bytes:
    return ScheduleEntry(borrower_id=bid, next_visit_due=due, team=team, branch="BR1", tier=tier,  # type: ignore[arg-type]
                         reason="tier_raised", reason_params={"raised": "2026-03-01", "days": 10, "tier": tier},
                         policy_version="test-1").model_dump_json().encode()


def record(user: str, role: str, action: Action, bid: str, request: str, *, case: str | None = None,
           reason: str = "because", details: dict[str, Any] | None = None, minute: int = 0) -> bytes:
    r = AuditRecord(record_id=record_id_for(user, request), at=T0 + timedelta(minutes=minute), user=user,
                    role=role, action=action, borrower_id=bid, alert_id=case, reason=reason,  # type: ignore[arg-type]
                    details=details or {}, request_id=request)
    return r.model_dump_json().encode()


def audit_item(raw: bytes) -> tuple[str, bytes, bytes]:
    doc = AuditRecord.model_validate_json(raw)
    return (AUDIT, doc.key, raw)


def portfolio(n: int = 6) -> list[tuple[str, bytes | None, bytes | None]]:
    """A few borrowers driven through the real engine: their alerts, schedule entries and details.

    Borrowers B0..B{n-1}, teams T1 (even) and T2 (odd); B0 and B1 go overdue 45 days (warning under the
    engine tests' policy, which keeps these fixtures' meaning when the shipped default is retuned)."""
    engine = Engine(f.ENGINE_POLICY)
    items: list[tuple[str, bytes | None, bytes | None]] = []
    for i in range(n):
        bid = f"B{i}"
        state = engine.new_state(bid)
        events = [f.profile(T0, bid=bid, team="T1" if i % 2 == 0 else "T2", branch=f"BR{i % 3}",
                            exposure=1_000_000.0 * (i + 1))]
        if i < 2:
            events.append(f.overdue(T0 + timedelta(days=1), 45, bid=bid))
        for ev in events:
            step = engine.apply(state, ev)
            for a in step.alerts:
                items.append((ALERTS, bid.encode(), a.model_dump_json().encode()))
        items.append((SCHEDULE, bid.encode(), engine.schedule_entry(state).model_dump_json().encode()))
        items.append((BORROWERS, bid.encode(), engine.detail(state).model_dump_json().encode()))
    return items


class LoopbackDesk(Desk):
    """Unit tests only: a record sent is read back at once (``loop_back=False``: never, to test the 202)."""

    def __init__(self, loop_back: bool = True, view: DeskView | None = None) -> None:
        super().__init__(view)
        self.loop_back = loop_back
        self.fail = False
        self.records: list[AuditRecord] = []
        self.events: list[Event] = []

    async def send(self, record: AuditRecord | None, events: list[Event]) -> None:
        if self.fail:
            raise SendError("the broker is down (test)")
        if record is not None:
            self.records.append(record)
            if self.loop_back:
                self.ingest([(AUDIT, record.key, record.model_dump_json().encode())])
        self.events.extend(events)


USERS = {
    "risk": ("rita", "risk_officer", ()),
    "risk2": ("ralf", "risk_officer", ()),
    "super": ("sam", "supervisor", ()),
    "super2": ("sue", "supervisor", ()),
    "insp1": ("ivan", "inspector", ("T1",)),
    "insp2": ("iris", "inspector", ("T2",)),
    "ops": ("otto", "ops", ()),
    "admin": ("ada", "admin", ()),
}


def token(name: str) -> str:
    return f"tok-{name}-0123456789abcdef"


def authenticator() -> Authenticator:
    entries = [UserEntry(user=u, role=r, teams=t, token_sha256=hash_token(token(k)))  # type: ignore[arg-type]
               for k, (u, r, t) in USERS.items()]
    return Authenticator(UsersFile(users=entries))


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name)}"}
