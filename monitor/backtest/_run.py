"""Running a backtest: check the inputs, split by borrower, run the policies in parallel, merge and score."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor._errors import InputError
from monitor._gc import no_gc
from monitor._time import DAY, iso, local_date
from monitor.backtest._capacity import capacity_figures
from monitor.backtest._labels import definitions
from monitor.backtest._outcomes import DefaultOutcome, load_outcomes
from monitor.backtest._pool import PartPool
from monitor.backtest._score import (
    BASELINE_DAYS,
    CURVE_DAYS,
    FOLLOW_UP_DAYS,
    HORIZONS,
    WARM_UP_DAYS,
    Portfolio,
    score_policy,
)
from monitor.backtest._shard import auto_shards
from monitor.backtest._worker import PolicySource
from monitor.teams import TeamsConfig, load_teams
from monitor.rules.loader import DEFAULT_POLICY_PATH, load_policy
from monitor.rules.policy import Policy

__all__ = ["DEFINITIONS", "FORMAT", "Backtest", "Inputs", "PolicyFile", "prepare", "run_backtest", "score_runs"]

FORMAT = "monitor-backtest/2"

DEFINITIONS = {key: text for key, _title, text in definitions(
    "en", warm_up=WARM_UP_DAYS, follow_up=FOLLOW_UP_DAYS, baseline=BASELINE_DAYS)}


@dataclass(frozen=True, slots=True)
class PolicyFile:
    path: str
    label: str
    version: str
    sha256: str
    rules: tuple[str, ...]


@dataclass(slots=True)
class Backtest:
    """The report (deterministic, JSON-able) and how long things took (not part of the report)."""

    report: dict[str, Any]
    policies: list[PolicyFile]
    parts: int = 1
    jobs: int = 1
    wall_seconds: float = 0.0
    split_seconds: float = 0.0
    runs_wall_seconds: float = 0.0  # all runs, in parallel
    score_seconds: float = 0.0
    task_seconds: dict[str, float] = field(default_factory=dict)  # per policy label, over its parts
    task_cpu_seconds: dict[str, float] = field(default_factory=dict)
    load_cpu_seconds: float = 0.0  # reading the parts (validating, grouping), over all processes
    events: int = 0


@dataclass(slots=True)
class Inputs:
    """Checked inputs and a temporary directory for their parts; ``pool`` splits and runs them."""

    paths: list[str]
    outcomes: str
    defaults: list[DefaultOutcome]
    directory: Path
    parts: int
    jobs: int
    as_of: int | None

    def pool(self, *, hold: bool = False, rules: bool = True, teams: TeamsConfig | None = None) -> PartPool:
        """Processes that split the events into parts side by side (see ``_pool``), ready to run policies."""
        pairs = {o.borrower_id: o.defaulted_at for o in self.defaults}
        return PartPool(self.paths, self.directory, parts=self.parts, jobs=self.jobs, as_of=self.as_of,
                        defaults=pairs, hold=hold, rules=rules, teams=teams)


def policy_files(paths: Sequence[str]) -> list[PolicyFile]:
    loaded = []
    for path in paths or [str(DEFAULT_POLICY_PATH)]:
        policy = load_policy(path)  # PolicyError names the file and key
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        loaded.append((path, policy.version, digest, _rules(policy)))
    versions = Counter(v for _p, v, _d, _r in loaded)
    out = []
    for i, (path, version, digest, rules) in enumerate(loaded, start=1):
        label = version if versions[version] == 1 else f"{version} #{i}"
        out.append(PolicyFile(str(path), label, version, digest, rules))
    return out


def _rules(policy: Policy) -> tuple[str, ...]:
    return tuple(row["rule"] for row in policy.rule_table() if row["enabled"])


def _check_events(paths: Sequence[str]) -> None:
    if not paths:
        raise InputError("no event files given")
    for p in paths:
        if p == "-":
            raise InputError("events: standard input cannot be read by several processes; write it to a file")
        if not Path(p).is_file():
            raise InputError(f"{p}: no such file")


@contextmanager
def prepare(events: Sequence[str], outcomes: str, *, as_of: int | None, jobs: int, shards: int | None,
            note: Callable[[str], None]) -> Iterator[Inputs]:
    """Check the inputs; a temporary directory for at least ``jobs`` parts by borrower."""
    paths = [str(p) for p in events]
    _check_events(paths)
    defaults = load_outcomes(outcomes)
    parts = shards or max(auto_shards(paths), jobs)
    with tempfile.TemporaryDirectory(prefix="monitor-backtest-") as tmp:
        note(f"splitting the events into {parts} part(s) by borrower on {jobs} process(es) ...")
        yield Inputs(paths, outcomes, defaults, Path(tmp), parts, jobs, as_of)


def merge(results: list[dict[str, Any]], n_policies: int) -> tuple[list[Portfolio], dict[str, int]]:
    """The parts' results as one portfolio per policy, and the event counts (of the first policy)."""
    as_ofs = {r["as_of"] for r in results}
    if len(as_ofs) != 1:
        raise RuntimeError(f"backtest bug: the runs ended at different instants {sorted(map(str, as_ofs))}")
    as_of = as_ofs.pop()
    if as_of is None:
        raise InputError("no valid event in the input: nothing to backtest")
    ports = [Portfolio(as_of) for _ in range(n_policies)]
    counts: Counter[str] = Counter()
    first_policy = min(r["policy"] for r in results)
    for r in sorted(results, key=lambda r: (r["policy"], r["part"])):
        port = ports[r["policy"] - first_policy]
        if r["policy"] == first_policy:
            for key in ("read", "applied", "duplicates", "rejected", "after_as_of", "recorded_visits"):
                counts[key] += r[key]
        for bid, first, teams in r["borrowers"]:
            port.first_seen[bid] = first
            port.team_time[bid] = teams
        for bid, at, f, to, rules in r["alerts"]:
            port.alerts.setdefault(bid, []).append((at, f, to, rules))
        for key, n in r["visits"]:
            port.visits[key] += n
        for key, n in r["late"]:
            port.late[key] += n
        for key, n in r["owed"]:
            port.owed[key] += n
        for at, c in r["month_ends"]:
            acc = port.month_ends.setdefault(at, [0] * 6)
            for i, x in enumerate(c):
                acc[i] += x
    return ports, dict(counts)


