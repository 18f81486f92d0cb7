"""Offline replay: run the decision core over event files, as known at an instant.

The shell around the engine for files: read JSONL (``.gz`` or ``-``), validate
each line with the event contract, apply the events in ``occurred_at`` order
(stable for ties), advance every borrower to ``as_of`` and write the outputs.
Bad lines go to ``rejects.jsonl`` with their position, text and reason.
"""

from __future__ import annotations

import csv
import gc
import io
from array import array
from bisect import bisect_right
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from monitor._time import iso
from monitor._replay_run import CONFLICT_REASON, Runner
from monitor.engine import Engine
from monitor.events import Event
from monitor.jsonl import Reject, iter_lines, parse_lines
from monitor.jsonl import reject_text as _reject_text
from monitor.outputs import Alert, BorrowerView, ScheduleEntry, schedule_history_line
from monitor.rules.policy import LEVEL_NAMES, Policy
from monitor.snapshots import SnapshotPart, write_manifest
from monitor.state import BorrowerState

__all__ = ["CONFLICT_REASON", "Reject", "ReplayResult", "parse_lines", "replay", "replay_events", "write_outputs",
           "write_workout"]


@dataclass(slots=True)
class ReplayResult:
    """What a replay read, decided and left."""

    as_of: int | None
    read: int = 0
    applied: int = 0
    duplicates: int = 0
    after_as_of: int = 0
    rejects: list[Reject] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    states: dict[str, BorrowerState] = field(default_factory=dict)
    views: list[BorrowerView] = field(default_factory=list)
    schedule_history: list[tuple[int, str, ScheduleEntry]] = field(default_factory=list)
    events_by_type: Counter[str] = field(default_factory=Counter)
    newest_by_type: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        self.alerts.extend(alerts)

    def add_history(self, at: int, borrower_id: str, entry: ScheduleEntry) -> None:
        self.schedule_history.append((at, borrower_id, entry))

    def add_view(self, borrower_id: str, state: BorrowerState, view: BorrowerView) -> None:
        self.views.append(view)
        self.states[borrower_id] = state

    def tiers(self) -> Counter[str]:
        return Counter(v.tier or "no_profile" for v in self.views)

    def workout(self) -> int:
        """Borrowers handed over to workout (off the routine visit schedule) at the as-of instant."""
        return sum(1 for v in self.views if v.workout)

    def alert_kinds(self) -> Counter[str]:
        return Counter(a.kind.value for a in self.alerts)

    def summary(self) -> dict[str, object]:
        """The deterministic figures (no timings)."""
        return summary_of(self, len(self.views), self.tiers(), len(self.alerts), self.alert_kinds(),
                          Counter(r.reason for r in self.rejects), self.rejected, self.workout())


def summary_of(r: Any, borrowers: int, tiers: Counter[str], alerts: int, kinds: Counter[str],
               reasons: Counter[str], rejected: int, workout: int = 0) -> dict[str, object]:
    """``summary.json``: counts of events, borrowers by tier (and handed over to workout), alerts by kind and
    rejects by reason."""
    return {
        "as_of": iso(r.as_of) if r.as_of is not None else None,
        "events": {
            "read": r.read,
            "applied": r.applied,
            "duplicate": r.duplicates,
            "rejected": rejected,
            "after_as_of": r.after_as_of,
            "by_type": dict(sorted(r.events_by_type.items())),
            "newest_by_type": {k: iso(v) for k, v in sorted(r.newest_by_type.items())},
        },
        "borrowers": {
            "total": borrowers,
            "by_tier": {name: tiers.get(name, 0) for name in (*LEVEL_NAMES, "no_profile")},
            "workout": workout,
        },
        "alerts": {
            "total": alerts,
            "by_kind": {k: kinds.get(k, 0) for k in ("raised", "escalated", "de_escalated", "cleared")},
        },
        "rejects_by_reason": dict(sorted(reasons.items())),
    }


def replay_events(
    engine: Engine, events: Sequence[tuple[int, Event]], as_of: int | None, result: ReplayResult,
    snapshots: Path | None = None, origin: Callable[[int], tuple[str, int]] | None = None,
) -> ReplayResult:
    """Apply validated events in time order (stable), then advance everyone to ``as_of``.

    With ``snapshots``, the per-day records (``monitor.snapshots``) are written into that directory.
    An event the engine refuses (a conflicting duplicate) or fails on is rejected at ``origin(i)``, the
    (source, line) of ``events[i]`` (default: no source, line i + 1), and the replay goes on."""
    order = sorted(range(len(events)), key=lambda i: events[i][0])
    if as_of is None and events:
        as_of = events[order[-1]][0]
    result.as_of = as_of
    part = _open_part(snapshots)
    current: list[Event] = []

    def reject(source: str, line: int, reason: str) -> None:
        result.rejects.append(Reject(source, line, reason, _reject_text(current[0].model_dump_json().encode())))

    runner = Runner(engine, as_of, result, part, reject=reject)
    feed = runner.feed
    for i in order:
        t, event = events[i]
        current[:] = (event,)
        source, line = origin(i) if origin is not None else ("", i + 1)
        feed(t, event, source, line)
    _finish(runner, engine.policy, as_of, snapshots, part)
    result.alerts.sort(key=lambda a: (a.at, a.borrower_id, a.sequence))
    result.schedule_history.sort(key=lambda h: (h[0], h[1]))
    return result


