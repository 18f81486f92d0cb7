"""Running a search: the portfolio read once into worker processes, candidates scored round by round."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor._errors import InputError, PolicyError
from monitor.backtest import PartPool, PolicySource, merge, no_gc, prepare, score_runs
from monitor.teams import TeamsConfig, load_teams
from monitor.rules.policy import Policy, parse_policy
from monitor.tune._search import (
    METRICS,
    Candidate,
    Constraint,
    chosen,
    draw_round,
    frontier,
    metric,
    space_size,
)
from monitor.tune._space import Space, apply_params

__all__ = ["Scored", "TuneResult", "file_sha256", "run_tune", "score_policies"]

FIGURES = tuple(METRICS)


@dataclass(slots=True)
class TuneResult:
    space: Space
    constraints: list[Constraint]
    candidates: list[Candidate]
    best: Candidate | None
    front: list[Candidate]
    inputs: dict[str, Any]
    base_figures: dict[str, Any] | None = None  # the base policy's full figures
    best_figures: dict[str, Any] | None = None
    holdout: dict[str, Any] | None = None
    rounds: int = 0
    seconds: float = 0.0
    jobs: int = 1
    timings: dict[str, float] = field(default_factory=dict)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _policy_data(space: Space, c: Candidate) -> dict[str, Any]:
    data = apply_params(space.base_data, space.params, c.values)
    data["version"] = f"tune-candidate-{c.index}"
    return data


def _summary(full: dict[str, Any]) -> dict[str, float | None]:
    return {name: metric(name, full) for name in FIGURES}


@dataclass(slots=True)
class Scored:
    """One portfolio's figures per policy (full figures dicts, in the order given)."""

    common: dict[str, Any]
    figures: list[dict[str, Any]]


def score_policies(pool: PartPool, policies: Sequence[tuple[str, dict[str, Any]]], parsed: Sequence[Policy],
                   defaults: Any, teams: TeamsConfig | None) -> Scored:
    sources: list[tuple[int, PolicySource]] = [(i, src) for i, src in enumerate(policies)]
    results = pool.run(sources)
    with no_gc():
        ports, counts = merge(results, len(policies))
        common, figures = score_runs(ports, counts, [(name, ()) for name, _ in policies], parsed, defaults, teams,
                                     per_rule=False)
    return Scored(common, figures)


def run_tune(events: Sequence[str], outcomes: str, space: Space, constraints: Sequence[Constraint], *,
             teams: str | None = None, jobs: int | None = None, holdout: tuple[Sequence[str], str] | None = None,
             note: Callable[[str], None] | None = None) -> TuneResult:
    """Search ``space`` on the portfolio for the best policy under ``constraints``; see ``monitor.tune``."""
    started = time.perf_counter()
    say = note or (lambda _msg: None)
    team_config = load_teams(teams) if teams is not None else None
    if any(c.metric == "late" for c in constraints) and team_config is None:
        raise InputError("--budget late=... needs --teams: the teams' capacity")
    if holdout is not None:
        for p in holdout[0]:
            if not Path(p).is_file():
                raise InputError(f"{p}: no such file (--holdout)")
        if not Path(holdout[1]).is_file():
            raise InputError(f"{holdout[1]}: no such file (--holdout-outcomes)")
    n_jobs = max(1, jobs or (os.cpu_count() or 1))
    inputs: dict[str, Any] = {
        "events": [{"file": Path(p).name, "sha256": file_sha256(p)} for p in events],
        "outcomes": {"file": Path(outcomes).name, "sha256": file_sha256(outcomes)},
        "teams": {"file": Path(teams).name, "sha256": file_sha256(teams), "version": team_config.version}
        if teams is not None and team_config is not None else None,
    }
    rng = random.Random(space.seed)
    seen: set[Any] = set()
    cands: list[Candidate] = []
    total = min(space.candidates, space_size(space))
    result = TuneResult(space, list(constraints), cands, None, [], inputs)
    with prepare(events, outcomes, as_of=None, jobs=n_jobs, shards=None, note=say) as prep:
        defaults = prep.defaults
        with no_gc(), prep.pool(hold=True, rules=False, teams=team_config) as pool:
            if pool.as_of is None:
                raise InputError("no valid event in the input: nothing to tune on")
            result.jobs = pool.jobs
            rounds = 0
            while len(cands) < total:
                left = total - len(cands)
                want = (total + 1) // 2 if rounds == 0 else (left if left <= max(2, total // 8) else max(2, total // 4))
                parents: list[Candidate] = []
                if rounds:
                    ranked = sorted((c for c in cands if c.feasible), key=lambda c: (
                        -(c.figures.get("detection90") or 0.0), c.figures.get("visits") or 0.0, c.index))
                    parents = ranked[:4] + [c for c in frontier(cands) if c not in ranked[:4]]
                    if not parents:
                        parents = sorted((c for c in cands if c.invalid is None),
                                         key=lambda c: (len(c.failed), c.index))[:4]
                batch = draw_round(space, rng, seen, min(want, left), parents, len(cands))
                if not batch:
                    break
                rounds += 1
                _score_batch(pool, space, batch, defaults, team_config, constraints, say, rounds,
                             inputs.setdefault("portfolio", {}))
                cands.extend(batch)
                say(f"round {rounds}: {len(cands)}/{total} candidates scored")
            result.rounds = rounds
            result.best = chosen(cands)
            result.front = frontier(cands)
            base = cands[0] if cands else None
            result.base_figures = base.full if base is not None else None
            result.best_figures = result.best.full if result.best is not None else None
    if holdout is not None and result.best is not None:
        say("scoring the chosen policy on the holdout portfolio ...")
        result.holdout = _holdout(space, result, holdout, team_config, n_jobs, say)
    result.seconds = time.perf_counter() - started
    return result


