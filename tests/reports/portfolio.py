"""A small hand-made portfolio whose report figures are known by hand (see test_figures.py).

Nine borrowers, times in Asia/Shanghai (+08:00); the month reported is March 2025:

    A  raised to watch on 3-10 (5 days past due), visited late on 3-12
    B  severe since 1-31 (60 DPD on 1-1, dishonest debtor on 2-15), exposure raised to 5m on 3-20
    C  watch since 2024-12-01, cured 12-05: cleared on 3-05 when the 90-day cure period ends
    D  warning 2024-12-01..05, watch (inquiries) from 1-10: de-escalated to watch on 3-05
    E  watch from 2-10 (bureau DPD 5), escalated to warning on 3-20 (bureau DPD 35), visited late 3-14
    F  normal, first visit due 3-22 made on 3-12 (sent twice), upgraded AA -> AAA on 3-25
    G  new in March (profile 3-15, disbursed 3-01): first visit due 3-31, not made
    J  raised to warning on 3-10 (40 DPD): due 3-27 pulled forward to 3-24, visited on time 3-20
    H  a bureau report but no loan profile
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.replay import replay, write_outputs
from monitor.rules.loader import load_policy

PROFILES: dict[str, dict[str, Any]] = {
    "A": dict(at="2025-01-01T00:00:00+08:00", segment="small", industry="trade", branch="SH", team="T1",
              exposure=1_000_000, grade="BBB", disbursed="2025-01-01T00:00:00+08:00"),
    "B": dict(at="2025-01-01T00:00:00+08:00", segment="medium", industry="manufacturing", branch="BJ", team="T2",
              exposure=4_000_000, grade="A", disbursed="2025-01-01T00:00:00+08:00"),
    "C": dict(at="2024-11-01T00:00:00+08:00", segment="small", industry="retail", branch="SH", team="T1",
              exposure=2_000_000, grade="BB", disbursed="2024-11-01T00:00:00+08:00"),
    "D": dict(at="2024-11-01T00:00:00+08:00", segment="micro", industry="trade", branch="BJ", team="T2",
              exposure=800_000, grade="BB", disbursed="2024-11-01T00:00:00+08:00"),
    "E": dict(at="2025-01-01T00:00:00+08:00", segment="small", industry="manufacturing", branch="BJ", team="T2",
              exposure=1_500_000, grade="BBB", disbursed="2025-02-05T00:00:00+08:00"),
    "F": dict(at="2025-02-20T00:00:00+08:00", segment="retail", industry="household", branch="SH", team="T1",
              exposure=300_000, grade="AA", disbursed="2025-02-20T00:00:00+08:00"),
    "G": dict(at="2025-03-15T09:00:00+08:00", segment="micro", industry="trade", branch="SH", team="T1",
              exposure=600_000, grade="A", disbursed="2025-03-01T00:00:00+08:00"),
    "J": dict(at="2025-02-20T00:00:00+08:00", segment="small", industry="trade", branch="BJ", team="T2",
              exposure=700_000, grade="BBB", disbursed="2025-02-25T00:00:00+08:00"),
}

# the hand-made portfolio's own policy (see the file): the figures the tests check follow from it
POLICY_PATH = Path(__file__).resolve().parents[1] / "data" / "policy-default-2026.11.toml"
POLICY = load_policy(POLICY_PATH)


def _profile(bid: str, eid: str, **over: Any) -> dict[str, Any]:
    p = {**PROFILES[bid], **over}
    return {"type": "loan_profile", "event_id": eid, "borrower_id": bid, "occurred_at": p["at"],
            "segment": p["segment"], "industry": p["industry"], "branch": p["branch"], "team": p["team"],
            "exposure": p["exposure"], "product": "working_capital", "mitigation": "unsecured", "grade": p["grade"],
            "disbursed_at": p["disbursed"]}


def _overdue(bid: str, eid: str, at: str, dpd: int, account: str) -> dict[str, Any]:
    return {"type": "overdue", "event_id": eid, "borrower_id": bid, "occurred_at": at, "account_id": account,
            "product": "working_capital", "days_past_due": dpd, "overdue_amount": 1000.0 if dpd else 0.0}


def _bureau(bid: str, eid: str, at: str, *, dpd: int = 0, inquiries: int = 0, debt: float = 0.0) -> dict[str, Any]:
    return {"type": "bureau_report", "event_id": eid, "borrower_id": bid, "occurred_at": at,
            "max_external_dpd": dpd, "external_overdue_amount": 1000.0 if dpd else 0.0,
            "hard_inquiries_30d": inquiries, "total_external_debt": debt, "guarantee_exposure": 0.0}


def _visit(bid: str, eid: str, at: str, team: str) -> dict[str, Any]:
    return {"type": "inspection_completed", "event_id": eid, "borrower_id": bid, "occurred_at": at, "team": team,
            "inspector": "insp-1", "outcome": "normal"}


def events() -> list[dict[str, Any] | bytes]:
    """The events in file order (not time order), with two lines the replay rejects."""
    visit_f = _visit("F", "v-F", "2025-03-12T15:00:00+08:00", "T1")
    return [
        *(_profile(b, f"p-{b}") for b in ("A", "B", "C", "D", "E", "F", "G", "J")),
        _overdue("B", "o-B1", "2025-01-01T00:00:00+08:00", 60, "B-1"),
        {"type": "lawsuit", "event_id": "l-B", "borrower_id": "B", "occurred_at": "2025-02-15T10:00:00+08:00",
         "case_id": "(2025)京01执1号", "role": "defendant", "case_type": "civil", "stage": "dishonest_debtor",
         "claim_amount": 0.0},
        _profile("B", "p-B2", at="2025-03-20T10:00:00+08:00", exposure=5_000_000),
        _overdue("C", "o-C1", "2024-12-01T00:00:00+08:00", 10, "C-1"),
        _overdue("C", "o-C2", "2024-12-05T00:00:00+08:00", 0, "C-1"),
        b"{not json",
        _overdue("D", "o-D1", "2024-12-01T00:00:00+08:00", 40, "D-1"),
        _overdue("D", "o-D2", "2024-12-05T00:00:00+08:00", 0, "D-1"),
        _bureau("D", "b-D1", "2025-01-10T00:00:00+08:00", inquiries=8, debt=100.0),
        _visit("D", "v-D", "2025-01-20T10:00:00+08:00", "T2"),
        _bureau("E", "b-E1", "2025-02-10T00:00:00+08:00", dpd=5),
        _bureau("E", "b-E2", "2025-03-20T00:00:00+08:00", dpd=35),
        _visit("E", "v-E", "2025-03-14T10:00:00+08:00", "T2"),
        _overdue("A", "o-A1", "2025-03-10T00:00:00+08:00", 5, "A-1"),
        _visit("A", "v-A", "2025-03-12T10:00:00+08:00", "T1"),
        visit_f,
        visit_f,  # sent twice: one visit, one duplicate
        {"type": "rating_change", "event_id": "r-F", "borrower_id": "F", "occurred_at": "2025-03-25T10:00:00+08:00",
         "old_grade": "AA", "new_grade": "AAA"},
        _overdue("J", "o-J1", "2025-03-10T00:00:00+08:00", 40, "J-1"),
        _visit("J", "v-J", "2025-03-20T10:00:00+08:00", "T2"),
        _bureau("H", "b-H1", "2025-03-03T10:00:00+08:00"),
        b'{"type": "credit_alert", "event_id": "x", "borrower_id": "A", "occurred_at": "2025-03-02T00:00:00Z"}',
        # after March: not in the March report
        _bureau("B", "b-B1", "2025-04-02T10:00:00+08:00"),
        _profile("B", "p-B3", at="2025-04-05T10:00:00+08:00", exposure=9_999_999),
        _bureau("G", "b-G1", "2025-04-10T10:00:00+08:00"),
    ]


def write_events(path: Path, docs: list[dict[str, Any] | bytes]) -> Path:
    with path.open("wb") as fh:
        for d in docs:
            fh.write(d if isinstance(d, bytes) else json.dumps(d, ensure_ascii=False).encode())
            fh.write(b"\n")
    return path


def build(directory: Path, docs: list[dict[str, Any] | bytes] | None = None) -> tuple[Path, Path]:
    """Write the events and run the real replay; returns (events file, replay directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    src = write_events(directory / "events.jsonl", docs if docs is not None else events())
    out = directory / "replay"
    write_outputs(replay([src], POLICY, snapshots=out / "snapshots"), out)
    return src, out