def _open_part(snapshots: Path | None) -> SnapshotPart | None:
    if snapshots is None:
        return None
    shutil.rmtree(snapshots, ignore_errors=True)
    return SnapshotPart(snapshots / "part-000")


def _finish(runner: Runner, policy: Policy, as_of: int | None, snapshots: Path | None,
            part: SnapshotPart | None) -> None:
    signals = _SortedLines()
    runner.finish(as_of, signals if snapshots is not None else None)
    if snapshots is not None and part is not None:
        (snapshots / "signals.jsonl").write_text("".join(f"{line}\n" for line in signals.sorted()), encoding="utf-8")
        write_manifest(snapshots, [part.close()], policy_version=policy.version, timezone=policy.timezone,
                       as_of=as_of)


class _SortedLines:
    def __init__(self) -> None:
        self.rows: list[tuple[tuple[str, ...], str]] = []

    def add(self, key: tuple[str, ...], line: str) -> None:
        self.rows.append((key, line))

    def sorted(self) -> list[str]:
        return [line for _, line in sorted(self.rows)]


def replay(paths: Sequence[str | Path], policy: Policy, as_of: int | None = None,
           snapshots: Path | None = None) -> ReplayResult:
    """Read, validate and replay event files. Raises ``InputError`` for an unreadable file.

    With ``snapshots`` (a directory), the per-day records of every borrower are written there."""
    started = time.perf_counter()
    result = ReplayResult(as_of=as_of)
    events: list[tuple[int, Event]] = []
    # Millions of long-lived small objects and no reference cycles: the cyclic
    # collector would only rescan them over and over (it doubles the run time).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        numbers: array[int] = array("q")
        starts: list[int] = []  # the index in events of each file's first event
        for path in paths:
            before = len(events) + len(result.rejects)
            starts.append(len(events))
            events.extend(parse_lines(str(path), iter_lines(path), result.rejects, numbers=numbers))
            result.read += len(events) + len(result.rejects) - before
        names = [str(p) for p in paths]

        def origin(i: int) -> tuple[str, int]:
            return names[bisect_right(starts, i) - 1], numbers[i]

        replay_events(Engine(policy), events, as_of, result, snapshots, origin)
    finally:
        if was_enabled:
            gc.enable()
    result.elapsed = time.perf_counter() - started
    return result


_TIER_RANK = {name: i for i, name in enumerate(LEVEL_NAMES)}


def write_outputs(result: ReplayResult, out: Path) -> None:
    """Write alerts.jsonl, borrowers.jsonl, schedule.csv, workout.csv, schedule_history.jsonl, rejects.jsonl,
    summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "alerts.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for alert in result.alerts:
            fh.write(alert.model_dump_json())
            fh.write("\n")
    with (out / "borrowers.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for view in result.views:
            fh.write(view.model_dump_json())
            fh.write("\n")
    rows = [v for v in result.views if v.next_visit_due is not None]
    rows.sort(key=lambda v: (v.next_visit_due, -_TIER_RANK[v.tier or "normal"], v.borrower_id))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["team", "branch", "borrower_id", "tier", "next_visit_due"])
    for v in rows:
        writer.writerow([v.team, v.branch, v.borrower_id, v.tier, v.next_visit_due.isoformat()])  # type: ignore[union-attr]
    (out / "schedule.csv").write_text(buf.getvalue(), encoding="utf-8", newline="")
    write_workout(out, ((v, result.states[v.borrower_id].due_at) for v in result.views if v.workout))
    with (out / "schedule_history.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for at, _bid, entry in result.schedule_history:
            fh.write(schedule_history_line(at, entry.model_dump_json()))
            fh.write("\n")
    with (out / "rejects.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for rej in result.rejects:
            fh.write(rej.to_json())
            fh.write("\n")
    (out / "summary.json").write_text(
        json.dumps(result.summary(), indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def write_workout(out: Path, handed: Iterable[tuple[BorrowerView, int | None]]) -> None:
    """``workout.csv``: the borrowers handed over to workout (special-asset management), off the routine
    visit schedule, with the instant of the hand-over; by team, branch and borrower."""
    rows = sorted(((v.team or "", v.branch or "", v.borrower_id, v.tier or "", iso(at) if at is not None else "")
                   for v, at in handed))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["team", "branch", "borrower_id", "tier", "handed_over"])
    writer.writerows(rows)
    (out / "workout.csv").write_text(buf.getvalue(), encoding="utf-8", newline="")
