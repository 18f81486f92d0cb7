"""Rule evaluation: which signals hold for a borrower at an instant.

``evaluate(policy, state, now)`` is a pure function of the borrower's facts and
``now``. Besides the signals it returns the next instant at which any of them
can change by the passage of time alone (a DPD band crossed, a window ending),
so the engine can wake the borrower exactly then.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from monitor._time import DAY
from monitor.events import GRADE_INDEX
from monitor.rules.policy import Level, Policy
from monitor.state import BorrowerState

__all__ = ["Sig", "Evaluation", "BureauLevels", "cure_hold", "evaluate", "highest_dpd", "quiet_family"]

_NONE: dict[str, Any] = {}
_UNREAD: tuple[int, tuple[str, ...]] = (0, ())  # a combination's since and event ids when no detail is asked


@dataclass(slots=True)
class Sig:
    """A signal that holds (internal form; the engine turns it into ``outputs.Signal``)."""

    rule: str
    family: str
    level: int
    since: int
    event_ids: tuple[str, ...]
    values: dict[str, Any]
    thresholds: dict[str, Any]


@dataclass(slots=True)
class Evaluation:
    signals: list[Sig]
    computed: int
    next_change: int | None


def _min(a: int | None, b: int) -> int:
    return b if a is None or b < a else a


def highest_dpd(state: BorrowerState, now: int) -> tuple[int, str | None]:
    """The highest days past due over the borrower's accounts at ``now``, and its account id."""
    top = 0
    top_id: str | None = None
    for acc_id, acc in state.accounts.items():
        if acc.dpd > 0:
            dpd = acc.dpd + (now - acc.at) // DAY
            if dpd > top or (dpd == top and top_id is not None and acc_id < top_id):
                top, top_id = dpd, acc_id
    return top, top_id


def _banded(table: tuple[tuple[int, int], ...], value: int) -> tuple[int, int] | None:
    for lo, level in table:  # highest band first
        if value >= lo:
            return lo, level
    return None


def _rating(p: Policy, s: BorrowerState, now: int, out: list[Sig], nxt: int | None, d: bool) -> int | None:
    r = p.rating
    r1, r2 = r.downgrade_1, r.downgrade_2
    dg1 = dg2 = None
    for mv in s.moves:
        if mv.dg1 and r1.enabled and mv.at <= now < mv.at + r1.active_days * DAY:
            dg1 = mv
            nxt = _min(nxt, mv.at + r1.active_days * DAY)
        if mv.dg2 and r2.enabled and mv.at <= now < mv.at + r2.active_days * DAY:
            dg2 = mv
            nxt = _min(nxt, mv.at + r2.active_days * DAY)
    if dg1 is not None:
        out.append(Sig(
            "rating.downgrade_1", "rating", r1.lvl, dg1.at, (dg1.eid,),
            {"old_grade": dg1.prior, "new_grade": dg1.new,
             "notches": GRADE_INDEX[dg1.new] - GRADE_INDEX[dg1.prior]} if d else _NONE,
            {"notches": r1.notches, "active_days": r1.active_days} if d else _NONE))
    if dg2 is not None:
        out.append(Sig(
            "rating.downgrade_2", "rating", r2.lvl, dg2.at, (dg2.eid,),
            {"best_grade": dg2.best, "new_grade": dg2.new,
             "notches": GRADE_INDEX[dg2.new] - GRADE_INDEX[dg2.best]} if d else _NONE,
            {"notches": r2.notches, "lookback_days": r2.lookback_days,
             "active_days": r2.active_days} if d else _NONE))
    g = s.grade
    if g is not None:
        eids = (s.grade_eid,) if s.grade_eid else ()
        since = s.grade_at if s.grade_at is not None else now
        if g in r.flagged_grades:
            for name, rule in (("weak_grade", r.weak_grade), ("default_grade", r.default_grade)):
                if rule.enabled and g in rule.grades:
                    out.append(Sig(f"rating.{name}", "rating", rule.lvl, since, eids,
                                   {"grade": g} if d else _NONE,
                                   {"grades": list(rule.grades)} if d else _NONE))
    return nxt


_GRADE_RULES = ("rating.weak_grade", "rating.default_grade")  # the grade itself is not a second signal
_LAWSUIT_RULES = ("claim_large", "claim_material", "enforcement", "dishonest_debtor", "criminal")


