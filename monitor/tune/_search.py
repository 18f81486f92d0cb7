"""Drawing candidate policies, the constraints (budgets), the choice and the Pareto frontier. Pure.

Search, deterministic for a seed (``random.Random(seed)``, nothing else):

1. Round 1: the base policy (every parameter at its base value; when a base
   value is not among the choices, the nearest choice) and random draws, half
   of the candidates in all.
2. Later rounds (a quarter of the rest each, the last takes what is left):
   neighbours of the best feasible candidates so far and of the frontier: one
   or two parameters moved one or two choices up or down, or redrawn.
3. A candidate already drawn is never drawn again; when the space has fewer
   points than the budget, the search stops early.

A candidate is *feasible* when every constraint holds. The chosen policy is
the feasible candidate with the highest headline detection at 90 days
(warning+), then the fewest visits per borrower-year, then the fewest
alerts, then the earliest drawn. The Pareto frontier: the valid candidates
(inside every constraint except the visit budget) that no other such
candidate beats on both detection at 90 days (higher) and visits per
borrower-year (lower).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor._errors import InputError
from monitor.tune._space import Space, Value

__all__ = ["METRICS", "Candidate", "Constraint", "chosen", "draw_round", "frontier", "metric", "parse_constraint"]


@dataclass(slots=True)
class Candidate:
    index: int
    values: tuple[Value, ...]
    figures: dict[str, float | None] = field(default_factory=dict)
    invalid: str | None = None  # the policy error, when the values make no valid policy
    failed: list[str] = field(default_factory=list)  # the metrics of the constraints it breaks
    full: dict[str, Any] | None = field(default=None, repr=False)  # every backtest figure (not written out)

    @property
    def feasible(self) -> bool:
        return self.invalid is None and not self.failed


# name -> (description, where in one policy's backtest figures)
METRICS: dict[str, tuple[str, Callable[[dict[str, Any]], float | None]]] = {
    "detection90": ("warning+ at least 90 days before the default and still flagged at it",
                    lambda f: f["detection"]["warning"]["detected"]["90d"]["rate"]),
    "detection30": ("warning+ at least 30 days before and still flagged",
                    lambda f: f["detection"]["warning"]["detected"]["30d"]["rate"]),
    "detection180": ("warning+ at least 180 days before and still flagged",
                     lambda f: f["detection"]["warning"]["detected"]["180d"]["rate"]),
    "watch_detection90": ("watch+ at least 90 days before and still flagged",
                          lambda f: f["detection"]["watch"]["detected"]["90d"]["rate"]),
    "precision": ("precision of warning+ (default within 12 months)",
                  lambda f: f["false_alarms"]["warning"]["precision"]),
    "false_positive_rate": ("share of non-defaulters flagged warning+",
                            lambda f: f["false_alarms"]["warning"]["false_positive_rate"]),
    "visits": ("visits per borrower-year", lambda f: f["workload"]["visits_per_borrower_year"]),
    "visits_ratio": ("visits against a visit every 90 days", lambda f: f["workload"]["ratio_to_baseline"]),
    "alerts": ("alerts per borrower-year", lambda f: f["stability"]["alerts_per_borrower_year"]),
    "flips": ("tier flips per borrower-year", lambda f: f["stability"]["flips_per_borrower_year"]),
    "watch_share": ("watch+ share at month ends", lambda f: f["month_ends"]["watch_plus_share"]),
    "severe_share": ("severe share at month ends", lambda f: f["month_ends"]["severe_share"]),
    "late": ("share of visits the teams cannot make by the due date",
             lambda f: (f["workload"].get("capacity") or {}).get("late_share")),
}


def metric(name: str, figures: dict[str, Any]) -> float | None:
    return METRICS[name][1](figures)


@dataclass(frozen=True, slots=True)
class Constraint:
    metric: str
    op: str  # "<=" or ">="
    bound: float
    text: str

    def holds(self, figures: dict[str, float | None]) -> bool:
        v = figures.get(self.metric)
        if v is None:
            return False
        return v <= self.bound if self.op == "<=" else v >= self.bound


_BUDGET = re.compile(r"^\s*(visits|alerts|late)\s*=\s*([0-9]*\.?[0-9]+)\s*(x?)\s*$")
_REQUIRE = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=)\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


def parse_constraint(text: str, *, budget: bool) -> Constraint:
    """``--budget visits=2.5`` (per borrower-year), ``visits=0.7x`` (times a visit every 90 days),
    ``alerts=1.0`` (per borrower-year), ``late=0.05`` (share, needs --teams); ``--require METRIC>=X``."""
    if budget:
        m = _BUDGET.match(text)
        if not m:
            raise InputError(f"--budget {text!r}: write visits=N (per borrower-year), visits=Nx (times a visit "
                             "every 90 days), alerts=N (per borrower-year) or late=S (share of visits late)")
        what, num, times = m.groups()
        if times and what != "visits":
            raise InputError(f"--budget {text!r}: only the visit budget can be relative (Nx)")
        name = "visits_ratio" if times else what
        return Constraint(name, "<=", float(num), text.strip())
    m = _REQUIRE.match(text)
    if not m or m.group(1) not in METRICS:
        raise InputError(f"--require {text!r}: write METRIC>=X or METRIC<=X with METRIC one of "
                         f"{', '.join(sorted(METRICS))}")
    name, op, num, pct = m.groups()
    return Constraint(name, op, float(num) / (100 if pct else 1), text.strip())


def _nearest(choices: Sequence[Value], base: Value) -> int:
    if base in choices:
        return list(choices).index(base)
    if isinstance(base, (int, float)) and not isinstance(base, bool):
        return min(range(len(choices)), key=lambda i: (abs(float(choices[i]) - float(base)), i))  # type: ignore[arg-type]
    return 0


def _key(values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple((type(v).__name__, v) for v in values)


def space_size(space: Space) -> int:
    n = 1
    for p in space.params:
        n *= len(p.choices)
        if n > 10**12:
            break
    return n


def draw_round(space: Space, rng: random.Random, seen: set[tuple[Any, ...]], count: int,
               parents: Sequence[Candidate], start_index: int) -> list[Candidate]:
    """Up to ``count`` new candidates: random draws when there are no parents, else neighbours of them."""
    out: list[Candidate] = []
    params = space.params
    tries = 0
    if not seen:
        values = tuple(p.choices[_nearest(p.choices, p.base)] for p in params)
        seen.add(_key(values))
        out.append(Candidate(start_index, values))
    while len(out) < count and tries < 50 * count + 100:
        tries += 1
        if parents:
            parent = parents[len(out) % len(parents)] if tries <= count else rng.choice(list(parents))
            idx = [list(p.choices).index(v) for p, v in zip(params, parent.values)]
            for _ in range(1 if rng.random() < 0.6 else 2):
                k = rng.randrange(len(params))
                n = len(params[k].choices)
                if n == 1:
                    continue
                if rng.random() < 0.25:
                    idx[k] = rng.randrange(n)
                else:
                    idx[k] = min(n - 1, max(0, idx[k] + rng.choice((-2, -1, 1, 2))))
            values = tuple(p.choices[i] for p, i in zip(params, idx))
        else:
            values = tuple(rng.choice(p.choices) for p in params)
        key = _key(values)
        if key in seen:
            continue
        seen.add(key)
        out.append(Candidate(start_index + len(out), values))
    return out


def _rank(c: Candidate) -> tuple[float, float, float, int]:
    f = c.figures
    return (-(f.get("detection90") or 0.0), f.get("visits") or float("inf"), f.get("alerts") or float("inf"),
            c.index)


def chosen(cands: Sequence[Candidate]) -> Candidate | None:
    feasible = [c for c in cands if c.feasible]
    return min(feasible, key=_rank) if feasible else None


def frontier(cands: Sequence[Candidate], visit_metrics: tuple[str, ...] = ("visits", "visits_ratio")
             ) -> list[Candidate]:
    """The Pareto frontier of detection at 90 days against visits per borrower-year (see the docstring)."""
    valid = [c for c in cands if c.invalid is None and c.figures.get("detection90") is not None
             and c.figures.get("visits") is not None
             and all(f in visit_metrics for f in c.failed)]
    valid.sort(key=lambda c: (c.figures["visits"], -(c.figures["detection90"] or 0.0), c.index))
    out: list[Candidate] = []
    best = -1.0
    for c in valid:
        d = c.figures["detection90"] or 0.0
        if d > best:
            out.append(c)
            best = d
    return out
