"""Hand-made event histories, outcomes and policy variants for the backtest tests."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.rules.loader import DEFAULT_POLICY_PATH

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# The policy the histories are written for (the shipped default of 2026.12, kept fixed).
SCORING_POLICY = Path(__file__).with_name("policy.toml")


def day(n: float) -> str:
    return (T0 + timedelta(days=n)).isoformat().replace("+00:00", "Z")


class History:
    """Collects events (as JSON objects) and outcomes, and writes them as files."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []
        self._n = 0

    def _add(self, kind: str, bid: str, when: float, **fields: Any) -> History:
        self._n += 1
        self.events.append({"event_id": f"e{self._n}", "type": kind, "borrower_id": bid,
                            "occurred_at": day(when), **fields})
        return self

    def profile(self, bid: str, when: float = 0, *, team: str = "T1", grade: str = "BBB",
                mitigation: str = "guaranteed", exposure: float = 1_000_000.0,
                disbursed: float | None = None) -> History:
        return self._add("loan_profile", bid, when, segment="small", industry="trade", branch="SH",
                         team=team, exposure=exposure, product="working_capital", mitigation=mitigation,
                         grade=grade, disbursed_at=day(when if disbursed is None else disbursed))

    def inspection(self, bid: str, when: float, outcome: str, team: str = "T1") -> History:
        return self._add("inspection_completed", bid, when, team=team, inspector="I1", outcome=outcome)

    def rating(self, bid: str, when: float, old: str, new: str) -> History:
        return self._add("rating_change", bid, when, old_grade=old, new_grade=new)

    def enforcement(self, bid: str, when: float, case: str = "C1") -> History:
        """A lawsuit at the enforcement stage: lawsuit.enforcement (warning) for 365 days."""
        return self._add("lawsuit", bid, when, case_id=case, role="defendant", case_type="civil",
                         stage="enforcement", claim_amount=0.0)

    def overdue(self, bid: str, when: float, dpd: int, account: str = "A1") -> History:
        return self._add("overdue", bid, when, account_id=account, product="working_capital",
                         days_past_due=dpd, overdue_amount=1000.0 if dpd else 0.0)

    def default(self, bid: str, when: float, reason: str = "dpd90") -> History:
        self.outcomes.append({"borrower_id": bid, "defaulted_at": day(when), "reason": reason})
        return self

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        events = directory / "events.jsonl"
        outcomes = directory / "events.outcomes.jsonl"
        ordered = sorted(self.events, key=lambda e: e["occurred_at"])
        events.write_text("".join(json.dumps(e) + "\n" for e in ordered), encoding="utf-8")
        rows = sorted(self.outcomes, key=lambda o: o["borrower_id"])
        outcomes.write_text("".join(json.dumps(o) + "\n" for o in rows), encoding="utf-8")
        return events, outcomes


def policy_variant(directory: Path, name: str, replacements: dict[str, str],
                   base: Path = DEFAULT_POLICY_PATH) -> Path:
    """A copy of a policy (the shipped one unless ``base``) with text replaced (each must occur) and its own
    version."""
    text = base.read_text(encoding="utf-8")
    text = re.sub(r'^version = ".*"$', f'version = "{name}"', text, count=1, flags=re.MULTILINE)
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"{old!r} not in {base.name}")
        text = text.replace(old, new)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


LOWER_DPD = {'{ min = 30, level = "warning" },': '{ min = 15, level = "warning" },'}
