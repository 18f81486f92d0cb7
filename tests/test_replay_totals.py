"""A shard's rows as sorted runs (``FileTotals``, ``LineSpill``) and their merge: the records and their order
are what the keys give, however many runs the lines fill and however the merge reads them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from monitor import _replay_merge
from monitor._replay_merge import merge_output
from monitor._replay_totals import FileTotals
from monitor._spill import LineSpill, run_files
from monitor.engine import Engine
from monitor.rules.loader import default_policy
from monitor.state import BorrowerState, ProfileFact

_DAY = 86_400_000_000


def _states() -> list[tuple[int, BorrowerState]]:
    """Schedule entries of every reason, with plain ids and texts and with ones JSON must escape."""
    rng = random.Random(7)
    out = []
    for k in range(400):
        bid = rng.choice(["B000001", "B2", "B\x01", 'q"', "中文", "B\u2028", "a\\b"]) + str(k % 5)
        why = rng.choice(["first_visit", "inspection", "cadence", "tier_raised", "workout", "workout_ended"])
        at = rng.choice([-(2**40), 0, 1_735_754_400_000_000]) + rng.randrange(3) * _DAY
        state = BorrowerState(id=bid, due=at + rng.randrange(90) * _DAY, due_why=why, due_at=at,
                              due_tier=rng.randrange(4), tier=rng.randrange(4))
        if rng.random() < 0.9:
            team = rng.choice(["检查一组", "t\"", "shenzhen-3"])
            state.profile = ProfileFact(0, "e1", rng.choice(["上海分行", "b\n", "sz"]), team, 1e6, "secured", at)
        out.append((at + rng.randrange(2), state))
    return out


def test_a_history_row_made_from_the_state_is_the_row_of_its_entry(tmp_path: Path) -> None:
    """``add_history_state`` (the record built with the entry) writes the lines, in the order, of
    ``add_history_row`` with ``Engine.schedule_entry_json``: plain ids and texts and ones JSON escapes."""
    engine = Engine(default_policy())
    rows = _states()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = FileTotals(tmp_path / "a", None), FileTotals(tmp_path / "b", None)
    for at, state in rows:
        a.add_history_state(at, state, engine)
        b.add_history_row(at, state.id, engine.schedule_entry_json(state))
    got, want = list(a.history.lines()), list(b.history.lines())
    assert got == want and len(got) == len(rows)
    assert any('"borrower_id":"B\\u0001' in line for line in got)


def test_a_spill_of_several_runs_leaves_them_all_and_the_merge_gives_every_line_in_key_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs left by ``dump`` (``path``, ``path.1``, ...) are merged with the other shards' runs; blocks read
    smaller than a record; lines with tabs (a CSV's text) and keys that tie but for the order added."""
    monkeypatch.setattr(_replay_merge, "_BLOCK", 7)
    rng = random.Random(5)
    rows = [((rng.randrange(40), rng.choice(["B1", "é", "a\tb", "Z"])), f"{k}\t{'x' * rng.randrange(30)}")
            for k in range(600)]
    shards = []
    for s in range(3):
        (tmp_path / f"w{s}").mkdir()
        d = tmp_path / f"s{s}"
        d.mkdir()
        spill = LineSpill(tmp_path / f"w{s}", "x", limit=900)
        for key, line in rows[s::3]:
            spill.add((s, *key), line)
        spill.dump(d / "alerts.run")
        assert len(run_files(d / "alerts.run")) > 3  # several runs left, not merged here
        shards.append(d)
    out = tmp_path / "out"
    out.mkdir()
    merge_output(out, "alerts.jsonl", shards, 1)
    order = sorted(range(600), key=lambda k: ((k % 3, *rows[k][0]), k))  # (stable: ties in the order added)
    assert (out / "alerts.jsonl").read_text("utf-8") == "".join(rows[k][1] + "\n" for k in order)
    assert not any(run_files(d / "alerts.run") for d in shards)  # read once, then removed


def test_an_empty_spill_leaves_an_empty_run_and_merges_to_the_header(tmp_path: Path) -> None:
    d = tmp_path / "s"
    d.mkdir()
    LineSpill(tmp_path, "x").dump(d / "schedule.run")
    assert run_files(d / "schedule.run") == [d / "schedule.run"] and (d / "schedule.run").read_bytes() == b""
    merge_output(tmp_path, "schedule.csv", [d], 1)
    assert (tmp_path / "schedule.csv").read_bytes() == b"team,branch,borrower_id,tier,next_visit_due\n"


def test_a_row_joined_directly_is_the_csv_writers_row() -> None:
    """``_csv_row(cells, plain=True)`` (the schedule's rows, joined directly when no text needs quoting) gives
    the bytes of ``csv.writer``'s row for texts with commas, quotes, line breaks, spaces, empty and None cells."""
    import csv
    import io

    from monitor._replay_totals import _csv_row

    texts = ["sz", "上海分行", "a,b", 'q"', "l\nb", "c\rr", " lead", "", "tab\tx", "\u2028", "B000001"]
    rng = random.Random(11)
    joined = 0
    for _ in range(3000):
        cells = [rng.choice(texts + [None]) for _ in range(2)] + [rng.choice(texts[:3] + ["B1"]),
                                                                 rng.choice(["watch", "normal", None]), "2025-03-01"]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(cells)
        assert _csv_row(cells, True) == buf.getvalue() == _csv_row(cells), cells
        joined += all(c is not None for c in cells) and "".join(cells).isprintable() and '"' not in "".join(cells)
    assert joined > 100  # the direct join was taken