def _lawsuit(p: Policy, s: BorrowerState, now: int, out: list[Sig], nxt: int | None, d: bool) -> int | None:
    law = p.lawsuit
    active = law.active_days * DAY
    roles = law.roles
    exposure = s.profile.exposure if s.profile is not None else 0.0
    best: dict[str, tuple[float, str]] = {}
    for case_id in sorted(s.cases):
        c = s.cases[case_id]
        if c.stage == "closed" or c.role not in roles or not (c.at <= now < c.at + active):
            continue
        nxt = _min(nxt, c.at + active)
        ratio = c.claim / exposure if c.claim > 0 and exposure > 0 else 0.0
        for name, rule in (("claim_material", law.claim_material), ("claim_large", law.claim_large)):
            if rule.enabled and ratio > 0 and ratio >= rule.min_ratio:
                prev = best.get(name)
                if prev is None or ratio > prev[0]:
                    best[name] = (ratio, case_id)
        if law.enforcement.enabled and c.stage in law.enforcement.stages:
            best.setdefault("enforcement", (0.0, case_id))
        if law.dishonest_debtor.enabled and c.stage in law.dishonest_debtor.stages:
            best.setdefault("dishonest_debtor", (0.0, case_id))
        if law.criminal.enabled and c.ctype in law.criminal.case_types:
            best.setdefault("criminal", (0.0, case_id))
    for name in _LAWSUIT_RULES:
        hit = best.get(name)
        if hit is None:
            continue
        ratio, case_id = hit
        c = s.cases[case_id]
        rule = getattr(law, name)
        since = c.stage_at if name in ("enforcement", "dishonest_debtor") else c.first
        values = thresholds = _NONE
        if d:
            values = {"case_id": case_id, "stage": c.stage, "case_type": c.ctype, "role": c.role}
            if name.startswith("claim"):
                values.update(claim_amount=c.claim, exposure=exposure, ratio=round(ratio, 6))
                thresholds = {"min_ratio": rule.min_ratio}
            elif name == "criminal":
                thresholds = {"case_types": [t.value for t in rule.case_types]}
            else:
                thresholds = {"stages": [t.value for t in rule.stages]}
            thresholds["active_days"] = law.active_days
        out.append(Sig(f"lawsuit.{name}", "lawsuit", rule.lvl, since, tuple(c.eids), values, thresholds))
    return nxt


