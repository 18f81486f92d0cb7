"""Builders for events and a small driver around the engine, for tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor._time import to_us
from monitor.engine import Engine
from monitor.events import EVENT_ADAPTER, Event
from monitor.outputs import Alert, BorrowerView
from monitor.rules.loader import load_policy
from monitor.rules.policy import Policy
from monitor.state import BorrowerState

# The engine's tests run on a policy file of their own (the shipped defaults of issue 11's visit model,
# frozen), so that tuning the shipped defaults changes the figures of no test of the engine's semantics.
ENGINE_POLICY_PATH = Path(__file__).with_name("engine_policy.toml")
ENGINE_POLICY = load_policy(ENGINE_POLICY_PATH)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
_ids = itertools.count(1)


def at(days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, seconds=seconds)


def _event(kind: str, bid: str, when: datetime, eid: str | None, **fields: Any) -> Event:
    doc = {"type": kind, "event_id": eid or f"e{next(_ids)}", "borrower_id": bid,
           "occurred_at": when.isoformat(), **fields}
    return EVENT_ADAPTER.validate_python(doc)


def profile(when: datetime = T0, bid: str = "B1", eid: str | None = None, **kw: Any) -> Event:
    fields: dict[str, Any] = {"segment": "small", "industry": "trade", "branch": "SH01", "team": "T1",
                              "exposure": 1_000_000.0, "product": "working_capital",
                              "mitigation": "unsecured", "grade": "BBB", "disbursed_at": when.isoformat()}
    fields.update(kw)
    return _event("loan_profile", bid, when, eid, **fields)


def rating(when: datetime, old: str, new: str, bid: str = "B1", eid: str | None = None) -> Event:
    return _event("rating_change", bid, when, eid, old_grade=old, new_grade=new)


def lawsuit(when: datetime, case_id: str = "C1", *, stage: str = "filed", claim: float = 0.0,
            role: str = "defendant", case_type: str = "civil", bid: str = "B1", eid: str | None = None) -> Event:
    return _event("lawsuit", bid, when, eid, case_id=case_id, role=role, case_type=case_type, stage=stage,
                  claim_amount=claim)


def bureau(when: datetime, *, dpd: int = 0, inquiries: int = 0, debt: float = 0.0, guarantees: float = 0.0,
           overdue_amount: float = 0.0, bid: str = "B1", eid: str | None = None) -> Event:
    return _event("bureau_report", bid, when, eid, max_external_dpd=dpd, external_overdue_amount=overdue_amount,
                  hard_inquiries_30d=inquiries, total_external_debt=debt, guarantee_exposure=guarantees)


def overdue(when: datetime, dpd: int, account: str = "A1", *, amount: float = 1000.0, bid: str = "B1",
            eid: str | None = None) -> Event:
    return _event("overdue", bid, when, eid, account_id=account, product="working_capital",
                  days_past_due=dpd, overdue_amount=amount)


def inspection(when: datetime, outcome: str = "normal", bid: str = "B1", eid: str | None = None) -> Event:
    return _event("inspection_completed", bid, when, eid, team="T1", inspector="insp-01", outcome=outcome)


def override(when: datetime, action: str = "set", direction: str = "floor", tier: str | None = "warning", *,
             until: datetime | None = None, days: float = 30, reason: str = "management change",
             requested_by: str = "officer-1", approved_by: str | None = None, bid: str = "B1",
             eid: str | None = None) -> Event:
    """A tier_override event; ``set`` defaults to ``until`` = ``when`` + ``days``."""
    fields: dict[str, Any] = {"action": action, "direction": direction, "reason": reason,
                              "requested_by": requested_by}
    if action == "set":
        fields["tier"] = tier
        fields["until"] = (until or when + timedelta(days=days)).isoformat()
    if approved_by is not None:
        fields["approved_by"] = approved_by
    return _event("tier_override", bid, when, eid, **fields)


class Run:
    """Feed one borrower's events to the engine and look at the result."""

    def __init__(self, policy: Policy | None = None, bid: str = "B1") -> None:
        self.engine = Engine(policy or ENGINE_POLICY)
        self.state: BorrowerState = self.engine.new_state(bid)
        self.alerts: list[Alert] = []
        self.outcomes: list[str] = []

    def feed(self, *events: Event) -> Run:
        for e in events:
            step = self.engine.apply(self.state, e)
            self.state = step.state
            self.alerts.extend(step.alerts)
            self.outcomes.append(step.outcome)
        return self

    def until(self, when: datetime) -> Run:
        step = self.engine.advance(self.state, when)
        self.state = step.state
        self.alerts.extend(step.alerts)
        return self

    def view(self, when: datetime) -> BorrowerView:
        self.until(when)
        return self.engine.view(self.state, when)

    def rules(self, when: datetime) -> list[str]:
        return self.view(when).active_rules

    def tier(self, when: datetime) -> str | None:
        return self.view(when).tier

    def changes(self) -> list[tuple[str, str, datetime]]:
        return [(a.kind.value, a.to_tier, a.at) for a in self.alerts]


def run(events: Iterable[Event], policy: Policy | None = None) -> Run:
    events = list(events)
    r = Run(policy, events[0].borrower_id if events else "B1")
    return r.feed(*events)


def us(when: datetime) -> int:
    return to_us(when)


def messy_simulation(path: Path, borrowers: int, months: int, seed: int, *, duplicates: float, malformed: float,
                     moved: int, shuffle_seed: int) -> Path:
    """``monitor simulate`` written to ``path`` with re-sent copies and bad lines, then one line in ``moved``
    moved somewhere else in the file (out of order): the messy input the one-derivation tests replay."""
    import random

    from monitor.simulate import simulate, write_simulation

    write_simulation(simulate(borrowers, months, seed, duplicates=duplicates, malformed=malformed), path)
    lines = path.read_bytes().splitlines()
    rng = random.Random(shuffle_seed)
    for _ in range(len(lines) // moved):
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines.insert(j, lines.pop(i))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path
