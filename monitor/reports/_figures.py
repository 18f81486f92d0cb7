"""The report's figures, section by section, from the per-borrower arrays (numpy, vectorised)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError
from monitor._time import iso
from monitor.events import GRADES
from monitor.reports._events import EVENT_TYPES, OUTCOMES, EventData
from monitor.reports._names import names_of
from monitor.reports._period import Period, local_days, working_days
from monitor.reports._quality import FeedConfig, feed_status
from monitor.reports._replay import KINDS, TIERS, Alerts, Codes, Schedule
from monitor.reports._rowlists import CurrentTexts, RowLists, SignalTexts, lists_of
from monitor.reports._signals import PeriodSignals, Signals, period_signals
from monitor.reports._state import CLASSES, State
from monitor.reports.model import (
    CaseRow, Changes, Concentration, DataHealth, Disposal, FeedRow, GroupRow, Inspections, KindRow, Migration, Portfolio,
    RejectRow, RuleRow, Rules, TeamRow, TierCounts, TopExposure, TrendDay, WarningList,
)
from monitor.rules.policy import Policy

__all__ = ["Context", "changes", "data_health", "inspections", "portfolio", "rules", "warning_list"]

I64 = NDArray[np.int64]
TOP_N = 20
_EPOCH_ORD = date(1970, 1, 1).toordinal()


def money(cents: int | np.integer) -> float:
    return int(cents) / 100


def share(part: float | int, whole: float | int) -> float:
    return round(float(part) / float(whole), 6) if whole else 0.0


def _days(d: date) -> int:
    return d.toordinal() - _EPOCH_ORD


def _tiers(counts: Sequence[int]) -> TierCounts:
    return TierCounts(**{name: int(counts[i]) for i, name in enumerate(TIERS)})


@dataclass(slots=True)
class Context:
    """Everything the sections read."""

    state: State
    alerts: Alerts
    sched: Schedule
    events: EventData
    policy: Policy
    period: Period
    cut: int  # the last instant included
    ref_day: int  # the day in progress at the as-of instant: a visit due before it is overdue
    alerts_path: Path
    name_texts: list[str] = field(default_factory=list)  # the profiles' names (codes in State.name)
    mask_names: bool = False

    def names(self, rows: I64) -> list[str | None]:
        return names_of(self.state.name[rows], self.name_texts, self.mask_names)

    @property
    def mask(self) -> NDArray[np.bool_]:
        return self.state.prof_end


def _sum_by(key: I64, cents: I64, size: int) -> I64:
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, key, cents)
    return out


def _groups(ctx: Context, key: I64, labels: Sequence[str], fixed: bool) -> list[GroupRow]:
    """Borrowers and exposure by a key (one code per borrower with a profile)."""
    s, m = ctx.state, ctx.mask
    size = len(labels)
    k = key[m].astype(np.int64)
    tier = s.tier_end[m].astype(np.int64)
    cents = s.cents[m]
    total = int(cents.sum())
    counts = np.bincount(k, minlength=size)
    exp = _sum_by(k, cents, size)
    by_tier = np.bincount(k * 4 + tier, minlength=size * 4).reshape(size, 4)
    watch = _sum_by(k[tier >= 1], cents[tier >= 1], size)
    order = list(range(size)) if fixed else sorted(
        (i for i in range(size) if counts[i]), key=lambda i: (-int(exp[i]), labels[i]))
    return [GroupRow(key=labels[i], borrowers=int(counts[i]), exposure=money(exp[i]),
                     exposure_share=share(exp[i], total), tiers=_tiers(by_tier[i]),
                     exposure_watch_or_above=money(watch[i])) for i in order]


def _label(codes: Codes) -> list[str]:
    return codes.values + ["—"]


def _coded(values: NDArray[np.int32], codes: Codes) -> I64:
    """Codes with -1 (unknown) mapped to the last label."""
    return np.where(values >= 0, values, len(codes.values)).astype(np.int64)


def portfolio(ctx: Context) -> Portfolio:
    s, m, ev = ctx.state, ctx.mask, ctx.events
    grade = np.where(s.grade >= 0, s.grade, len(GRADES)).astype(np.int64)
    warn = np.flatnonzero(m & (s.tier_end >= 2))
    warn = warn[np.lexsort((warn, -s.cents[warn]))]
    w_total = int(s.cents[warn].sum())
    total = int(s.cents[m].sum())
    top, running = [], 0
    names = ctx.names(warn[:TOP_N])
    for rank, i in enumerate(warn[:TOP_N].tolist(), start=1):
        running += int(s.cents[i])
        top.append(TopExposure(
            rank=rank, borrower_id=s.id_text(i), name=names[rank - 1],
            tier=TIERS[int(s.tier_end[i])],  # type: ignore[arg-type]
            exposure=money(s.cents[i]), share=share(s.cents[i], w_total), cumulative_share=share(running, w_total),
            branch=_name(ev.branches, s.branch[i]), segment=_name(ev.segments, s.segment[i]),
            industry=_name(ev.industries, s.industry[i])))
    cents = s.cents[m]
    by_size = np.sort(cents)[::-1]
    conc = Concentration(borrowers=int(warn.size), exposure=money(w_total), portfolio_share=share(w_total, total),
                         top10_share=share(int(s.cents[warn[:10]].sum()), w_total), top=top,
                         hhi_industry=_hhi(_coded(s.industry, ev.industries)[m], cents),
                         hhi_branch=_hhi(_coded(s.branch, ev.branches)[m], cents), hhi_borrower=_hhi(None, cents),
                         top10_portfolio_share=share(int(by_size[:10].sum()), total))
    return Portfolio(
        borrowers=int(m.sum()), exposure=money(total),
        without_profile=int(np.count_nonzero(~m & (ev.first_seen <= ctx.cut))),
        by_tier=_groups(ctx, s.tier_end.astype(np.int64), TIERS, True),
        by_grade=[g for g in _groups(ctx, grade, [*GRADES, "—"], True) if g.key != "—" or g.borrowers],
        by_classification=_groups(ctx, np.maximum(s.mincls, 0).astype(np.int64), CLASSES, True),
        by_segment=_groups(ctx, _coded(s.segment, ev.segments), _label(ev.segments), False),
        by_branch=_groups(ctx, _coded(s.branch, ev.branches), _label(ev.branches), False),
        by_industry=_groups(ctx, _coded(s.industry, ev.industries), _label(ev.industries), False),
        concentration=conc,
    )


def _hhi(key: I64 | None, cents: I64) -> float:
    """Herfindahl-Hirschman index of the exposure by ``key`` (by borrower when none): sum of squared shares."""
    total = float(cents.sum())
    if total <= 0:
        return 0.0
    sums = cents.astype(np.float64) if key is None else np.bincount(key, weights=cents.astype(np.float64))
    return round(float(np.sum((sums / total) ** 2)), 6)


def _name(codes: Codes, code: int | np.integer) -> str:
    return codes.values[int(code)] if int(code) >= 0 else "—"


def changes(ctx: Context) -> Changes:
    s, a, p = ctx.state, ctx.alerts, ctx.period
    rows = []
    for k, kind in enumerate(KINDS):
        sel = a.kind == k
        who = np.unique(a.bidx[sel])
        rows.append(KindRow(kind=kind, alerts=int(sel.sum()), borrowers=int(who.size),  # type: ignore[arg-type]
                            exposure=money(s.cents[who].sum())))
    m = ctx.mask
    start = s.tier_start[m].astype(np.int64) + 1  # 0 = new
    end = s.tier_end[m].astype(np.int64)
    cell = start * 4 + end
    counts = np.bincount(cell, minlength=20).reshape(5, 4)
    exposure = _sum_by(cell, s.cents[m], 20).reshape(5, 4)
    migration = Migration(start=["new", *TIERS], end=list(TIERS),  # type: ignore[arg-type]
                          counts=counts.tolist(), exposure=[[money(c) for c in row] for row in exposure.tolist()])
    # daily counts: the counts at the start, plus new profiles and the alerts' moves, day by day
    edges = p.day_edges()
    edges[-1] = ctx.cut + 1
    days = len(edges) - 1
    base = np.bincount(s.tier_start[s.prof_start].astype(np.int64), minlength=4)
    delta = np.zeros((days, 4), dtype=np.int64)
    newcomer = np.flatnonzero(s.prof_end & ~s.prof_start)
    d = np.clip(np.searchsorted(edges, s.first_profile_t[newcomer], side="right") - 1, 0, days - 1)
    np.add.at(delta, (d, 0), 1)
    d = np.clip(np.searchsorted(edges, a.t, side="right") - 1, 0, days - 1)
    np.add.at(delta, (d, a.to.astype(np.int64)), 1)
    np.add.at(delta, (d, a.frm.astype(np.int64)), -1)
    daily = base[None, :] + np.cumsum(delta, axis=0)
    trend = [TrendDay(day=day.isoformat(), tiers=_tiers(daily[i])) for i, day in enumerate(p.days())]
    return Changes(by_kind=rows, alerts=int(a.kind.size),
                   watch_or_above_start=int(np.count_nonzero(s.prof_start & (s.tier_start >= 1))),
                   watch_or_above_end=int(np.count_nonzero(m & (s.tier_end >= 1))),
                   migration=migration, trend=trend)


def _day_texts(days: I64) -> list[str | None]:
    """Each day as its ISO text, one string per distinct day (a few hundred days for a million rows), made once."""
    if days.size == 0:
        return []
    distinct, at = np.unique(days, return_inverse=True)
    texts = np.array([*np.datetime_as_string(np.maximum(distinct, 0).astype("datetime64[D]"), unit="D").tolist(),
                      None], dtype=object)
    texts[:-1][distinct < 0] = None
    return texts[at.reshape(-1)].tolist()


def _names(codes: Codes, values: NDArray[np.int32]) -> list[str]:
    table = np.array([*codes.values, "—"], dtype=object)
    return table[np.where(values >= 0, values, len(codes.values))].tolist()


@dataclass(slots=True)
class Evidence:
    """The latest alert of some borrowers (read ahead): its instant, from_tier and signals."""

    borrowers: I64
    ats: I64
    frm: NDArray[np.int8]
    signals: Signals  # as text (the replay's layout) or as objects

    def of(self, rows: I64, n: int) -> tuple[I64, NDArray[np.int8], Signals]:
        where = np.full(n, -1, dtype=np.int64)
        where[self.borrowers] = np.arange(self.borrowers.size)
        pos = where[rows]
        if bool(np.any(pos < 0)):
            raise InputError("a borrower under warning has no alert (alerts.jsonl and borrowers.jsonl disagree)")
        sigs = self.signals
        return self.ats[pos], self.frm[pos], sigs.take(pos.tolist()) if isinstance(sigs, SignalTexts) else \
            [sigs[i] for i in pos.tolist()]


@dataclass(slots=True)
class Extras:
    """What the warning list shows besides the state: current signals, cases, data quality."""

    # borrower id -> signals at the end (as text, or as objects); none: unknown
    current: CurrentTexts | Mapping[str, list[dict[str, Any]]] | None
    cases: Mapping[str, tuple[str, str | None]] | None  # borrower id -> (case status, owner)
    quality: Any  # monitor.reports._quality.Quality


def _kind(frm: int, to: int) -> str:
    if frm == 0:
        return "raised"
    if to == 0:
        return "cleared"
    return "escalated" if to > frm else "de_escalated"


_KIND_OF = np.array([_kind(f, t) for f in range(len(TIERS)) for t in range(len(TIERS))], dtype=object)  # by from, to


@dataclass(slots=True)
class Listed:
    """The warning list's rows (borrower indexes, in the list's order) and what it shows of them that needs neither
    their evidence nor the current signals (:func:`listed`: made while those are read)."""

    rows: I64
    ids: list[str]
    to: I64  # the tier at the end (index)
    cols: dict[str, Any]  # the columns of WarningRow but tier_since and days_at_tier
    head: dict[str, Any]  # the list's borrowers, exposure and tiers


def listed(ctx: Context, cases: Mapping[str, tuple[str, str | None]] | None, quality: Any) -> Listed:
    """The rows of the warning list and their columns that need no evidence (``quality``:
    monitor.reports._quality.Quality; ``cases``: borrower id -> (case status, owner), or none)."""
    s, ev = ctx.state, ctx.events
    rows = np.flatnonzero(ctx.mask & (s.tier_end >= 1))
    rows = rows[np.lexsort((rows, -s.cents[rows], -s.tier_end[rows].astype(np.int64)))]
    due = s.due_end[rows].astype(np.int64)
    tiers = np.array([*TIERS, "new"], dtype=object)
    grades = np.array([*GRADES, "—"], dtype=object)
    classes = np.array([*CLASSES, "—"], dtype=object)
    start = s.tier_start[rows].astype(np.int64)
    ids = [x.decode("utf-8") for x in s.ids[rows].tolist()]
    to = s.tier_end[rows].astype(np.int64)
    cases = cases or {}
    cols = dict(
        borrower_id=ids, name=ctx.names(rows),
        tier=tiers[to].tolist(),
        tier_at_start=tiers[np.where(start >= 0, start, 4)].tolist(),
        exposure=(s.cents[rows] / 100).tolist(),
        branch=_names(ev.branches, s.branch[rows]), team=_names(ev.teams, s.team[rows]),
        segment=_names(ev.segments, s.segment[rows]), industry=_names(ev.industries, s.industry[rows]),
        grade=grades[np.where(s.grade[rows] >= 0, s.grade[rows], len(GRADES))].tolist(),
        min_classification=classes[np.where(s.mincls[rows] >= 0, s.mincls[rows], len(CLASSES))].tolist(),
        next_visit_due=_day_texts(due), visit_overdue=((due >= 0) & (due < ctx.ref_day)).tolist(),
        case_status=[cases[b][0] if b in cases else None for b in ids],
        case_owner=[cases[b][1] if b in cases else None for b in ids],
        data_quality=_quality_items(quality, rows),
    )
    counts = np.bincount(s.tier_end[rows].astype(np.int64), minlength=4)
    head = dict(borrowers=int(rows.size), exposure=money(s.cents[rows].sum()), tiers=_tiers(counts))
    return Listed(rows, ids, to, cols, head)


_COLUMNS = ("borrower_id", "name", "tier", "tier_at_start", "exposure", "branch", "team", "segment", "industry",
            "grade", "min_classification", "tier_since", "days_at_tier", "next_visit_due", "visit_overdue",
            "case_status", "case_owner", "data_quality")  # (WarningRow's order)


def warning_list(ctx: Context, read: Evidence, extras: Extras, made: Listed | None = None) -> tuple[
        WarningList, Signals, I64]:
    """The list, the signals of each row's last change of tier (what the rule statistics' "on list" counts:
    known at any day, so a report of a past day says the same whatever the replay's extent), and the rows'
    borrower indexes. ``made``: :func:`listed` of the same context, cases and quality, made beforehand.

    The signals as text (both read as the replay writes them): the list's rows kept as columns
    (:class:`~monitor.reports._rowlists.RowLists`, made into rows only when read); otherwise plain rows."""
    s, p = ctx.state, ctx.period
    if made is None:
        made = listed(ctx, extras.cases, extras.quality)
    rows, ids, to = made.rows, made.ids, made.to
    ats, frm, evidence = read.of(rows, s.n)
    since = local_days(ats, p.zone)
    tiers = np.array([*TIERS, "new"], dtype=object)
    since_text = _day_texts(since)
    current = extras.current
    as_text = isinstance(evidence, SignalTexts) and (current is None or isinstance(current, CurrentTexts))
    if not as_text:  # one side read as objects: both as objects (the text parses to what was checked)
        evidence = evidence.parsed() if isinstance(evidence, SignalTexts) else evidence
        if isinstance(current, CurrentTexts):
            current = dict(zip(ids, current.of(ids).parsed()))
    timed = dict(tier_since=since_text, days_at_tier=(_days(p.last) - since).tolist())
    cols = {k: timed[k] if k in timed else made.cols[k] for k in _COLUMNS}
    change = (since_text, _KIND_OF[frm.astype(np.int64) * len(TIERS) + to].tolist(),
              tiers[frm.astype(np.int64)].tolist(), tiers[to].tolist())
    head = made.head
    if isinstance(evidence, SignalTexts) and (current is None or isinstance(current, CurrentTexts)):  # (as_text)
        lists = RowLists(cols, change, evidence, current.of(ids) if current is not None else None)
        wl = WarningList.model_construct(**head)  # (its rows made from the lists when read)
        wl._lists = lists
        return wl, evidence, rows
    signals = [current.get(b, []) for b in ids] if isinstance(current, Mapping) else evidence
    made_rows = RowLists(cols, change, SignalTexts([], [], []), None)._rows(0, rows.size, signals, evidence)
    wl = WarningList.model_construct(**head, rows=made_rows)
    return wl, evidence, rows


def _quality_items(quality: Any, rows: I64) -> list[list[str]]:
    """Each row's data-quality items; rows with the same items share one list (read only)."""
    made: dict[int, list[str]] = {}
    out = []
    for i, b in zip(rows.tolist(), quality.bits[rows].tolist()):
        got = made.get(b)
        if got is None:
            got = made[b] = quality.items(i)
        out.append(got)
    return out


