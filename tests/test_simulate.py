"""The synthetic portfolio: contract, determinism, ordering and plausibility."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.events import GRADES, parse_event
from monitor.simulate import (
    BANDS,
    MALFORMED_KINDS,
    SimulationResult,
    calibration_table,
    iter_lines,
    measure_calibration,
    outcomes_path,
    simulate,
    write_simulation,
)

GI = {g: i for i, g in enumerate(GRADES)}
DAY = timedelta(days=1)


class Parsed:
    """One events file read back: valid first occurrences, duplicates, malformed lines."""

    def __init__(self, raw: bytes) -> None:
        self.lines = raw.decode("utf-8").split("\n")
        assert self.lines[-1] == ""
        self.lines.pop()
        self.events: list[dict] = []  # first occurrences, in file order
        self.first_line: dict[str, str] = {}
        self.duplicates: list[tuple[int, str]] = []  # (line number, line)
        self.malformed: list[str] = []
        for i, line in enumerate(self.lines):
            try:
                ev = parse_event(line)
            except ValidationError:
                self.malformed.append(line)
                continue
            if ev.event_id in self.first_line:
                self.duplicates.append((i, line))
                continue
            self.first_line[ev.event_id] = line
            self.events.append(json.loads(line))


def _read(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.name.endswith(".gz") else raw


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationResult, Parsed, list[dict]]:
    """2,000 borrowers over 12 months with 2% duplicates and 1% malformed lines."""
    result = simulate(2000, 12, 11, duplicates=0.02, malformed=0.01)
    out = tmp_path_factory.mktemp("sim") / "events.jsonl"
    write_simulation(result, out)
    outcomes = [json.loads(x) for x in outcomes_path(out).read_text("utf-8").splitlines()]
    return result, Parsed(out.read_bytes()), outcomes


def test_outcomes_path_naming() -> None:
    assert outcomes_path(Path("d/events.jsonl")) == Path("d/events.outcomes.jsonl")
    assert outcomes_path(Path("d/events.jsonl.gz")) == Path("d/events.outcomes.jsonl")
    assert outcomes_path(Path("events.json")) == Path("events.outcomes.jsonl")
    assert outcomes_path(Path("feed")) == Path("feed.outcomes.jsonl")
    assert outcomes_path(Path("a.2025.jsonl")) == Path("a.2025.outcomes.jsonl")


def test_every_line_validates_except_the_malformed(book) -> None:
    result, parsed, _ = book
    n = result.n_events
    assert len(parsed.events) == n
    assert len(parsed.lines) == result.n_lines == n + result.n_duplicates + result.n_malformed
    assert len(parsed.malformed) == result.n_malformed == round(0.01 * n)
    assert len(parsed.duplicates) == result.n_duplicates == round(0.02 * n)
    assert sum(result.counts().values()) == n
    for line in parsed.malformed:
        assert "sim-11-x" in line  # never a real event's id
    # the deterministic mix covers every kind of breakage
    assert len(parsed.malformed) >= len(MALFORMED_KINDS)
    naive = [x for x in parsed.malformed if '"type":"rating_change"' in x and "+08:00" not in x]
    negative = [x for x in parsed.malformed if '"days_past_due":-' in x]
    not_json = [x for x in parsed.malformed if not _is_json(x)]
    assert naive and negative and not_json


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_event_ids_are_sequential_and_duplicates_are_verbatim_and_late(book) -> None:
    _, parsed, _ = book
    ids = [e["event_id"] for e in parsed.events]
    assert ids == [f"sim-11-{i:09d}" for i in range(len(ids))]
    position = {}
    for i, line in enumerate(parsed.lines):
        position.setdefault(line, i)
    for i, line in parsed.duplicates:
        event_id = json.loads(line)["event_id"]
        assert parsed.first_line[event_id] == line
        assert position[line] < i  # after the original
        # placed among events at most 30 minutes younger than the original
        before = next(json.loads(x) for x in reversed(parsed.lines[:i]) if _is_event(x))
        assert _ts(before["occurred_at"]) - _ts(json.loads(line)["occurred_at"]) <= timedelta(minutes=30)


def _is_event(line: str) -> bool:
    try:
        parse_event(line)
    except ValidationError:
        return False
    return True


def test_sorted_by_occurred_at_and_profile_first(book) -> None:
    result, parsed, _ = book
    times = [_ts(e["occurred_at"]) for e in parsed.events]
    assert all(a <= b for a, b in zip(times, times[1:]))
    assert all(e["occurred_at"].endswith("+08:00") for e in parsed.events)
    first: dict[str, str] = {}
    for e in parsed.events:
        first.setdefault(e["borrower_id"], e["type"])
    assert len(first) == result.borrowers
    assert set(first.values()) == {"loan_profile"}
    start = datetime.fromisoformat("2025-01-01T00:00:00+08:00")
    assert start <= times[0] and times[-1] < start + timedelta(days=365)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    paths = {}
    for tag, seed in (("a", 5), ("b", 5), ("c", 6)):
        for name in ("events.jsonl", "events.jsonl.gz"):
            out = tmp_path / tag / name
            write_simulation(simulate(300, 6, seed, duplicates=0.05, malformed=0.05), out)
            paths[tag, name] = out
    for name in ("events.jsonl", "events.jsonl.gz"):
        a, b, c = (paths[t, name] for t in "abc")
        assert a.read_bytes() == b.read_bytes()
        assert outcomes_path(a).read_bytes() == outcomes_path(b).read_bytes()
        assert a.read_bytes() != c.read_bytes()
    plain, packed = paths["a", "events.jsonl"], paths["a", "events.jsonl.gz"]
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    lines = list(iter_lines(simulate(300, 6, 5, duplicates=0.05, malformed=0.05)))
    assert "\n".join(lines) + "\n" == plain.read_text("utf-8")
    # the extra lines do not disturb the events themselves
    clean = Parsed(_events_bytes(simulate(300, 6, 5)))
    assert clean.events == Parsed(plain.read_bytes()).events


def _events_bytes(result: SimulationResult) -> bytes:
    return ("\n".join(iter_lines(result)) + "\n").encode("utf-8")


def test_volume_and_default_rate(book) -> None:
    result, parsed, outcomes = book
    per_month = result.n_events / (2000 * 12)
    assert 1.5 <= per_month <= 4.0
    counts = Counter(e["type"] for e in parsed.events)
    assert counts["bureau_report"] > counts.total() / 2
    assert all(counts[t] > 0 for t in ("loan_profile", "rating_change", "overdue", "lawsuit",
                                       "inspection_completed"))
    assert 0.01 <= len(outcomes) / 2000 <= 0.10
    assert [o["borrower_id"] for o in outcomes] == sorted({o["borrower_id"] for o in outcomes})
    assert {o["reason"] for o in outcomes} == {"dpd90", "grade_d"}


def test_rating_migration_is_mostly_diagonal_and_chained(book) -> None:
    _, parsed, _ = book
    grade = {}
    exposure: dict[str, float] = {}
    changes, notches, updates = 0, [], 0
    for e in parsed.events:
        if e["type"] == "loan_profile":
            b = e["borrower_id"]
            if b in grade:  # a later profile: amortised exposure, the grade known by then
                assert e["grade"] == grade[b]
                assert e["exposure"] <= exposure[b]
                updates += 1
            grade.setdefault(b, e["grade"])
            exposure.setdefault(b, e["exposure"])
        elif e["type"] == "rating_change":
            assert e["old_grade"] != e["new_grade"]
            assert e["old_grade"] == grade[e["borrower_id"]]
            grade[e["borrower_id"]] = e["new_grade"]
            changes += 1
            notches.append(abs(GI[e["new_grade"]] - GI[e["old_grade"]]))
    assert changes / (2000 * 12) < 0.05  # most borrower-months: no change
    assert sum(n <= 2 for n in notches) / len(notches) > 0.8
    assert updates > 100


def _recompute_defaults(events: list[dict], horizon_end: datetime) -> dict[str, tuple[datetime, str]]:
    """Independent reading of the outcome rule, straight from the events."""
    by_account: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
    grade_d: dict[str, datetime] = {}
    for e in events:
        if e["type"] == "overdue":
            by_account[e["account_id"]].append((_ts(e["occurred_at"]), e["days_past_due"], e["borrower_id"]))
        elif e["type"] == "rating_change" and e["new_grade"] == "D":
            grade_d.setdefault(e["borrower_id"], _ts(e["occurred_at"]))
    dpd90: dict[str, datetime] = {}
    for rows in by_account.values():
        rows.sort()
        for (t, d, b), nxt in zip(rows, rows[1:] + [None]):
            if d <= 0:
                continue
            when = t + max(0, 90 - d) * DAY
            if (nxt is None or nxt[0] > when) and when < horizon_end:
                dpd90[b] = min(dpd90.get(b, when), when)
    out = {}
    for b in set(dpd90) | set(grade_d):
        x, y = dpd90.get(b), grade_d.get(b)
        out[b] = (x, "dpd90") if y is None or (x is not None and x <= y) else (y, "grade_d")
    return out


def test_outcomes_match_the_events(book) -> None:
    _, parsed, outcomes = book
    end = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
    expected = _recompute_defaults(parsed.events, end)
    got = {o["borrower_id"]: (_ts(o["defaulted_at"]), o["reason"]) for o in outcomes}
    assert got == expected


def test_overdue_episodes_count_forward_consistently(book) -> None:
    result, parsed, _ = book
    start = datetime.fromisoformat("2025-01-01T00:00:00+08:00")
    exits = {e["borrower_id"]: _ts(e["occurred_at"]) for e in parsed.events
             if e["type"] == "loan_profile" and e["exposure"] == 0}
    rows: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for e in parsed.events:
        if e["type"] == "overdue":
            assert e["account_id"].startswith(e["borrower_id"] + "-A")
            assert (e["days_past_due"] == 0) == (e["overdue_amount"] == 0)
            rows[e["account_id"]].append((_ts(e["occurred_at"]), e["days_past_due"]))
    starts = cures = carried = written_off = 0
    for account, seq in rows.items():
        borrower = account.rsplit("-A", 1)[0]
        prev = None
        for t, d in seq:
            if prev is None or prev[1] == 0:
                if t < start + DAY and d > 5:
                    carried += 1  # arrears already running when the book went live
                else:
                    assert 1 <= d <= 5  # an episode opens with 1-5 DPD
                starts += 1
            elif d == 0:
                if prev[1] + (t - prev[0]).days >= 90:
                    # only a defaulted borrower's arrears clear after 90 DPD: when it leaves the book
                    assert exits[borrower] - t <= timedelta(minutes=5)
                    written_off += 1
                else:
                    cures += 1
            else:
                assert d == prev[1] + (t - prev[0]).days  # the update agrees with counting
            prev = (t, d)
    assert starts > 100 and cures > 0.8 * starts - 60
    assert written_off > 0
    assert carried < starts / 10


def test_defaulted_borrowers_leave_the_book(book) -> None:
    """A defaulted borrower leaves 90-360 days after its default: its arrears clear, a last profile
    says nothing is outstanding, and no feed mentions it again."""
    _, parsed, outcomes = book
    defaulted = {o["borrower_id"]: _ts(o["defaulted_at"]) for o in outcomes}
    last: dict[str, dict] = {}
    exits: dict[str, datetime] = {}
    for e in parsed.events:
        b = e["borrower_id"]
        assert b not in exits, f"{e['type']} for {b} after it left the book"
        last[b] = e
        if e["type"] == "loan_profile" and e["exposure"] == 0:
            exits[b] = _ts(e["occurred_at"])
    assert exits
    assert set(exits) <= set(defaulted)
    for b, t in exits.items():
        assert timedelta(days=90) <= t - defaulted[b] <= timedelta(days=360)
    end = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
    for b, t in defaulted.items():
        if end - t > timedelta(days=360):
            assert b in exits


def test_signals_are_richer_for_defaulters(book) -> None:
    _, parsed, outcomes = book
    defaulted = {o["borrower_id"]: _ts(o["defaulted_at"]) for o in outcomes}
    signals: Counter[str] = Counter()
    early: set[str] = set()
    for e in parsed.events:
        b, t = e["borrower_id"], _ts(e["occurred_at"])
        bad = ((e["type"] == "lawsuit" and e["role"] == "defendant")
               or (e["type"] == "bureau_report" and (e["max_external_dpd"] > 0 or e["hard_inquiries_30d"] >= 6))
               or (e["type"] == "overdue" and e["days_past_due"] >= 30)
               or (e["type"] == "rating_change" and GI[e["new_grade"]] > GI[e["old_grade"]])
               or (e["type"] == "inspection_completed" and e["outcome"] != "normal"))
        if bad:
            signals[b] += 1
            if b in defaulted and t <= defaulted[b] - 30 * DAY:
                early.add(b)
    others = 2000 - len(defaulted)
    mean_def = sum(signals[b] for b in defaulted) / len(defaulted)
    mean_other = sum(n for b, n in signals.items() if b not in defaulted) / others
    assert mean_def > 3 * mean_other
    assert len(early) > len(defaulted) / 2  # most defaults are flagged a month ahead, not all


def test_field_shapes_are_plausible(book) -> None:
    _, parsed, _ = book
    profiles = [e for e in parsed.events if e["type"] == "loan_profile"]
    medium = [p["exposure"] for p in profiles if p["segment"] == "medium"]
    assert any(x > 10_000_000 for x in medium)
    teams = defaultdict(set)
    for p in profiles:
        teams[p["branch"]].add(p["team"])
    assert len(teams) == 8 and all(2 <= len(t) <= 3 for t in teams.values())
    assert any("有限公司" in p.get("name", "") for p in profiles)
    bureau = [e for e in parsed.events if e["type"] == "bureau_report"]
    assert any(e["hard_inquiries_30d"] >= 6 for e in bureau)
    exposure = {p["borrower_id"]: p["exposure"] for p in profiles}
    assert any(e["guarantee_exposure"] >= exposure[e["borrower_id"]] for e in bureau)
    debt: dict[tuple[str, str], float] = {}
    jumps = 0
    for e in bureau:
        key = (e["borrower_id"], e["source"])
        if key in debt and e["total_external_debt"] >= 1.5 * debt[key] > 0:
            jumps += 1
        debt[key] = e["total_external_debt"]
    assert jumps > 0
    stage_order = ["filed", "judgment", "enforcement", "dishonest_debtor", "closed"]
    cases: dict[str, list[str]] = defaultdict(list)
    for e in parsed.events:
        if e["type"] == "lawsuit":
            cases[e["case_id"]].append(e["stage"])
    assert cases
    for stages in cases.values():
        assert stages[0] == "filed"
        assert [stage_order.index(s) for s in stages] == sorted(stage_order.index(s) for s in stages)
    outcomes = Counter(e["outcome"] for e in parsed.events if e["type"] == "inspection_completed")
    assert outcomes["normal"] > outcomes["concern"] > 0 and outcomes["deteriorated"] > 0


@pytest.mark.parametrize("kwargs", [
    dict(borrowers=0, months=12, seed=1), dict(borrowers=10, months=0, seed=1),
    dict(borrowers=10, months=12, seed=1.5), dict(borrowers=10, months=12, seed=1, duplicates=1.5),
    dict(borrowers=10, months=12, seed=1, start="2025-13-01"),
])
def test_bad_arguments_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        simulate(**kwargs)


def test_negative_seeds_are_distinct() -> None:
    lines = {seed: list(iter_lines(simulate(20, 3, seed))) for seed in (-3, 3)}
    assert lines[-3] != lines[3]
    assert lines[-3][0].startswith('{"event_id":"sim--3-000000000"')


def test_tiny_portfolios_work() -> None:
    for months in (1, 2):
        result = simulate(1, months, 9, duplicates=1.0, malformed=1.0, start="2024-01-31")
        lines = list(iter_lines(result))
        assert len(lines) == result.n_lines == 3 * result.n_events


# --------------------------------------------------------------------------- calibration

CALIBRATION_BORROWERS = 5000  # enough that sampling noise stays well inside every band


@pytest.fixture(scope="module", params=[101, 202])
def calibrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A 24-month portfolio written to a file and measured from the file alone."""
    out = tmp_path_factory.mktemp(f"cal{request.param}") / "events.jsonl.gz"
    write_simulation(simulate(CALIBRATION_BORROWERS, 24, request.param, duplicates=0.01, malformed=0.005), out)
    return out, measure_calibration([out], start="2025-01-01", months=24)


