"""``Engine.schedule_entry_json`` (what a replay writes into schedule_history.jsonl) gives the bytes of
``schedule_entry(state).model_dump_json()``: for every entry of a replay and for texts JSON must escape."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.engine import Engine
from monitor.outputs import ScheduleEntry, schedule_entry_json
from monitor.replay import replay
from monitor.rules.loader import load_policy

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "golden-events.jsonl.gz"
GOLDEN_POLICY = DATA / "policy-default-2026.11.toml"


def test_every_entry_of_a_replay_has_the_models_bytes():
    policy = load_policy(GOLDEN_POLICY)
    result = replay([GOLDEN], policy)
    engine = Engine(policy)
    reasons = set()
    assert len(result.states) > 300
    for state in result.states.values():
        entry = engine.schedule_entry(state)
        reasons.add(entry.reason)
        assert engine.schedule_entry_json(state) == entry.model_dump_json()
    assert len(reasons) >= 3  # several kinds of parameters compared, not one


def _fields(**over):
    fields = {"borrower_id": "B1", "next_visit_due": date(2025, 3, 1), "team": "检查一组", "branch": "上海分行",
              "tier": "watch", "reason": "tier_raised",
              "reason_params": {"date": "2025-02-01", "days": 28, "tier": "watch"}, "workout": False,
              "policy_version": "p-1"}
    fields.update(over)
    return fields


@pytest.mark.parametrize("over", [
    {},
    {"team": None, "branch": None, "next_visit_due": None, "reason": "no_profile", "reason_params": {}},
    {"reason": "workout", "workout": True, "reason_params": {"date": None, "after_days": 90}},
    {"team": 'a "quoted" team', "branch": "back\\slash"},
    {"borrower_id": "tab\there\nnewline\x00nul\x1f\x7fdel", "policy_version": "v\u2028"},
    {"reason_params": {"date": "2025-02-01", "days": -3, "tier": "sev\"ere", "basis": "cadence"}},
    {"reason_params": {"share": 0.5}},  # a float: through the model
    {"reason_params": {"flag": True}},  # a bool: through the model (not written as an int)
    {"next_visit_due": date(1, 1, 1)},
])
def test_the_same_bytes_as_the_model(over):
    fields = _fields(**over)
    assert schedule_entry_json(fields) == ScheduleEntry(**fields).model_dump_json()


@given(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=12)), st.one_of(st.none(), st.text(max_size=12)),
       st.one_of(st.none(), st.integers(-10**20, 10**20), st.text(max_size=8)))
def test_any_text_gives_the_same_bytes_as_the_model(bid, team, branch, param):
    fields = _fields(borrower_id=bid, team=team, branch=branch, reason_params={"date": "2025-01-01", "x": param})
    try:
        want = ScheduleEntry(**fields).model_dump_json()
    except Exception as exc:  # noqa: BLE001 - a text the model cannot write (a lone surrogate): the same error
        with pytest.raises(type(exc)):
            schedule_entry_json(fields)
        return
    assert schedule_entry_json(fields) == want
