"""Worker processes that split the input side by side, then run policies over its parts.

``PartPool(paths, directory, parts=P, jobs=J, as_of=..., defaults=...)``:

1. starts ``J`` processes (forked: they share the parent's loaded code and the
   outcomes without copying or pickling them);
2. has them split the input side by side: the input is cut into segments
   (``_shard.segments``: byte ranges of plain files at line starts, gzip files
   whole), each process writes its segments' lines into one file per part and
   finds their latest valid instant; the parts (``pool.parts``) and, unless
   given, the as-of instant (``pool.as_of``: the latest valid event of the
   whole input) follow;
3. ``run(policies)`` runs every policy over every part: each part is read
   (validated with the event contract, grouped by borrower) once per call and
   run under every policy, borrower by borrower (``_worker.run_policies``) (with ``teams``, the visits as the teams'
   capacity allows: ``_teams``; then a part holds whole teams, ``_shard.by_team``).
   Parts go to whichever process is free,
   largest first; with ``hold=True`` (``monitor tune``, many calls) each
   process keeps the parts it was given, balanced by size once, for the pool's
   life, and reads each once.

The results are sorted by (policy, part): the same whatever ``J`` and
whichever process ran what. With ``J=1`` everything runs in the calling
process.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from monitor._errors import MonitorError
from monitor.backtest._shard import (
    Segment,
    SegmentSplit,
    by_team,
    part_files,
    profile_teams,
    segments,
    split_segment,
)
from monitor.backtest._worker import Part, PolicySource, load_part, run_policies
from monitor.teams import TeamsConfig

__all__ = ["PartPool"]

# (part index, its files in segment order)
PartFiles = tuple[int, tuple[str, ...]]


class _Runner:
    """What one process does: split segments, then run policies over the parts it is given."""

    def __init__(self, directory: Path, parts: int, defaults: dict[str, int], hold: bool, rules: bool,
                 teams: TeamsConfig | None) -> None:
        self.directory = directory
        self.n_parts = parts
        self.defaults = defaults
        self.hold = hold
        self.rules = rules
        self.teams = teams
        self.cache: dict[int, Part] = {}

    def profiles(self, segs: Sequence[Segment]) -> list[dict[bytes, set[str]]]:
        return [profile_teams(seg) for seg in segs]

    def split(self, segs: Sequence[Segment], assign: dict[bytes, int] | None) -> list[SegmentSplit]:
        return [split_segment(seg, self.n_parts, self.directory, assign) for seg in segs]

    def run(self, parts: Sequence[PartFiles], policies: Sequence[tuple[int, PolicySource]],
            as_of: int | None) -> list[dict[str, Any]]:
        out = []
        for index, files in parts:
            part = self.cache.get(index)
            cpu = time.process_time()
            if part is None:
                part = load_part(index, files)
                if self.hold:
                    self.cache[index] = part
            cpu = time.process_time() - cpu
            got = run_policies(part, policies, as_of, self.defaults, rules=self.rules, teams=self.teams)
            if got:
                got[0]["load_cpu_seconds"] = cpu  # reading the part, counted once
            out.extend(got)
            del part
        return out


def _serve(conn: Connection, runner: _Runner) -> None:
    gc.disable()  # millions of long-lived objects and no cycles: the collector would only rescan them
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            if msg[0] == "profiles":
                conn.send(("ok", runner.profiles(msg[1])))
            elif msg[0] == "split":
                conn.send(("ok", runner.split(msg[1], msg[2])))
            else:
                conn.send(("ok", runner.run(msg[1], msg[2], msg[3])))
        except MonitorError as exc:
            conn.send(("input", str(exc)))
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises
            conn.send(("bug", traceback.format_exc()))


def _context() -> multiprocessing.context.BaseContext:
    try:
        return multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return multiprocessing.get_context("spawn")


class PartPool:
    """See the module docstring."""

    def __init__(self, paths: Sequence[str], directory: Path, *, parts: int, jobs: int, as_of: int | None,
                 defaults: dict[str, int], hold: bool = False, rules: bool = True,
                 teams: TeamsConfig | None = None) -> None:
        started = time.perf_counter()
        self.hold = hold
        self.jobs = max(1, jobs)
        self._runner = _Runner(directory, parts, defaults, hold, rules, teams)
        self._procs: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        self._mine: dict[int, list[PartFiles]] = {}  # hold: the parts each process keeps
        segs = segments(list(paths), self.jobs)
        if self.jobs == 1:
            assign = by_team(self._runner.profiles(segs), parts) if teams is not None else None
            splits = self._runner.split(segs, assign)
        else:
            ctx = _context()
            for w in range(self.jobs):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, self._runner), daemon=True,
                                   name=f"monitor-backtest-{w}")
                proc.start()
                child.close()
                self._procs.append((proc, parent))
            mine = [[s for s in segs if s.index % self.jobs == w] for w in range(self.jobs)]
            assign = None
            if teams is not None:  # whole teams in a part: who belongs to which team first
                for w, (_proc, conn) in enumerate(self._procs):
                    conn.send(("profiles", mine[w]))
                assign = by_team([x for got in self._gather(list(range(self.jobs))) for x in got], parts)
            for w, (_proc, conn) in enumerate(self._procs):
                conn.send(("split", mine[w], assign))
            splits = [s for got in self._gather(list(range(self.jobs))) for s in got]
        table = part_files(splits, parts)
        self.lines = sum(s.lines for s in splits)
        self.parts: list[tuple[int, tuple[str, ...], int]] = [p for p in table if p[1]] or table[:1]
        instants = [s.latest for s in splits if s.latest is not None]
        self.latest = max(instants) if instants else None
        self.as_of = as_of if as_of is not None else self.latest
        if hold and self._procs:
            self.jobs = min(self.jobs, len(self.parts))
            load = [0] * len(self._procs)
            for index, files, size in sorted(self.parts, key=lambda p: (-p[2], p[0])):
                w = min(range(len(load)), key=lambda k: (load[k], k))
                load[w] += size
                self._mine.setdefault(w, []).append((index, files))
        self.split_seconds = time.perf_counter() - started

    def _gather(self, workers: list[int]) -> list[Any]:
        """The answers of the given processes, in their order; raises on the first failure."""
        out: list[Any] = []
        failure: tuple[str, str] | None = None
        for w in workers:
            proc, conn = self._procs[w]
            got = self._receive(proc, conn)
            if got[0] == "ok":
                out.append(got[1])
            else:
                failure = failure or got
        if failure is not None:
            self._fail(failure)
        return out

    @staticmethod
    def _receive(proc: multiprocessing.process.BaseProcess, conn: Connection) -> tuple[str, Any]:
        try:
            return conn.recv()  # type: ignore[no-any-return]
        except EOFError:
            proc.join(timeout=5)
            return ("died", f"a backtest process died (exit code {proc.exitcode}; out of memory?): "
                            "try more --shards or fewer --jobs")

    def _fail(self, failure: tuple[str, str]) -> None:
        self.close()
        kind, text = failure
        if kind == "bug":
            raise RuntimeError(f"a backtest process failed:\n{text}")
        raise MonitorError(text)

    def run(self, policies: Sequence[tuple[int, PolicySource]]) -> list[dict[str, Any]]:
        """Every policy over every part; results sorted by (policy, part)."""
        pols = list(policies)
        if not self._procs:
            results = self._runner.run([(i, f) for i, f, _s in self.parts], pols, self.as_of)
        elif self.hold:
            busy = sorted(self._mine)
            for w in busy:
                self._procs[w][1].send(("run", self._mine[w], pols, self.as_of))
            results = [r for got in self._gather(busy) for r in got]
        else:
            results = self._dispatch(pols)
        results.sort(key=lambda r: (r["policy"], r["part"]))
        return results

    def _dispatch(self, pols: list[tuple[int, PolicySource]]) -> list[dict[str, Any]]:
        """Parts to whichever process is free, largest first."""
        todo = [(i, f) for i, f, _s in sorted(self.parts, key=lambda p: (-p[2], p[0]))]
        todo.reverse()  # popped from the end
        by_conn = {id(conn): (proc, conn) for proc, conn in self._procs}
        busy: set[Connection] = set()
        for _proc, conn in self._procs:
            if todo:
                conn.send(("run", [todo.pop()], pols, self.as_of))
                busy.add(conn)
        results: list[dict[str, Any]] = []
        failure: tuple[str, str] | None = None
        while busy:
            for ready in wait(list(busy)):
                proc, conn = by_conn[id(ready)]
                got = self._receive(proc, conn)
                busy.discard(conn)
                if got[0] != "ok":
                    failure = failure or got
                    continue
                results.extend(got[1])
                if todo and failure is None:
                    conn.send(("run", [todo.pop()], pols, self.as_of))
                    busy.add(conn)
        if failure is not None:
            self._fail(failure)
        return results

    def close(self) -> None:
        for _proc, conn in self._procs:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            conn.close()
        for proc, _conn in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        self._procs = []

    def __enter__(self) -> PartPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
