"""``UNSEEN`` for the events whose id no other event shares, the full duplicate memory for the rest: the same
outcomes, alerts and state (but its memory) as the full memory for every event, whatever repeats, conflicts,
window and cap (``duplicate_memory``) do (the replay counts its input's ids to pass it: monitor._replay_keys)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import CONFLICT, DUPLICATE, UNSEEN, Engine
from monitor.rules.loader import default_policy
from monitor.state import dump_state
from tests.factories import at, bureau, inspection, overdue, profile, rating, us
from tests.test_engine_properties import an_event

POLICY = default_policy()
# a memory of 3 ids and a window of 20 days: the cap and the window matter within a 400-day history
SMALL = POLICY.model_copy(update={"duplicate_memory": 3, "duplicate_window_days": 20})


def _compare(policy, events, own: bool) -> list[str]:
    """Feed ``events`` in order to the full memory and to the counting one; assert they decide the same."""
    count = Counter(e.event_id for e in events)
    full, fast = Engine(policy), Engine(policy, own_states=own)
    a, b = full.new_state("B1"), fast.new_state("B1")
    alerts_a: list = []
    alerts_b: list = []
    outcomes = []
    for e in events:
        t = us(e.occurred_at)
        got = full.apply_into(a, e, t, None, alerts_a)
        assert fast.apply_into(b, e, t, UNSEEN if count[e.event_id] == 1 else None, alerts_b) == got, e
        outcomes.append(got)
        assert dump_state(replace(a, seen={})) == dump_state(replace(b, seen={}, unseen=0))
        assert set(b.seen) <= set(a.seen)  # the counting memory keeps repeated ids only
        assert len(b.seen) <= policy.duplicate_memory
    full.advance_into(a, us(at(600)), alerts_a)
    fast.advance_into(b, us(at(600)), alerts_b)
    assert dump_state(replace(a, seen={})) == dump_state(replace(b, seen={}, unseen=0))
    assert [x.model_dump_json() for x in alerts_a] == [x.model_dump_json() for x in alerts_b]
    return outcomes


@st.composite
def with_copies(draw):
    """A history, then copies of some of its events arriving later: exact (the same event), conflicting (another
    event under the same id), within or beyond the window; in time order, or shuffled (late events)."""
    base = [profile(at(0))] + draw(st.lists(an_event(), min_size=1, max_size=30))
    events = sorted(base, key=lambda e: e.occurred_at)
    for _ in range(draw(st.integers(0, 12))):
        original = events[draw(st.integers(0, len(events) - 1))]
        if draw(st.booleans()):
            copy = original  # exact: the same content and instant
        else:
            other = draw(an_event())
            copy = other.model_copy(update={"event_id": original.event_id})
        events.append(copy)
    if draw(st.booleans()):
        events.sort(key=lambda e: e.occurred_at)
    else:
        random.Random(draw(st.integers(0, 2**32))).shuffle(events)
    return events


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(with_copies(), st.booleans(), st.booleans())
def test_unseen_for_unique_ids_decides_as_the_full_memory(events, small, own):
    _compare(SMALL if small else POLICY, events, own)


def test_an_original_the_full_memory_pushed_out_is_not_recognised():
    """More than ``duplicate_memory`` other ids within the window after the original: the full memory has
    forgotten it, so its copy is applied again, although the counting memory kept only the repeated ids."""
    memory = POLICY.duplicate_memory
    original = bureau(at(1), dpd=40, eid="dup")
    filler = [inspection(at(1, seconds=i + 1)) for i in range(memory)]  # unique ids, all within the window
    events = [profile(at(0)), original, *filler, original]
    assert _compare(POLICY, events, True)[-1] == "applied"
    # one id fewer after it: still remembered, an exact copy
    events = [profile(at(0)), original, *filler[1:], original]
    assert _compare(POLICY, events, True)[-1] == DUPLICATE
    # and a copy with other content is refused
    events = [profile(at(0)), original, *filler[1:], bureau(at(1), dpd=5, eid="dup")]
    assert _compare(POLICY, events, True)[-1] == CONFLICT


def test_repeated_ids_push_each_other_out_as_in_the_full_memory():
    """Repeated and unique ids interleaved, well over the cap within one window, each copy checked."""
    rng = random.Random(7)
    events = [profile(at(0))]
    originals = []
    for i in range(900):
        when = at(1 + i / 100)
        kind = rng.random()
        e = (overdue(when, rng.choice([0, 5, 40]), rng.choice(["A1", "A2"])) if kind < 0.3 else
             rating(when, "BBB", rng.choice(["BBB", "BB", "B"])) if kind < 0.4 else
             bureau(when, dpd=rng.choice([0, 10])) if kind < 0.7 else inspection(when))
        events.append(e)
        if rng.random() < 0.2:
            originals.append(e)
        if originals and rng.random() < 0.15:
            events.append(rng.choice(originals))  # an exact copy, maybe long pushed out
    outcomes = _compare(POLICY, events, True)
    assert {DUPLICATE, "applied"} <= set(outcomes)
    # some copies were recognised and some had been pushed out of the memory (applied again)
    count = Counter(e.event_id for e in events)
    again = [o for e, o in zip(events, outcomes) if count[e.event_id] > 1 and o == "applied"]
    assert len(again) > len(set(e.event_id for e in events if count[e.event_id] > 1))
