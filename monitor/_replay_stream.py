"""``monitor replay`` on files in bounded memory: streams in, sorted runs on disk, outputs written as they come.

Memory grows with the borrowers (their states), not with the events:

* Input files that are each in ``occurred_at`` order (as the feeds and the
  simulator write them) are read side by side and merged as streams: no event
  is held longer than it takes to apply it. The first line found out of order
  stops that attempt; the input is then sorted externally (each file validated
  once into sorted runs on disk, the runs merged) and replayed again. Either
  way the events are applied in (instant, file, line) order, which is the order
  the replay always had (a stable sort of the files read one after the other),
  so the outputs are the same bytes.
* Alerts and schedule changes go to sorted runs on disk and are merged into
  ``alerts.jsonl`` and ``schedule_history.jsonl`` at the end; ``borrowers.jsonl``
  is written while the borrowers are advanced to the as-of, in id order;
  rejected lines are kept per file in line order (``rejects.jsonl``).
* Standard input (``-``) is first copied to a file in the output directory, so
  that it can be read again when it is not in order.
"""

from __future__ import annotations

import gc
import heapq
import json
import shutil
import sys
import multiprocessing
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from monitor._replay_digests import Digests
from monitor._replay_keys import file_blocks, repeated_keys_in
from monitor._replay_merge import MERGED, merge_outputs, plan
from monitor._replay_run import Runner
from monitor._replay_split import owner, piece_lines, remove_pieces, repeated_keys_of, split_input
from monitor._replay_totals import FileTotals, _Rejects
from monitor._errors import InputError
from monitor._spill import EventRuns
from monitor._time import SECOND, ahead_reason, iso, parse_instant, to_us
from monitor.engine import Engine
from monitor.events import Event, describe_validation_error
from monitor.jsonl import MAX_LINE_BYTES, UNREAD, compressed, iter_lines, write_files
from monitor.rules.policy import Policy
from monitor.snapshots import SnapshotPart, write_manifest

__all__ = ["REPLAY_ADAPTER", "SHARD_INPUT_BYTES", "FileTotals", "Totals", "owner", "replay_to", "shards_for"]

Item = tuple[int, int, int, Event, bytes]  # instant, file index, line number, event, raw line


class _Unordered(Exception):
    """A file holds a line dated before an earlier line of the same file."""


class Totals:
    """What ``monitor replay`` read and decided (the figures of ``summary.json``) and how long it took."""

    def __init__(self, as_of: int | None, counts: list[dict[str, Any]]) -> None:
        self.as_of = as_of
        self.read = sum(c["read"] for c in counts)
        self.applied = sum(c["applied"] for c in counts)
        self.duplicates = sum(c["duplicates"] for c in counts)
        self.after_as_of = sum(c["after_as_of"] for c in counts)
        self.events_by_type: Counter[str] = sum((Counter(c["by_type"]) for c in counts), Counter())
        self.newest_by_type: dict[str, int] = {}
        for c in counts:
            for k, v in c["newest"].items():
                self.newest_by_type[k] = max(v, self.newest_by_type.get(k, v))
        self.reasons: Counter[str] = sum((Counter(c["reasons"]) for c in counts), Counter())
        self.rejected = sum(self.reasons.values())
        self.tiers: Counter[str] = sum((Counter(c["tiers"]) for c in counts), Counter())
        self.kinds: Counter[str] = sum((Counter(c["kinds"]) for c in counts), Counter())
        self.borrowers = sum(c["borrowers"] for c in counts)
        self.alerts = sum(c["alerts"] for c in counts)
        self.workout = sum(c["workout"] for c in counts)
        self.elapsed = 0.0

    def summary(self) -> dict[str, object]:
        from monitor.replay import summary_of

        return summary_of(self, self.borrowers, self.tiers, self.alerts, self.kinds, self.reasons, self.rejected,
                          self.workout)


_EARLIEST = parse_instant("1900-01-01T00:00:00Z")
_LATEST = parse_instant("2200-01-01T00:00:00Z")


def _out_of_range(t: int, event: Event) -> str | None:
    """A reason when an instant of the event is outside the years 1900-2199 (the engine adds days to them)."""
    if not _EARLIEST <= t < _LATEST:
        return f"occurred_at: {iso(t)} is outside the supported years 1900-2199"
    kind = event.type
    if kind == "loan_profile":
        name, at = "disbursed_at", _us(event.disbursed_at)  # type: ignore[union-attr]
    elif kind == "tier_override":
        name, at = "until", _us(event.until)  # type: ignore[union-attr]
    else:
        return None
    if at is not None and not _EARLIEST <= at < _LATEST:
        return f"{name}: {iso(at)} is outside the supported years 1900-2199"
    return None


