"""Output lines the engine writes without building their pydantic model: the same text as the model's JSON."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from monitor.engine import Engine
from monitor.events import EVENT_ADAPTER
from monitor.outputs import ScheduleEntry, schedule_json
from monitor.rules.loader import default_policy
from monitor.simulate import iter_lines, simulate


def _entry(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"borrower_id": "B1", "next_visit_due": date(2025, 3, 1), "team": "T1",
                               "branch": "BJ", "tier": "watch", "reason": "inspected",
                               "reason_params": {"date": "2025-01-01", "days": 59, "tier": "watch",
                                                 "basis": "interval"},
                               "workout": False, "policy_version": "p-1"}
    return {**base, **kw}


@pytest.mark.parametrize("change", [
    {},
    {"next_visit_due": None, "team": None, "branch": None, "reason": "no_profile", "reason_params": {}},
    {"team": '检查"一组\\', "branch": "上海分行\u2028", "borrower_id": "B\x7f1"},
    {"team": "tab\there", "branch": "nul\x00", "policy_version": "v\u202e1"},
    {"reason": "workout", "workout": True, "reason_params": {"date": None, "after_days": 90}},
    {"reason_params": {"flag": True, "ratio": 0.1, "big": 10**30, "list": [1, "a"], "nested": {"k": None}}},
    {"next_visit_due": date(1900, 1, 2), "tier": "severe"},
])
def test_schedule_json_is_the_models_json(change: dict[str, object]) -> None:
    values = _entry(**change)
    assert schedule_json(**values) == ScheduleEntry(**values).model_dump_json()  # type: ignore[arg-type]


@pytest.mark.parametrize("change", [{"tier": "unknown"}, {"reason": "because"}])
def test_schedule_json_refuses_what_the_model_refuses(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        schedule_json(**_entry(**change))  # type: ignore[arg-type]


def test_every_schedule_entry_of_a_simulated_year_is_written_as_the_model_writes_it() -> None:
    engine = Engine(default_policy())
    lines = list(iter_lines(simulate(120, 12, 5, duplicates=0.02)))
    events = sorted((EVENT_ADAPTER.validate_json(line) for line in lines), key=lambda e: e.occurred_at)
    states: dict[str, object] = {}
    checked = 0
    reasons = set()
    for event in events:
        state = states.get(event.borrower_id) or engine.new_state(event.borrower_id)
        step = engine.apply(state, event)  # type: ignore[arg-type]
        states[event.borrower_id] = step.state
        entry = engine.schedule_entry(step.state)
        assert engine.schedule_json(step.state) == entry.model_dump_json()
        checked += 1
        reasons.add(entry.reason)
    assert checked == len(events) > 1000
    assert {"first_visit", "inspected", "tier_raised"} <= reasons
