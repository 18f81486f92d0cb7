"""Running a backtest: check the inputs, split, replay in parallel, merge and score."""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor._errors import InputError, MonitorError
from monitor._time import DAY, iso
from monitor.backtest._outcomes import DefaultOutcome, load_outcomes
from monitor.backtest._score import (
    BASELINE_DAYS,
    CURVE_DAYS,
    FOLLOW_UP_DAYS,
    HORIZONS,
    Portfolio,
    score_policy,
)
from monitor.backtest._shard import auto_shards, split_events
from monitor.backtest._worker import Task, run_task
from monitor.rules.loader import DEFAULT_POLICY_PATH, load_policy

__all__ = ["FORMAT", "Backtest", "PolicyFile", "run_backtest"]

FORMAT = "monitor-backtest/1"

DEFINITIONS = {
    "scope": "defaults with defaulted_at at or before as_of, of borrowers whose profile the replay applied",
    "flag": "a borrower is flagged at watch+ / warning+ from the first alert whose new effective tier is at "
            "least that level; only flags strictly before defaulted_at count",
    "rule_flag": "a borrower is flagged by a rule at a level at each alert that lists the rule among its signals "
                 "and whose new tier is at least that level",
    "detection": "share of defaults in scope whose first flag came at least N days before the default "
                 "('flagged': at any time before it)",
    "lead_time": "days from the first flag to the default, over the defaults flagged; quartiles by linear "
                 "interpolation",
    "false_alarms": f"warning+ flags raised at or before as_of - {FOLLOW_UP_DAYS} days (and before the "
                    f"borrower's default); true when the borrower defaulted within {FOLLOW_UP_DAYS} days after "
                    "an instant at which it was flagged, else false; precision = true / flagged",
    "workload": "visits integrated over each borrower's performing time (first profile to default or as_of) "
                "as time / policy.visits.interval(tier, grade, exposure, mitigation); per year = total / years "
                f"of history; baseline: every borrower every {BASELINE_DAYS} days over the same time; "
                "saving = 1 - policy / baseline",
    "stability": "over performing time: alerts (tier changes), raises (normal to any tier) and flips (a rise "
                 "after an earlier fall of the same borrower) per borrower-year",
}


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
    split_seconds: float = 0.0  # splitting the input into parts
    replays_wall_seconds: float = 0.0  # all replays, in parallel
    score_seconds: float = 0.0  # merging and scoring
    replay_seconds: dict[str, float] = field(default_factory=dict)  # per policy label, over its parts
    task_seconds: dict[str, float] = field(default_factory=dict)  # ... with the workload pass
    replay_cpu_seconds: dict[str, float] = field(default_factory=dict)  # the same as CPU time
    task_cpu_seconds: dict[str, float] = field(default_factory=dict)
    events: int = 0


def _policies(paths: Sequence[str]) -> list[PolicyFile]:
    loaded = []
    for path in paths or [str(DEFAULT_POLICY_PATH)]:
        policy = load_policy(path)  # PolicyError names the file and key
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        rules = tuple(row["rule"] for row in policy.rule_table() if row["enabled"])
        loaded.append((path, policy.version, digest, rules))
    versions = Counter(v for _p, v, _d, _r in loaded)
    out = []
    for i, (path, version, digest, rules) in enumerate(loaded, start=1):
        label = version if versions[version] == 1 else f"{version} #{i}"
        out.append(PolicyFile(str(path), label, version, digest, rules))
    return out


