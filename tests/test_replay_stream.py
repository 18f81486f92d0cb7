"""``monitor replay`` on files: streams merged, external sort, bounded memory, and no event can stop it."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import monitor._spill as spill
from monitor._replay_stream import replay_to
from monitor._time import parse_instant
from monitor.cli import main
from monitor.replay import replay, write_outputs
from monitor.rules.loader import default_policy
from tests.test_replay import GOOD, write

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden-events.jsonl.gz"
FILES = ("alerts.jsonl", "borrowers.jsonl", "schedule.csv", "schedule_history.jsonl", "summary.json")


def _lines() -> list[bytes]:
    return gzip.decompress(GOLDEN.read_bytes()).splitlines()


def _same(a: Path, b: Path, names: tuple[str, ...] = FILES) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs of the in-memory replay (all events in a list, sorted) of the golden input."""
    out = tmp_path_factory.mktemp("ref")
    write_outputs(replay([GOLDEN], default_policy()), out)
    return out


def test_time_ordered_feed_files_are_merged_as_streams(tmp_path: Path, reference: Path, monkeypatch) -> None:
    """One file per feed, each in time order (copies and malformed lines dropped): never sorted on disk."""
    lines = [x for x in _lines() if x.startswith(b"{")]
    docs = []
    for raw in lines:
        try:
            docs.append((parse_instant(json.loads(raw)["occurred_at"]), raw))
        except (ValueError, KeyError):
            continue
    docs.sort(key=lambda d: d[0])
    by_type: dict[str, list[bytes]] = {}
    for _, raw in docs:
        by_type.setdefault(json.loads(raw)["type"], []).append(raw)
    paths = []
    for name, rows in sorted(by_type.items()):
        paths.append(tmp_path / f"{name}.jsonl")
        paths[-1].write_bytes(b"\n".join(rows) + b"\n")
    flat = tmp_path / "flat.jsonl"
    flat.write_bytes(b"\n".join(raw for _, raw in docs) + b"\n")

    def no_sort(*args, **kwargs):
        raise AssertionError("time-ordered files were sorted on disk")

    monkeypatch.setattr(spill.EventRuns, "add", no_sort)
    got = replay_to(paths, default_policy(), tmp_path / "out")
    monkeypatch.undo()
    ref = replay([flat], default_policy())
    write_outputs(ref, tmp_path / "ref")
    _same(tmp_path / "out", tmp_path / "ref", FILES[:-1])
    assert got.read == len(docs) and got.summary()["events"]["applied"] == ref.applied


def test_unordered_input_is_sorted_in_runs_on_disk_with_the_same_bytes(tmp_path: Path, reference: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setattr(spill.EventRuns.__init__, "__defaults__", (4096,))  # a run every few lines
    monkeypatch.setattr(spill.LineSpill.__init__, "__defaults__", (2048,))
    runs: list[int] = []
    real = spill.EventRuns._flush

    def counting(self):
        runs.append(len(self.buf))
        real(self)

    monkeypatch.setattr(spill.EventRuns, "_flush", counting)
    got = replay_to([GOLDEN], default_policy(), tmp_path / "out")
    assert len(runs) > 100
    _same(tmp_path / "out", reference, (*FILES, "rejects.jsonl"))
    assert got.rejected == json.loads((reference / "summary.json").read_text())["events"]["rejected"] > 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".replay-")]  # runs cleaned up


