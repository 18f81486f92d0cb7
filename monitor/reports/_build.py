"""Building a report: read the inputs once, compute the sections, record where they came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, TypeAdapter, ValidationError

from monitor._errors import InputError
from monitor._gc import no_gc
from monitor.config import load
from monitor._time import iso, local_date, parse_instant
from monitor.jsonl import read_files
from monitor.reports import _figures as fig
from monitor.reports import _quality as qual
from monitor.reports import _ratios as rat
from monitor.reports._quality import Quality, load_feeds
from monitor.reports._events import read_events
from monitor.reports._ids import Codes, IdIndex
from monitor.reports._period import PERIODS, PeriodKind, local_days, make_period
from monitor.reports._replay import (
    TIERS, Alerts, Borrowers, first_policy_version, read_alerts, read_rejects, read_schedule, read_summary,
    scan_before,
)
from monitor.reports._scan import sha256_file
from monitor.reports._signals import current_signals, evidence_ahead, latest_evidence, period_signals
from monitor.reports._started import BorrowersRead, ScheduleRead
from monitor.reports._state import build_state, last_alerts
from monitor.snapshots import SnapshotLog
from monitor.reports.model import InputFile, Meta, PortfolioPoint, Report, Trend, WarningList
from monitor.reports._rowlists import lists_of
from monitor.rules.loader import DEFAULT_POLICY_PATH, default_policy, load_policy

__all__ = ["REPLAY_FILES", "build_report", "load_capacity", "load_cases", "with_cases"]

REPLAY_FILES = ("summary.json", "borrowers.jsonl", "alerts.jsonl", "schedule_history.jsonl", "rejects.jsonl")
# what the report reads of the records at the period's end and at the previous period's end (build_state, read_events,
# read_schedule, the ratios and new defaults, scan_before's borrowers): a fifth and three fifths of the record unread
END_COLUMNS = ("tier", "cls", "grade", "overdue", "dpd", "dpd_at", "exposure", "due", "team", "branch", "segment",
               "industry", "name", "tier_since", "first_seen", "profile_at", "bureau_at", "seen_at")
START_COLUMNS = ("tier", "cls", "grade", "overdue", "dpd", "dpd_at", "exposure", "due", "team", "due_why")
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_CAPACITY = TypeAdapter(dict[str, Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)]])


def load_capacity(path: str | Path) -> dict[str, float]:
    """Visits per working day by team, from a JSON or TOML file: ``{"team": visits, ...}`` (through the one
    loader of configuration files, monitor.config)."""
    capacity = load(path, _CAPACITY.validate_python, error=InputError, top="(top level)",
                    hint="expected team = visits per working day")
    return dict(sorted(capacity.items()))


def _as_date(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"--as-of: not a date (YYYY-MM-DD): {value!r}") from None


@no_gc()  # hundreds of thousands of warning-list rows: the collector's passes cost more than the build
def build_report(
    replay_dir: str | Path,
    events: Sequence[str | Path],
    *,
    period: PeriodKind,
    as_of: date | str | None = None,
    policy_path: str | Path | None = None,
    capacity_path: str | Path | None = None,
    capacity: Mapping[str, float] | None = None,
    feeds_path: str | Path | None = None,
    mask_names: bool = False,
    cases: Mapping[str, tuple[str, str | None]] | None = None,
    cases_path: str | Path | None = None,
    started: bool = True,
) -> Report:
    """The report for the ``period`` (day, week or month) that ends with the date ``as_of`` (default:
    the replay's as-of date in the policy's time zone).

    ``replay_dir`` holds the outputs of ``monitor replay``; ``events`` are the files it read (in the
    same order), or none: the report reads nothing of them but their digests, and takes those (name,
    SHA-256, bytes, lines) from the replay's ``files.json`` then, so the same report is built when the
    event files are gone (or, in the desk, never written). Raises :class:`~monitor._errors.InputError` (or ``PolicyError``) when the inputs
    cannot be used, e.g. an as-of date after the replay's as-of. The result is the JSON form;
    :func:`monitor.reports.write_report` writes the files.

    ``feeds_path``: the feeds' expected cadences (see :mod:`monitor.reports._quality`); ``mask_names``
    masks borrower names (张** / 某某公司); ``cases`` (the desk's, when it builds the report): borrower id
    -> (case status, owner) for the disposal of the warnings; ``cases_path``: the same as a file (the desk's
    ``case_owners.json``, ``{"borrower": [status, owner], ...}``), so that the desk's report can be rebuilt.

    ``started`` False: every file is read in this process (no started reader: borrowers.jsonl, the schedule, the
    current signals and the evidence, each a process of its own by default, for the second core), by one reader
    thread (no two reads' transient memory at once) and the evidence 2,048 lines a batch (16,384: ~0.25 GiB at a
    time at a million borrowers); the same report, slower, and no process's memory beside this one's (the desk's
    build, whose memory counts with its children's: at a million, 1.51 -> 1.36 GiB for these two).
    """
    if period not in PERIODS:
        raise InputError(f"--period: must be one of {', '.join(PERIODS)}, not {period!r}")
    policy = load_policy(policy_path) if policy_path is not None else default_policy()
    feeds = load_feeds(feeds_path)
    if cases_path is not None:
        cases = load_cases(cases_path)
    if capacity_path is not None:
        capacity = load_capacity(capacity_path)
    rdir = Path(replay_dir)
    paths = {name: rdir / name for name in REPLAY_FILES}
    for p in paths.values():
        if not p.is_file():
            raise InputError(f"{p}: no such file (is {rdir} the --out directory of monitor replay?)")
    recorded = not events  # no event files: their provenance as the replay recorded it (files.json)
    event_paths = [Path(e) for e in events] if events else _recorded_events(rdir)
    for p in event_paths if events else ():
        if str(p) == "-" or not p.is_file():
            raise InputError(f"{p}: no such file (give the event files the replay read, or none: their digests "
                             "are then taken from the replay's files.json)")
    used = first_policy_version(paths["alerts.jsonl"]) or first_policy_version(paths["schedule_history.jsonl"])
    if used is not None and used != policy.version:
        raise InputError(f"the replay used policy {used!r} but the report was given {policy.version!r} "
                         "(pass the replay's policy with --policy)")

    summary = read_summary(paths["summary.json"])
    raw_as_of = summary.get("as_of")
    if not isinstance(raw_as_of, str):
        raise InputError(f"{paths['summary.json']}: the replay has no as-of instant (no events?)")
    try:
        replay_as_of = parse_instant(raw_as_of)
    except ValueError:
        raise InputError(f"{paths['summary.json']}: as_of is not an instant: {raw_as_of!r}") from None
    replay_day = local_date(replay_as_of, policy.zone)
    day = replay_day if as_of is None else _as_date(as_of)
    per = make_period(period, day, policy.zone)
    if day > replay_day:
        raise InputError(f"--as-of {day.isoformat()} is after the replay's as-of ({iso(replay_as_of)}, "
                         f"{replay_day.isoformat()} in {policy.timezone}): the data for it is not known yet")
    complete = per.end_us - 1 <= replay_as_of
    cut = per.end_us - 1 if complete else replay_as_of
    as_of_us = per.end_us if complete else replay_as_of
    start = per.start_us
    policy_file = Path(policy_path) if policy_path is not None else DEFAULT_POLICY_PATH
    hashed: list[tuple[str, Path]] = [(Path(name).stem, paths[name]) for name in REPLAY_FILES]
    hashed += [("events", p) for p in event_paths] + [("policy", policy_file)]
    if capacity_path is not None:
        hashed.append(("capacity", Path(capacity_path)))
    if feeds_path is not None:
        hashed.append(("feeds", Path(feeds_path)))

    # Several threads: one hashes every input; others read the events, the visit schedule and the
    # warning list's evidence while this one reads the alerts. hashlib and numpy release the
    # interpreter lock while they work, so the threads share the cores.
    # borrowers.jsonl is read by a started process (the second core) while this one reads the snapshots' tables and
    # the readers start on their records; its errors still come first (then the rejects', then the snapshots')
    # borrowers.jsonl as the replay recorded it (files.json: its size): its columns are the snapshots' as-of record's
    vouched = _vouched(rdir, paths["borrowers.jsonl"])
    with BorrowersRead(paths["borrowers.jsonl"], started and not vouched) as borrowers_read, \
            ScheduleRead(paths["schedule_history.jsonl"], start, cut, started) as sched_rows, \
            ThreadPoolExecutor(1, thread_name_prefix="sha256") as pool, \
            ThreadPoolExecutor(5 if started else 1, thread_name_prefix="reader") as readers:
        if vouched:  # no borrowers.jsonl process (its columns are the snapshots'): the schedule's starts at once
            sched_rows.start()
        line_counts: list[int] = []  # of the event files, against the replay's count
        digests = _digests(pool, rdir, hashed, line_counts, recorded)
        snap_dir = rdir / "snapshots"
        log_error: Exception | None = None  # raised after the errors of borrowers.jsonl and rejects.jsonl
        try:
            if not (snap_dir / "manifest.json").is_file():
                raise InputError(f"{snap_dir}: no snapshots (written by monitor replay since the report reads the "
                                 "engine's records instead of the events): replay the events again")
            log = SnapshotLog(snap_dir)
        except Exception as exc:
            log_error = exc
        cut_day = local_date(cut, policy.zone)
        current_read = None
        # the portfolio at the period's end, the previous period's end and a year earlier, and the trend's month ends
        edges = rat.comparison_instants(per, cut)
        edge_days = [edges[k][2] for k in ("end", "previous", "year_ago")]
        start_day = per.first - timedelta(days=1)  # the previous period's end: the record start_read reads
        months = rat.month_ends(per, cut)
        if log_error is None:  # the records read meanwhile (of no use if an input is refused below)
            # what _before_start needs of the end record, read first and alone (a tenth of the time of the whole:
            # the evidence's chain, the build's longest, starts sooner)
            tiers_read = readers.submit(log.at, cut_day, ("tier", "tier_since"))
            # the columns the report reads of them at once (any other when first looked up: snapshots.at's more)
            end_read = readers.submit(log.at, cut_day, END_COLUMNS, more=True)
            start_read = readers.submit(log.at, start_day, START_COLUMNS, more=True)  # (also an edge below)
            # the signals at the replay's as-of (when the report ends there), parsed while the rest is read (by a
            # process of its own: the parse on the second core, not under this process's interpreter lock)
            if cut == replay_as_of:
                current_read = readers.submit(current_signals, snap_dir / "signals.jsonl", started)
            # what needs the snapshots only, made by the readers while borrowers.jsonl is read (its errors, kept in
            # the futures, are raised where they were when made after it): the ids (the snapshots' are those of
            # borrowers.jsonl, checked below), the edges, the trend's points and the sections of the edges
            early_ids = readers.submit(IdIndex, log.ids)
            pre_read = readers.submit(_before_start, paths["alerts.jsonl"], start, early_ids.result, tiers_read)
            # the evidence of those (most of the warning list at 1 M) parsed by a process of its own meanwhile
            ahead = readers.submit(evidence_ahead, paths["alerts.jsonl"], pre_read.result) if started else None
            by_day: dict[date, Future[Any]] = {cut_day: end_read, start_day: start_read}
            for day in dict.fromkeys(edge_days):  # a year earlier: only what a point reads
                if day not in by_day:
                    by_day[day] = readers.submit(log.at, day, rat.POINT_COLUMNS)
            point_reads = [readers.submit(_month_point, log, by_day, day, lb) for _, lb, day in months]
            edge_figures = readers.submit(_edge_figures, *(by_day[day] for day in edge_days),
                                          [edges[k][1] for k in ("end", "previous", "year_ago")])
        teams = Codes()
        borrowers = _borrowers_of(log, end_read if cut == replay_as_of else None, replay_as_of,
                                  paths["borrowers.jsonl"], teams) if vouched and log_error is None else None
        if borrowers is None:  # not vouched for, or not the snapshots' as-of record: the file read whole
            borrowers = borrowers_read.result(teams)
        sched_rows.start()  # (else: after the borrowers.jsonl process) the schedule read by a process of its own
        rejects = read_rejects(paths["rejects.jsonl"])
        if log_error is not None:
            raise log_error
        if log.n != borrowers.ids.size or not bool(np.array_equal(log.ids, borrowers.ids.astype(log.ids.dtype))):
            raise InputError(f"{snap_dir}: the snapshots are not of the borrowers in borrowers.jsonl")
        ids = early_ids.result() if log.ids.dtype == borrowers.ids.dtype else IdIndex(borrowers.ids)
        sched_read = readers.submit(read_schedule, paths["schedule_history.jsonl"], ids, start, cut, teams, borrowers,
                                    start_read.result, log.codes["team"], sched_rows.rows)

        def under_warning(a: Alerts) -> NDArray[np.bool_]:
            """Borrowers at watch or above at the end (a later alert's from_tier, else borrowers.jsonl)."""
            return np.asarray(np.where(a.from_after_cut >= 0, a.from_after_cut, borrowers.tier) >= 1)

        def before_period(a: Alerts) -> NDArray[np.bool_]:
            """... whose last alert up to the end is before the period."""
            wanted = under_warning(a)
            wanted[a.bidx] = False
            return wanted

        if ids is not early_ids.result():
            pre_read = readers.submit(_before_start, paths["alerts.jsonl"], start, lambda: ids, tiers_read)

        def scanned() -> tuple[NDArray[np.int64], NDArray[np.int64]]:  # copies: read_alerts completes them
            off, length = pre_read.result()
            return off.copy(), length.copy()
        alerts = read_alerts(paths["alerts.jsonl"], ids, start, cut, before_period, scanned)
        candidates = np.flatnonzero(under_warning(alerts))
        offsets, lengths = last_alerts(alerts, ids.n)
        evidence_read = readers.submit(latest_evidence, paths["alerts.jsonl"], offsets[candidates],
                                       lengths[candidates], 16_384 if started else 2_048, started=started,
                                       ahead=ahead.result if ahead is not None else None,
                                       ahead_lines=pre_read.result if ahead is not None else None)
        period_read = readers.submit(period_signals, paths["alerts.jsonl"], alerts.off, alerts.length)
        sched = sched_read.result()
        end_snap = end_read.result()
        ev = read_events(log, end_snap, summary, start, cut, replay_as_of)
        ev.use_teams(teams)
        state = build_state(borrowers, alerts, start_read.result(), end_snap, teams, log.codes["team"])
        ref_day = int(local_days(np.array([cut + 1], dtype=np.int64), policy.zone)[0])
        ctx = fig.Context(state=state, alerts=alerts, sched=sched, events=ev, policy=policy, period=per, cut=cut,
                          ref_day=ref_day, alerts_path=paths["alerts.jsonl"], name_texts=ev.names.values,
                          mask_names=mask_names)
        current = None
        end, previous, _ = (by_day[day].result() for day in edge_days)  # (a read's error raised here)
        # the sections that need no evidence, made while its process reads it (an error of theirs is raised after
        # the warning list's, as when they were made after it)
        early: dict[str, Any] = {}
        early_error: Exception | None = None
        try:
            made = edge_figures.result()
            defaults = _made(made["new_default_rows"])
            changes = fig.changes(ctx)
            early["changes"] = changes.model_copy(update={"class_migration": _made(made["class_migration"])})
            early["ratios"] = _made(made["ratios"])
            early["trend"] = Trend(months=[pt for pt in (f.result() for f in point_reads) if pt is not None])
            early["portfolio"] = fig.portfolio(ctx)
            early["new_defaults"] = rat.new_defaults(previous, end, state, ev, per, policy, ctx.names(defaults))
            # the edges' records are read no more (their sections made; the state and the events copied what they
            # use): released before the rest, the warning list and its evidence (a desk builds in its own process)
            end = previous = _ = end_snap = end_read = start_read = None
            by_day.clear()
            early["inspections"] = fig.inspections(ctx, capacity)
            early["data_health"] = fig.data_health(ctx, as_of_us, rejects, feeds)
        except Exception as exc:
            early_error = exc
        # the warning list's rows and what it shows of them but their signals, and the data quality of those rows,
        # made while the current signals and the evidence are still parsed by their processes (each error raised
        # where it was when made with the warning list: the quality's after the current signals', the rows' by
        # fig.warning_list, which makes them again, the data quality's after the disposal)
        listing: fig.Listed | None = None
        quality_error: Exception | None = None
        data_quality: tuple[Any, Exception | None] = (None, None)
        try:
            quality = Quality(state.prof_end, state.first_profile_t, state.last_profile_t, ev.last_bureau, state.name,
                              ev.names.values, cut, feeds)
        except Exception as exc:
            quality_error = exc
        if quality_error is None:
            try:
                listing = fig.listed(ctx, cases, quality)
            except Exception:
                listing = None
        if listing is not None:
            try:
                data_quality = (qual.quality(quality, state.cents, listing.rows), None)
            except Exception as exc:
                data_quality = (None, exc)
        # the current signals waited for only now, by the warning list (an error of theirs still raised first)
        if current_read is not None:
            current = current_read.result()
        if quality_error is not None:
            raise quality_error
        extras = fig.Extras(current=current, cases=cases, quality=quality)
        wl, evidence, listed_rows = fig.warning_list(ctx, fig.Evidence(candidates, *evidence_read.result()), extras,
                                                     listing)
        if early_error is not None:
            raise early_error
        sections = dict(
            ratios=early["ratios"], trend=early["trend"], portfolio=early["portfolio"], changes=early["changes"],
            new_defaults=early["new_defaults"],
            disposal=fig.disposal(wl, cases is not None),
            data_quality=(_made(data_quality) if listing is not None
                          else qual.quality(quality, state.cents, listed_rows)),
            warning_list=wl, rules=fig.rules(ctx, evidence, listed_rows, period_read.result()),
            inspections=early["inspections"], data_health=early["data_health"],
        )
        inputs = []
        for (role, p), fut in zip(hashed, digests):
            sha, size = fut.result()
        read = summary.get("events", {}).get("read")
        if sum(line_counts) != read:
            raise InputError(f"the event files hold {sum(line_counts)} lines but the replay read {read}: not the "
                             "files it read")
        for (role, p), fut in zip(hashed, digests):
            sha, size = fut.result()
            inputs.append(InputFile(role=role, name=p.name, sha256=sha, bytes=size))
        if capacity is not None and capacity_path is None:  # given as a mapping: record its canonical JSON
            text = json.dumps(dict(sorted(capacity.items())), sort_keys=True, separators=(",", ":")).encode()
            inputs.append(InputFile(role="capacity", name="(mapping)", sha256=hashlib.sha256(text).hexdigest(),
                                    bytes=len(text)))
        if cases_path is not None:  # last, where the desk records the cases it used
            sha, size = sha256_file(Path(cases_path))
            inputs.append(InputFile(role="case_owners", name=Path(cases_path).name, sha256=sha, bytes=size))
    meta = Meta(period=period, label=per.label, first_day=per.first.isoformat(), last_day=per.last.isoformat(),
                timezone=policy.timezone, start=iso(start), end=iso(per.end_us), as_of=iso(as_of_us),
                complete=complete, replay_as_of=iso(replay_as_of), policy_version=policy.version,
                names_masked=mask_names, cases_known=cases is not None, current_signals=current is not None,
                inputs=inputs)
    return Report(meta=meta, **sections)


def _before_start(path: Path, start: int, ids: Callable[[], IdIndex], tiers_read: Future[Any]) -> tuple[
        NDArray[np.int64], NDArray[np.int64]]:
    """The last alert before the period of the borrowers under warning at the end whose tier last changed before it
    (each change of tier is an alert at the record's tier_since), looked for in the lines before the period by a
    reader (from before borrowers.jsonl is read: by the snapshots' ids, checked to be its ids before this is used)
    while the build reads the rest (read_alerts then looks for any borrower of before_period this missed)."""
    snap = tiers_read.result()  # the end record's tier and tier_since
    wanted = np.asarray((snap.cols["tier"] >= 1) & (snap.cols["tier_since"] < start))
    return scan_before(path, start, ids(), wanted)


def _vouched(rdir: Path, path: Path) -> bool:
    """``borrowers.jsonl`` has the size the replay recorded for it in ``files.json`` (its digest, taken from there
    too by :func:`_digests`)."""
    files = read_files(rdir) or {}
    rec = files.get("outputs", {}).get(path.name) if isinstance(files.get("outputs"), dict) else None
    try:
        return isinstance(rec, dict) and isinstance(rec.get("bytes"), int) and rec["bytes"] == path.stat().st_size
    except OSError:
        return False


def _borrowers_of(log: SnapshotLog, end_read: Future[Any] | None, replay_as_of: int, path: Path,
                  teams: Codes) -> Borrowers | None:
    """What the report reads of ``borrowers.jsonl`` (the engine's state at the replay's as-of: tier, next visit
    due, team) taken from the snapshots' record at the same instant (``end_read``: that record, when the period ends
    there), which holds the same values; the team codes are the snapshots' (``teams``, empty, gets their table).
    None (read the file whole) unless the snapshots are of the replay's as-of and the file's first and last lines
    are those records' (a cheap check that the file is the one the snapshots were written with)."""
    if log.as_of != replay_as_of or log.n == 0:
        return None
    snap = end_read.result() if end_read is not None else log.at(log.last_day, ("tier", "due", "team"))
    tier, due, team = (np.asarray(snap.cols[c]) for c in ("tier", "due", "team"))
    for i, line in ((0, _edge_line(path, False)), (log.n - 1, _edge_line(path, True))):
        try:
            doc = json.loads(line)
            t = doc["tier"]
            want_due = date.fromisoformat(doc["next_visit_due"]).toordinal() - _EPOCH_ORD \
                if doc["next_visit_due"] is not None else -1
        except (ValueError, KeyError, TypeError):
            return None
        k = int(team[i])
        if not (doc["borrower_id"] == log.ids[i].decode("utf-8", "replace")
                and (TIERS.index(t) if t in TIERS else -1 if t is None else -2) == int(tier[i])
                and want_due == int(due[i]) and doc.get("team") == (log.codes["team"][k] if k >= 0 else None)):
            return None
    teams.values.extend(log.codes["team"])
    teams.index.update((v.encode("utf-8"), i) for i, v in enumerate(log.codes["team"]))
    return Borrowers(log.ids, tier.astype(np.int8), due.astype(np.int32), team.astype(np.int32))


def _edge_line(path: Path, last: bool) -> bytes:
    """The first (or last) line of a file (empty when it cannot be read)."""
    try:
        with path.open("rb") as fh:
            if not last:
                return fh.readline()
            size = fh.seek(0, 2)
            at = size
            while at > 0:
                step = min(at, 1 << 16)
                fh.seek(at - step)
                chunk = fh.read(step)
                head = chunk.rstrip(b"\n") if at == size else chunk
                cut = head.rfind(b"\n")
                if cut >= 0 or at == step:
                    fh.seek(at - step + cut + 1)
                    return fh.readline()
                at -= step
    except OSError:
        pass
    return b""


def _month_point(log: SnapshotLog, by_day: Mapping[date, Future[Any]], day: date, label: str) -> PortfolioPoint | None:
    """The trend's point of a month end: the edges' records read for the report, or, for the other month ends, only
    what a point reads (a tenth of the record) in the parts' order (a point is sums and counts over the borrowers),
    reduced to its point as soon as read (never twelve month ends in memory at once)."""
    snap = by_day[day].result() if day in by_day else log.unordered_at(day, rat.POINT_COLUMNS)
    return rat.point(snap, label) if snap.present.any() else None


def _edge_figures(end_read: Future[Any], previous_read: Future[Any], year_ago_read: Future[Any],
                  labels: list[str]) -> dict[str, tuple[Any, Exception | None]]:
    """The sections of the edges' records alone (by a reader, while borrowers.jsonl is read), each as its value or
    its error (raised by :func:`_made` where the section was made when made after the rest)."""
    end, previous, year_ago = end_read.result(), previous_read.result(), year_ago_read.result()
    out: dict[str, tuple[Any, Exception | None]] = {}
    for name, make in (("new_default_rows", lambda: rat.new_default_rows(previous, end)),
                       ("class_migration", lambda: rat.class_migration(previous, end)),
                       ("ratios", lambda: rat.ratios(end, previous, year_ago, labels))):
        try:
            out[name] = (make(), None)
        except Exception as exc:
            out[name] = (None, exc)
    return out


def _made(outcome: tuple[Any, Exception | None]) -> Any:
    value, error = outcome
    if error is not None:
        raise error
    return value


def _recorded_events(rdir: Path) -> list[Path]:
    """The event files as the replay recorded them in ``files.json`` (for a report built without them)."""
    files = read_files(rdir)
    inputs = files.get("inputs") if files is not None else None
    if not inputs:
        raise InputError(f"{rdir}: no files.json recording the event files the replay read: give them (--events)")
    for rec in inputs:
        if not (isinstance(rec, dict) and isinstance(rec.get("name"), str) and isinstance(rec.get("sha256"), str)
                and isinstance(rec.get("bytes"), int) and isinstance(rec.get("lines"), int)):
            raise InputError(f"{rdir / 'files.json'}: an input without name, sha256, bytes and lines: {rec!r}")
    return [Path(rec["name"]) for rec in inputs]


def _digests(pool: ThreadPoolExecutor, rdir: Path, hashed: list[tuple[str, Path]],
             line_counts: list[int], recorded: bool = False) -> list[Future[tuple[str, int]]]:
    """SHA-256 and size of each input: as the replay recorded them in ``files.json`` when the file has the
    recorded size (the event files by position), else hashed here on ``pool`` (gigabytes at a million
    borrowers: the replay hashes them once, while it reads and writes them). ``recorded``: the event files
    are not given; their record is taken as it is (:func:`_recorded_events`)."""
    files = read_files(rdir) or {}
    inputs, outputs = files.get("inputs", []), files.get("outputs", {})
    out: list[Future[tuple[str, int]]] = []
    k = 0
    for role, p in hashed:
        rec = None
        if role == "events":
            rec = inputs[k] if k < len(inputs) else None
            k += 1
        elif p.parent == rdir:
            rec = outputs.get(p.name)
        size = p.stat().st_size if rec is not None and not (recorded and role == "events") else \
            (rec["bytes"] if rec is not None else -1)
        if rec is not None and rec.get("bytes") == size and isinstance(rec.get("sha256"), str) and \
                (role != "events" or isinstance(rec.get("lines"), int)):
            if role == "events":
                line_counts.append(rec["lines"])
            done: Future[tuple[str, int]] = Future()
            done.set_result((rec["sha256"], size))
            out.append(done)
        else:
            out.append(pool.submit(sha256_file, p, line_counts if role == "events" else None))
    return out


_CASES = TypeAdapter(dict[str, tuple[Literal["open", "acknowledged", "release_requested", "released"],
                                     Annotated[str, Field(min_length=1, max_length=128)] | None]])


def load_cases(path: str | Path) -> dict[str, tuple[str, str | None]]:
    """The desk's cases of the warning-list borrowers: ``{"borrower": [status, owner or null], ...}``."""
    p = Path(path)
    try:
        data = json.loads(p.read_bytes())
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"{p}: not valid JSON: {exc}") from None
    try:
        return dict(_CASES.validate_python(data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise InputError(f"{p}: {where}: {err['msg']} (expected borrower = [status, owner])") from None


def with_cases(report: Report, cases: Mapping[str, tuple[str, str | None]]) -> Report:
    """The report with the desk's cases: each warning-list row's case status and owner, and the disposal
    of the warnings (``cases``: borrower id -> (status, owner); a borrower without a case has none)."""
    old = report.warning_list
    lists = lists_of(old)
    if lists is not None:  # the rows as columns (not made): the cases' columns replaced
        wl = WarningList.model_construct(borrowers=old.borrowers, exposure=old.exposure, tiers=old.tiers)
        wl._lists = lists.with_cases(cases)
    else:
        rows = [{**r, "case_status": cases[r["borrower_id"]][0] if r["borrower_id"] in cases else None,
                 "case_owner": cases[r["borrower_id"]][1] if r["borrower_id"] in cases else None}
                for r in old.rows]
        wl = old.model_copy(update={"rows": rows})
    return report.model_copy(update={"warning_list": wl, "disposal": fig.disposal(wl, True),
                                     "meta": report.meta.model_copy(update={"cases_known": True})})