def test_every_calibration_band_holds(calibrated) -> None:
    _, measured = calibrated
    assert [m.band.key for m in measured] == [b.key for b in BANDS]
    missed = [m for m in measured if not m.ok]
    assert not missed, "\n" + calibration_table(measured)


def test_the_calibration_measures_from_the_file(tmp_path: Path) -> None:
    """The measure reads only the file: a copy in which one defaulted borrower never leaves the book
    shows a different exit statistic and a larger stock at 90+ DPD."""
    path = tmp_path / "events.jsonl"
    write_simulation(simulate(600, 24, 7), path)
    lines = path.read_text(encoding="utf-8").splitlines()
    exit_line = next(i for i, x in enumerate(lines) if '"exposure":0.00' in x)
    borrower = json.loads(lines[exit_line])["borrower_id"]
    cure = max(i for i in range(exit_line) if f'"borrower_id":"{borrower}"' in lines[i]
               and '"days_past_due":0,' in lines[i])
    copy = tmp_path / "edited.jsonl"
    copy.write_text("\n".join(x for i, x in enumerate(lines) if i not in (cure, exit_line)) + "\n", encoding="utf-8")
    before = {m.band.key: m for m in measure_calibration([path], start="2025-01-01", months=24)}
    again = {m.band.key: m for m in measure_calibration([copy], start="2025-01-01", months=24)}
    assert again["exit_in_window"].value != before["exit_in_window"].value
    assert again["stock_90"].value > before["stock_90"].value
    for key in ("default_rate", "initial_ccc"):  # defaults and the first day: the same events
        assert again[key].value == before[key].value