def _score_batch(pool: PartPool, space: Space, batch: list[Candidate], defaults: Any, teams: TeamsConfig | None,
                 constraints: Sequence[Constraint], say: Callable[[str], None], round_no: int,
                 inputs_common: dict[str, Any]) -> None:
    runnable: list[tuple[Candidate, dict[str, Any], Policy]] = []
    for c in batch:
        data = _policy_data(space, c)
        try:
            runnable.append((c, data, parse_policy(data, f"candidate {c.index}")))
        except PolicyError as exc:
            c.invalid = str(exc)
    if not runnable:
        return
    say(f"round {round_no}: scoring {len(runnable)} candidate(s) ...")
    scored = score_policies(pool, [(f"candidate-{c.index}", d) for c, d, _p in runnable], [p for _c, _d, p in runnable],
                            defaults, teams)
    inputs_common.update(scored.common)
    for (c, _d, _p), full in zip(runnable, scored.figures):
        c.full = full
        c.figures = _summary(full)
        c.failed = [k.metric for k in constraints if not k.holds(c.figures)]


def _holdout(space: Space, result: TuneResult, holdout: tuple[Sequence[str], str], teams: TeamsConfig | None,
             jobs: int, say: Callable[[str], None]) -> dict[str, Any]:
    paths, outcomes = holdout
    picks = [c for c in (result.candidates[0], result.best) if c is not None and c.invalid is None]
    with prepare(list(paths), outcomes, as_of=None, jobs=jobs, shards=None, note=say) as prep:
        with no_gc(), prep.pool(rules=False, teams=teams) as pool:
            if pool.as_of is None:
                raise InputError("no valid event in the holdout: nothing to score")
            full = score_policies(pool, [(f"candidate-{c.index}", _policy_data(space, c)) for c in picks],
                                  [parse_policy(_policy_data(space, c)) for c in picks], prep.defaults, teams)
    out: dict[str, Any] = {
        "events": [{"file": Path(p).name, "sha256": file_sha256(p)} for p in paths],
        "outcomes": {"file": Path(outcomes).name, "sha256": file_sha256(outcomes)},
        "portfolio": full.common,
        "base": _summary(full.figures[0]),
        "chosen": _summary(full.figures[-1]),
    }
    out["constraints"] = {k.text: k.holds(out["chosen"]) for k in result.constraints}
    return out
