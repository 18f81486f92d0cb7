"""The visit model: when a borrower's next on-site visit is due, and why.

Pure, like the engine that calls it. The state keeps the due date (``due``), why it is
what it is (``due_why``, see :class:`monitor.state.BorrowerState`) and when it was set
(``due_at``):

- first check: ``first_visit_days`` after disbursement;
- after a visit at tier t: ``min(normal interval, cadence_days[t])`` later;
- when the effective tier rises to t: due within ``response_days[t]``, only ever earlier;
  a fall never moves the due date;
- hand-over to workout: a borrower whose regulatory floor (by the highest DPD) reaches
  ``workout_classification``, or whose grade is one of ``workout_grades``, continuously for
  ``workout_after_days``, has no routine due date until neither holds; it then comes back
  with a response visit at its tier.

:meth:`VisitSchedule.reason` turns the state into a stable code and its parameters, which the
desk and the reports show in words of the user's language.
"""

from __future__ import annotations

from typing import Any

from monitor._time import DAY, from_us, local_date
from monitor.rules.policy import LEVEL_NAMES, Policy
from monitor.state import BorrowerState, schedule_moves

__all__ = ["WORKOUT", "VisitSchedule"]

WORKOUT = "workout"  # ``due_why`` of a borrower handed over to workout
# state.due_why -> the reason code the outputs show
_CODES = {"first_visit": "first_visit", "inspection": "inspected", "cadence": "inspected",
          "tier_raised": "tier_raised", "workout_ended": "workout_ended"}
_HOUR = 3_600_000_000


def _plain(text: str) -> bool:
    """Whether JSON writes ``text`` as it is (printable, no quote, no backslash; as monitor.outputs judges it)."""
    return text.isprintable() and '"' not in text and "\\" not in text


