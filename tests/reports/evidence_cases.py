"""Signals of every rule of the default policy, as the engine writes them (for the evidence tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor._time import parse_instant
from monitor.engine import Engine
from monitor.events import parse_event
from monitor.rules.loader import default_policy

_T0 = "2025-01-01T00:00:00+08:00"


def _profile(bid: str, exposure: float = 1_000_000.0, grade: str = "BBB") -> dict[str, Any]:
    return {"type": "loan_profile", "event_id": f"p-{bid}", "borrower_id": bid, "occurred_at": _T0,
            "segment": "small", "industry": "manufacturing", "branch": "shanghai", "team": "shanghai-1",
            "exposure": exposure, "product": "working_capital", "mitigation": "secured", "grade": grade,
            "disbursed_at": _T0}


def _ev(bid: str, eid: str, at: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": eid, "borrower_id": bid, "occurred_at": at, **fields}


def _bureau(bid: str, eid: str, at: str, **over: Any) -> dict[str, Any]:
    base = dict(max_external_dpd=0, external_overdue_amount=0.0, hard_inquiries_30d=0, total_external_debt=0.0,
                guarantee_exposure=0.0)
    return _ev(bid, eid, at, "bureau_report", **{**base, **over})


def _lawsuit(bid: str, eid: str, at: str, **over: Any) -> dict[str, Any]:
    base = dict(case_id=f"(2025)沪01民初{eid}号", role="defendant", case_type="commercial", stage="filed",
                claim_amount=0.0)
    return _ev(bid, eid, at, "lawsuit", **{**base, **over})


def events() -> list[dict[str, Any]]:
    """Borrowers whose signals together cover every rule (and both overrides)."""
    at = "2025-03-01T10:00:00+08:00"
    later = "2025-04-01T10:00:00+08:00"
    out: list[dict[str, Any]] = []
    grades = {"R2": "A", "G1": "CCC", "G2": "A", "G3": "B"}
    for bid in ("R1", "R2", "R3", "C1", "L1", "L2", "B1", "B2", "B3", "O1", "I1", "I2", "V1", "G1", "G2", "G3"):
        out.append(_profile(bid, grade=grades.get(bid, "BBB")))
    out += [
        _ev("R1", "r1", at, "rating_change", old_grade="BBB", new_grade="BB"),
        _ev("R2", "r2", at, "rating_change", old_grade="A", new_grade="CCC"),
        _ev("R2", "r3", later, "rating_change", old_grade="CCC", new_grade="D"),
        _ev("R3", "r4", at, "rating_change", old_grade="BBB", new_grade="CC"),
        _ev("C1", "r5", at, "rating_change", old_grade="BBB", new_grade="BB"),
        _ev("C1", "o2", at, "overdue", account_id="C1-1", product="term_loan", days_past_due=35,
            overdue_amount=1_200.0),
        _lawsuit("C1", "4", at, claim_amount=60_000.0),  # a third family: the combination needs three
        _lawsuit("L1", "1", at, claim_amount=300_000.0),
        _lawsuit("L1", "2", at, stage="enforcement", claim_amount=60_000.0),
        _lawsuit("L2", "3", at, stage="dishonest_debtor", case_type="criminal"),
        _bureau("B1", "b1", "2025-02-01T00:00:00+08:00", total_external_debt=2_000_000.0),
        _bureau("B1", "b2", at, max_external_dpd=35, external_overdue_amount=12_345.6, hard_inquiries_30d=8,
                total_external_debt=5_000_000.0, guarantee_exposure=2_500_000.0),
        _bureau("B2", "b3", at, max_external_dpd=3, external_overdue_amount=800.0),
        # arrears elsewhere on two reports in a row
        _bureau("B3", "b4", "2025-02-15T00:00:00+08:00", max_external_dpd=5, external_overdue_amount=700.0),
        _bureau("B3", "b5", at, max_external_dpd=19, external_overdue_amount=900.0),
        _ev("O1", "o1", at, "overdue", account_id="O1-1", product="working_capital", days_past_due=90,
            overdue_amount=47_048.75),
        _ev("I1", "i1", at, "inspection_completed", team="shanghai-1", inspector="insp-1", outcome="concern"),
        _ev("I2", "i2", at, "inspection_completed", team="shanghai-1", inspector="insp-1", outcome="deteriorated"),
        # the grade rules: a CCC borrower with a concern (grade_signal), an A borrower's warning (grade_cap),
        # a B borrower's inquiries at its grade's own bar
        _ev("G1", "g1", at, "inspection_completed", team="shanghai-1", inspector="insp-1", outcome="concern"),
        _bureau("G2", "g2", at, max_external_dpd=35, external_overdue_amount=5_000.0),
        _bureau("G3", "g3", at, hard_inquiries_30d=6),
        _ev("V1", "v1", at, "tier_override", action="set", direction="floor", tier="warning",
            until="2025-06-30T00:00:00+08:00", reason="实际控制人失联", requested_by="officer-1"),
        _ev("V1", "v2", at, "tier_override", action="set", direction="cap", tier="watch",
            until="2025-05-31T00:00:00+08:00", reason="已追加抵押", requested_by="officer-1",
            approved_by="officer-2"),
    ]
    return out


def signals_of_every_rule(_tmp: Path | None = None) -> list[dict[str, Any]]:
    """The signals that hold for each borrower a few days after the last event (JSON form)."""
    engine = Engine(default_policy())
    states: dict[str, Any] = {}
    for doc in events():
        event = parse_event(json.dumps(doc))
        state = states.setdefault(event.borrower_id, engine.new_state(event.borrower_id))
        engine.apply(state, event)
    now = parse_instant("2025-04-02T00:00:00+08:00")
    out = []
    for bid in sorted(states):
        engine.advance(states[bid], now)
        out += [s.model_dump(mode="json") for s in engine.signals(states[bid], now)]
    return out
