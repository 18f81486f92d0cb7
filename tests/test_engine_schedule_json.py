"""``Engine.schedule_entry_json`` (what a replay writes into schedule_history.jsonl) gives the bytes of
``schedule_entry(state).model_dump_json()``: for every entry of a replay and for texts JSON must escape."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.engine import Engine
from monitor.outputs import ScheduleEntry, schedule_entry_json
from monitor.replay import replay
from monitor.rules.loader import default_policy, load_policy
from monitor.state import BorrowerState, ProfileFact

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


_DEFAULT = default_policy()
# the shipped zone (no DST), a half-hour offset (an hour can span two dates) and a zone with DST
_POLICIES = [_DEFAULT] + [type(_DEFAULT).model_validate({**_DEFAULT.model_dump(), "timezone": z})
                          for z in ("Asia/Kolkata", "America/New_York")]
_INSTANTS = st.integers(-2_208_988_800_000_000, 7_258_118_400_000_000)  # the years 1900-2199
_WHY = st.sampled_from([None, "first_visit", "inspection", "cadence", "tier_raised", "workout", "workout_ended"])


@given(st.sampled_from(range(len(_POLICIES))), st.one_of(st.sampled_from(["B000001", "B-2"]), st.text(max_size=6)),
       st.one_of(st.none(), st.tuples(st.one_of(st.just("上海分行"), st.text(max_size=4)),
                                      st.one_of(st.just("检查一组"), st.text(max_size=4)), _INSTANTS)),
       st.one_of(st.none(), _INSTANTS), _WHY, st.one_of(st.none(), _INSTANTS), st.integers(0, 3), st.integers(0, 3))
def test_the_entry_written_from_any_state_has_the_models_bytes(pi, bid, profile, due, why, due_at, due_tier, tier):
    """``Engine.schedule_entry_json`` (written at once from the state, or through the model for texts JSON must
    escape) against the model's own JSON, for any reason, instant and zone."""
    engine = Engine(_POLICIES[pi])
    state = BorrowerState(id=bid, due=due, due_why=why, due_at=due_at, due_tier=due_tier, tier=tier)
    if profile is not None:
        branch, team, disbursed = profile
        state.profile = ProfileFact(0, "e1", branch, team, 1e6, "secured", disbursed)
    try:
        want = engine.schedule_entry(state).model_dump_json()
    except Exception as exc:  # noqa: BLE001 - a text the model cannot write (a lone surrogate): the same error
        with pytest.raises(type(exc)):
            engine.schedule_entry_json(state)
        return
    assert engine.schedule_entry_json(state) == want
    assert engine.schedule_entry_json(state) == want  # again, from the kept dates and texts
    assert engine.schedule_entry_json(state, 'k\t{"at":"x",') == 'k\t{"at":"x",' + want[1:]  # a record around it


def test_an_unknown_reason_is_refused_as_before():
    state = BorrowerState(id="B1", due=0, due_why="bogus", due_at=0)
    state.profile = ProfileFact(0, "e1", "b", "t", 1e6, "secured", 0)
    with pytest.raises(ValueError, match="unknown due-date reason 'bogus'"):
        Engine(_DEFAULT).schedule_entry_json(state)


@pytest.mark.parametrize("minutes", [(10, 50), (50, 10)])
def test_an_hour_that_spans_two_local_dates_gives_each_instant_its_own(minutes):
    """In +05:30 the UTC hour 18:00-19:00 is 23:30-00:30 local: its instants fall on two dates (not kept by hour)."""
    engine = Engine(_POLICIES[1])
    base = 1_735_754_400_000_000  # 2025-01-01T18:00:00Z
    state = BorrowerState(id="B1", due_why="tier_raised", due_at=base - 86_400_000_000, due_tier=1, tier=1)
    state.profile = ProfileFact(0, "e1", "b", "t", 1e6, "secured", 0)
    dues = []
    for m in minutes:
        state.due = base + m * 60_000_000
        got = engine.schedule_entry_json(state)
        assert got == engine.schedule_entry(state).model_dump_json()
        dues.append(json.loads(got)["next_visit_due"])
    assert sorted(dues) == ["2025-01-01", "2025-01-02"]