def _us(value: object) -> int | None:
    return to_us(value) if isinstance(value, datetime) else None


_MORE_INSTANTS = frozenset({"loan_profile", "tier_override"})  # the types with another instant (see _out_of_range)
# The replay's validator: the contract's own type (EVENT_ADAPTER's: the same models, rules and errors) with
# pydantic's string cache kept to the JSON keys. Caching every string value too (the default) costs ~1 us a
# line on a portfolio's feeds, whose ids, instants and amounts seldom repeat (tests/test_replay_stream.py
# checks the two give the same events and the same errors).
REPLAY_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(cache_strings="keys"))
_validate_json = REPLAY_ADAPTER.validator.validate_json  # the adapter's own validator, without its wrapper


def _judge(raw: bytes, trusted: int | None, skew: int, t: int = UNREAD) -> tuple[int, Event] | str:
    """A line as the replay takes it: (instant, event), or the reason it is rejected. ``t``: its occurred_at as
    ``monitor.jsonl.plain_instants`` read it from the text (for a valid event, the instant validation gives)."""
    if len(raw) > MAX_LINE_BYTES:
        return f"line longer than {MAX_LINE_BYTES} bytes"
    try:
        event = _validate_json(raw)
    except ValidationError as exc:  # (a blank line never validates: told apart here, off the common path)
        return "empty line" if not raw.strip() else describe_validation_error(exc)
    return _checked(event, trusted, skew, to_us(event.occurred_at) if t == UNREAD else t)


def _checked(event: Event, trusted: int | None, skew: int, t: int) -> tuple[int, Event] | str:
    """``_judge`` of a line that validated (``t``: the event's occurred_at)."""
    if trusted is not None and t - trusted > skew:
        return ahead_reason(t, trusted, skew, "the time of the replay")  # type: ignore[return-value]
    if _EARLIEST <= t < _LATEST and event.type not in _MORE_INSTANTS:  # (the common case, without a call)
        return t, event
    why = _out_of_range(t, event)
    return (t, event) if why is None else why


class _Reader:
    """Validates the lines of one file; rejects the bad ones (and those dated too far ahead)."""

    def __init__(self, rejects: _Rejects, job: _Job, shard: int) -> None:
        self.rejects, self.trusted, self.skew = rejects, job.now, job.skew
        self.job, self.shard = job, shard
        self.lines = 0
        self.current = b""  # the line being fed (``feed``; with its newline at its end when ``ended``)
        self.ended = False

    def current_line(self) -> bytes:
        """The line being fed, without its newline."""
        return self.current[:-1] if self.ended else self.current

    def lines_of(self, fi: int, path: Path, ended: bool = False) -> Iterator[tuple[int, int, bytes]]:
        """The file's lines this shard owns (all of them with one shard): (number from 1, instant read from the
        text or UNREAD, raw line). With ``ended``, a split input's lines come each with a newline at its end
        (``self.ended`` tells)."""
        self.ended = False
        if self.job.bases is None:  # (plain_instants costs more than to_us when it serves the reader alone)
            return ((number, UNREAD, raw) for number, raw in iter_lines(path))
        self.ended = ended
        return piece_lines(self.job.pieces, self.shard, fi, self.job.bases[fi], ended)

    def parse(self, fi: int, number: int, raw: bytes, at: int = UNREAD) -> tuple[int, Event] | None:
        self.lines += 1
        got = _judge(raw, self.trusted, self.skew, at)
        if isinstance(got, str):
            self.rejects.add(fi, number, got, raw if got != "empty line" else b"")
            return None
        return got

    def stream(self, fi: int, path: Path) -> Iterator[Item]:
        prev = -(2**63)
        trusted, skew, add = self.trusted, self.skew, self.rejects.add
        for number, at, raw in self.lines_of(fi, path):
            self.lines += 1
            got = _judge(raw, trusted, skew, at)  # as ``parse`` does, without its call
            if got.__class__ is str:
                add(fi, number, got, raw if got != "empty line" else b"")  # type: ignore[arg-type]
                continue
            t, event = got  # type: ignore[misc]
            if t < prev:
                raise _Unordered(f"{path}: line {number} is dated before an earlier line")
            prev = t
            yield t, fi, number, event, raw

    def feed(self, fi: int, path: Path, feed: Callable[[int, Event, int, int], None]) -> None:
        """``stream`` given straight to ``feed`` (instant, event, file, line), the line being fed in ``current``.
        The common line (valid, of a type with one instant, dated within the years and not ahead of the trusted
        time) is judged here as ``_judge`` judges it, without its call; any other goes through it."""
        prev = -(2**63)
        trusted, skew, add = self.trusted, self.skew, self.rejects.add
        hi = _LATEST if trusted is None else min(_LATEST, trusted + skew + 1)  # (t - trusted > skew: ahead)
        validate, more = _validate_json, _MORE_INSTANTS
        read = 0
        lines = self.lines_of(fi, path, ended=True)  # (a newline at a line's end: JSON's whitespace to validation)
        cut = -1 if self.ended else None  # (the line itself, for any use but validation: raw[:cut])
        try:
            for number, at, raw in lines:
                read += 1
                try:
                    if len(raw) > MAX_LINE_BYTES:  # (with its newline: one more byte; _judge tells without it)
                        raise ValueError
                    event = validate(raw)
                except ValueError:  # (ValidationError is one): the reason, from _judge
                    got = _judge(raw[:cut], trusted, skew, at)
                else:
                    t = to_us(event.occurred_at) if at == UNREAD else at
                    if _EARLIEST <= t < hi and event.type not in more:
                        if t < prev:
                            raise _Unordered(f"{path}: line {number} is dated before an earlier line")
                        prev = t
                        self.current = raw
                        feed(t, event, fi, number)
                        continue
                    got = _checked(event, trusted, skew, t)
                if got.__class__ is str:
                    add(fi, number, got, raw[:cut] if got != "empty line" else b"")  # type: ignore[arg-type]
                    continue
                t, event = got  # type: ignore[misc]
                if t < prev:
                    raise _Unordered(f"{path}: line {number} is dated before an earlier line")
                prev = t
                self.current = raw
                feed(t, event, fi, number)
        finally:
            self.lines += read

    def sorted(self, paths: Sequence[Path], tmp: Path) -> Iterator[Item]:
        runs = EventRuns(tmp)
        for fi, path in enumerate(paths):
            for number, at, raw in self.lines_of(fi, path):
                got = self.parse(fi, number, raw, at)
                if got is not None:
                    runs.add(got[0], fi, number, raw)
        validate = REPLAY_ADAPTER.validate_json
        for t, fi, number, raw in runs.sorted():
            yield t, fi, number, validate(raw), raw


