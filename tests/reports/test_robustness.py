"""The quick readers fall back to the exact ones, and the figures do not depend on which read a line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from monitor.reports import Report, build_report
from monitor.reports import _ids
from monitor.reports._scan import iter_chunks
from tests.reports import portfolio

HAND = portfolio.POLICY_PATH  # the hand-made portfolio's policy

# ids longer than 8 bytes (hashed keys), non-ASCII, with a quote and a backslash (escaped in JSON)
NAMES = {"A": 'Ａ客户-"甲"-0000000001', "B": "B\\客户-0000000002", "C": "C-0000000003-长名称-" + "x" * 90,
         "D": "丁", "E": "E", "F": "F-0006", "G": "G-0007", "J": "J-0010", "H": "H-0008"}
TEAMS = {"T1": '检查一组 "东"', "T2": "检查二组\\西"}


def _renamed(docs: list) -> list:
    out = []
    for d in docs:
        if isinstance(d, bytes):
            out.append(d)
            continue
        d = dict(d, borrower_id=NAMES[d["borrower_id"]])
        if "team" in d:
            d["team"] = TEAMS[d["team"]]
        out.append(d)
    return out


@pytest.fixture(scope="module")
def both(hand: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Report]:
    events, out = hand
    plain = build_report(out, [events], policy_path=HAND, period="month", as_of="2025-03-31")
    ev2, out2 = portfolio.build(tmp_path_factory.mktemp("renamed"), _renamed(portfolio.events()))
    return plain, build_report(out2, [ev2], policy_path=HAND, period="month", as_of="2025-03-31")


def test_renaming_borrowers_and_teams_changes_no_figure(both: tuple[Report, Report]) -> None:
    plain, renamed = both
    a, b = plain.model_dump(), renamed.model_dump()
    back = {v: k for k, v in NAMES.items()}
    for top in b["portfolio"]["concentration"]["top"]:
        top["borrower_id"] = back[top["borrower_id"]]
    for section in ("portfolio", "changes", "rules", "data_health"):
        assert a[section] == b[section], section
    for row in b["warning_list"]["rows"]:
        row["borrower_id"] = back[row["borrower_id"]]
        row["team"] = next(k for k, v in TEAMS.items() if v == row["team"])
    assert a["warning_list"] == b["warning_list"]
    teams = {TEAMS[t["team"]] if t["team"] in TEAMS else t["team"]: t for t in a["inspections"]["teams"]}
    assert {t["team"]: {**t, "team": 0} for t in b["inspections"]["teams"]} == \
        {k: {**v, "team": 0} for k, v in teams.items()}


def test_id_lookup_survives_shared_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = np.array(sorted([b"B1", b"B2", b"B10", "客户".encode()]))
    monkeypatch.setattr(_ids, "_id_keys", lambda values, width: np.zeros(values.size, dtype=np.uint64))
    index = _ids.IdIndex(ids)
    got = index.lookup(np.array([b"B10", b"B3", "客户".encode(), b"B1", b"B1000000000"]))
    assert got.tolist() == [int(np.flatnonzero(ids == b"B10")[0]), -1, int(np.flatnonzero(ids == "客户".encode())[0]),
                            int(np.flatnonzero(ids == b"B1")[0]), -1]


def test_a_line_longer_than_the_buffer(tmp_path: Path) -> None:
    lines = [b'{"a": 1}', b'{"b": "' + b"y" * 50_000 + b'"}', b'{"c": 3}']
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert [c.line(i) for c in iter_chunks(path, chunk_bytes=4096) for i in range(c.lines)] == lines


def test_replay_outputs_with_other_layouts_are_read_exactly(hand: tuple[Path, Path], tmp_path: Path) -> None:
    """Keys in another order and blanks after the separators: every line goes the exact way."""
    events, out = hand
    moved = tmp_path / "replay"
    moved.mkdir()
    for name in ("alerts.jsonl", "borrowers.jsonl", "schedule_history.jsonl"):
        docs = [json.loads(x) for x in (out / name).read_text(encoding="utf-8").splitlines()]
        text = "".join(json.dumps(dict(reversed(list(d.items()))), ensure_ascii=False) + "\n" for d in docs)
        (moved / name).write_text(text, encoding="utf-8")
    for name in ("rejects.jsonl", "summary.json"):
        (moved / name).write_bytes((out / name).read_bytes())
    shutil.copytree(out / "snapshots", moved / "snapshots")  # the engine's records, read as they are
    plain = build_report(out, [events], policy_path=HAND, period="month", as_of="2025-03-31").model_dump()
    other = build_report(moved, [events], policy_path=HAND, period="month", as_of="2025-03-31").model_dump()
    for section in ("portfolio", "changes", "warning_list", "rules", "inspections", "data_health"):
        assert plain[section] == other[section], section


def test_key_sets_never_miss_a_member() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**63, 50_000, dtype=np.int64).astype(np.uint64)
    members = keys[:5_000]
    ks = _ids.KeySet(members)
    assert ks.may_hold(members).all()
    assert ks.may_hold(keys[5_000:]).mean() < 0.01  # few false positives


def test_gzip_and_several_event_files_give_the_same_figures(hand: tuple[Path, Path], tmp_path: Path) -> None:
    import gzip

    from monitor.replay import replay, write_outputs

    events, out = hand
    plain = build_report(out, [events], policy_path=HAND, period="month", as_of="2025-03-31").model_dump()
    lines = events.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl"
    first.write_bytes(gzip.compress(b"".join(lines[:15])))
    second.write_bytes(b"".join(lines[15:]))
    write_outputs(replay([first, second], portfolio.POLICY, snapshots=tmp_path / "replay" / "snapshots"),
                  tmp_path / "replay")
    split = build_report(tmp_path / "replay", [first, second], policy_path=HAND, period="month",
                         as_of="2025-03-31").model_dump()
    for section in ("portfolio", "changes", "warning_list", "rules", "inspections"):
        assert plain[section] == split[section], section
    assert split["data_health"]["feeds"] == plain["data_health"]["feeds"]
    assert [i["name"] for i in split["meta"]["inputs"] if i["role"] == "events"] == ["a.jsonl.gz", "b.jsonl"]


def test_current_signals_read_in_one_parse_equal_a_parse_per_line_and_bad_lines_are_named(tmp_path: Path) -> None:
    """signals.jsonl (the signals at the replay's as-of) is parsed as one document; the result is what a parse of
    each line gives, and a line that is not JSON, or not a borrower's signals, is named in the error."""
    from monitor._errors import InputError
    from monitor.reports._signals import read_current_signals

    docs = [{"borrower_id": "B1", "signals": []},
            {"borrower_id": 'B"2\\客户', "signals": [{"rule": "rating.weak_grade", "family": "rating", "level": "watch",
                                                    "since": "2025-01-01T00:00:00Z", "values": {"grade": "CC", "n": 1.0},
                                                    "thresholds": {"grades": ["CCC", "CC"]}, "event_ids": ["e1"]}]}]
    good = tmp_path / "signals.jsonl"
    good.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    got = read_current_signals(good)
    assert got == {d["borrower_id"]: d["signals"] for d in docs}
    assert type(got['B"2\\客户'][0]["values"]["n"]) is float
    assert read_current_signals(good, batch_bytes=1) == got  # a line at a time: the same
    assert read_current_signals(tmp_path / "none.jsonl") is None
    for bad, msg in ((b'{"borrower_id": "B3", "signals": [}\n', "line 3: not JSON"),
                     (b'{"borrower_id": "B3", "signals": {}}\n', "line 3: expected borrower_id and signals"),
                     (b'[1, 2]\n', "line 3: expected borrower_id and signals")):
        broken = tmp_path / "broken.jsonl"
        broken.write_bytes(good.read_bytes() + bad)
        for batch in (1, 200, 1 << 20):  # the bad line in a batch of its own, with the others, all in one
            with pytest.raises(InputError, match=msg):
                read_current_signals(broken, batch_bytes=batch)


def test_current_signals_read_as_text_by_a_process_of_their_own_are_the_same_and_bad_lines_still_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build's current signals, read by a process of its own (_sigread) as text: each borrower's list as the file
    has it (what the JSON form writes), which parses to the values read_current_signals gives (1.0 stays a float,
    order kept, a later line of a borrower wins), its rules, and keys equal where the sentences are (not read here);
    read here as text (started False) the same; a file laid out otherwise (spaces) is read here as objects, the same
    values; a bad line's error names it."""
    from pydantic_core import to_json

    from monitor._errors import InputError
    from monitor.reports import _signals
    from monitor.reports._rowlists import CurrentTexts

    sig = {"rule": "rating.weak_grade", "family": "rating", "level": "watch", "since": "2025-01-01T00:00:00Z",
           "values": {"grade": "CC", "n": 1.0, "ok": True, "k": 1}, "thresholds": {"grades": ["CCC", "CC"]},
           "event_ids": ["e1"]}
    dpd = {"rule": "overdue.dpd", "family": "overdue", "level": "warning", "since": "2025-01-02T00:00:00Z",
           "values": {"days_past_due": 31, "account_id": "A1", "overdue_amount": 5.0}, "thresholds": {"band_min": 31},
           "event_ids": ["e2"]}
    docs = [{"borrower_id": "B1", "signals": []},
            {"borrower_id": 'B"2\\客户', "signals": [sig, dpd]},
            {"borrower_id": "B3", "signals": [{**dpd, "values": {**dpd["values"], "account_id": "A3"},
                                               "event_ids": ["e3"]}]},
            {"borrower_id": "B1", "signals": [{**sig, "values": {"a": None, "b": [1, 2.5]}}]}]
    good = tmp_path / "signals.jsonl"
    good.write_bytes(b"".join(to_json(d) + b"\n" + (b"\n" if i == 0 else b"") for i, d in enumerate(docs)))
    want = _signals.read_current_signals(good)
    assert want is not None and list(want) == ["B1", 'B"2\\客户', "B3"] and want["B1"] == docs[3]["signals"]
    read_here = _signals.read_current_signals

    def not_here(path: Path, batch_bytes: int = 0) -> None:
        raise AssertionError("read here, not by the process")

    monkeypatch.setattr(_signals, "read_current_signals", not_here)
    for started in (True, False):
        got = _signals.current_signals(good, started)
        assert isinstance(got, CurrentTexts) and list(got.by_id) == list(want)
        texts = got.of([*want, "B9"])
        assert texts.parsed() == [*want.values(), []]
        assert texts.texts == [to_json(x) for x in want.values()] + [b"[]"]  # as the file has them
        assert texts.rules == [tuple(g["rule"] for g in x) for x in want.values()] + [()]
        values = texts.parsed()[1][0]["values"]
        assert [type(values[k]) for k in ("n", "ok", "k")] == [float, bool, int]
        # the two overdue.dpd signals differ in the account only, which their sentence does not show: one key
        assert texts.keys[1][1] == texts.keys[2][0] and texts.keys[1][0] != texts.keys[1][1]
    assert _signals.current_signals(tmp_path / "none.jsonl") is None
    monkeypatch.setattr(_signals, "read_current_signals", read_here)
    spaced = tmp_path / "spaced.jsonl"
    spaced.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    for started in (True, False):
        assert _signals.current_signals(spaced, started) == want  # another layout: read here, as objects
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(good.read_bytes() + b'{"borrower_id": "B3", "signals": {}}\n')
    for started in (True, False):
        with pytest.raises(InputError, match="line 6: expected borrower_id and signals"):
            _signals.current_signals(broken, started)


def test_last_alerts_before_the_period_found_beside_or_missed_by_it_are_the_same(simulated: tuple[Path, Path]) -> None:
    """The last alert before the period, looked for by another thread for the borrowers the end record says
    (scan_before), or not found there (read_alerts then looks for what is lacking): the same lines as one scan."""
    from monitor._time import parse_instant
    from monitor.reports._ids import Codes, IdIndex
    from monitor.reports._replay import read_alerts, read_borrowers, scan_before

    _, out = simulated
    path = out / "alerts.jsonl"
    ids = IdIndex(read_borrowers(out / "borrowers.jsonl", Codes()).ids)
    lines = path.read_bytes().splitlines()
    mid = json.loads(lines[len(lines) // 2])["at"]
    start = parse_instant(mid)
    cut = start + 20 * 86_400_000_000

    def wanted(a: object) -> np.ndarray:  # some borrowers, with and without alerts in the period
        w = np.zeros(ids.n, dtype=bool)
        w[::2] = True
        return w

    one = read_alerts(path, ids, start, cut, wanted)
    assert (one.pre_off >= 0).sum() > 5
    half = np.zeros(ids.n, dtype=bool)
    half[::4] = True  # half of those wanted found beside, the rest lacking
    for beside in (lambda: scan_before(path, start, ids, half),
                   lambda: (np.full(ids.n, -1, np.int64), np.zeros(ids.n, np.int64)),
                   lambda: scan_before(path, start, ids, np.ones(ids.n, dtype=bool))):
        other = read_alerts(path, ids, start, cut, wanted, beside)
        keep = wanted(other)
        assert np.array_equal(other.pre_off[keep], one.pre_off[keep])
        assert np.array_equal(other.pre_len[keep], one.pre_len[keep])


def test_evidence_parsed_by_a_process_of_its_own_is_the_same_and_bad_lines_still_named(
        simulated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning list's evidence (instant, from_tier, signals of alert lines), parsed by a process of its own
    (_sigread --evidence) and loaded from its marshal bytes: the same as read here (read_evidence), in the order
    asked, made by that process; a line laid out otherwise is read here (the same values), and a line that is
    not JSON gets the error of a read here."""
    from monitor._errors import InputError
    from monitor.reports import _signals
    from monitor.reports._rowlists import SignalTexts

    path, data, starts, ends, pick = _alert_lines(simulated[1])
    offsets, lengths = starts[pick], (ends - starts)[pick].astype(np.int64)
    want = _signals.read_evidence(path, offsets, lengths, batch=7)
    assert len(want[2]) == pick.size > 20 and any(want[2])

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("read here, not by the process")

    monkeypatch.setattr(_signals, "read_evidence", not_here)
    for started in (True, False):  # by the process, or here: as text
        got = _signals.latest_evidence(path, offsets, lengths, batch=7, started=started)
        assert np.array_equal(got[0], want[0]) and got[1].dtype == want[1].dtype and np.array_equal(got[1], want[1])
        assert isinstance(got[2], SignalTexts)
        parsed = got[2].parsed()
        assert parsed == want[2] and json.dumps(parsed) == json.dumps(want[2])  # same values, same key order
        assert got[2].texts == [data[s:e].split(b',"signals":', 1)[1].rsplit(b',"policy_version":', 1)[0]
                                for s, e in zip(offsets.tolist(), (offsets + lengths).tolist())]  # as the file
        assert got[2].rules == [tuple(g["rule"] for g in sigs) for sigs in want[2]]
    monkeypatch.undo()
    lines = data.splitlines()
    k = int(pick[1])
    doc = json.loads(lines[k])
    lines[k] = json.dumps(dict(reversed(list(doc.items()))), ensure_ascii=False).encode()  # another layout
    other = tmp_path / "alerts.jsonl"
    other.write_bytes(b"\n".join(lines) + b"\n")
    o_starts = np.concatenate([[0], np.cumsum([len(x) + 1 for x in lines])[:-1]]).astype(np.int64)
    o_lengths = np.array([len(x) for x in lines], dtype=np.int64)
    got = _signals.latest_evidence(other, o_starts[pick], o_lengths[pick])
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]  # objects
    lines[k] = b'{"alert_id":"x","signals":[}'
    other.write_bytes(b"\n".join(lines) + b"\n")
    o_starts = np.concatenate([[0], np.cumsum([len(x) + 1 for x in lines])[:-1]]).astype(np.int64)
    o_lengths = np.array([len(x) for x in lines], dtype=np.int64)
    with pytest.raises(InputError) as here:
        _signals.read_evidence(other, o_starts[pick], o_lengths[pick])
    assert "alerts.jsonl: line " in str(here.value)
    with pytest.raises(InputError) as either:
        _signals.latest_evidence(other, o_starts[pick], o_lengths[pick])
    assert str(either.value) == str(here.value)


def test_borrowers_read_by_a_started_process_are_the_same_and_errors_keep_their_words_and_order(
        simulated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """borrowers.jsonl read by a started process (_started.BorrowersRead): the same columns and team table as read
    here (ids with quotes, backslashes and Chinese, escaped in JSON), made by that process; a malformed file gets the
    error a read here gives; and a report whose borrowers.jsonl and snapshots are both unusable names the borrowers
    first, as when borrowers.jsonl was read before the snapshots."""
    from monitor._errors import InputError
    from monitor.reports import _started
    from monitor.reports._ids import Codes
    from monitor.reports._replay import read_borrowers

    events, out = simulated
    docs = [json.loads(x) for x in (out / "borrowers.jsonl").read_text(encoding="utf-8").splitlines()]
    docs[0]["borrower_id"], docs[1]["team"] = 'Ａ"客户\\1', '检查 "东" 组\\'
    docs[0], docs[1] = docs[1], docs[0]  # not in id order: sorted by the reader
    path = tmp_path / "borrowers.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    here_teams = Codes()
    here = read_borrowers(path, here_teams)
    assert here.ids.size == len(docs) > 20 and len(here_teams.values) > 2

    def not_here(*args: object) -> None:
        raise AssertionError("read here, not by the process")

    monkeypatch.setattr(_started, "read_borrowers", not_here)
    teams = Codes()
    with _started.BorrowersRead(path) as reading:
        got = reading.result(teams)
    assert got.ids.dtype == here.ids.dtype and np.array_equal(got.ids, here.ids)
    for name in ("tier", "due", "team"):
        a, b = getattr(got, name), getattr(here, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert teams.values == here_teams.values and teams.index == here_teams.index
    monkeypatch.undo()
    broken = tmp_path / "broken" / "borrowers.jsonl"
    broken.parent.mkdir()
    broken.write_bytes(path.read_bytes() + b'{"borrower_id": "Z", "tier": "watch", [\n')
    with pytest.raises(InputError) as in_here:
        read_borrowers(broken, Codes())
    assert f"line {len(docs) + 1}" in str(in_here.value)
    with pytest.raises(InputError) as by_process, _started.BorrowersRead(broken) as reading:
        reading.result(Codes())
    assert str(by_process.value) == str(in_here.value)
    both = tmp_path / "replay"
    shutil.copytree(out, both, ignore=shutil.ignore_patterns("snapshots"))
    (both / "borrowers.jsonl").write_bytes(broken.read_bytes())
    with pytest.raises(InputError) as first:
        build_report(both, [events], period="month")
    assert str(first.value) == str(in_here.value)


def test_schedule_read_by_a_started_process_is_the_same_and_errors_keep_their_words_and_order(
        simulated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """schedule_history.jsonl parsed by a started process (_started.ScheduleRead): the same report as when parsed
    here (team names with quotes, backslashes and Chinese, new to the team table, escaped in JSON); a malformed
    line, an unknown borrower and lines out of order get the words (and the precedence) a read here gives."""
    from monitor._errors import InputError
    from monitor.reports import _replay, _started

    events, out = simulated
    lines = (out / "schedule_history.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(x) for x in lines]
    last = len(docs) - 1
    assert docs[last]["at"][:7] == docs[last - 6]["at"][:7]  # the last lines are in the report's month
    docs[last - 5]["team"], docs[last - 3]["team"] = '检查 "东" 组\\', "新组"

    def write(where: Path, texts: list[str]) -> Path:
        where.mkdir()
        for p in out.iterdir():
            (shutil.copytree if p.is_dir() else shutil.copyfile)(p, where / p.name)
        (where / "schedule_history.jsonl").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        return where

    good = write(tmp_path / "good", [json.dumps(d, ensure_ascii=False) for d in docs])
    by_process = build_report(good, [events], period="month").model_dump_json()

    def not_here(*args: object) -> None:
        raise AssertionError("read here, not by the process")

    def no_process(*args: str) -> None:
        return None  # as when the child cannot start: the lines are read here

    with monkeypatch.context() as m:
        m.setattr(_replay, "scan_schedule", not_here)
        assert build_report(good, [events], period="month").model_dump_json() == by_process
    with monkeypatch.context() as m:
        m.setattr(_started, "_start", no_process)
        here = build_report(good, [events], period="month")
    assert here.model_dump_json() == by_process
    # the lines as the process hands them back: the same as scanned here, the new team names included
    with _started.ScheduleRead(good / "schedule_history.jsonl", 0, 2**62) as reading:
        reading.start()
        rows = reading.rows()
    scanned = _replay.scan_schedule(good / "schedule_history.jsonl", 0, 2**62)
    assert rows is not None and rows.error is None and rows.added == scanned.added
    assert {'检查 "东" 组\\'.encode(), "新组".encode()} <= {v for a in rows.added for v in a}
    for name in ("bid", "t", "due", "team", "insp"):
        a, b = getattr(rows, name), getattr(scanned, name)
        assert a.dtype == b.dtype and a.size == len(docs) and np.array_equal(a, b), name

    def error(name: str, texts: list[str], process: bool) -> str:
        with monkeypatch.context() as m:
            if not process:
                m.setattr(_started, "_start", no_process)
            with pytest.raises(InputError) as exc:
                build_report(write(tmp_path / f"{name}-{process}", texts), [events], period="month")
        return str(exc.value)

    texts = [json.dumps(d, ensure_ascii=False) for d in docs]
    unknown = json.dumps(dict(docs[last - 4], borrower_id="Z-unknown"))
    broken = texts[last - 2][:-9]
    late = json.dumps(dict(docs[last - 2], at=docs[0]["at"]))
    cases = {
        "broken-then-unknown": (texts[:last - 4] + [broken] + texts[last - 3:last - 2] + [unknown] + texts[last - 1:],
                                "schedule_history.jsonl: line {} is not a JSON object"),  # counted from the period
        # in one chunk of lines the parse comes first, then the borrowers, then the order (as when read here)
        "unknown-then-broken": (texts[:last - 4] + [unknown] + texts[last - 3:last - 2] + [broken] + texts[last - 1:],
                                "schedule_history.jsonl: line {} is not a JSON object"),
        "unknown-then-late": (texts[:last - 4] + [unknown] + texts[last - 3:last - 2] + [late] + texts[last - 1:],
                              "schedule_history.jsonl: borrower 'Z-unknown' is not in borrowers.jsonl (the files "
                              "are not from the same replay)"),
        "late": (texts[:last - 2] + [late] + texts[last - 1:],
                 "schedule_history.jsonl is not sorted by instant: not written by monitor replay?"),
    }
    for name, (lines_, words) in cases.items():
        got = error(name, lines_, True)
        assert got == error(name, lines_, False), name
        line = got.split(" ")[2] if "{}" in words else ""
        assert got == words.format(line) and (not line or 1 <= int(line) < last), name


def test_the_evidence_readers_copies_of_the_schema_match_it():
    """_sigread runs without the package (pydantic-core and the standard library), so it holds its own copies of
    the alert line's key order, the alert kinds and the tier indexes: they must be the schema's and the build's (a
    tier order that drifted would give every listed borrower a wrong from_tier without any error)."""
    from monitor.outputs import Alert, AlertKind
    from monitor.reports import _sigread
    from monitor.reports._replay import TIERS

    assert _sigread._ALERT_KEYS == list(Alert.model_fields)[:len(_sigread._ALERT_KEYS)]
    assert _sigread._ALERT_KEYS[-2:] == ["signals", "policy_version"]
    assert _sigread._KINDS == {k.value for k in AlertKind}
    assert _sigread._TIERS == {name: i for i, name in enumerate(TIERS)}


def test_evidence_partly_parsed_ahead_is_the_same_and_only_the_rest_is_parsed_later(
        simulated: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """latest_evidence with ``ahead`` (evidence_ahead: some lines, parsed before the others were known): the same
    instants, tiers and signals in the order asked as without it; only the lines ahead did not parse (or parsed
    otherwise: another length) are parsed then; when ahead raises or was refused, every line is parsed as before."""
    from monitor.reports import _signals
    from monitor.reports._rowlists import SignalTexts

    path, data, starts, ends, pick = _alert_lines(simulated[1])
    offsets, lengths = starts[pick], (ends - starts)[pick].astype(np.int64)
    want = _signals.read_evidence(path, offsets, lengths, batch=7)
    assert len(want[2]) == pick.size > 20
    asked: list[int] = []
    by_process = _signals._evidence_by_process

    def counted(p: Path, off: np.ndarray, length: np.ndarray) -> object:
        asked.append(int(off.size))
        return by_process(p, off, length)

    monkeypatch.setattr(_signals, "_evidence_by_process", counted)
    # ahead: every other line asked, one more not asked, one with another length, and -1 (none) entries
    off_ahead = np.concatenate([offsets[::2], starts[:1], [-1, -1]]).astype(np.int64)
    len_ahead = np.concatenate([lengths[::2], (ends - starts)[:1], [0, 0]]).astype(np.int64)
    len_ahead[1] -= 1  # not the line asked: parsed again
    ahead = _signals.evidence_ahead(path, lambda: (off_ahead, len_ahead))
    assert asked == [off_ahead.size - 2]
    got = _signals.latest_evidence(path, offsets, lengths, ahead=lambda: ahead)
    assert asked[1] == offsets.size - offsets[::2].size + 1
    assert np.array_equal(got[0], want[0]) and got[1].dtype == want[1].dtype and np.array_equal(got[1], want[1])
    whole = _signals.latest_evidence(path, offsets, lengths)  # (as text: the same as without ahead)
    assert isinstance(got[2], SignalTexts) and got[2] == whole[2]
    # the lines asked ahead known before its answer: the others parsed at once, beside it; the same answer (and
    # when they are not the lines it was asked for, matched against its answer as without them)
    for lines in ((off_ahead, len_ahead), (off_ahead[::-1].copy(), len_ahead[::-1].copy())):
        asked.clear()
        beside = _signals.latest_evidence(path, offsets, lengths, ahead=lambda: ahead, ahead_lines=lambda: lines)
        assert asked == [offsets.size - offsets[::2].size + 1] * (1 if lines[0] is off_ahead else 2)
        assert np.array_equal(beside[0], want[0]) and np.array_equal(beside[1], want[1]) and beside[2] == whole[2]
    assert got[2].parsed() == want[2] and json.dumps(got[2].parsed()) == json.dumps(want[2])
    for broken in (lambda: (ahead[0], ahead[1], None), lambda: 1 // 0):
        asked.clear()
        got = _signals.latest_evidence(path, offsets, lengths, ahead=broken)  # type: ignore[arg-type]
        assert asked == [offsets.size] and got[2] == whole[2] and np.array_equal(got[0], want[0])


def _alert_lines(out: Path) -> tuple[Path, bytes, np.ndarray, np.ndarray, np.ndarray]:
    """A replay's alerts.jsonl: its path, bytes, each line's start and end (its newline), and every third line's
    number, last first (not in file order)."""
    path = out / "alerts.jsonl"
    data = path.read_bytes()
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    return path, data, starts, ends, np.arange(starts.size, dtype=np.int64)[::-3]


def test_borrowers_jsonl_vouched_for_by_files_json_is_not_parsed_and_a_same_size_other_file_is_refused(
        simulated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When files.json records borrowers.jsonl at its size, the report takes its tier, next visit due and team from
    the snapshots' record at the replay's as-of (the same values) and does not parse the file: the same report, byte
    for byte, as when it is read whole; at another size it is read whole; a file of the recorded size that is not the
    snapshots' (its last borrower another) is read whole and refused with the words of a whole read."""
    from monitor._errors import InputError
    from monitor._replay_stream import replay_to
    from monitor.reports import _build, render_json
    from monitor.rules.loader import default_policy

    events, _ = simulated
    out = tmp_path / "replay"
    replay_to([events], default_policy(), out, workers=2)
    files = json.loads((out / "files.json").read_text(encoding="utf-8"))
    assert files["outputs"]["borrowers.jsonl"]["bytes"] == (out / "borrowers.jsonl").stat().st_size
    whole = []

    def read_whole(self: object, teams: object) -> object:
        whole.append(True)
        return real(self, teams)

    real = _build.BorrowersRead.result
    monkeypatch.setattr(_build.BorrowersRead, "result", read_whole)
    reports = {as_of: build_report(out, [events], period="month", as_of=as_of) for as_of in ("2025-03-31", None)}
    assert not whole  # (as of the replay's end: the period's end record; a month before: the as-of record read)
    bare = tmp_path / "bare"
    shutil.copytree(out, bare)
    del files["outputs"]["borrowers.jsonl"]
    (bare / "files.json").write_text(json.dumps(files), encoding="utf-8")
    for as_of, vouched in reports.items():
        read = build_report(bare, [events], period="month", as_of=as_of)
        assert render_json(read) == render_json(vouched)
    assert len(whole) == 2
    lines = (out / "borrowers.jsonl").read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    other = last["borrower_id"][:-1] + ("Z" if last["borrower_id"][-1] != "Z" else "Y")
    lines[-1] = lines[-1].replace(json.dumps(last["borrower_id"]).encode(), json.dumps(other).encode(), 1)
    (out / "borrowers.jsonl").write_bytes(b"".join(lines))
    assert (out / "borrowers.jsonl").stat().st_size == (bare / "borrowers.jsonl").stat().st_size
    with pytest.raises(InputError, match="the snapshots are not of the borrowers in borrowers.jsonl"):
        build_report(out, [events], period="month")
    assert len(whole) == 3