def test_shuffled_and_split_input_and_standard_input(tmp_path: Path, reference: Path) -> None:
    lines = _lines()
    random.Random(3).shuffle(lines)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    a.write_bytes(b"\n".join(lines[:5000]) + b"\n")
    b.write_bytes(gzip.compress(b"\n".join(lines[5000:]) + b"\n"))
    replay_to([a, b], default_policy(), tmp_path / "split")
    _same(tmp_path / "split", reference)
    proc = subprocess.run([sys.executable, "-m", "monitor", "replay", "-", "--out", str(tmp_path / "stdin")],
                          input=gzip.decompress(GOLDEN.read_bytes()), capture_output=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    _same(tmp_path / "stdin", reference)


def test_an_event_dated_far_ahead_is_rejected_and_moves_no_clock(tmp_path: Path) -> None:
    """Issue 12: one event years ahead must not move the portfolio's as-of (and every due date with it).
    (A year-9999 instant is refused by the event contract already: the latest the contract accepts here.)"""
    future = {**GOOD[2], "event_id": "f1", "occurred_at": "2199-12-31T00:00:00Z"}
    src = write(tmp_path / "in.jsonl", [*GOOD, future])
    assert main(["replay", str(src), "--out", str(tmp_path / "out"), "--now", "2025-04-01T12:00:00Z"]) == 0
    assert main(["replay", str(write(tmp_path / "ok.jsonl", GOOD)), "--out", str(tmp_path / "ok"),
                 "--now", "2025-04-01T12:00:00Z"]) == 0
    _same(tmp_path / "out", tmp_path / "ok", ("alerts.jsonl", "borrowers.jsonl", "schedule.csv"))
    (rej,) = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert rej["line"] == len(GOOD) + 1 and rej["reason"] == (
        "future: 2199-12-31T00:00:00Z is more than 1 day ahead of the time of the replay (2025-04-01T12:00:00Z)")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["as_of"] == "2025-04-01T00:00:00Z" and summary["events"]["rejected"] == 1
    # within the skew it is applied; a longer skew is a setting
    near = {**GOOD[2], "event_id": "f2", "occurred_at": "2025-04-02T06:00:00Z"}
    assert main(["replay", str(write(tmp_path / "near.jsonl", [*GOOD, near])), "--out", str(tmp_path / "near"),
                 "--now", "2025-04-01T12:00:00Z"]) == 0
    assert json.loads((tmp_path / "near" / "summary.json").read_text())["events"]["rejected"] == 0


def test_an_event_the_engine_fails_on_is_rejected_and_the_rest_goes_on(tmp_path: Path, monkeypatch) -> None:
    """Issue 12: no single event can stop the replay with a traceback."""
    from monitor.engine import Engine

    real = Engine.apply_into  # the one path every entry point (apply, apply_into, apply_batch) takes

    def flaky(self, state, event, *args, **kwargs):
        if event.event_id == "o1":
            raise OverflowError("date value out of range")
        return real(self, state, event, *args, **kwargs)

    monkeypatch.setattr(Engine, "apply_into", flaky)
    src = write(tmp_path / "in.jsonl", GOOD)
    assert main(["replay", str(src), "--out", str(tmp_path / "out")]) == 0
    (rej,) = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert rej == {"source": str(src), "line": 3, "reason": "engine error: OverflowError: date value out of range",
                   "text": json.dumps(GOOD[2], ensure_ascii=False)}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["events"]["applied"] == len(GOOD) - 1 and summary["borrowers"]["total"] == 3


def test_a_profile_disbursed_in_year_9999_is_rejected_not_a_crash(tmp_path: Path) -> None:
    """Issue 12: the loan profile that overflowed the first visit date and stopped the replay with a traceback."""
    poison = {**GOOD[0], "event_id": "pX", "borrower_id": "BX", "disbursed_at": "9999-12-31T00:00:00+08:00"}
    src = write(tmp_path / "in.jsonl", [*GOOD, poison])
    assert main(["replay", str(src), "--out", str(tmp_path / "out")]) == 0
    (rej,) = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert rej["line"] == len(GOOD) + 1
    assert rej["reason"] == "disbursed_at: 9999-12-30T16:00:00Z is outside the supported years 1900-2199"
    assert "BX" not in (tmp_path / "out" / "borrowers.jsonl").read_text()


def test_shards_give_the_same_bytes_and_the_same_snapshots(tmp_path: Path, reference: Path) -> None:
    """Borrowers shared among processes: the outputs and the records at every day's end do not change."""
    from monitor.snapshots import SnapshotLog

    lines = _lines()
    random.Random(8).shuffle(lines)  # one shard sorts on disk while another may stream
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    one = replay_to([GOLDEN], default_policy(), tmp_path / "one", workers=1)
    three = replay_to([GOLDEN], default_policy(), tmp_path / "three", workers=3)
    _same(tmp_path / "three", reference, (*FILES, "rejects.jsonl"))
    _same(tmp_path / "three", tmp_path / "one", ("snapshots/signals.jsonl",))
    assert one.summary() == three.summary()
    a, b = SnapshotLog(tmp_path / "one" / "snapshots"), SnapshotLog(tmp_path / "three" / "snapshots")
    assert (a.ids == b.ids).all() and a.codes == b.codes and a.as_of == b.as_of
    for day in range(a.checkpoint_days()[0] - 3, a.last_day + 1, 9):
        x, y = a.at(day), b.at(day)
        assert all((x.cols[c] == y.cols[c]).all() for c in x.cols), day
    assert (a.rows(0, a.last_day)["borrower"] == b.rows(0, b.last_day)["borrower"]).all()
    shuffled = replay_to([src], default_policy(), tmp_path / "shuffled", workers=2)
    assert shuffled.summary()["alerts"] == one.summary()["alerts"]


@pytest.mark.parametrize("workers,shards", [(1, 4), (2, 5)])
def test_more_shards_than_processes_give_the_same_bytes_and_snapshots(tmp_path: Path, reference: Path,
                                                                      workers: int, shards: int) -> None:
    """A large input is split by borrower into parts replayed one after another (bounded memory): the files of
    several sources, plain and compressed, CRLF and no final line break, read in byte ranges by the processes,
    give the same outputs, rejects (with their source lines) and snapshots as one whole replay."""
    from monitor.snapshots import SnapshotLog

    lines = _lines()
    random.Random(11).shuffle(lines)
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz", tmp_path / "c.jsonl"
    a.write_bytes(b"\r\n".join(lines[:4001]))  # no final line break
    b.write_bytes(gzip.compress(b"\n".join(lines[4001:9000]) + b"\n"))
    c.write_bytes(b"\n".join(lines[9000:]) + b"\n")
    one = replay_to([a, b, c], default_policy(), tmp_path / "one", workers=1, shards=1)
    many = replay_to([a, b, c], default_policy(), tmp_path / "many", workers=workers, shards=shards)
    _same(tmp_path / "many", reference, FILES[:-1])
    _same(tmp_path / "many", tmp_path / "one", (*FILES, "rejects.jsonl", "workout.csv", "snapshots/signals.jsonl"))
    assert one.summary() == many.summary() and one.rejected > 0
    # the outputs' digests, taken as the shards' runs were merged (by the processes, each its share), are the files'
    recorded = json.loads((tmp_path / "many" / "files.json").read_text())["outputs"]
    assert recorded == json.loads((tmp_path / "one" / "files.json").read_text())["outputs"]
    assert set(recorded) == {"summary.json", "borrowers.jsonl", "alerts.jsonl", "schedule_history.jsonl",
                             "rejects.jsonl", "schedule.csv", "workout.csv"}
    for name, digest in recorded.items():
        data = (tmp_path / "many" / name).read_bytes()
        assert digest == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}, name
    # the inputs' lines: counted by the split (many), read again by the digest (one)
    inputs = json.loads((tmp_path / "many" / "files.json").read_text())["inputs"]
    assert inputs == json.loads((tmp_path / "one" / "files.json").read_text())["inputs"]
    assert [d["lines"] for d in inputs] == [4001, 4999, len(lines) - 9000]
    x, y = SnapshotLog(tmp_path / "one" / "snapshots"), SnapshotLog(tmp_path / "many" / "snapshots")
    assert len(json.loads((tmp_path / "many" / "snapshots" / "manifest.json").read_text())["parts"]) == shards
    assert (x.ids == y.ids).all() and x.codes == y.codes and x.as_of == y.as_of
    for day in range(x.checkpoint_days()[0] - 3, x.last_day + 1, 5):
        p, q = x.at(day), y.at(day)
        assert all((p.cols[k] == q.cols[k]).all() for k in p.cols), day
    r1, r2 = x.rows(0, x.last_day), y.rows(0, y.last_day)
    assert all((r1[k] == r2[k]).all() for k in r1)