SHARD_INPUT_BYTES = 1 << 30  # input per shard (about 125,000 borrowers of a year's realistic feeds)


def shards_for(files: Sequence[Path], workers: int) -> int:
    """How many shards: a multiple of the processes, about ``SHARD_INPUT_BYTES`` of input each (a
    compressed file counted as eight times its size)."""
    total = 0
    for path in files:
        total += path.stat().st_size * (8 if compressed(path) else 1)
    per = workers * SHARD_INPUT_BYTES
    return workers * max(1, -(-total // per))


def replay_to(paths: Sequence[str | Path], policy: Policy, out: Path, as_of: int | None = None, *,
              now: int | None = None, future_skew: int = 86_400 * SECOND, workers: int = 1,
              shards: int | None = None) -> Totals:
    """Replay event files into ``out`` (the files of ``monitor.replay.write_outputs`` and the snapshots).

    ``now``: the newest trustworthy time (the command passes the wall clock at its start); an event
    dated more than ``future_skew`` after it is rejected. ``workers``: processes; ``shards`` (default: by
    the input's size, see :func:`shards_for`): parts of the borrowers (by the hash of their id), each
    replayed on its own, in memory that grows with its borrowers only, the shards of a process one after
    another (see ``monitor._replay_split``). The outputs of the shards are merged in the order one shard
    gives, so the bytes do not depend on either number. Raises ``InputError`` for an unreadable file."""
    started = time.perf_counter()
    for p in paths:  # before anything is written
        if str(p) != "-" and not Path(p).is_file():
            raise InputError(f"{p}: no such file")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".replay-", dir=out))
    snapshots = out / "snapshots"
    shutil.rmtree(snapshots, ignore_errors=True)
    names = [str(p) for p in paths]
    workers = max(1, workers)
    digests_of = Digests()  # the inputs' digests (files.json), on a core left free (monitor._replay_digests)
    try:
        files = [_spool_stdin(tmp) if n == "-" else Path(n) for n in names]
        count = max(1, shards) if shards is not None else shards_for(files, workers)
        if count == 1 or workers == 1:  # the replay in this process: its main thread would wait for the
            digests_of.idle = False  # interpreter lock held by a thread starved by the machine's other work
        job = _Job(files, names, policy, snapshots, tmp, as_of, now, future_skew, count, out)
        ends: list[Totals] = []

        def hash_inputs() -> None:  # on a thread beside the replay, started after any fork; a split input's
            for f in files:  # lines: counted by the split
                digests_of.submit(f, count == 1)

        def conclude(results: list[dict[str, Any]]) -> None:  # (while the processes merge the outputs)
            final = results[0]["as_of"]
            write_manifest(snapshots, [r["part"] for r in results], policy_version=policy.version,
                           timezone=policy.timezone, as_of=final)
            ends.append(Totals(final, [r["counts"] for r in results]))

        if count == 1:
            hash_inputs()
            conclude([_shard(job, 0, lambda last: as_of if as_of is not None else last)])
            digests: dict[str, dict[str, Any]] = {}
        else:
            digests = _run_split(job, min(workers, count), hash_inputs, conclude)
        totals = ends[0]
        rest = [name for name in MERGED if name not in digests]  # (all of them in one process)
        digests.update(merge_outputs(out, rest, job.shard_dirs(), len(names)))
        summary = totals.summary()
        (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        inputs = list(zip(names, digests_of.results()))
        if job.lines is not None:
            inputs = [(n, {**d, "lines": lines}) for (n, d), lines in zip(inputs, job.lines)]
        write_files(out, inputs, OUTPUTS, digests)
    finally:
        digests_of.close()
        shutil.rmtree(tmp, ignore_errors=True)
    totals.elapsed = time.perf_counter() - started
    return totals


class _Job:
    def __init__(self, files: list[Path], names: list[str], policy: Policy, snapshots: Path, tmp: Path,
                 as_of: int | None, now: int | None, skew: int, shards: int, out: Path) -> None:
        self.files, self.names, self.policy, self.snapshots, self.tmp = files, names, policy, snapshots, tmp
        self.out = out
        self.as_of, self.now, self.skew, self.shards = as_of, now, skew, shards
        self.pieces = tmp / "pieces"
        self.bases: list[list[int]] | None = None  # per source file, the first line of each process's range
        self.repeated: set[int] | None = None  # a split input's repeated keys (``repeated_keys_of``)
        self.lines: list[int] | None = None  # a split input's lines, per source file

    def valid(self, raw: bytes) -> int | None:
        got = _judge(raw, self.now, self.skew)
        return None if isinstance(got, str) else got[0]

    def shard_dirs(self) -> list[Path]:
        """Where each shard leaves its sorted runs (``FileTotals.dump``)."""
        return [self.tmp / f"shard-{j}" for j in range(self.shards)]


OUTPUTS = ("summary.json", "borrowers.jsonl", "alerts.jsonl", "schedule_history.jsonl", "rejects.jsonl",
           "schedule.csv", "workout.csv")


def _run_split(job: _Job, workers: int, started: Callable[[], None],
               meanwhile: Callable[[list[dict[str, Any]]], None]) -> dict[str, dict[str, Any]]:
    """Split the input into the shards' pieces (each process its share), agree on the line numbers and
    the as-of, then replay the shards (shard j in process j mod ``workers``). ``started`` runs once the
    processes are (threads are started only after the forks). With several processes, they then merge
    the outputs (``monitor._replay_merge.plan``) while ``meanwhile`` gets the shards' results (in shard
    order); returns the digests of the outputs merged (none with one process: the caller merges them)."""
    job.pieces.mkdir()
    valid = job.valid if job.as_of is None else None
    if workers == 1:
        started()
        found = [split_input(job.files, 0, 1, job.shards, job.pieces, valid)]
        final = _agree(job, found)
        job.repeated = set(repeated_keys_of(job.pieces, 1).tolist())
        meanwhile([_replay_piece(job, j, final) for j in range(job.shards)])
        return {}
    ctx = multiprocessing.get_context("fork")
    conns, procs = [], []
    for k in range(workers):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_process, args=(job, k, workers, theirs), name=f"replay-{k}", daemon=True)
        proc.start()
        theirs.close()
        conns.append(mine)
        procs.append(proc)
    started()
    try:
        found = [_receive(c) for c in conns]
        final = _agree(job, found)
        repeated = repeated_keys_of(job.pieces, workers)
        for c in conns:
            c.send((final, job.bases, repeated))
        results = sorted((r for c in conns for r in _receive(c)), key=lambda r: r["shard"])
        for c, share in zip(conns, plan(job.shard_dirs(), len(job.files), workers)):
            c.send(share)
        meanwhile(results)
        digests: dict[str, dict[str, Any]] = {}
        for c in conns:
            digests.update(_receive(c))
    finally:
        for c in conns:
            c.close()  # (a process still waiting for its next step ends)
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    return digests