def _bureau(p: Policy, s: BorrowerState, out: list[Sig], d: bool) -> None:
    b = s.bureau
    if b is None:
        return
    if b.dpd <= 0 and b.inq <= 0 and not b.guar > 0:  # most reports: no rule can hold but debt growth
        # (every bar and minimum of the inquiry and repeated rules is at least 1: the policy's schema)
        prev = s.bureau_prev
        if prev is None or not prev.debt > 0 or not b.debt >= p.bureau.debt_growth.min_ratio * prev.debt:
            return
    bu = p.bureau
    eids = (b.eid,)
    if b.dpd > 0 and bu.external_overdue.enabled:
        band = _banded(bu.external_overdue.table, b.dpd)
        if band is not None:
            out.append(Sig("bureau.external_overdue", "bureau", band[1], b.at, eids,
                           {"max_external_dpd": b.dpd, "external_overdue_amount": b.overdue} if d else _NONE,
                           {"band_min": band[0]} if d else _NONE))
    inq = bu.inquiries
    bar = inq.bar(s.grade)
    if b.inq >= bar and inq.enabled:
        out.append(Sig("bureau.inquiries", "bureau", inq.lvl, b.at, eids,
                       ({"hard_inquiries_30d": b.inq, "grade": s.grade} if s.grade in inq.min_by_grade
                        else {"hard_inquiries_30d": b.inq}) if d else _NONE,
                       {"min": bar} if d else _NONE))
    prev = s.bureau_prev
    dg = bu.debt_growth
    if (prev is not None and prev.debt > 0 and b.debt >= dg.min_ratio * prev.debt and dg.enabled
            and b.at - prev.at <= dg.max_gap_days * DAY):
        out.append(Sig("bureau.debt_growth", "bureau", dg.lvl, b.at, (prev.eid, b.eid),
                       {"total_external_debt": b.debt, "previous_total_external_debt": prev.debt,
                        "ratio": round(b.debt / prev.debt, 6), "gap_days": (b.at - prev.at) // DAY}
                       if d else _NONE,
                       {"min_ratio": dg.min_ratio, "max_gap_days": dg.max_gap_days} if d else _NONE))
    for name, rule, now_v, prev_v, key in (
            ("external_overdue_repeated", bu.external_overdue_repeated, b.dpd, prev.dpd if prev else 0,
             "max_external_dpd"),
            ("inquiries_repeated", bu.inquiries_repeated, b.inq, prev.inq if prev else 0, "hard_inquiries_30d")):
        if (rule is not None and rule.enabled and prev is not None and now_v >= rule.min and prev_v >= rule.min
                and b.at - prev.at <= rule.max_gap_days * DAY):
            out.append(Sig(f"bureau.{name}", "bureau", rule.lvl, b.at, (prev.eid, b.eid),
                           {key: now_v, f"previous_{key}": prev_v, "gap_days": (b.at - prev.at) // DAY}
                           if d else _NONE,
                           {"min": rule.min, "max_gap_days": rule.max_gap_days} if d else _NONE))
    gu = bu.guarantees
    if b.guar > 0 and gu.enabled:
        exposure = s.profile.exposure if s.profile is not None else 0.0
        if exposure > 0 and b.guar >= gu.min_ratio * exposure:
            out.append(Sig("bureau.guarantees", "bureau", gu.lvl, b.at, eids,
                           {"guarantee_exposure": b.guar, "exposure": exposure,
                            "ratio": round(b.guar / exposure, 6)} if d else _NONE,
                           {"min_ratio": gu.min_ratio} if d else _NONE))


@lru_cache(maxsize=64)
def _dpd_steps(mins: tuple[int, ...], *floors: int) -> tuple[int, ...]:
    """The DPD values at which something changes: band minimums and classification floors, ascending."""
    return tuple(sorted({*mins, *floors}))


def _overdue(p: Policy, s: BorrowerState, now: int, out: list[Sig], nxt: int | None, d: bool) -> int | None:
    rule = p.overdue.dpd
    if not rule.enabled:
        return nxt
    top, top_id = highest_dpd(s, now)
    table = rule.table
    # the next instant the highest DPD reaches a band it is not yet in, or the floor of another
    # regulatory classification (the borrower's page shows it: a time-driven change of its own)
    c = p.classification
    for lo in _dpd_steps(rule.mins, c.special_mention, c.substandard, c.doubtful, c.loss):  # ascending
        if lo > top:
            break
    else:
        lo = 0
    if lo > top:
        for acc in s.accounts.values():
            if acc.dpd > 0:
                nxt = _min(nxt, acc.at + (lo - acc.dpd) * DAY)
    if top_id is None:
        return nxt
    band = _banded(table, top)
    if band is not None:
        acc = s.accounts[top_id]
        since = acc.at + (band[0] - acc.dpd) * DAY
        out.append(Sig("overdue.dpd", "overdue", band[1], since, (acc.eid,),
                       {"days_past_due": top, "account_id": top_id, "product": acc.product,
                        "overdue_amount": acc.amount} if d else _NONE,
                       {"band_min": band[0]} if d else _NONE))
    return nxt


def _inspection(p: Policy, s: BorrowerState, now: int, out: list[Sig], nxt: int | None, d: bool) -> int | None:
    ins = s.inspection
    if ins is None:
        return nxt
    for name, rule in (("concern", p.inspection.concern), ("deteriorated", p.inspection.deteriorated)):
        if rule.enabled and ins.outcome in rule.outcomes:
            end = ins.at + rule.active_days * DAY
            if ins.at <= now < end:
                nxt = _min(nxt, end)
                out.append(Sig(f"inspection.{name}", "inspection", rule.lvl, ins.at, (ins.eid,),
                               {"outcome": ins.outcome, "team": ins.team} if d else _NONE,
                               {"outcomes": [o.value for o in rule.outcomes],
                                "active_days": rule.active_days} if d else _NONE))
    return nxt


def evaluate(p: Policy, s: BorrowerState, now: int, detail: bool = True) -> Evaluation:
    """The signals that hold for ``s`` at ``now``, its computed tier, and the next change instant.

    With ``detail=False`` the signals carry no values or thresholds, and the combination rules' signals no since
    nor event ids (0 and none: the engine's fast path reads the computed tier and the next change only;
    it evaluates again with detail when it needs the evidence for an alert).
    """
    out: list[Sig] = []
    nxt: int | None = None
    if s.moves or s.grade in p.rating.flagged_grades:
        nxt = _rating(p, s, now, out, nxt, detail)
    if s.cases:
        nxt = _lawsuit(p, s, now, out, nxt, detail)
    if s.bureau is not None:
        _bureau(p, s, out, detail)
    if s.accounts:
        nxt = _overdue(p, s, now, out, nxt, detail)
    if s.inspection is not None and s.inspection.outcome in p.inspection.flagged_outcomes:
        nxt = _inspection(p, s, now, out, nxt, detail)
    if not out:
        return Evaluation(out, 0, nxt)
    computed = 0
    for sig in out:
        if sig.level > computed:
            computed = sig.level
    gs = p.combo.grade_signal
    if gs is not None and gs.enabled and computed < gs.lvl and s.grade in gs.grades:
        hits = [sig for sig in out if sig.level >= gs.min_lvl and sig.family in gs.families
                and sig.rule not in _GRADE_RULES]
        if hits:
            since, eids = _with_grade(s, hits) if detail else _UNREAD
            out.append(Sig("combo.grade_signal", "combo", gs.lvl, since, eids,
                           {"grade": s.grade, "rules": sorted({sig.rule for sig in hits}),
                            "raised_from": Level(computed).name} if detail else _NONE,
                           {"grades": list(gs.grades), "families": list(gs.families), "min_level": gs.min_level,
                            "level": gs.level} if detail else _NONE))
            computed = gs.lvl
    combo = p.combo.multi_source
    if len(out) >= combo.min_families and combo.enabled:
        min_level = combo.min_lvl
        first: dict[str, int] = {}
        for sig in out:
            if sig.level >= min_level and sig.family != "combo":
                prev = first.get(sig.family)
                if prev is None or sig.since < prev:
                    first[sig.family] = sig.since
        if len(first) >= combo.min_families:
            raised = max(computed, min(combo.max_lvl, computed + combo.raise_levels))
            since, eids = (sorted(first.values())[combo.min_families - 1],
                           tuple(sorted({e for sig in out if sig.family in first for e in sig.event_ids}))
                           ) if detail else _UNREAD
            out.append(Sig("combo.multi_source", "combo", raised, since, eids,
                           {"families": sorted(first), "raised_from": Level(computed).name} if detail else _NONE,
                           {"min_families": combo.min_families, "min_level": combo.min_level,
                            "raise_levels": combo.raise_levels, "max_level": combo.max_level} if detail else _NONE))
            computed = raised
    cap = p.combo.grade_cap
    if cap is not None and computed == Level.warning and cap.enabled and s.grade in cap.grades:
        hits = [sig for sig in out if sig.level == Level.warning]
        since, eids = _with_grade(s, hits) if detail else _UNREAD
        out.append(Sig("combo.grade_cap", "combo", cap.lvl, since, eids,
                       {"grade": s.grade, "rules": sorted({sig.rule for sig in hits}), "lowered_from": "warning"}
                       if detail else _NONE,
                       {"grades": list(cap.grades), "level": cap.level} if detail else _NONE))
        computed = cap.lvl
    return Evaluation(out, computed, nxt)


def _with_grade(s: BorrowerState, hits: list[Sig]) -> tuple[int, tuple[str, ...]]:
    """A grade rule's signal from the signals it acted on: since the first of them, or since the grade was
    given when that is later; their event ids and the grade's."""
    since = min(sig.since for sig in hits)
    if s.grade_at is not None:
        since = max(since, s.grade_at)
    eids = {e for sig in hits for e in sig.event_ids}
    if s.grade_eid:
        eids.add(s.grade_eid)
    return since, tuple(sorted(eids))


def cure_hold(tiers: list[tuple[int, int]], cure: tuple[int, ...], now: int) -> tuple[int, int | None]:
    """The highest level the ended segments of the computed tier (``BorrowerState.tiers``) still hold at ``now``
    through the cure periods (``cure``: microseconds by level; the tier is at least L while the computed tier was
    at least L within cure[L]), and the instant that level's hold ends; forgets the segments that hold nothing
    any more."""
    best = 0
    dead = False
    for end, level in tiers:
        for lv in range(level, best, -1):
            if end + cure[lv] > now:
                best = lv
                break
        else:
            if all(end + cure[lv] <= now for lv in range(1, level + 1)):
                dead = True
    if dead:
        tiers[:] = [(end, level) for end, level in tiers
                    if any(end + cure[lv] > now for lv in range(1, level + 1))]
    if best == 0:
        return 0, None
    last = max(end for end, level in tiers if level >= best)
    return best, last + cure[best]


def quiet_family(p: Policy, s: BorrowerState, family: str, now: int) -> tuple[int, ...] | None:
    """The levels of the signals of one rule family at ``now`` when they cannot change by time alone
    (the bureau's: they depend on the two latest reports and the exposure only), () when none of the
    family's rules holds (nor can hold by time alone, as for an inspection that flags nothing), None when
    the family's signals hold with a next change instant of their own. The engine compares this before
    and after an event of that family: equal and not None, the evaluation's computed tier and next change
    are what they were (``Engine`` with ``own_states``)."""
    out: list[Sig] = []
    if family == "bureau":
        _bureau(p, s, out, False)
        return tuple([g.level for g in out]) if out else ()
    if family == "inspection":
        ins = s.inspection
        if ins is None or ins.outcome not in p.inspection.flagged_outcomes:
            return ()
        return () if _inspection(p, s, now, out, None, False) is None else None
    raise ValueError(f"no quiet form for the rule family {family!r}")


class BureauLevels:
    """``quiet_family(policy, state, "bureau", now)`` without building a signal: the levels of the bureau
    rules that hold for the state's two latest reports, in ``_bureau``'s order (the engine's test of a bureau
    report that leaves its family as it was; tests/rules/test_bureau_levels.py holds it to ``quiet_family``).
    The policy's values are read once, here."""

    __slots__ = ("_band", "_inq", "_inq_min", "_inq_by", "_inq_lvl", "_floor", "_dg", "_dg_ratio", "_dg_gap",
                 "_dg_lvl", "_r1", "_r2", "_gu", "_gu_ratio", "_gu_lvl", "quiet")

    def __init__(self, p: Policy) -> None:
        bu = p.bureau
        eo = bu.external_overdue
        self._band = eo.table if eo.enabled else ()
        inq = bu.inquiries
        self._inq, self._inq_min, self._inq_by, self._inq_lvl = inq.enabled, inq.min, inq.min_by_grade, inq.lvl
        dg = bu.debt_growth
        self._dg, self._dg_ratio, self._dg_gap, self._dg_lvl = dg.enabled, dg.min_ratio, dg.max_gap_days * DAY, dg.lvl
        self._r1 = self._rep(bu.external_overdue_repeated)
        self._r2 = self._rep(bu.inquiries_repeated)
        gu = bu.guarantees
        self._gu, self._gu_ratio, self._gu_lvl = gu.enabled, gu.min_ratio, gu.lvl
        # below this many inquiries no inquiry rule can hold (every bar and minimum is at least 1)
        self._floor = min([inq.min, *inq.min_by_grade.values()] + ([self._r2[0]] if self._r2 else []))
        # (inquiries floor, debt growth ratio): a report with no external DPD, fewer inquiries than the floor, no
        # guarantees and debt below the ratio times the report before it holds no bureau rule (``__call__``'s
        # first test, which the engine makes from the report itself)
        self.quiet = (self._floor, self._dg_ratio)

    @staticmethod
    def _rep(rule: Any) -> tuple[int, int, int] | None:
        return (rule.min, rule.max_gap_days * DAY, rule.lvl) if rule is not None and rule.enabled else None

    def __call__(self, s: BorrowerState) -> tuple[int, ...]:
        b = s.bureau
        if b is None:
            return ()
        prev = s.bureau_prev
        dpd, inq = b.dpd, b.inq
        grows = prev is not None and prev.debt > 0 and b.debt >= self._dg_ratio * prev.debt
        if dpd <= 0 and inq < self._floor and not b.guar > 0 and not grows:  # most reports
            return ()
        out: list[int] = []
        if dpd > 0:
            for lo, level in self._band:  # highest band first
                if dpd >= lo:
                    out.append(level)
                    break
        if self._inq:
            g = s.grade
            if inq >= (self._inq_by.get(g, self._inq_min) if g is not None and self._inq_by else self._inq_min):
                out.append(self._inq_lvl)
        if prev is not None:
            gap = b.at - prev.at
            if grows and self._dg and gap <= self._dg_gap:
                out.append(self._dg_lvl)
            r = self._r1
            if r is not None and dpd >= r[0] and prev.dpd >= r[0] and gap <= r[1]:
                out.append(r[2])
            r = self._r2
            if r is not None and inq >= r[0] and prev.inq >= r[0] and gap <= r[1]:
                out.append(r[2])
        if b.guar > 0 and self._gu:
            exposure = s.profile.exposure if s.profile is not None else 0.0
            if exposure > 0 and b.guar >= self._gu_ratio * exposure:
                out.append(self._gu_lvl)
        return tuple(out)