def test_the_default_as_of_of_a_split_input_is_its_newest_valid_event(tmp_path: Path, monkeypatch) -> None:
    """The split reads occurred_at from the text and validates only the newest lines: lines dated later
    that are invalid, too far ahead or written oddly must neither set the as-of nor hide the newest valid
    one, even when every line it kept is invalid (then it validates the whole range)."""
    import monitor._replay_split as split

    good = [dict(x) for x in GOOD]
    late = {**good[-1], "event_id": "late-valid", "occurred_at": "2025-05-01T10:00:00+08:00"}
    odd = {**good[-1], "event_id": "odd", "occurred_at": "2025-05-01T09:00:00.5+08:00"}
    bad = [{**good[-1], "event_id": f"bad{i}", "occurred_at": "2025-06-01T00:00:00+08:00", "days_past_due": -1}
           for i in range(5)]
    ahead = {**good[-1], "event_id": "ahead", "occurred_at": "2031-01-01T00:00:00+08:00"}
    rows = [json.dumps(x) for x in [*good, odd, late, *bad, ahead]]
    rows.insert(1, '{"occurred_at": "2026-01-01T00:00:00+08:00", "type": "overdue"}')  # invalid, spaced
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(rows) + "\n")
    now = parse_instant("2030-01-01T00:00:00Z")
    want = parse_instant("2025-05-01T10:00:00+08:00")
    for keep in (64, 3):  # with 3 kept lines, all invalid: the range is validated line by line
        monkeypatch.setattr(split, "_KEEP", keep)
        got = replay_to([src], default_policy(), tmp_path / f"k{keep}", now=now, workers=2, shards=3)
        assert got.as_of == want, keep
        assert got.rejected == 7
    assert replay_to([src], default_policy(), tmp_path / "whole", now=now, shards=1).as_of == want