def disposal(wl: WarningList, known: bool) -> Disposal:
    """The warning-list borrowers by the status of their case (the desk's; unknown offline)."""
    if not known:
        return Disposal(known=False, rows=[])
    statuses = ("open", "acknowledged", "release_requested", "released", "none")
    count = dict.fromkeys(statuses, 0)
    cents = dict.fromkeys(statuses, 0)
    lists = lists_of(wl)
    pairs = zip(lists.cols["case_status"], lists.cols["exposure"]) if lists is not None else \
        ((r["case_status"], r["exposure"]) for r in wl.rows)
    for status, exposure in pairs:
        st = status or "none"
        st = st if st in count else "none"
        count[st] += 1
        cents[st] += round(exposure * 100)
    return Disposal(known=True, rows=[CaseRow(status=k, borrowers=count[k], exposure=cents[k] / 100)
                                      for k in statuses])


def rules(ctx: Context, evidence: Signals, listed: I64, ps: PeriodSignals | None = None) -> Rules:
    """``ps``: the signals of the period's alerts (read here when not given)."""
    s, a = ctx.state, ctx.alerts
    if ps is None:
        ps = period_signals(ctx.alerts_path, a.off, a.length)
    table = ctx.policy.rule_table()
    known = [str(r["rule"]) for r in table]
    at: list[int] = []  # (a listed row's position, a rule its last change cites): once per pair
    cited: list[str] = []
    if isinstance(evidence, SignalTexts):  # each distinct tuple of rules made a set once
        distinct: dict[tuple[str, ...], tuple[str, ...]] = {}
        for k, names in enumerate(evidence.rules):
            once = distinct.get(names)
            if once is None:
                once = distinct[names] = tuple(set(names))
            at += [k] * len(once)
            cited += once
    else:
        for k, sigs in enumerate(evidence):
            for r in {str(g.get("rule", "")) for g in sigs}:
                at.append(k)
                cited.append(r)
    seen = sorted((set(ps.rule) | set(cited)) - set(known))
    names = known + seen
    index = {name: i for i, name in enumerate(names)}
    size = len(names)
    rule = np.array([index[r] for r in ps.rule], dtype=np.int64)
    bor = a.bidx[ps.alert].astype(np.int64) if ps.alert.size else np.zeros(0, dtype=np.int64)
    alerts = np.bincount(rule, minlength=size)
    pair = np.unique(rule * s.n + bor)
    pr, pb = pair // max(s.n, 1), pair % max(s.n, 1)
    borrowers = np.bincount(pr, minlength=size)
    exposure = _sum_by(pr, s.cents[pb], size)
    new = (ps.since >= ctx.period.start_us) & (ps.since <= ctx.cut)
    newly = np.bincount(np.unique(rule[new] * s.n + bor[new]) // max(s.n, 1), minlength=size)
    cited_rule = np.array([index[r] for r in cited], dtype=np.int64)
    on_list = np.bincount(cited_rule, minlength=size)
    on_exp = np.zeros(size, dtype=np.int64)
    np.add.at(on_exp, cited_rule, s.cents[listed[np.array(at, dtype=np.int64)]].astype(np.int64))  # exact sums
    meta = {str(r["rule"]): r for r in table}
    out = []
    for i, name in enumerate(names):
        info = meta.get(name)
        out.append(RuleRow(rule=name, family=name.split(".")[0], level=str(info["level"]) if info else "—",
                           enabled=bool(info["enabled"]) if info else True, alerts=int(alerts[i]),
                           borrowers=int(borrowers[i]), exposure=money(exposure[i]), newly_held=int(newly[i]),
                           on_list=int(on_list[i]), on_list_exposure=money(on_exp[i])))
    return Rules(rows=out)


def _dedupe(bidx: NDArray[np.int32], eid: NDArray[np.bytes_], t: I64, order: I64) -> NDArray[np.bool_]:
    """True for the first copy of each (borrower, event id), by instant and input order."""
    keep = np.zeros(bidx.size, dtype=bool)
    if bidx.size == 0:
        return keep
    o = np.lexsort((order, t, eid, bidx))
    b, e = bidx[o], eid[o]
    keep[o[np.r_[True, (b[1:] != b[:-1]) | (e[1:] != e[:-1])]]] = True
    return keep


def inspections(ctx: Context, capacity: Mapping[str, float] | None) -> Inspections:
    s, sc, ev, p = ctx.state, ctx.sched, ctx.events, ctx.period
    first, last = _days(p.first), _days(p.last)
    # entries in force in the period: each borrower's last before it, then those inside it
    pre = np.flatnonzero(sc.pre_has)
    b = np.concatenate([pre, sc.bidx]).astype(np.int64)
    t = np.concatenate([np.full(pre.size, p.start_us - 1, dtype=np.int64), sc.t])
    due = np.concatenate([sc.pre_due[pre], sc.due]).astype(np.int64)
    team = np.concatenate([sc.pre_team[pre], sc.team]).astype(np.int64)
    insp = np.concatenate([sc.pre_insp[pre], sc.insp])
    seq = np.arange(b.size, dtype=np.int64)
    o = np.lexsort((seq, t, b))
    b, t, due, team, insp = b[o], t[o], due[o], team[o], insp[o]
    # an obligation (segment) starts when the due date changes or a visit sets it again
    new = np.r_[True, (b[1:] != b[:-1]) | (due[1:] != due[:-1])] | insp
    sg = np.flatnonzero(new)
    sg_b, sg_due, sg_team = b[sg], due[sg], team[sg]
    nxt_same = np.r_[sg_b[1:] == sg_b[:-1], False]
    nxt_insp = np.r_[insp[sg][1:], False]
    replaced = nxt_same & ~nxt_insp  # pulled forward before it fell due: the new date counts instead
    due_in = (sg_due >= first) & (sg_due <= last) & ~replaced
    current = ~nxt_same
    cur_prof = s.prof_end[sg_b]
    overdue = current & cur_prof & (sg_due >= 0) & (sg_due < ctx.ref_day)
    nf, nl = p.next_days()
    planned = current & cur_prof & (sg_due >= _days(nf)) & (sg_due <= _days(nl))
    # visits made in the period (first copy of each event), with the due date in force just before
    ins = ev.inspections
    ib, it, io = ins.col("bidx", np.int32), ins.col("t"), ins.col("order")
    keep = _dedupe(ib, ins.col("eid", "S1"), it, io)
    ib, it = ib[keep].astype(np.int64), it[keep]
    iteam, iout = ins.col("team", np.int32)[keep].astype(np.int64), ins.col("outcome", np.int32)[keep]
    kb = np.concatenate([ib, b])
    kt = np.concatenate([it, t])
    kind = np.concatenate([np.zeros(ib.size, np.int8), np.ones(b.size, np.int8)])
    pos = np.concatenate([np.full(ib.size, -1, np.int64), np.arange(b.size, dtype=np.int64)])
    oo = np.lexsort((kind, kt, kb))
    run = np.maximum.accumulate(pos[oo]) if oo.size else pos
    prior = np.full(kb.size, -1, dtype=np.int64)
    prior[oo] = run
    pi = prior[: ib.size]
    prior_due = np.full(ib.size, -1, dtype=np.int64)
    vteam = iteam
    if b.size:
        safe = np.maximum(pi, 0)
        valid = (pi >= 0) & (b[safe] == ib)
        prior_due = np.where(valid, due[safe], -1)
        vteam = np.where(valid & (team[safe] >= 0), team[safe], iteam)
    visit_day = local_days(it, p.zone)
    on_time = (prior_due < 0) | (visit_day <= prior_due)
    # per team
    teams = ev.teams.values
    unknown = len(teams)

    def per_team(codes: I64) -> I64:
        return np.bincount(np.where(codes >= 0, codes, unknown), minlength=unknown + 1)

    due_n = per_team(sg_team[due_in])
    done_n = per_team(vteam)
    ontime_n = per_team(vteam[on_time])
    over_n = per_team(sg_team[overdue])
    plan_n = per_team(sg_team[planned])
    wd = working_days(nf, nl)
    cap = dict(capacity or {})
    names = [*teams, "—"]
    rows = []
    for i in sorted(range(unknown + 1), key=lambda j: names[j]):
        if not (due_n[i] or done_n[i] or over_n[i] or plan_n[i]) and names[i] not in cap:
            continue
        rows.append(_team_row(names[i], due_n[i], done_n[i], ontime_n[i], over_n[i], plan_n[i], cap.get(names[i]),
                              wd, capacity is not None))
    total_cap = sum(cap.values()) if capacity is not None else None
    total = _team_row("*", due_n.sum(), done_n.sum(), ontime_n.sum(), over_n.sum(), plan_n.sum(), total_cap, wd,
                      capacity is not None)
    outcomes = np.bincount(iout[iout >= 0].astype(np.int64), minlength=len(OUTCOMES))
    return Inspections(next_first_day=nf.isoformat(), next_last_day=nl.isoformat(), next_working_days=wd,
                       capacity_configured=capacity is not None,
                       outcomes={name: int(outcomes[i]) for i, name in enumerate(OUTCOMES)}, teams=rows, total=total)


def _team_row(name: str, due: int, done: int, on_time: int, overdue: int, planned: int, per_day: float | None,
              wd: int, configured: bool) -> TeamRow:
    cap_next = round(per_day * wd, 2) if per_day is not None else None
    load = round((int(planned) + int(overdue)) / cap_next, 4) if cap_next else None
    return TeamRow(team=name, due=int(due), done=int(done), done_on_time=int(on_time),
                   on_time_rate=share(on_time, done) if done else None, overdue=int(overdue),
                   planned_next=int(planned), capacity_per_day=per_day if configured else None,
                   capacity_next=cap_next, load=load)


def data_health(ctx: Context, as_of_us: int, rejects: Sequence[Mapping[str, object]],
                feeds: Mapping[str, FeedConfig]) -> DataHealth:
    events, dups = ctx.events.feed_events, ctx.events.feed_copies  # as the engine applied them
    rows = []
    for k, name in enumerate(EVENT_TYPES):
        newest = int(ctx.events.newest[k])
        has = newest != np.iinfo(np.int64).min
        conf = feeds[name]
        rows.append(FeedRow(feed=name, expected_days=conf.expected_days,
                            status=feed_status(conf, newest if has else None, as_of_us),  # type: ignore[arg-type]
                            events=int(events[k]), duplicates=int(dups[k]), newest=iso(newest) if has else None,
                            age_hours=round((as_of_us - newest) / 3_600_000_000, 1) if has else None,
                            after_as_of=int(ctx.events.after_cut[k])))
    counts: dict[str, int] = {}
    for r in rejects:
        reason = str(r.get("reason", ""))
        counts[reason] = counts.get(reason, 0) + 1
    reasons = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return DataHealth(lines_read=ctx.events.lines, rejected=ctx.events.skipped, feeds=rows,
                      rejects=[RejectRow(reason=k, lines=v) for k, v in reasons])