def _agree(job: _Job, found: list[dict[str, Any]]) -> int | None:
    """The line numbers of each process's ranges and the as-of (the newest valid event by default)."""
    job.bases, job.lines = [], []
    for fi in range(len(job.files)):
        bases, total = [], 0
        for f in found:
            bases.append(total)
            total += f["counts"][fi]
        job.bases.append(bases)
        job.lines.append(total)  # (the lines iter_lines gives, files.json's count)
    if job.as_of is not None:
        return job.as_of
    newest = [f["newest"] for f in found if f["newest"] is not None]
    return max(newest) if newest else None


def _replay_piece(job: _Job, j: int, final: int | None) -> dict[str, Any]:
    result = _shard(job, j, lambda last: final)
    remove_pieces(job.pieces, j)
    result["shard"] = j
    return result


def _receive(conn: Any) -> Any:
    try:
        kind, value = conn.recv()
    except EOFError:
        raise InputError("a replay process stopped without an answer (out of memory?)") from None
    if kind == "error":
        raise InputError(value)
    return value


def _process(job: _Job, k: int, workers: int, conn: Any) -> None:
    try:
        valid = job.valid if job.as_of is None else None
        conn.send(("ok", split_input(job.files, k, workers, job.shards, job.pieces, valid)))
        final, job.bases, repeated = conn.recv()
        job.repeated = set(repeated.tolist())
        conn.send(("ok", [_replay_piece(job, j, final) for j in range(k, job.shards, workers)]))
        share = conn.recv()  # the outputs this process merges, once every shard is done
        conn.send(("ok", merge_outputs(job.out, share, job.shard_dirs(), len(job.files))))
    except EOFError:
        pass  # the parent stopped before the end (and says why)
    except InputError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # noqa: BLE001 - told to the parent, which stops with it
        conn.send(("error", f"replay process {k}: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _shard(job: _Job, k: int, agree: Callable[[int | None], int | None]) -> dict[str, Any]:
    was_enabled = gc.isenabled()
    gc.disable()  # millions of long-lived objects and no cycles: collecting would only rescan them
    try:
        try:
            return _attempt(job, k, agree, ordered=True)
        except _Unordered:
            shutil.rmtree(job.tmp / f"work-{k}", ignore_errors=True)
            return _attempt(job, k, agree, ordered=False)
    finally:
        if was_enabled:
            gc.enable()


def _spool_stdin(tmp: Path) -> Path:
    path = tmp / "stdin.jsonl"
    with path.open("wb") as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
    return path


def _attempt(job: _Job, k: int, agree: Callable[[int | None], int | None], *, ordered: bool) -> dict[str, Any]:
    work = job.tmp / f"work-{k}"
    work.mkdir()
    rejects = _Rejects(work, job.names)
    reader = _Reader(rejects, job, k)
    totals = FileTotals(work, job.as_of)
    shutil.rmtree(job.snapshots / f"part-{k:03d}", ignore_errors=True)
    part = SnapshotPart(job.snapshots / f"part-{k:03d}")

    def engine_error(fi: int, line: int, reason: str) -> None:
        rejects.add(fi, line, reason, reader.current_line())

    # every state is made here from nothing and changed by this engine only (own_states); the ids that
    # occur once in the input need no duplicate memory (monitor._replay_keys; a split input's keys were
    # taken by the split)
    repeated = job.repeated
    if repeated is None:
        repeated = repeated_keys_in(block for path in job.files for block in file_blocks(path))
    runner = Runner(Engine(job.policy, own_states=True), job.as_of, totals, part, reject=engine_error,
                    repeated=repeated)
    if ordered and len(job.files) == 1:
        reader.feed(0, job.files[0], runner.feed)
    else:
        if ordered:
            items: Iterable[Item] = heapq.merge(*(reader.stream(fi, p) for fi, p in enumerate(job.files)))
        else:
            items = reader.sorted(job.files, work)
        feed = runner.feed
        for current in items:
            reader.current = current[4]
            feed(current[0], current[3], current[1], current[2])
    final = agree(runner.last_t)
    totals.as_of = final
    totals.read = reader.lines
    runner.finish(final, totals.signals)
    done = job.tmp / f"shard-{k}"
    done.mkdir()
    counts = totals.dump(done, rejects)
    shutil.rmtree(work, ignore_errors=True)
    return {"as_of": final, "counts": counts, "part": part.close()}
