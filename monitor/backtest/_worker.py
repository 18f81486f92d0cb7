"""One replay of a backtest: a policy over (a part of) the events, reduced to plain data.

``run_task`` is what the worker processes run. It takes and returns only
primitives (strings, integers, floats, lists, dicts), loads the policy file
and reads the event files itself, runs ``monitor.replay.replay`` (the same
engine as ``monitor replay``) and reduces the result to what scoring needs:

- every alert as ``[borrower, at, from_level, to_level, [rules]]`` (levels
  0 normal .. 3 severe; rules: the signals listed at that instant);
- every borrower with a profile as ``[borrower, first_seen, [[team, tier,
  performing_us, visits], ...]]``: ``first_seen`` is the instant its first
  profile was applied (the engine watches it from then on), and per team and
  effective tier the
  performing time (from ``first_seen`` to its default or the as-of instant,
  whichever comes first) and the visits the policy asks for in that time.

Visits are integrated, not simulated: over each stretch of time in which the
effective tier (from the alerts), the grade (from the profile and the rating
changes) and the profile (exposure, mitigation, team) stay the same, the
borrower needs length / ``policy.visits.interval(tier, grade, exposure,
mitigation)`` visits. The grade and profile timelines come from a second,
light pass over the same files that validates only profile and rating lines
and follows the engine's rules (the latest ``occurred_at`` wins; the profile's
grade counts only until the first rating change).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from pydantic import ValidationError

from monitor._time import DAY, to_us
from monitor.events import EVENT_ADAPTER, LoanProfile, RatingChange
from monitor.jsonl import MAX_LINE_BYTES, iter_lines
from monitor.replay import replay
from monitor.rules.loader import load_policy
from monitor.rules.policy import LEVEL_NAMES, Policy

__all__ = ["Task", "integrate_visits", "run_task"]

_LEVEL = {name: i for i, name in enumerate(LEVEL_NAMES)}

# (policy index, part index, policy file, event files, files holding (at least) their profile and rating
#  lines, as-of or None, defaults as (borrower, instant) pairs)
Task = tuple[int, int, str, tuple[str, ...], tuple[str, ...], int | None, tuple[tuple[str, int], ...]]

# a profile in force from an instant: (instant, team, exposure, mitigation, grade)
_Profile = tuple[int, str, float, str, str]


def _timelines(paths: Sequence[str], as_of: int | None
               ) -> tuple[dict[str, list[_Profile]], dict[str, list[tuple[int, str]]]]:
    """Profiles and rating changes per borrower, in application order (time, then file order)."""
    profiles: dict[str, list[tuple[int, int, _Profile]]] = {}
    ratings: dict[str, list[tuple[int, int, str]]] = {}
    if as_of is None:
        return {}, {}
    validate = EVENT_ADAPTER.validate_json
    n = 0
    for path in paths:
        for _number, raw in iter_lines(path):
            if b"loan_profile" not in raw and b"rating_change" not in raw:
                continue
            if len(raw) > MAX_LINE_BYTES:
                continue
            try:
                event = validate(raw)
            except ValidationError:
                continue
            t = to_us(event.occurred_at)
            if t > as_of:
                continue
            n += 1
            if isinstance(event, LoanProfile):
                profiles.setdefault(event.borrower_id, []).append(
                    (t, n, (t, event.team, event.exposure, event.mitigation.value, event.grade.value)))
            elif isinstance(event, RatingChange):
                ratings.setdefault(event.borrower_id, []).append((t, n, event.new_grade.value))
    return ({b: [p for _t, _n, p in sorted(v)] for b, v in profiles.items()},
            {b: [(t, g) for t, _n, g in sorted(v)] for b, v in ratings.items()})


def integrate_visits(policy: Policy, profiles: list[_Profile], ratings: list[tuple[int, str]],
                     tiers: list[tuple[int, int]], start: int, end: int) -> dict[tuple[str, int], list[float]]:
    """Per (team, tier): [performing microseconds, visits] over [start, end); see the module docstring."""
    out: dict[tuple[str, int], list[float]] = {}
    if end <= start:
        return out
    cuts = {start, end}
    cuts.update(t for t, *_ in profiles if start < t < end)
    cuts.update(t for t, _ in ratings if start < t < end)
    cuts.update(t for t, _ in tiers if start < t < end)
    points = sorted(cuts)
    ip = ir = it = 0
    prof = profiles[0]
    grade: str | None = None
    tier = 0
    interval = policy.visits.interval
    for a, b in pairwise(points):
        while ip < len(profiles) and profiles[ip][0] <= a:
            prof = profiles[ip]
            ip += 1
        while ir < len(ratings) and ratings[ir][0] <= a:
            grade = ratings[ir][1]
            ir += 1
        while it < len(tiers) and tiers[it][0] <= a:
            tier = tiers[it][1]
            it += 1
        _t, team, exposure, mitigation, _g = prof
        days = interval(tier, grade if grade is not None else profiles[0][4], exposure, mitigation)
        acc = out.setdefault((team, tier), [0, 0.0])
        acc[0] += b - a
        acc[1] += (b - a) / (days * DAY)
    return out


def run_task(task: Task) -> dict[str, Any]:
    """Replay one policy over one part of the events; see the module docstring."""
    was_enabled = gc.isenabled()
    gc.disable()  # as in the replay: many long-lived objects, no cycles; collecting only rescans them
    try:
        return _run_task(task)
    finally:
        if was_enabled:
            gc.enable()


def _run_task(task: Task) -> dict[str, Any]:
    policy_index, part_index, policy_path, paths, timeline_paths, as_of_arg, defaults = task
    started, cpu_started = time.perf_counter(), time.process_time()
    policy = load_policy(policy_path)
    result = replay(list(paths), policy, as_of_arg)
    replayed, cpu_replayed = time.perf_counter(), time.process_time()
    as_of = result.as_of
    profiles, ratings = _timelines(timeline_paths, as_of)
    default_at = dict(defaults)
    alerts: list[list[Any]] = []
    tiers: dict[str, list[tuple[int, int]]] = {}
    for a in result.alerts:
        at = to_us(a.at)
        to_level = _LEVEL[a.to_tier]
        alerts.append([a.borrower_id, at, _LEVEL[a.from_tier], to_level, [s.rule for s in a.signals]])
        tiers.setdefault(a.borrower_id, []).append((at, to_level))
    borrowers: list[list[Any]] = []
    for bid in sorted(profiles):
        state = result.states.get(bid)
        if state is None or state.profile is None:
            continue  # the engine did not take the profile (a duplicate event id): not monitored
        prof = profiles[bid]
        start = prof[0][0]
        end = as_of if as_of is not None else start
        d = default_at.get(bid)
        if d is not None and d < end:
            end = max(d, start)
        teams = integrate_visits(policy, prof, ratings.get(bid, []), tiers.get(bid, []), start, end)
        borrowers.append([bid, start, [[team, tier, int(v[0]), v[1]] for (team, tier), v in sorted(teams.items())]])
    return {
        "policy": policy_index, "part": part_index, "as_of": as_of,
        "read": result.read, "applied": result.applied, "duplicates": result.duplicates,
        "rejected": result.rejected, "after_as_of": result.after_as_of,
        "alerts": alerts, "borrowers": borrowers,
        "replay_seconds": replayed - started, "seconds": time.perf_counter() - started,
        "replay_cpu_seconds": cpu_replayed - cpu_started, "cpu_seconds": time.process_time() - cpu_started,
    }