def test_the_newest_plain_instants_are_compared_as_text_per_offset(tmp_path: Path, monkeypatch) -> None:
    """Instants written plainly (``YYYY-MM-DDTHH:MM:SS`` and ``Z`` or ``+HH:MM``, compact JSON as the feeds write
    it) are kept by their text per offset: a valid line of one offset left out behind invalid, impossible or
    too-far-ahead lines of that offset must still be found when it is newer than the kept lines of another."""
    import monitor._replay_split as split
    from monitor._replay_stream import _judge

    good = [dict(x) for x in GOOD]
    base = good[-1]
    late_z = {**base, "event_id": "late-z", "occurred_at": "2025-05-01T03:00:00Z"}
    late_8 = {**base, "event_id": "late-8", "occurred_at": "2025-05-01T12:00:00+08:00"}  # 04:00Z: the newest valid
    bad = [{**good[2], "event_id": f"bad{i}", "occurred_at": "2025-06-01T00:00:00+08:00", "days_past_due": -1}
           for i in range(3)]
    no_day = {**base, "event_id": "no-day", "occurred_at": "2025-13-01T00:00:00+08:00"}
    ahead = {**base, "event_id": "ahead", "occurred_at": "2031-01-01T00:00:00+08:00"}
    rows = [json.dumps(x, ensure_ascii=False, separators=(",", ":")) for x in
            [*good, late_8, late_z, *bad, no_day, ahead]]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    now = parse_instant("2030-01-01T00:00:00Z")
    want = parse_instant("2025-05-01T12:00:00+08:00")

    def valid(raw: bytes) -> int | None:
        got = _judge(raw, now, 86_400_000_000)
        return None if isinstance(got, str) else got[0]

    for keep in (64, 3, 1):  # with 3 or 1 kept per offset, late-8 is left out: then every line is validated
        monkeypatch.setattr(split, "_KEEP", keep)
        (tmp_path / f"p{keep}").mkdir()
        assert split.split_input([src], 0, 1, 2, tmp_path / f"p{keep}", valid)["newest"] == want, keep
        got = replay_to([src], default_policy(), tmp_path / f"k{keep}", now=now, workers=2, shards=3)
        assert got.as_of == want and got.rejected == 5, keep
    assert replay_to([src], default_policy(), tmp_path / "whole", now=now, shards=1).as_of == want