def _capacity(port: Portfolio, teams: TeamsConfig, policy: Policy) -> dict[str, Any]:
    zone = policy.zone
    start = port.start
    return capacity_figures(port.late, port.owed, teams, local_date(start, zone) if start is not None else None,
                            local_date(port.as_of, zone))


def score_runs(ports: list[Portfolio], counts: dict[str, int], specs: Sequence[tuple[str, tuple[str, ...]]],
               policies: Sequence[Policy], defaults: list[DefaultOutcome], teams: TeamsConfig | None,
               *, warm_up_days: int = WARM_UP_DAYS, per_rule: bool = True) -> tuple[dict[str, Any], list[dict]]:
    """Scope and score: the report's common part and one figures dict per policy (specs: label, rules)."""
    first = ports[0]
    as_of = first.as_of
    scope: list[tuple[str, int]] = []
    reasons: Counter[str] = Counter()
    after = unknown = 0
    for o in defaults:
        if o.defaulted_at > as_of:
            after += 1
        elif o.borrower_id not in first.first_seen:
            unknown += 1
        else:
            scope.append((o.borrower_id, o.defaulted_at))
            reasons[o.reason] += 1
    everyone = {o.borrower_id for o in defaults}
    start = first.start
    common: dict[str, Any] = {
        "as_of": iso(as_of),
        "history": {"start": iso(start) if start is not None else None,
                    "days": round((as_of - start) / DAY, 2) if start is not None else 0.0},
        "events": dict(counts),
        "borrowers": len(first.first_seen),
        "outcomes": {"defaults": len(defaults), "in_scope": len(scope),
                     "in_scope_by_reason": dict(sorted(reasons.items())), "after_as_of": after,
                     "not_in_events": unknown},
        "settings": {"horizons_days": list(HORIZONS), "follow_up_days": FOLLOW_UP_DAYS,
                     "baseline_interval_days": BASELINE_DAYS, "curve_days": CURVE_DAYS,
                     "warm_up_days": warm_up_days},
    }
    figures = []
    for (_label, rules), port, policy in zip(specs, ports, policies):
        got = score_policy(port, scope, rules, all_defaults=everyone, warm_up_days=warm_up_days, per_rule=per_rule)
        if teams is not None:
            got["workload"]["capacity"] = _capacity(port, teams, policy)
        figures.append(got)
    return common, figures


