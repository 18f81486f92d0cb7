"""A synthetic portfolio calibrated to public statistics, for demos, tests, backtests and tuning.

``simulate(borrowers, months, seed)`` generates every feed but the
inspections with numpy (vectorised over borrowers; loops run over months
only), then runs the policy in the loop: each borrower's events go through
:class:`monitor.engine.Engine` and the inspection teams visit when the
engine's schedule says a visit is due (:mod:`monitor._sim_visits`).
``write_simulation(result, path)`` formats and writes the file in chunks;
``iter_lines(result)`` yields the same lines without a file. The output is a
pure function of the arguments and the policy (with the pinned numpy): the
same seed gives byte-identical files, on one process or several.

Calibration
    The statistics measured on the written file (``monitor calibration FILE``
    or ``monitor simulate ... --calibration``; :mod:`monitor._sim_calibration`
    defines each one and names the public source of its band) fall in these
    bands: annual default rate (90+ DPD or grade D) 1.5-2.5 %; stock at 90+ DPD
    at a month end 1.0-2.0 %; stock at 1-89 DPD 1.5-3.0 %; borrowers with any
    own-bank overdue in a year 8-15 %, about 70 % of episodes cured within 7
    days; rating downgrades / upgrades per borrower-year 4-8 % / 6-12 %;
    initial book at CCC or worse at most 2 %; defaulted borrowers leave 90-360
    days after default; about 90 % of routine visits by their due date, the
    rest 1-30 days late, every response visit by its deadline. Small
    portfolios scatter around the bands (a few thousand borrowers and 24
    months keep every statistic inside them).

The model (``monitor/_sim_model.py``, each parameter beside the band it moves)
    Borrowers ``B000001``... (segment micro/small/medium/retail, exposure
    lognormal by segment, 8 branches with 2-3 inspection teams each, 1-3
    accounts ``B000001-A1``...) start either at the simulation start (the
    existing book, disbursed within the year before, going live with the
    arrears it has then) or when disbursed during the horizon. Each borrower
    has a default intensity by initial grade (S&P-shaped, ~2 % a year over the
    book, nothing in the first 180 days after disbursement). A defaulter
    either deteriorates first (88 %: a hidden stress ramps up over 5-15 months,
    with rating downgrades, external arrears, multi-lending, debt and
    guarantee jumps, lawsuits and bad inspection outcomes, then an own-bank
    arrears run to 90 DPD; a quarter have their rating cut to D before 90 DPD)
    or defaults out of the blue (12 %: grade D first, arrears after). Some
    borrowers deteriorate and recover without defaulting (the false alarms).
    Own-bank arrears are technical (cured within a week; mostly habitual late
    payers) or long (cured after 8-88 DPD; mostly stressed borrowers). The
    unstressed noise is low: a random external DPD on 0.15 % of bureau
    reports, a legitimate external-debt jump for 1.5 % of borrowers a year,
    lawsuits against ~3.5 % of companies a year that rarely reach enforcement.

Leaving the book
    A defaulted borrower is written off, repaid or sold 90-360 days after its
    default (mean ~270 days). The three look alike in the feeds: at the exit
    the core-banking batch reports the defaulted account with
    ``days_past_due`` 0 and ``overdue_amount`` 0 (the arrears left the
    books), a minute later a last ``loan_profile`` with ``exposure`` 0.00,
    and then no feed mentions the borrower again (no bureau report, rating,
    lawsuit or visit). Until then it stays in the feeds, at 90+ DPD; the
    engine's workout hand-over takes it off the routine visit schedule.

Inspections
    Made when the engine's schedule asks: a response visit (after a rise of
    the effective tier) always by its due date; a routine visit (the first
    check after disbursement, the interval after a visit) by its due date in
    90 % of cases, in the three weeks before it, else 1-30 days late; on
    weekdays, 09:00-17:00 when possible. An existing borrower whose first
    check was already due when the book went live is visited within 90 days.
    No visit while the schedule shows no due date (workout) or after the
    borrower left. The outcome follows the hidden stress.

Events file (JSONL, gzip when the name ends with ``.gz``)
    One event per line, as in :mod:`monitor.events`: ``event_id`` is
    ``sim-<seed>-<n:09d>`` with n the event's place in the file (unique),
    ``occurred_at`` is local time with offset ``+08:00``, ``source`` names the
    upstream system (``core-banking``, ``rating-system``, ``court-feed``,
    ``pboc-crc`` and ``baihang`` for the two bureau batches, ``inspection-app``).
    Lines are sorted by ``occurred_at`` (ties: borrower, then type in the order
    loan_profile, rating_change, overdue, lawsuit, bureau_report,
    inspection_completed), except: each re-sent duplicate (``duplicates`` rate)
    repeats its original line byte for byte and is placed where events
    1-30 minutes later than the original sit; each malformed line
    (``malformed`` rate, an extra line with event_id ``sim-<seed>-x<n:08d>``)
    is one of: truncated JSON, unknown type, missing field, naive timestamp,
    negative days_past_due, unknown grade, negative amount, JSON that is not
    an object, missing borrower_id, single-quoted pseudo-JSON, unexpected field
    (cycling through them in file order). Each borrower's first event is its
    ``loan_profile``; later profiles carry the amortised exposure.

Overdue convention
    ``days_past_due`` d at ``occurred_at`` t means d + (days elapsed since t)
    until the next event of the same ``account_id``; 0 means cured. An episode
    is a first event (d = 1-5, at the 02:00 batch), updates 14, 29 and 59 days
    later while it lasts (d + 14, ...), then a cure before 90 DPD; or, for a
    defaulter, no cure and updates at 91-95 DPD and every 30 days after until
    it leaves the book (the 0 above). Arrears already running when the book
    goes live are reported on the first day, at the time of day of the
    account's batch, with the days past due reached by then. Updates always
    agree with counting forward.

Ground truth (outcomes) file: ``outcomes_path(events)``
    One JSON object per line per borrower that defaulted within the horizon,
    sorted by ``borrower_id``::

        {"borrower_id": "B000123", "defaulted_at": "2025-06-01T02:13:20+08:00", "reason": "dpd90"}

    ``defaulted_at`` is the first instant at which any account reaches 90 DPD
    (an overdue event with d > 0 at t gives t + max(0, 90 - d) days, unless a
    later event of that account comes at or before then) or the
    ``occurred_at`` of the first ``rating_change`` to grade D, whichever comes
    first (``reason`` ``dpd90`` or ``grade_d``; ``dpd90`` on a tie). Instants at or
    after the horizon end (start + months) do not count. A bank supplies its
    own outcomes in the same format.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from monitor import _sim_model as sm
from monitor import _sim_visits
from monitor._sim_calibration import BANDS, Band, Measured, format_table as calibration_table
from monitor._sim_calibration import measure as measure_calibration
from monitor.events import GRADES
from monitor.rules.policy import Policy

__all__ = ["BANDS", "MALFORMED_KINDS", "Band", "Measured", "Outcome", "SimulationResult", "calibration_table",
           "iter_chunks", "iter_lines", "measure_calibration", "outcomes_path", "simulate", "write_simulation"]

TYPE_ORDER = ("loan_profile", "rating_change", "overdue", "lawsuit", "bureau_report", "inspection_completed")
CHUNK = 200_000
GZIP_LEVEL = 5
_O = sm.OFFSET


@dataclass(frozen=True)
class Outcome:
    """One borrower's default: ``defaulted_at`` in seconds on the +08:00 local clock."""

    borrower_id: str
    defaulted_at: int
    reason: str

    def to_json(self) -> str:
        return (f'{{"borrower_id":"{self.borrower_id}","defaulted_at":"{_iso(self.defaulted_at)}",'
                f'"reason":"{self.reason}"}}')


