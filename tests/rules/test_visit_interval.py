"""The interval after a visit: the policy's normal interval (by grade, exposure and mitigation) or the tier's
cadence, whatever borrowers the engine has seen before (it keeps the intervals it has worked out)."""

from __future__ import annotations

import itertools
import random

from monitor._time import DAY
from monitor.events import Mitigation
from monitor.rules.loader import default_policy
from monitor.rules.visits import VisitSchedule
from monitor.state import BorrowerState, ProfileFact

POLICY = default_policy()
GRADES = [None, "AAA", "A", "BBB", "B", "CCC", "D"]
LARGE = POLICY.visits.large_exposure
EXPOSURES = [0.0, 1.0, LARGE - 0.01, LARGE, LARGE * 3]


def test_each_visit_is_followed_by_the_interval_of_its_own_borrower():
    cases = list(itertools.product(GRADES, EXPOSURES, [m.value for m in Mitigation], range(4)))
    random.Random(7).shuffle(cases)
    schedule = VisitSchedule(POLICY)  # one schedule for all: what it keeps must not mix borrowers up
    v = POLICY.visits
    seen = set()
    for grade, exposure, mitigation, tier in cases:
        s = BorrowerState(id="B1", grade=grade, tier=tier,
                          profile=ProfileFact(0, "p", "SH01", "T1", exposure, mitigation, 0))
        schedule.visited(s, 10 * DAY)
        days = v.normal_interval(grade, exposure, mitigation)
        cadence = v.cadence(tier)
        expected = days if cadence is None or cadence >= days else cadence
        assert s.due == 10 * DAY + expected * DAY, (grade, exposure, mitigation, tier)
        assert s.due_why == ("cadence" if expected != days else "inspection")
        assert (s.due_at, s.due_tier) == (10 * DAY, tier)
        seen.add(days)
    assert len(seen) > 3  # the intervals differ between the borrowers (the check can tell them apart)