class VisitSchedule:
    """The visit rules of one policy, with its constants in microseconds."""

    __slots__ = ("policy", "_response", "_workout", "_after", "_floor_dpd", "_grades", "_tz", "_cadence", "_large",
                 "_normal", "_days", "_where", "_tails", "_first_days", "_after_days")

    def __init__(self, policy: Policy) -> None:
        v = policy.visits
        self.policy = policy
        self._response = (0, *(v.response_days.of(level) * DAY for level in (1, 2, 3)))
        self._workout = v.workout_enabled
        self._after = v.workout_after_days * DAY
        self._floor_dpd: int = getattr(policy.classification, v.workout_classification)
        self._grades = v.workout_grade_set
        self._tz = policy.zone
        self._cadence = (None, *(v.cadence(level) for level in (1, 2, 3)))
        self._large = v.large_exposure
        # (grade, exposure at least large_exposure, mitigation) -> the normal interval in days
        self._normal: dict[tuple[str | None, bool, str], int] = {}
        # for entry_json: local hour (us // _HOUR) -> its ISO date; (team, branch) -> their JSON; the end of the
        # entry by workout (None: a policy version JSON must escape); the policy's day counts as JSON
        self._days: dict[int, str] = {}
        self._where: dict[tuple[str, str], str] = {}
        version = policy.version
        self._tails = None if not _plain(version) else (f',"workout":false,"policy_version":"{version}"}}',
                                                         f',"workout":true,"policy_version":"{version}"}}')
        self._first_days = str(v.first_visit_days) if v.first_visit_days.__class__ is int else None
        self._after_days = str(v.workout_after_days) if v.workout_after_days.__class__ is int else None

    def first_visit(self, s: BorrowerState, now: int) -> None:
        """The profile has just arrived: the first post-loan check."""
        if s.profile is not None:
            schedule_moves(s)
            s.due = s.profile.disbursed + self.policy.visits.first_visit_days * DAY
            s.due_why, s.due_at, s.due_tier = "first_visit", now, s.tier

    def raised(self, s: BorrowerState, level: int, now: int) -> None:
        """The effective tier rose to ``level``: a response visit, if that is sooner."""
        if s.due_why == WORKOUT:
            return
        due = now + self._response[level]
        if s.due is None or due < s.due:
            schedule_moves(s)
            s.due, s.due_why, s.due_at, s.due_tier = due, "tier_raised", now, level

    def visited(self, s: BorrowerState, t: int) -> None:
        """A visit at ``t`` (the tier settled): the next one after the interval of the tier."""
        p = s.profile
        if p is None or s.due_why == WORKOUT:
            return
        key = (s.grade, p.exposure >= self._large, p.mitigation)
        days = self._normal.get(key)
        if days is None:  # (the interval depends on the exposure only through the comparison in the key)
            days = self._normal[key] = self.policy.visits.normal_interval(s.grade, p.exposure, p.mitigation)
        cadence = self._cadence[s.tier]
        schedule_moves(s)
        s.due_why = "inspection"
        if cadence is not None and cadence < days:
            days, s.due_why = cadence, "cadence"
        s.due, s.due_at, s.due_tier = t + days * DAY, t, s.tier

    def workout_start(self, s: BorrowerState) -> int | None:
        """Since when the hand-over condition holds by the facts as they stand (it may lie in the
        future: the instant the highest DPD reaches the floor); None: it cannot hold by time alone."""
        if not self._workout:
            return None
        start = s.grade_at if s.grade in self._grades else None
        if s.accounts:
            floor = self._floor_dpd
            for acc in s.accounts.values():
                if acc.dpd > 0:
                    reach = acc.at + (floor - acc.dpd) * DAY
                    if start is None or reach < start:
                        start = reach
        return start

    def hand_over(self, s: BorrowerState, now: int, wake: int | None) -> int | None:
        """Hand the borrower over to workout, or take it back once cured; returns the next wake-up."""
        if not self._workout and s.due_why != WORKOUT:
            return wake
        start = self.workout_start(s)
        if s.due_why == WORKOUT:
            if start is None or start > now:  # cured: back on the routine schedule, with a response visit
                p = s.profile
                level = s.tier
                if level > 0 or p is None:
                    days = self._response[level]
                else:
                    days = self.policy.visits.normal_interval(s.grade, p.exposure, p.mitigation) * DAY
                schedule_moves(s)
                s.due, s.due_why, s.due_at, s.due_tier = now + days, "workout_ended", now, level
        elif start is not None:
            enter = start + self._after
            if enter <= now:
                schedule_moves(s)
                s.due, s.due_why, s.due_at, s.due_tier = None, WORKOUT, now, s.tier
            elif wake is None or enter < wake:
                wake = enter
        return wake

    def entry_json(self, s: BorrowerState, head: str = "{") -> str | None:
        """The borrower's schedule entry as ``ScheduleEntry.model_dump_json`` writes it (``monitor.engine``'s
        ``schedule_entry``: the fields of ``reason``), formatted at once from the state; None when a text would
        need escaping or a value is not what this writes (the caller then goes through the model). A replay
        writes one per schedule change (tests/test_engine_schedule_json.py holds it to the model's bytes). ``head``:
        the text in place of the JSON's opening brace (a caller's record built in the same step)."""
        bid = s.id
        if bid.__class__ is not str or not _plain(bid):
            return None
        p = s.profile
        if p is None:
            where = '"team":null,"branch":null'
        else:
            where = self._where.get((p.team, p.branch))  # type: ignore[assignment]
            if where is None:
                team, branch = p.team, p.branch
                if team.__class__ is not str or branch.__class__ is not str or not _plain(team) or not _plain(branch):
                    return None
                if len(self._where) >= 65_536:
                    self._where.clear()
                where = self._where[(team, branch)] = f'"team":"{team}","branch":"{branch}"'
        tails = self._tails
        if tails is None:
            return None
        why, due, set_at = s.due_why, s.due, s.due_at
        if set_at is None:
            set_at = due
        day = self._day
        if why == WORKOUT:
            after = self._after_days
            if after is None:
                return None
            params = (f'"reason":"workout","reason_params":{{"date":"{day(set_at)}","after_days":{after}}}'
                      if set_at is not None else f'"reason":"workout","reason_params":{{"date":null,"after_days":{after}}}')
        elif due is None or p is None:
            params = '"reason":"no_profile","reason_params":{}'
        elif why == "first_visit":
            days = self._first_days
            if days is None:
                return None
            params = f'"reason":"first_visit","reason_params":{{"date":"{day(p.disbursed)}","days":{days}}}'
        else:
            code = _CODES.get(why)  # type: ignore[arg-type]
            if code is None:
                return None  # (``reason`` refuses it)
            tier = s.due_tier
            if why == "tier_raised" and tier == 0:  # a state written before due_tier was kept
                tier = s.tier
            gap = due - set_at
            if gap.__class__ is not int:
                return None
            params = (f'"reason":"{code}","reason_params":{{"date":"{day(set_at)}","days":{gap // DAY},'
                      f'"tier":"{LEVEL_NAMES[tier]}"')
            if code == "inspected":
                params += ',"basis":"cadence"}' if why == "cadence" else ',"basis":"interval"}'
            else:
                params += "}"
        due_text = "null" if due is None else f'"{day(due)}"'
        return (f'{head}"borrower_id":"{bid}","next_visit_due":{due_text},{where},"tier":"{LEVEL_NAMES[s.tier]}",'
                f'{params}{tails[why == WORKOUT]}')

    def _day(self, us: int) -> str:
        """``local_date(us, zone).isoformat()``, kept by the hour (as ``local_date`` keeps its dates: only an
        hour that lies within one date)."""
        hour = us // _HOUR
        text = self._days.get(hour)
        if text is None:
            text = local_date(us, self._tz).isoformat()
            start = hour * _HOUR
            tz = self._tz
            if from_us(start).astimezone(tz).date() == from_us(start + _HOUR - 1).astimezone(tz).date():
                if len(self._days) >= 65_536:
                    self._days.clear()
                self._days[hour] = text
        return text

    def reason(self, s: BorrowerState) -> tuple[str, dict[str, Any]]:
        """Why the due date is what it is: a stable code and its parameters. ``date`` is the calendar
        date (in the policy's zone) of what set it: the disbursement, the visit, the rise, the hand-over
        or the return; ``days`` the days from then to the due date; ``tier`` the effective tier then."""
        why = s.due_why or ""
        tz = self._tz
        set_at = s.due_at if s.due_at is not None else s.due
        if why == WORKOUT:
            return WORKOUT, {"date": local_date(set_at, tz).isoformat() if set_at is not None else None,
                             "after_days": self.policy.visits.workout_after_days}
        if s.due is None or s.profile is None or set_at is None:
            return "no_profile", {}
        code = _CODES.get(why)
        if code is None:
            raise ValueError(f"unknown due-date reason {why!r} in the state of {s.id!r}")
        if why == "first_visit":
            return code, {"date": local_date(s.profile.disbursed, tz).isoformat(),
                          "days": self.policy.visits.first_visit_days}
        tier = s.due_tier
        if why == "tier_raised" and tier == 0:  # a state written before due_tier was kept
            tier = s.tier
        params: dict[str, Any] = {"date": local_date(set_at, tz).isoformat(), "days": (s.due - set_at) // DAY,
                                  "tier": LEVEL_NAMES[tier]}
        if code == "inspected":
            params["basis"] = "cadence" if why == "cadence" else "interval"
        return code, params