@dataclass
class SimulationResult:
    """A generated portfolio: columns of events in file order plus the outcomes."""

    seed: int
    borrowers: int
    months: int
    start: str
    portfolio: sm.Portfolio = field(repr=False)
    borrower_ids: np.ndarray = field(repr=False)
    order_type: np.ndarray = field(repr=False)  # per event in file order: index into TYPE_ORDER
    order_row: np.ndarray = field(repr=False)  # ... and the row in that type's table
    line_kind: np.ndarray = field(repr=False)  # per line: 0 event, 1 duplicate, 2 malformed
    line_ref: np.ndarray = field(repr=False)  # event index, or malformed index
    bad_near: np.ndarray = field(repr=False)  # per malformed line: the event just before it
    outcomes: list[Outcome] = field(repr=False)

    @property
    def n_events(self) -> int:
        """Distinct events (not counting duplicates and malformed lines)."""
        return len(self.order_type)

    @property
    def n_lines(self) -> int:
        return len(self.line_kind)

    @property
    def n_duplicates(self) -> int:
        return int((self.line_kind == 1).sum())

    @property
    def n_malformed(self) -> int:
        return int((self.line_kind == 2).sum())

    def counts(self) -> dict[str, int]:
        """Distinct events per type."""
        c = np.bincount(self.order_type, minlength=len(TYPE_ORDER))
        return {name: int(x) for name, x in zip(TYPE_ORDER, c)}

    def stats(self) -> dict[str, object]:
        """Headline figures: volumes, events per borrower-month, default rate."""
        reasons = [o.reason for o in self.outcomes]
        return {
            "borrowers": self.borrowers, "months": self.months, "events": self.n_events,
            "lines": self.n_lines, "duplicates": self.n_duplicates, "malformed": self.n_malformed,
            "events_per_borrower_month": self.n_events / max(1, self.borrowers * self.months),
            "by_type": self.counts(), "defaults": len(self.outcomes),
            "default_rate": len(self.outcomes) / max(1, self.borrowers),
            "dpd90": reasons.count("dpd90"), "grade_d": reasons.count("grade_d"),
            "horizon": [_iso(self.portfolio.start_ts), _iso(self.portfolio.end_ts)],
        }


