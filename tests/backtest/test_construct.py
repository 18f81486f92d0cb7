"""The visit events the backtest builds without validation are the ones ``model_construct`` builds (the
contract on pydantic's internals that ``monitor._construct`` relies on)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from monitor._time import from_us
from monitor.backtest._loop import VISIT_PREFIX, VISIT_SOURCE, visit_event
from monitor.engine import content_digest
from monitor.events import EVENT_ADAPTER, InspectionCompleted, InspectionOutcome


def _state(m: BaseModel) -> tuple:
    return (type(m), list(m.__dict__.items()), m.__pydantic_fields_set__, m.__pydantic_extra__,
            m.__pydantic_private__, m.model_dump_json())


@pytest.mark.parametrize("outcome", [o.value for o in InspectionOutcome])
def test_a_visit_is_what_model_construct_makes(outcome):
    at = 1_767_225_600_123_456
    made = visit_event("B 1/é", 7, at, "team-3", outcome)
    want = InspectionCompleted.model_construct(
        event_id=f"{VISIT_PREFIX}B 1/é-7", borrower_id="B 1/é", occurred_at=from_us(at), source=VISIT_SOURCE,
        type="inspection_completed", team="team-3", inspector=VISIT_SOURCE, outcome=InspectionOutcome(outcome),
        notes=None)
    assert _state(made) == _state(want)
    assert made == want and hash(made.event_id) == hash(want.event_id)
    assert content_digest(made, at) == content_digest(want, at)
    assert EVENT_ADAPTER.validate_json(made.model_dump_json()) == want  # and it is a valid event
    with pytest.raises(Exception):  # still frozen
        made.team = "other"  # type: ignore[misc]