def test_history_rows_sort_as_their_keys_whatever_the_borrower_id(tmp_path: Path) -> None:
    """``FileTotals.add_history_row`` writes the key text itself for a plain id: the same order as
    ``LineSpill.add`` with the tuple key gives, control characters and instants before 1970 included."""
    from monitor._replay_stream import FileTotals

    rng = random.Random(3)
    ids = ["B1", "B10", "B1\x1fx", "B1\x00", "b\u2028", "中文", "B2"]
    rows = [(rng.choice([-(2**40), 0, 5, 2**50, 2**50 + 1]), rng.choice(ids), f"{{\"n\":{k}}}") for k in range(300)]
    totals = FileTotals(tmp_path, None)
    ref = spill.LineSpill(tmp_path, "ref")
    for at, bid, entry in rows:
        totals.add_history_row(at, bid, entry)
        ref.add((at, bid), entry)
    got = [json.loads(line)["n"] for line in totals.history.lines()]
    want = [json.loads(line)["n"] for line in ref.lines()]
    assert got == want
    assert got != [k for k in range(300)]  # the rows were reordered


def test_the_replay_validates_events_as_the_contract_does() -> None:
    """The replay's validator (the contract's type with fewer strings cached) gives the same events as
    ``EVENT_ADAPTER`` and, for bad lines (the golden input has some), the same errors: same rejects."""
    from pydantic import ValidationError

    from monitor._replay_stream import REPLAY_ADAPTER
    from monitor.events import EVENT_ADAPTER, describe_validation_error
    from tests.test_replay import BAD

    override = {"event_id": "o1", "type": "tier_override", "borrower_id": "B1", "occurred_at": "2025-01-01T00:00:00Z",
                "action": "set", "direction": "cap", "tier": "watch", "until": "2025-02-01T00:00:00Z",
                "reason": "r", "requested_by": "a"}
    profile = next(json.loads(raw) for raw in _lines() if b'"loan_profile"' in raw)
    lines = _lines()[:4000] + [json.dumps(doc).encode() for doc in GOOD] + [raw for raw, _ in BAD] + [
        json.dumps(override).encode(), json.dumps({**override, "tier": None}).encode(),
        json.dumps({**override, "approved_by": "a"}).encode(), json.dumps({**profile, "branch": "a\u202eb"}).encode(),
        json.dumps({**profile, "occurred_at": "9999-12-31T00:00:00Z"}).encode()]
    kinds = {True: 0, False: 0}
    for raw in lines:
        got = []
        for adapter in (REPLAY_ADAPTER, EVENT_ADAPTER):
            try:
                event = adapter.validate_json(raw)
                got.append((type(event), event, event.model_dump_json()))
            except ValidationError as exc:
                got.append((describe_validation_error(exc), exc.errors(include_url=False, include_context=False)))
        assert got[0] == got[1], raw
        kinds[len(got[0]) == 3] += 1
    assert kinds[True] > 3000 and kinds[False] > len(BAD) + 3