def outcomes_path(events_path: Path) -> Path:
    """Where the ground truth goes: ``events.jsonl[.gz]`` -> ``events.outcomes.jsonl``."""
    events_path = Path(events_path)
    name = events_path.name
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in (".jsonl", ".ndjson", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return events_path.with_name(f"{name}.outcomes.jsonl")


def simulate(borrowers: int, months: int, seed: int, *, start: str = "2025-01-01",
             duplicates: float = 0.0, malformed: float = 0.0, policy: Policy | None = None,
             jobs: int | None = 1) -> SimulationResult:
    """Generate ``borrowers`` loans over ``months`` calendar months from ``start``.

    ``duplicates`` and ``malformed`` are rates relative to the number of
    distinct events (0.01 = 1 extra line per 100 events). The inspections
    follow the due dates of ``policy`` (default: the shipped default policy);
    the engine runs over the borrowers on ``jobs`` processes (``None``: 2 from
    5,000 borrowers when the machine has 2 or more cores, else 1); the result
    is the same for any ``jobs``. Several processes are started with
    ``spawn``, so a script that asks for them must guard its entry point
    (``if __name__ == "__main__":``). Raises ``ValueError`` on bad arguments.
    """
    if not isinstance(borrowers, int) or borrowers < 1:
        raise ValueError("borrowers must be a positive integer")
    if not isinstance(months, int) or not 1 <= months <= 600:
        raise ValueError("months must be an integer from 1 to 600")
    if not isinstance(seed, int):
        raise ValueError("seed must be an integer")
    for label, rate in (("duplicates", duplicates), ("malformed", malformed)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{label} must be a rate between 0 and 1")
    try:
        date.fromisoformat(start)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"start must be a date YYYY-MM-DD, got {start!r}") from exc
    if len(start) != 10:
        raise ValueError(f"start must be a date YYYY-MM-DD, got {start!r}")
    if jobs is None:
        jobs = min(2, os.cpu_count() or 1) if borrowers >= 5000 else 1
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError("jobs must be a positive integer")

    if policy is None:
        from monitor.rules.loader import default_policy

        policy = default_policy()
    p, _ = sm.build(borrowers, months, seed, start)
    width = max(6, len(str(borrowers)))
    ids = np.array([f"B{i:0{width}d}" for i in range(1, borrowers + 1)])
    p.tables["inspection_completed"] = _sim_visits.inspections(p, policy, seed, ids.tolist(), courts(), jobs)
    tabs = [p.tables[name] for name in TYPE_ORDER]
    t = np.concatenate([tab["t"] for tab in tabs])
    b = np.concatenate([tab["b"] for tab in tabs])
    kind = np.concatenate([np.full(len(tab["t"]), k, np.int8) for k, tab in enumerate(tabs)])
    row = np.concatenate([np.arange(len(tab["t"])) for tab in tabs])
    order = np.lexsort((row, kind, b, t))
    t_sorted = t[order]
    line_kind, line_ref, bad_near = _plan_lines(t_sorted, seed, duplicates, malformed)
    return SimulationResult(seed=seed, borrowers=borrowers, months=months, start=start, portfolio=p,
                            borrower_ids=ids, order_type=kind[order], order_row=row[order],
                            line_kind=line_kind, line_ref=line_ref, bad_near=bad_near,
                            outcomes=_outcomes(p, ids))


def _plan_lines(t_sorted: np.ndarray, seed: int, duplicates: float,
                malformed: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interleave duplicates and malformed lines with the sorted events."""
    n = len(t_sorted)
    rng = np.random.default_rng(sm.entropy(seed, 0x5EED))
    n_dup = min(n, int(round(duplicates * n)))
    n_bad = int(round(malformed * n))
    dup = np.sort(rng.choice(n, n_dup, replace=False)) if n_dup else np.zeros(0, np.int64)
    delay = rng.integers(60, 1801, n_dup)
    after_dup = np.searchsorted(t_sorted, t_sorted[dup] + delay, side="right") - 1
    after_bad = np.sort(rng.integers(-1, n, n_bad)) if n else np.full(n_bad, -1)
    # an event i sits at 2i+1; a line inserted after event j sits at 2j+2
    slot = np.concatenate([2 * np.arange(n) + 1, 2 * after_dup + 2, 2 * after_bad + 2])
    sub = np.arange(n + n_dup + n_bad)
    perm = np.lexsort((sub, slot))
    kind = np.concatenate([np.zeros(n, np.int8), np.ones(n_dup, np.int8), np.full(n_bad, 2, np.int8)])
    ref = np.concatenate([np.arange(n), dup, np.arange(n_bad)])
    return kind[perm], ref[perm], np.clip(after_bad, 0, max(n - 1, 0))


def _outcomes(p: sm.Portfolio, ids: np.ndarray) -> list[Outcome]:
    """Recompute each default instant from the event columns (see the docstring)."""
    never = sm.NO_TIME
    od = p.tables["overdue"]
    o = np.lexsort((od["t"], od["account"], od["b"]))
    t, b, a, d = od["t"][o], od["b"][o], od["account"][o], od["dpd"][o].astype(np.int64)
    same_next = np.append((b[1:] == b[:-1]) & (a[1:] == a[:-1]), False)
    t_next = np.where(same_next, np.append(t[1:], never), never)
    cand = t + np.maximum(0, 90 - d) * sm.DAY
    ok = (d > 0) & (cand < t_next) & (cand < p.end_ts)
    dpd_at = np.full(p.n, never, np.int64)
    np.minimum.at(dpd_at, b[ok], cand[ok])
    rc = p.tables["rating_change"]
    isd = rc["new"] == sm.D
    grade_at = np.full(p.n, never, np.int64)
    np.minimum.at(grade_at, rc["b"][isd], rc["t"][isd])
    first = np.minimum(dpd_at, grade_at)
    hit = np.flatnonzero(first < never)
    return [Outcome(str(ids[i]), int(first[i]), "dpd90" if dpd_at[i] <= grade_at[i] else "grade_d")
            for i in hit]


def courts() -> list[str]:
    """The court names, by the ``court`` column of the lawsuit table."""
    return [f"{sm.CITY[c % 8]}市{'中级' if c >= 8 else sm.DISTRICT[c]}人民法院" for c in range(2 * len(sm.BRANCHES))]


def _iso(t: int) -> str:
    return str(np.datetime64(int(t), "s")) + _O


def _ts(t: np.ndarray) -> list[str]:
    return np.datetime_as_string(t.astype("datetime64[s]"), unit="s").tolist()


_TEMPLATES = {
    "loan_profile": '%s"exposure":%.2f,"grade":"%s",%s}',
    "rating_change": '"old_grade":"%s","new_grade":"%s"}',
    "overdue": '"account_id":"%s-A%d","product":"%s","days_past_due":%d,"overdue_amount":%.2f}',
    "lawsuit": '"case_id":"%s","role":"%s","case_type":"%s","stage":"%s","claim_amount":%.2f,"court":"%s"}',
    "bureau_report": ('"max_external_dpd":%d,"external_overdue_amount":%.2f,"hard_inquiries_30d":%d,'
                      '"total_external_debt":%.2f,"guarantee_exposure":%.2f}'),
    "inspection_completed": '"team":"%s","inspector":"%s","outcome":"%s"%s}',
}
_SOURCES = {"loan_profile": "core-banking", "rating_change": "rating-system", "overdue": "core-banking",
            "lawsuit": "court-feed", "inspection_completed": "inspection-app"}


def _bad(kind: str, rest: str, offset: str = _O) -> str:
    return ('{"event_id":"%(e)s","type":"' + kind + '","borrower_id":"%(b)s","occurred_at":"%(t)s'
            + offset + '",' + rest)


_BUREAU_REST = '"hard_inquiries_30d":1,"total_external_debt":500000.00,"guarantee_exposure":0.00}'
_BAD = (  # one per MALFORMED_KINDS, in that order
    _bad("overdue", '"account_id":"%(b)s-A1","days_past_'),
    _bad("credit_alert", '"level":"high"}'),
    _bad("overdue", '"account_id":"%(b)s-A1","product":"working_capital","overdue_amount":1250.00}'),
    _bad("rating_change", '"old_grade":"BB","new_grade":"B"}', offset=""),
    _bad("overdue", '"account_id":"%(b)s-A1","product":"working_capital","days_past_due":-3,'
                    '"overdue_amount":1250.00}'),
    _bad("rating_change", '"old_grade":"BB","new_grade":"E"}'),
    _bad("bureau_report", '"max_external_dpd":0,"external_overdue_amount":-1250.50,' + _BUREAU_REST),
    '["%(e)s","overdue","%(b)s","%(t)s' + _O + '",3]',
    '{"event_id":"%(e)s","type":"bureau_report","occurred_at":"%(t)s' + _O
    + '","max_external_dpd":0,"external_overdue_amount":0.00,' + _BUREAU_REST,
    "{'event_id': '%(e)s', 'type': 'overdue', 'borrower_id': '%(b)s', 'days_past_due': 3}",
    _bad("inspection_completed", '"team":"shanghai-1","inspector":"insp-01","outcome":"normal","rating":"A"}'),
)
MALFORMED_KINDS = ("truncated", "unknown_type", "missing_field", "naive_timestamp", "negative_dpd",
                   "unknown_grade", "negative_amount", "not_object", "missing_borrower_id",
                   "single_quotes", "unexpected_field")


class _Formatter:
    def __init__(self, r: SimulationResult) -> None:
        self.r, self.p = r, r.portfolio
        self.eid = f"sim-{r.seed}-"
        self.head = {k: '{"event_id":"%s%09d","type":"' + k + '","borrower_id":"%s","occurred_at":"%s'
                     + _O + '","source":"' + src + '",' for k, src in _SOURCES.items()}
        self.courts = courts()
        self._profile_static: tuple[np.ndarray, np.ndarray] | None = None

    def _common(self, name: str, rows: np.ndarray, ranks: np.ndarray) -> tuple[dict, list, list, list]:
        tab = self.p.tables[name]
        return tab, ranks.tolist(), self.r.borrower_ids[tab["b"][rows]].tolist(), _ts(tab["t"][rows])

    def _statics(self) -> tuple[np.ndarray, np.ndarray]:
        if self._profile_static is None:
            b = self.p.borrower
            first = [f'"segment":"{sm.SEGMENTS[s]}","industry":"{sm.INDUSTRIES[i]}","branch":"{sm.BRANCHES[br]}",'
                     f'"team":"{sm.TEAMS[t]}",' for s, i, br, t in
                     zip(b["seg"].tolist(), b["industry"].tolist(), b["branch"].tolist(), b["team"].tolist())]
            dis = _ts(b["disbursed"])
            last = [f'"product":"{sm.PRODUCTS[pr]}","mitigation":"{sm.MITIGATIONS[m]}","disbursed_at":"{d}{_O}"'
                    + ("" if nm is None else f',"name":"{nm}"') for pr, m, d, nm in
                    zip(b["prod"][:, 0].tolist(), b["mitig"].tolist(), dis, self.p.names)]
            self._profile_static = (np.array(first, dtype=object), np.array(last, dtype=object))
        return self._profile_static

    def lines(self, kind: int, rows: np.ndarray, ranks: np.ndarray) -> list[str]:
        name = TYPE_ORDER[kind]
        tab, rk, bid, ts = self._common(name, rows, ranks)
        e, body = self.eid, _TEMPLATES[name]
        if name == "bureau_report":
            heads = ['{"event_id":"%s%09d","type":"bureau_report","borrower_id":"%s","occurred_at":"%s'
                     + _O + '","source":"' + s + '",' + body for s in sm.BUREAU_SOURCES]
            cols = (tab[c][rows].tolist() for c in ("source", "dpd", "overdue", "inquiries", "debt", "guarantee"))
            return [heads[s] % (e, r, bi, t, d, o, q, x, g)
                    for r, bi, t, s, d, o, q, x, g in zip(rk, bid, ts, *cols)]
        tmpl = self.head.get(name, "") + body
        if name == "loan_profile":
            first, last = self._statics()
            bs = tab["b"][rows]
            grade = [GRADES[g] for g in tab["grade"][rows].tolist()]
            return [tmpl % (e, r, bi, t, f, x, g, la) for r, bi, t, f, x, g, la in
                    zip(rk, bid, ts, first[bs], tab["exposure"][rows].tolist(), grade, last[bs])]
        if name == "rating_change":
            return [tmpl % (e, r, bi, t, GRADES[o], GRADES[nw]) for r, bi, t, o, nw in
                    zip(rk, bid, ts, tab["old"][rows].tolist(), tab["new"][rows].tolist())]
        if name == "overdue":
            return [tmpl % (e, r, bi, t, bi, a + 1, sm.PRODUCTS[pr], d, x) for r, bi, t, a, pr, d, x in
                    zip(rk, bid, ts, tab["account"][rows].tolist(), tab["product"][rows].tolist(),
                        tab["dpd"][rows].tolist(), tab["amount"][rows].tolist())]
        if name == "lawsuit":
            ids, court = self.p.case_ids, self.courts
            return [tmpl % (e, r, bi, t, ids[c], sm.ROLES[ro], sm.CASE_TYPES[ct], sm.STAGES[st], x, court[co])
                    for r, bi, t, c, ro, ct, st, x, co in
                    zip(rk, bid, ts, *(tab[k][rows].tolist() for k in
                                       ("case", "role", "ctype", "stage", "claim", "court")))]
        teams = self.p.borrower["team"]
        return [tmpl % (e, r, bi, t, sm.TEAMS[tm], _sim_visits.inspector_name(tm, k),
                        sm.OUTCOMES[o], "" if nt < 0 else f',"notes":"{sm.NOTES[o][nt]}"')
                for r, bi, t, tm, k, o, nt in
                zip(rk, bid, ts, teams[tab["b"][rows]].tolist(), tab["inspector"][rows].tolist(),
                    tab["outcome"][rows].tolist(), tab["note"][rows].tolist())]

    def bad(self, idx: np.ndarray, near: np.ndarray) -> list[str]:
        r = self.r
        kinds = r.order_type[near], r.order_row[near]
        bs = [self.p.tables[TYPE_ORDER[k]]["b"][row] for k, row in zip(*kinds)]
        ts = [self.p.tables[TYPE_ORDER[k]]["t"][row] for k, row in zip(*kinds)]
        return [_BAD[i % len(_BAD)] % {"e": f"sim-{r.seed}-x{i:08d}", "b": r.borrower_ids[b], "t": _iso(t)[:-6]}
                for i, b, t in zip(idx.tolist(), bs, ts)]


def iter_chunks(result: SimulationResult, chunk: int = CHUNK) -> Iterator[list[str]]:
    """The file's lines in order (without newlines), a list per chunk."""
    fmt = _Formatter(result)
    for lo in range(0, result.n_lines, chunk):
        kind = result.line_kind[lo:lo + chunk]
        ref = result.line_ref[lo:lo + chunk]
        out = np.empty(len(kind), dtype=object)
        ev = kind < 2
        ranks = ref[ev]
        types, rows = result.order_type[ranks], result.order_row[ranks]
        placed = np.flatnonzero(ev)
        for k in range(len(TYPE_ORDER)):
            m = types == k
            if m.any():
                out[placed[m]] = fmt.lines(k, rows[m], ranks[m])
        bad = np.flatnonzero(~ev)
        if len(bad):
            out[bad] = fmt.bad(ref[bad], result.bad_near[ref[bad]])
        yield out.tolist()


def iter_lines(result: SimulationResult) -> Iterator[str]:
    """Each line of the events file, in order, without the newline."""
    for lines in iter_chunks(result):
        yield from lines


def write_simulation(result: SimulationResult, out: Path) -> None:
    """Write the events (gzip when ``out`` ends with ``.gz``) and the outcomes beside them."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw:
        sink = (gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0)
                if out.name.endswith(".gz") else raw)
        try:
            for lines in iter_chunks(result):
                lines.append("")
                sink.write("\n".join(lines).encode("utf-8"))
        finally:
            if sink is not raw:
                sink.close()
    text = "".join(o.to_json() + "\n" for o in result.outcomes)
    outcomes_path(out).write_bytes(text.encode("utf-8"))