def run_backtest(events: Sequence[str], outcomes: str, policies: Sequence[str] = (), *,
                 as_of: int | None = None, jobs: int | None = None, shards: int | None = None,
                 teams: str | None = None, warm_up_days: int = WARM_UP_DAYS,
                 note: Callable[[str], None] | None = None) -> Backtest:
    """Run ``events`` under each policy and score it against ``outcomes``.

    Raises ``InputError`` / ``PolicyError`` / ``ConfigError`` for unusable inputs (before any run).
    """
    started = time.perf_counter()
    say = note or (lambda _msg: None)
    specs = policy_files(list(policies))
    loaded = [load_policy(s.path) for s in specs]
    team_config = load_teams(teams) if teams is not None else None
    n_jobs = max(1, jobs or (os.cpu_count() or 1))
    with prepare(events, outcomes, as_of=as_of, jobs=n_jobs, shards=shards, note=say) as inputs, no_gc(), \
            inputs.pool(teams=team_config) as pool:
        if pool.as_of is None:
            raise InputError("no valid event in the input: nothing to backtest")
        say(f"running {len(specs)} policy(ies) over {len(pool.parts)} part(s) ...")
        t = time.perf_counter()
        sources: list[tuple[int, PolicySource]] = [(i, s.path) for i, s in enumerate(specs)]
        used_jobs = pool.jobs
        results = pool.run(sources)
        runs_wall = time.perf_counter() - t
        split_seconds = pool.split_seconds
        paths, defaults = inputs.paths, inputs.defaults
    t = time.perf_counter()
    with no_gc():
        ports, counts = merge(results, len(specs))
        common, figures = score_runs(ports, counts, [(s.label, s.rules) for s in specs], loaded, defaults,
                                     team_config, warm_up_days=warm_up_days)
    report: dict[str, Any] = {"format": FORMAT, **common}
    report["events"] = {"files": [Path(p).name for p in paths], **report["events"]}
    report["outcomes"] = {"file": Path(outcomes).name, **report["outcomes"]}
    if team_config is not None:
        report["teams"] = {"file": Path(str(teams)).name, "version": team_config.version}
    report["definitions"] = DEFINITIONS
    report["policies"] = [{"label": s.label, "version": s.version, "file": Path(s.path).name, "sha256": s.sha256,
                           **f} for s, f in zip(specs, figures)]
    bt = Backtest(report, specs, parts=len({r["part"] for r in results}), jobs=used_jobs,
                  split_seconds=split_seconds, runs_wall_seconds=runs_wall,
                  score_seconds=time.perf_counter() - t, events=counts.get("read", 0))
    for r in results:
        label = specs[r["policy"]].label
        bt.task_seconds[label] = bt.task_seconds.get(label, 0.0) + r["seconds"]
        bt.task_cpu_seconds[label] = bt.task_cpu_seconds.get(label, 0.0) + r["cpu_seconds"]
        bt.load_cpu_seconds += r.get("load_cpu_seconds", 0.0)
    bt.wall_seconds = time.perf_counter() - started
    return bt