def test_same_result_on_one_or_two_processes() -> None:
    one = list(iter_lines(simulate(200, 6, 12, jobs=1)))
    two = list(iter_lines(simulate(200, 6, 12, jobs=2)))
    assert one == two


def test_cli_prints_the_calibration(tmp_path: Path) -> None:
    from monitor.cli import main

    out = tmp_path / "e.jsonl"
    assert main(["simulate", "--borrowers", "200", "--months", "24", "--seed", "3", "--out", str(out),
                 "--calibration"]) == 0
    assert out.exists() and outcomes_path(out).exists()
    code = main(["calibration", str(out), "--start", "2025-01-01", "--months", "24"])
    assert code in (0, 1)  # 200 borrowers: a band may miss by sampling noise; the exit status says so
    assert main(["calibration", str(out), "--start", "2025-13-01"]) == 2
    assert main(["calibration", str(tmp_path / "missing.jsonl")]) == 2


def _spawned_workers(parent: int) -> list[int]:
    """The multiprocessing spawn workers among ``parent``'s children (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmd:
            found.append(int(entry.name))
    return found


def _cpu_seconds(pid: int) -> float:
    import os

    try:
        st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
@pytest.mark.parametrize("busy", [0.0, 0.8], ids=["as-it-starts", "while-it-works"])
def test_a_killed_inspections_process_fails_the_run_with_a_clear_error(tmp_path: Path, busy: float) -> None:
    """The OOM killer ending one of the visits' processes, as it starts (its arguments not yet read) or while it
    works: the command stops with exit 2 and says what happened, instead of waiting for ever (a
    multiprocessing.Pool for the lost answer; a ProcessPoolExecutor, under load, in its shutdown)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "monitor", "simulate", "--borrowers", "6000", "--months", "12", "--seed", "3",
           "--jobs", "2", "--out", str(tmp_path / "ev.jsonl")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        workers: list[int] = []
        while not workers and proc.poll() is None and time.monotonic() < deadline:
            workers = _spawned_workers(proc.pid)
            time.sleep(0.05)
        assert workers, f"no visits process seen (exit {proc.poll()})"
        while busy and _cpu_seconds(workers[0]) < busy and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before the process was killed"
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=300)  # a hang fails here
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, err
    assert "a process simulating the inspections of 6,000 borrowers stopped without an answer" in err
    assert "out of memory?" in err and "--jobs 1" in err
    assert not (tmp_path / "ev.jsonl").exists()