@contextmanager
def _no_gc() -> Iterator[None]:
    """Millions of small long-lived objects and no cycles: the cyclic collector would only rescan them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_events(paths: Sequence[str]) -> None:
    if not paths:
        raise InputError("no event files given")
    for p in paths:
        if p == "-":
            raise InputError("events: standard input cannot be replayed once per policy; write it to a file")
        if not Path(p).is_file():
            raise InputError(f"{p}: no such file")


def _execute(tasks: list[Task], jobs: int, note: Callable[[str], None]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    if jobs <= 1:
        for i, task in enumerate(tasks, start=1):
            results.append(run_task(task))
            note(f"replayed {i}/{len(tasks)}")
        return results
    ctx = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(run_task, task) for task in tasks]
            try:
                for i, done in enumerate(as_completed(futures), start=1):
                    results.append(done.result())
                    note(f"replayed {i}/{len(tasks)}")
            except BaseException:
                for future in futures:  # do not wait for the replays not started yet
                    future.cancel()
                raise
    except BrokenProcessPool:
        raise MonitorError("a replay process died (out of memory?): try more --shards or fewer --jobs") from None
    return results


def _merge(results: list[dict[str, Any]], n_policies: int) -> tuple[list[Portfolio], dict[str, int]]:
    results = sorted(results, key=lambda r: (r["policy"], r["part"]))
    as_ofs = {r["as_of"] for r in results}
    if len(as_ofs) != 1:
        raise RuntimeError(f"backtest bug: the replays ended at different instants {sorted(map(str, as_ofs))}")
    as_of = as_ofs.pop()
    if as_of is None:
        raise InputError("no valid event in the input: nothing to backtest")
    ports = [Portfolio(as_of) for _ in range(n_policies)]
    counts: Counter[str] = Counter()
    for r in results:
        port = ports[r["policy"]]
        if r["policy"] == 0:
            for key in ("read", "applied", "duplicates", "rejected", "after_as_of"):
                counts[key] += r[key]
        for bid, first, teams in r["borrowers"]:
            port.first_seen[bid] = first
            port.teams[bid] = [(t, tier, us, v) for t, tier, us, v in teams]
        for bid, at, f, to, rules in r["alerts"]:
            port.alerts.setdefault(bid, []).append((at, f, to, tuple(rules)))
    return ports, dict(counts)


def run_backtest(events: Sequence[str], outcomes: str, policies: Sequence[str] = (), *,
                 as_of: int | None = None, jobs: int | None = None, shards: int | None = None,
                 note: Callable[[str], None] | None = None) -> Backtest:
    """Replay ``events`` under each policy and score it against ``outcomes``.

    Raises ``InputError`` / ``PolicyError`` for unusable inputs (before any replay).
    """
    started = time.perf_counter()
    say = note or (lambda _msg: None)
    paths = [str(p) for p in events]
    _check_events(paths)
    defaults: list[DefaultOutcome] = load_outcomes(outcomes)
    specs = _policies(list(policies))
    parts = shards or auto_shards(paths)
    split_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="monitor-backtest-") as tmp:
        part_paths: list[tuple[str, ...]] = [tuple(paths)]
        timeline_paths: list[tuple[str, ...]] = [tuple(paths)]
        run_as_of = as_of
        if parts > 1:
            say(f"splitting the events into {parts} parts by borrower ...")
            t = time.perf_counter()
            split = split_events(paths, parts, Path(tmp))
            split_seconds = time.perf_counter() - t
            if split.known:
                part_paths = [(p,) for p in split.paths]
                timeline_paths = [(p,) for p in split.timelines]
                run_as_of = as_of if as_of is not None else split.as_of
            else:
                parts = 1
        pairs = tuple((o.borrower_id, o.defaulted_at) for o in defaults)
        tasks: list[Task] = [(pi, si, spec.path, pp, timeline_paths[si], run_as_of, pairs)
                             for pi, spec in enumerate(specs) for si, pp in enumerate(part_paths)]
        n_jobs = max(1, min(jobs or (os.cpu_count() or 1), len(tasks)))
        say(f"replaying {len(specs)} policy(ies) x {len(part_paths)} part(s) on {n_jobs} process(es) ...")
        t = time.perf_counter()
        with _no_gc():
            results = _execute(tasks, n_jobs, say)
        replays_wall = time.perf_counter() - t
    t = time.perf_counter()
    with _no_gc():
        ports, counts = _merge(results, len(specs))
        report = _report(ports, counts, specs, defaults, paths, outcomes)
    bt = Backtest(report, specs, parts=len(part_paths), jobs=n_jobs, split_seconds=split_seconds,
                  replays_wall_seconds=replays_wall, score_seconds=time.perf_counter() - t,
                  events=counts.get("read", 0))
    for r in sorted(results, key=lambda r: (r["policy"], r["part"])):
        label = specs[r["policy"]].label
        bt.replay_seconds[label] = bt.replay_seconds.get(label, 0.0) + r["replay_seconds"]
        bt.task_seconds[label] = bt.task_seconds.get(label, 0.0) + r["seconds"]
        bt.replay_cpu_seconds[label] = bt.replay_cpu_seconds.get(label, 0.0) + r["replay_cpu_seconds"]
        bt.task_cpu_seconds[label] = bt.task_cpu_seconds.get(label, 0.0) + r["cpu_seconds"]
    bt.wall_seconds = time.perf_counter() - started
    return bt


def _report(ports: list[Portfolio], counts: dict[str, int], specs: list[PolicyFile],
            defaults: list[DefaultOutcome], paths: list[str], outcomes: str) -> dict[str, Any]:
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
    start = first.start
    report: dict[str, Any] = {
        "format": FORMAT,
        "as_of": iso(as_of),
        "history": {"start": iso(start) if start is not None else None,
                    "days": round((as_of - start) / DAY, 2) if start is not None else 0.0},
        "events": {"files": [Path(p).name for p in paths], **counts},
        "borrowers": len(first.first_seen),
        "outcomes": {"file": Path(outcomes).name, "defaults": len(defaults), "in_scope": len(scope),
                     "in_scope_by_reason": dict(sorted(reasons.items())), "after_as_of": after,
                     "not_in_events": unknown},
        "settings": {"horizons_days": [h for h in HORIZONS if h], "follow_up_days": FOLLOW_UP_DAYS,
                     "baseline_interval_days": BASELINE_DAYS, "curve_days": CURVE_DAYS},
        "definitions": DEFINITIONS,
        "policies": [],
    }
    for spec, port in zip(specs, ports):
        report["policies"].append({"label": spec.label, "version": spec.version, "file": Path(spec.path).name,
                                   "sha256": spec.sha256, **score_policy(port, scope, spec.rules)})
    return report
