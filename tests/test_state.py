"""The state's JSON form: short keys written, long keys (states written before them) still read."""

from __future__ import annotations

import dataclasses
import json

import pytest

from monitor.agents.table import summarize
from monitor.state import (
    _SHORT,
    _UNSTORED,
    AccountFact,
    BorrowerState,
    BureauFact,
    CaseFact,
    InspectionFact,
    OverrideFact,
    PreviousReport,
    ProfileFact,
    RatingMove,
    dump_state,
    load_state,
    long_form,
)

CLASSES = (ProfileFact, RatingMove, CaseFact, BureauFact, PreviousReport, AccountFact, InspectionFact, OverrideFact,
           BorrowerState)


def _full() -> BorrowerState:
    """A state with every fact set (values away from the defaults, so that nothing is omitted)."""
    return BorrowerState(
        id="B1", clock=10, profile=ProfileFact(1, "p1", "SH", "T1", 1_000_000.5, "secured", 0, "small", "trade", "loan"),
        grade="BB", grade_at=2, grade_eid="r1", grades=[(1, "A")],
        moves=[RatingMove(2, "r1", "A", "BB", "A", "A", dg1=True, dg2=True)],
        cases={"c1": CaseFact(3, "l1", 3, 3, "defendant", "contract", "filed", 5.5, "court", ["l1"])},
        accounts={"a1": AccountFact(4, "o1", 30, 9.5, "loan")},
        bureau=BureauFact(5, "b2", 10, 1.5, 3, 100.0, 2.0), bureau_prev=PreviousReport(4, "b1", 90.0, 7, 2),
        inspection=InspectionFact(6, "i1", "normal", "T1", "insp-1"),
        floor=OverrideFact(7, "f1", "u1", 2, 99, 120, "why", "u2"), cap=OverrideFact(7, "f2", "u1", 1),
        computed=2, tiers=[(20, 2)], tier=2, tier_since=2, due=30, due_why="inspection", due_at=6, due_tier=2,
        wake=20, seen={"p1": (1, 2**32 + 5), "old": 1, "n1": (2, 2**32 + 6, 1), "n2": (3, None, 2)}, alerts=3, held=1,
        unseen=2)


def test_every_field_has_its_own_short_key():
    for cls in CLASSES:
        short = _SHORT[cls.__name__]
        assert set(short) == {f.name for f in dataclasses.fields(cls)} - _UNSTORED, cls
        assert len(set(short.values())) == len(short), cls


def test_the_schedule_key_kept_for_schedule_moved_is_never_written_nor_read():
    state = _full()
    raw = dump_state(state)
    state.schedule_was = (1, 2, None, "inspection", 3, 0)
    assert dump_state(state) == raw and long_form(state) == long_form(_full())
    assert load_state(raw).schedule_was is None and load_state(raw) == state
    refused = json.loads(raw) | {"schedule_was": [1, 2]}
    with pytest.raises(ValueError, match="schedule_was"):  # a stored schedule_was is never read
        load_state(json.dumps(refused))


def test_states_are_written_under_short_keys_and_read_back_the_same():
    state = _full()
    raw = dump_state(state)
    doc = json.loads(raw)
    assert set(doc) == {v for k, v in _SHORT["BorrowerState"].items() if k != "v"}
    assert set(doc["p"]) == set(_SHORT["ProfileFact"].values())
    assert load_state(raw) == state
    assert len(raw) < len(json.dumps(long_form(state), separators=(",", ":")))


def test_states_written_with_the_long_keys_still_load():
    state = _full()
    old = json.dumps(long_form(state))
    assert '"profile"' in old and '"seen"' in old
    assert load_state(old) == state
    assert dump_state(load_state(old)) == dump_state(state)


def test_a_previous_report_written_before_its_dpd_and_inquiries_were_kept_loads_with_zeros():
    doc = json.loads(dump_state(_full()))
    assert doc["bp"] == {"a": 4, "e": "b1", "db": 90.0, "dp": 7, "iq": 2}
    del doc["bp"]["dp"], doc["bp"]["iq"]
    assert load_state(json.dumps(doc)).bureau_prev == PreviousReport(4, "b1", 90.0, 0, 0)


def test_unknown_keys_are_still_refused():
    doc = json.loads(dump_state(_full()))
    doc["zz"] = 1
    with pytest.raises(ValueError, match="zz"):  # an unknown key is never accepted
        load_state(json.dumps(doc))


def test_the_worker_summary_reads_both_forms():
    state = _full()
    want = (20, 2, 1_000_000.5)
    assert summarize(dump_state(state)) == want
    assert summarize(json.dumps(long_form(state)).encode()) == want
    bare = BorrowerState(id="B2")
    assert summarize(dump_state(bare)) == summarize(json.dumps(long_form(bare)).encode()) == (None, 0, None)
