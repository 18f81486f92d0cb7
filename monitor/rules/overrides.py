"""Officers' tier overrides: a floor or an (approved) cap on the effective tier, until an instant.

Pure functions over the borrower state, used by the engine:

* ``merge`` folds a ``tier_override`` event into the state (per direction, the latest
  ``occurred_at`` wins; a ``set`` replaces the earlier override of its direction, a
  ``clear`` removes it). The policy shortens an ``until`` further away than
  ``overrides.floor_max_days`` / ``cap_max_days`` after the event.
* ``bound`` applies the active overrides to the tier the rules and the cure period give:
  ``max(min(tier, cap), floor)``: when a floor and a cap disagree the floor wins (the
  safer choice for a lender). It also gives the next expiry, so the engine wakes the
  borrower at that exact instant.
* ``signals`` gives the active overrides as evidence (rule ``override.floor`` /
  ``override.cap``, family ``override``).

An override holds while ``occurred_at <= now < until``.
"""

from __future__ import annotations

from monitor._time import DAY, iso, to_us
from monitor.events import TierOverride
from monitor.rules.evaluate import Sig
from monitor.rules.policy import LEVEL_NAMES, Level, Policy
from monitor.state import BorrowerState, OverrideFact

__all__ = ["active", "bound", "merge", "prune", "signals"]


def active(fact: OverrideFact | None, now: int) -> bool:
    """True while the override holds at ``now``."""
    return _bounds(fact, now) is not None


def _bounds(fact: OverrideFact | None, now: int) -> tuple[int, int] | None:
    """(tier, until) of an override that holds at ``now``, else None."""
    if fact is None or fact.tier is None or fact.until is None or not fact.at <= now < fact.until:
        return None
    return fact.tier, fact.until


def merge(policy: Policy, s: BorrowerState, e: TierOverride, t: int) -> None:
    """Fold the event into the state (the latest ``occurred_at`` of its direction wins)."""
    direction = e.direction.value
    old = s.floor if direction == "floor" else s.cap
    if old is not None and t < old.at:
        return  # superseded by a later set or clear already known
    if e.action.value == "set" and e.tier is not None and e.until is not None:
        asked = to_us(e.until)
        until = min(asked, t + policy.overrides.max_days(direction) * DAY)
        fact = OverrideFact(at=t, eid=e.event_id, by=e.requested_by, tier=int(Level[e.tier]), until=until,
                            asked=asked if asked != until else None, reason=e.reason, approver=e.approved_by)
    else:
        fact = OverrideFact(at=t, eid=e.event_id, by=e.requested_by, approver=e.approved_by)
    if direction == "floor":
        s.floor = fact
    else:
        s.cap = fact


def bound(s: BorrowerState, tier: int, now: int, wake: int | None) -> tuple[int, int | None]:
    """The tier after the overrides active at ``now``, and ``wake`` moved to their next expiry."""
    cap = _bounds(s.cap, now)
    if cap is not None:
        tier = min(tier, cap[0])
        wake = cap[1] if wake is None or cap[1] < wake else wake
    floor = _bounds(s.floor, now)
    if floor is not None:  # after the cap: the floor wins
        tier = max(tier, floor[0])
        wake = floor[1] if wake is None or floor[1] < wake else wake
    return tier, wake


def signals(s: BorrowerState, now: int) -> list[Sig]:
    """The overrides active at ``now`` as evidence."""
    out: list[Sig] = []
    for direction, fact in (("floor", s.floor), ("cap", s.cap)):
        held = _bounds(fact, now)
        if fact is None or held is None:
            continue
        values: dict[str, object] = {
            "tier": LEVEL_NAMES[held[0]],
            "until": iso(held[1]),
            "reason": fact.reason,
            "requested_by": fact.by,
            "approved_by": fact.approver,
        }
        if fact.asked is not None:
            values["requested_until"] = iso(fact.asked)
        out.append(Sig(f"override.{direction}", "override", held[0], fact.at, (fact.eid,), values, {}))
    return out


def prune(s: BorrowerState, now: int, window: int) -> None:
    """Forget an override that no longer holds (cleared or expired) once it was set at least
    ``window`` ago: until then a late copy of an older event is recognised as superseded
    (and an event older than that is stale)."""
    if s.floor is not None and now - s.floor.at >= window and not active(s.floor, now):
        s.floor = None
    if s.cap is not None and now - s.cap.at >= window and not active(s.cap, now):
        s.cap = None
