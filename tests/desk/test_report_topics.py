"""A monthly report from what the workers publish (day-end rows, alerts) equals ``monitor replay --as-of`` the
month's end + ``monitor report`` on the same events: every section, and the input files line for line
(borrowers.jsonl apart: the report reads its tier, next visit due and team, compared here)."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import date, timedelta
from pathlib import Path

from monitor._time import iso, local_date, parse_instant
from monitor.agents.runtime import Message, Runtime, StepResult
from monitor.day_ends import DayEnds, floors_of
from monitor.desk.report_feeds import Snapshot
from monitor.desk.report_topics import write_inputs
from monitor.desk.reporting import build_one
from monitor.engine import Engine
from monitor.replay import replay, write_outputs
from monitor.reports import build_report, render_json
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.snapshots import day_date, day_number
from tests.agents.test_runtime import PARTS, TOPICS, _messages


def published(path: Path, until_at: int, row_copies: int = 0) -> tuple[list[bytes], list[bytes]]:
    """Stream the events of ``path`` through the worker's runtime up to ``until_at`` (a watermark there): the
    day-end rows and alerts it publishes, in order, with a restarted worker's copies (alerts: the first three
    of each step; rows: the first ``row_copies``)."""
    policy = default_policy()
    messages, _last, end = _messages(path, random.Random(5))
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(policy), TOPICS, clock="event", partitions=PARTS, get_state=store.get)
    rt.assign(range(PARTS), [])
    rows: list[bytes] = []
    alerts: list[bytes] = []
    marks = [Message(TOPICS.clock, p, 0, None, json.dumps({"at": iso(until_at), "offsets": {
        t: end[t][p] for t in end}}).encode()) for p in range(PARTS)]
    for chunk in [messages[i:i + 97] for i in range(0, len(messages), 97)] + [marks]:
        out = StepResult()
        rt.accept(chunk, out)
        rt.step(out)
        store.update(out.states)
        alerts += [a.model_dump_json().encode() for a in out.alerts]
        alerts += [a.model_dump_json().encode() for a in out.alerts[:3]]  # a restarted worker's copies
        step = [row for _bid, row in out.day_ends]
        rows += step + step[:row_copies]
    return rows, alerts


def _published(path: Path, until_at: int) -> tuple[DayEnds, list[bytes]]:
    policy = default_policy()
    fold = DayEnds(policy.zone, floors_of(policy))
    rows, alerts = published(path, until_at)
    for row in rows:
        fold.add(row)
    return fold, alerts


def test_a_monthly_report_from_the_published_rows_is_the_replays(tmp_path, monkeypatch):
    policy = default_policy()
    full = tmp_path / "all.jsonl"
    write_simulation(simulate(400, 6, 17, duplicates=0.01), full)
    lines = full.read_bytes().splitlines()
    first = min(parse_instant(json.loads(x)["occurred_at"]) for x in lines)
    month = (local_date(first, policy.zone).replace(day=1) + timedelta(days=130)).replace(day=1) \
        - timedelta(days=1)  # a month end four months in
    fold_days = DayEnds(policy.zone, floors_of(policy)).days
    until = day_number(month)
    cut = fold_days.start(until + 1) - 1
    # the events up to the cut (what the desk's replay of the feeds reads) and a few hours after (what the
    # workers have published when the desk builds the report, the settle delay after the period's end)
    upto = [x for x in lines if parse_instant(json.loads(x)["occurred_at"]) <= cut]
    later = [x for x in lines if cut < parse_instant(json.loads(x)["occurred_at"]) <= cut + 6 * 3_600_000_000]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(x + b"\n" for x in upto))
    stream = tmp_path / "stream.jsonl"
    stream.write_bytes(b"".join(x + b"\n" for x in upto + later))
    rdir = tmp_path / "replay"
    result = replay([events], policy, as_of=cut, snapshots=rdir / "snapshots")
    write_outputs(result, rdir)
    assert not result.rejects and result.alerts
    want = build_report(rdir, [events], period="month", as_of=month)

    fold, alerts = _published(stream, cut + 6 * 3_600_000_000)
    tdir = write_inputs(fold, alerts, [], tmp_path / "topics", until=until, policy=policy,
                        offsets={"t.rating": {0: 12}})
    # as the desk builds it (monitor.desk.reporting.build_one): every file read in its process, none started
    started = build_report(tdir, [], period="month", as_of=month)  # (the report's readers started, by default)

    def no_process(*args, **kwargs):
        raise AssertionError(f"the desk's build started a process: {args[:1]}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    got = build_one(Snapshot(tdir, cut, cut, frozenset(), 0, 0, (), "day-ends"), month, "month")
    monkeypatch.undo()
    assert render_json(got) == render_json(started)

    for name in ("alerts.jsonl", "schedule_history.jsonl", "snapshots/signals.jsonl", "summary.json"):
        assert (tdir / name).read_bytes() == (rdir / name).read_bytes(), name
    fields = ("borrower_id", "tier", "next_visit_due", "team")
    mine = [{k: json.loads(x)[k] for k in fields} for x in (tdir / "borrowers.jsonl").read_bytes().splitlines()]
    theirs = [{k: json.loads(x)[k] for k in fields} for x in (rdir / "borrowers.jsonl").read_bytes().splitlines()]
    assert mine == theirs
    a, b = got.model_dump(mode="json"), want.model_dump(mode="json")
    ma, mb = a.pop("meta"), b.pop("meta")
    ma.pop("inputs"), mb.pop("inputs")
    assert ma == mb
    for section in b:
        assert a[section] == b[section], section
    assert len(want.warning_list.rows) > 20 and len(result.alerts) > 60 and len(result.schedule_history) > 300


def test_borrowers_lines_are_the_models_json(tmp_path):
    """borrowers.jsonl's lines, formatted from the record's columns, are ``BorrowerView.model_dump_json()``'s bytes:
    texts with quotes and non-ASCII, no team, no profile, workout, an exposure pydantic writes in exponent form."""
    import numpy as np

    from monitor.day_ends import _FULL
    from monitor.desk.report_topics import _write_borrowers
    from monitor.outputs import BorrowerView
    from monitor.rules.policy import LEVEL_NAMES
    from monitor.snapshots import DUE_WHY

    ids = ['B"1', "B\\2", "B3", "B\u00e94", "B5", "B6"]
    cols = np.zeros(len(ids), dtype=_FULL)
    cols["tier"] = [0, 1, 2, 3, -1, 1]
    cols["computed"] = [0, 2, 2, 3, -1, 0]
    cols["cls"] = [0, 1, 2, 4, 0, 3]
    cols["due"] = [day_number(date(2026, 1, 5)), -1, day_number(date(2025, 12, 31)), 20_000, -1, 20_001]
    cols["due_why"] = [0, 1, DUE_WHY.index("workout"), 2, 0, DUE_WHY.index("workout")]
    cols["exposure"] = [2_993_990_000, 1, 0, 10**18, 0, 5]
    cols["team"] = [0, 1, -1, 2, -1, 0]
    cols["branch"] = [1, -1, 0, 1, -1, 0]
    has = np.array([True, True, True, True, True, False])

    class Fold:
        def last_rows(self, until):
            return cols, has

        def release(self):  # the change rows, forgotten once the records are taken
            pass

        def texts(self):
            return {"team": ['t"q\\1', "上海-1", "t\n3"], "branch": ["b\u2028", "b1"]}

        def borrowers(self):
            return ids

        def known_mask(self, until):  # (every one seen by the cut)
            return np.ones(len(ids), dtype=bool)

    rules = {'B"1': ["a.b", 'x"y'], "B3": ["r.é"]}
    tiers, workout = _write_borrowers(Fold(), 20_000, rules, tmp_path / "b.jsonl")
    texts = Fold().texts()
    want = []
    for k, bid in enumerate(ids):
        if not has[k] or cols["tier"][k] < 0:
            want.append(BorrowerView(borrower_id=bid, tier=None, computed_tier=None, active_rules=[],
                                     min_classification=None, next_visit_due=None, team=None, branch=None,
                                     exposure=None, workout=False))
            continue
        due = int(cols["due"][k])
        want.append(BorrowerView(
            borrower_id=bid, tier=LEVEL_NAMES[cols["tier"][k]], computed_tier=LEVEL_NAMES[cols["computed"][k]],
            active_rules=rules.get(bid, []),
            min_classification=("normal", "special_mention", "substandard", "doubtful", "loss")[cols["cls"][k]],
            next_visit_due=day_date(due) if due >= 0 else None,
            team=texts["team"][cols["team"][k]] if cols["team"][k] >= 0 else None,
            branch=texts["branch"][cols["branch"][k]] if cols["branch"][k] >= 0 else None,
            exposure=int(cols["exposure"][k]) / 100, workout=bool(cols["due_why"][k] == DUE_WHY.index("workout"))))
    assert (tmp_path / "b.jsonl").read_bytes() == b"".join(v.model_dump_json().encode() + b"\n" for v in want)
    assert tiers == {"normal": 1, "watch": 1, "warning": 1, "severe": 1, "no_profile": 2} and workout == 1