def test_the_event_counts_hold_copies_conflicts_and_events_after_the_as_of(tmp_path: Path) -> None:
    """summary.json's applied / duplicate / by_type (counted from the per-day feed counts at the end) are
    the input's own counts, with one shard or three, and those of the in-memory replay."""
    copies = [GOOD[2], GOOD[2], GOOD[4], GOOD[0]]  # exact copies: each on its original's day
    conflict = {**GOOD[5], "outcome": "concern" if GOOD[5].get("outcome") != "concern" else "normal"}
    late = {**GOOD[3], "event_id": "late", "occurred_at": "2025-06-01T00:00:00Z"}
    src = write(tmp_path / "in.jsonl", [*GOOD, *copies, conflict, late])
    as_of = parse_instant("2025-05-01T00:00:00Z")
    kinds: dict[str, int] = {}
    for g in GOOD:
        kinds[g["type"]] = kinds.get(g["type"], 0) + 1
    want = {"read": len(GOOD) + 6, "applied": len(GOOD), "duplicate": len(copies), "rejected": 1, "after_as_of": 1,
            "by_type": dict(sorted(kinds.items()))}
    for shards in (1, 3):
        out = tmp_path / f"s{shards}"
        replay_to([src], default_policy(), out, as_of=as_of, workers=min(shards, 2), shards=shards)
        got = json.loads((out / "summary.json").read_text())["events"]
        assert {k: got[k] for k in want} == want, shards
    memory = replay([src], default_policy(), as_of=as_of)
    assert (memory.applied, memory.duplicates, dict(memory.events_by_type)) == (
        len(GOOD), len(copies), kinds)


def test_the_keys_written_directly_are_those_of_the_tuples(tmp_path: Path) -> None:
    """``FileTotals`` writes the sort keys of views, the schedule, workout and alerts itself when no text holds a
    control character: the same records as ``LineSpill.add`` with the tuple keys, whatever the texts."""
    from datetime import UTC, date, datetime
    from types import SimpleNamespace

    from monitor._replay_totals import _TIER_RANK, FileTotals, _csv_row
    from monitor._time import from_us, iso, to_us

    texts = ["B1", "B1\x1fx", "b\u2028", "中文", "", "a\x00", "T\t1"]
    totals = FileTotals(tmp_path, None)
    ref = {name: spill.LineSpill(tmp_path, f"ref-{name}") for name in ("views", "schedule", "workout", "alerts")}
    rng = random.Random(5)
    for k in range(400):
        bid, team, branch = rng.choice(texts[:4] + texts[5:]), rng.choice(texts + [None]), rng.choice(texts + [None])
        tier, due = rng.choice(list(_TIER_RANK)), rng.choice([None, date(2025, 3, 1), date(1969, 12, 31)])
        view = SimpleNamespace(tier=tier, team=team, branch=branch, workout=rng.random() < 0.5, next_visit_due=due,
                               model_dump_json=lambda k=k: f'{{"n":{k}}}')
        state = SimpleNamespace(due_at=rng.choice([None, 0, -(2**40), 2**50]))
        totals.add_view(bid, state, view)  # type: ignore[arg-type]
        ref["views"].add((bid,), view.model_dump_json())
        if view.workout:
            since = iso(state.due_at) if state.due_at is not None else ""
            ref["workout"].add((team or "", branch or "", bid), _csv_row([team, branch, bid, tier, since]))
        if due is not None:
            ref["schedule"].add((due.isoformat(), -_TIER_RANK[tier], bid),
                                _csv_row([team, branch, bid, tier, due.isoformat()]))
        at = rng.choice([datetime(1960, 5, 1, tzinfo=UTC), from_us(2**50 + k)])
        alert = SimpleNamespace(at=at, borrower_id=bid, sequence=rng.choice([1, 2, 10**6]),
                                kind=SimpleNamespace(value="raised"), model_dump_json=lambda k=k: f'{{"a":{k}}}')
        totals.add_alerts([alert])  # type: ignore[list-item]
        ref["alerts"].add((to_us(at), bid, alert.sequence), alert.model_dump_json())
    for name, want in ref.items():
        got = getattr(totals, name)
        assert got.buf == want.buf, name
        assert len(got.buf) > 100 or name == "workout" and len(got.buf) > 50, name
