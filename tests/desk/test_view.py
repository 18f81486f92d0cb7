"""The desk's view: cases, four eyes, indexes, idempotence and determinism of the fold."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from monitor.desk.index import FacetIndex
from monitor.desk.records import Action
from monitor.desk.view import ALERTS, AUDIT, SCHEDULE, DeskView
from tests.desk.desk_fakes import T0, alert, audit_item, record, schedule


def _alerts(*docs: bytes) -> list[tuple[str, bytes | None, bytes | None]]:
    return [(ALERTS, None, d) for d in docs]


def _snapshot(view: DeskView) -> object:
    cases = sorted((c.case_id, c.borrower_id, c.status, tuple(a.alert_id for a in c.alerts), c.assignee,
                    tuple((n.kind, n.text) for n in c.notes),
                    tuple((a.record.record_id, a.applied, a.note) for a in c.actions)) for c in view.cases.values())
    facets = sorted(view.alert_index.facets.items())
    requests = sorted((r.record_id, r.status) for b in view.books.values() for r in b.derived.requests)
    sched = sorted((b.borrower_id, b.schedule.model_dump_json() if b.schedule else None) for b in view.books.values())
    return cases, facets, requests, sched, {k: v for k, v in view.case_counts.items() if v}


def test_first_alert_opens_a_case_that_carries_every_later_alert_and_survives_a_clearance():
    view = DeskView()
    view.apply_batch(_alerts(alert("B1", 1, "raised", "watch"), alert("B1", 2, "escalated", "warning", day=1),
                             alert("B1", 3, "cleared", "normal", from_tier="warning", day=2),
                             alert("B1", 4, "raised", "watch", day=3)))
    assert list(view.cases) == ["B1-1"]
    case = view.cases["B1-1"]
    assert [a.alert_id for a in case.alerts] == ["B1-1", "B1-2", "B1-3", "B1-4"]
    assert case.status == "open" and case.last.to_tier == "watch"


def test_a_clearance_without_a_case_opens_none():
    view = DeskView()
    view.apply(ALERTS, None, alert("B1", 5, "cleared", "normal"))
    assert view.cases == {}
    assert view.case_of_alert("B1-5") is None
    rows, _ = view.alert_page({"status": "none"}, after=None, since=None, limit=10)
    assert [r.alert_id for r in rows] == ["B1-5"]


def _release_flow(view: DeskView, approver: str = "sam", approver_role: str = "supervisor") -> None:
    for raw in (record("rita", "risk_officer", Action.acknowledge, "B1", "r1", case="B1-1", minute=1),
                record("rita", "risk_officer", Action.assign, "B1", "r2", case="B1-1", details={"assignee": "ralf"},
                       minute=2),
                record("ralf", "risk_officer", Action.note, "B1", "r3", case="B1-1",
                       details={"kind": "action_plan", "text": "call the CFO"}, minute=3),
                record("ralf", "risk_officer", Action.request_release, "B1", "r4", case="B1-1",
                       details={"through_sequence": 2}, minute=4),
                record(approver, approver_role, Action.approve_release, "B1", "r5", case="B1-1",
                       details={"through_sequence": 2}, minute=5)):
        view.apply_batch([audit_item(raw)])


def test_case_flow_open_acknowledged_release_requested_released_by_a_second_officer():
    view = DeskView()
    view.apply_batch(_alerts(alert("B1", 1, "raised", "watch"), alert("B1", 2, "escalated", "warning", day=1)))
    _release_flow(view)
    case = view.cases["B1-1"]
    assert case.status == "released"
    assert (case.acknowledged_by, case.assignee, case.release_requested_by, case.released_by) == \
        ("rita", "ralf", "ralf", "sam")
    assert [(n.kind, n.text) for n in case.notes] == [("action_plan", "call the CFO")]
    assert all(a.applied for a in case.actions) and len(case.actions) == 5
    assert view.case_counts["released"] == 1 and view.case_counts["open"] == 0


@pytest.mark.parametrize(("approver", "role", "why"), [
    ("ralf", "supervisor", "four eyes"),  # the requester (even with an approving role) may not approve
    ("RALF", "admin", "four eyes"),  # user ids compare without case
    ("rita", "risk_officer", "cannot approve"),
])
def test_four_eyes_a_release_needs_a_different_approver_with_an_approving_role(approver, role, why):
    view = DeskView()
    view.apply_batch(_alerts(alert("B1", 1, "raised", "watch"), alert("B1", 2, "escalated", "warning", day=1)))
    _release_flow(view, approver, role)
    case = view.cases["B1-1"]
    assert case.status == "release_requested"
    last = case.actions[-1]
    assert not last.applied and why in (last.note or "")


def test_after_release_a_new_raise_opens_a_new_case_but_a_de_escalation_joins_the_released_one():
    view = DeskView()
    view.apply_batch(_alerts(alert("B1", 1, "raised", "watch"), alert("B1", 2, "escalated", "warning", day=1)))
    _release_flow(view)
    view.apply_batch(_alerts(alert("B1", 3, "de_escalated", "watch", from_tier="warning", day=5)))
    assert list(view.cases) == ["B1-1"] and len(view.cases["B1-1"].alerts) == 3
    view.apply_batch(_alerts(alert("B1", 4, "escalated", "severe", from_tier="watch", day=6)))
    assert sorted(view.cases) == ["B1-1", "B1-4"]
    assert view.cases["B1-4"].status == "open" and view.cases["B1-1"].status == "released"
    rows, _ = view.alert_page({"active": True}, after=None, since=None, limit=10)
    assert [r.alert_id for r in rows] == ["B1-4"]


def test_an_escalation_the_approver_had_seen_stays_in_the_released_case():
    view = DeskView()
    view.apply_batch(_alerts(alert("B1", 1, "raised", "watch"), alert("B1", 2, "escalated", "warning", day=1)))
    _release_flow(view)  # through_sequence 2: alert 2 was seen
    assert view.case_of_alert("B1-2").case_id == "B1-1"


def test_records_for_a_case_not_yet_read_apply_once_its_alert_arrives():
    view = DeskView()
    view.apply_batch([audit_item(record("rita", "risk_officer", Action.acknowledge, "B1", "r1", case="B1-1"))])
    assert view.cases == {}
    assert view.books["B1"].derived.ignored[0].note == "case B1-1 not found"
    view.apply_batch(_alerts(alert("B1", 1, "raised", "watch")))
    assert view.cases["B1-1"].status == "acknowledged"
    assert view.books["B1"].derived.ignored == []


def test_a_record_that_does_not_fit_is_kept_as_not_applied():
    view = DeskView()
    view.apply_batch(_alerts(alert("B1", 1, "raised", "watch")))
    view.apply_batch([audit_item(record("rita", "risk_officer", Action.request_release, "B1", "r1", case="B1-1",
                                        details={"through_sequence": 1})),
                      audit_item(record("rita", "risk_officer", Action.assign, "B1", "r2", case="B1-1",
                                        details={"nobody": 1}))])
    actions = view.cases["B1-1"].actions
    assert [a.applied for a in actions] == [False, False]
    assert "only an acknowledged case" in actions[0].note
    assert actions[1].note.startswith("details.assignee")


def _history() -> list[tuple[str, bytes | None, bytes | None]]:
    items = []
    for b in range(6):
        bid = f"B{b}"
        team = f"T{b % 3}"
        items += _alerts(alert(bid, 1, "raised", "watch", team=team, day=b),
                         alert(bid, 2, "escalated", "warning", team=team, day=b + 1),
                         alert(bid, 3, "cleared", "normal", from_tier="warning", team=team, day=b + 2),
                         alert(bid, 4, "raised", "severe", team=team, day=b + 10))
        items += [audit_item(record("rita", "risk_officer", Action.acknowledge, bid, f"{bid}a", case=f"{bid}-1")),
                  audit_item(record("rita", "risk_officer", Action.request_release, bid, f"{bid}b", case=f"{bid}-1",
                                    details={"through_sequence": 3})),
                  audit_item(record("sam", "supervisor", Action.approve_release, bid, f"{bid}c", case=f"{bid}-1",
                                    details={"through_sequence": 3})),
                  audit_item(record("rita", "risk_officer", Action.acknowledge, bid, f"{bid}d", case=f"{bid}-4")),
                  audit_item(record("rita", "risk_officer", Action.request_override, bid, f"{bid}e",
                                    details={"tier": "watch", "until": (T0 + timedelta(days=30)).isoformat()})),
                  (SCHEDULE, bid.encode(), schedule(bid, date(2026, 3, 10 + b), team=team))]
    return items


def _interleave(items: list, seed: int) -> list:
    """A random order that keeps each borrower's audit records in topic order (one partition)."""
    rng = random.Random(seed)
    audit = [x for x in items if x[0] == AUDIT]
    rest = [x for x in items if x[0] != AUDIT]
    rng.shuffle(rest)
    out = []
    queue = {}
    for x in audit:
        queue.setdefault(x[1], []).append(x)
    slots = [x[1] for x in audit]
    rng.shuffle(slots)
    for key in slots:
        out.append(queue[key].pop(0))
    merged = []
    while out or rest:
        src = out if (out and (not rest or rng.random() < 0.5)) else rest
        merged.append(src.pop(0))
    return merged


def test_folding_is_independent_of_how_the_topics_interleave_and_of_batch_sizes():
    items = _history()
    reference = DeskView()
    reference.apply_batch(items)
    snap = _snapshot(reference)
    assert {c.status for c in reference.cases.values()} == {"released", "acknowledged"}
    for seed in range(8):
        view = DeskView()
        shuffled = _interleave(items, seed)
        size = 1 + seed * 3
        for i in range(0, len(shuffled), size):
            view.apply_batch(shuffled[i:i + size])
        assert _snapshot(view) == snap, seed


def test_folding_a_record_twice_changes_nothing():
    items = _history()
    once = DeskView()
    once.apply_batch(items)
    twice = DeskView()
    twice.apply_batch(items)
    twice.apply_batch(items)  # at-least-once delivery, a replica that reread, a request sent again
    for item in items:
        twice.apply_batch([item])
    assert _snapshot(twice) == _snapshot(once)
    assert len(twice.records) == len(once.records) and len(twice.alerts) == len(once.alerts)


def test_override_requests_need_a_second_officer_with_an_approving_role():
    view = DeskView()
    until = (T0 + timedelta(days=30)).isoformat()
    req = record("rita", "risk_officer", Action.request_override, "B1", "q1", details={"tier": "watch", "until": until})
    view.apply_batch([(ALERTS, None, alert("B1", 1, "raised", "warning")), audit_item(req)])
    rid = view.books["B1"].derived.requests[0].record_id
    assert list(view.pending_overrides) == [rid]
    view.apply_batch([
        audit_item(record("rita", "supervisor", Action.approve_override, "B1", "q2",
                          details={"request": rid, "event_id": "ev1"})),  # the requester: four eyes
        audit_item(record("ralf", "risk_officer", Action.approve_override, "B1", "q3",
                          details={"request": rid, "event_id": "ev2"})),  # not an approving role
    ])
    ignored = [a.note for a in view.books["B1"].derived.ignored]
    assert "four eyes" in ignored[0] and "cannot decide" in ignored[1]
    assert list(view.pending_overrides) == [rid]
    view.apply_batch([audit_item(record("sam", "supervisor", Action.approve_override, "B1", "q4",
                                        details={"request": rid, "event_id": "ev3"}))])
    d = view.books["B1"].derived
    assert d.requests[0].status == "approved" and d.requests[0].decided_by == "sam"
    assert [(c.direction, c.tier, c.requested_by, c.approved_by, c.event_id) for c in d.changes] == \
        [("cap", "watch", "rita", "sam", "ev3")]
    assert view.pending_overrides == {}


def test_a_floor_applies_at_once_but_a_cap_set_without_a_request_does_not():
    view = DeskView()
    until = (T0 + timedelta(days=30)).isoformat()
    view.apply_batch([
        audit_item(record("rita", "risk_officer", Action.override, "B1", "o1",
                          details={"action": "set", "direction": "floor", "tier": "warning", "until": until,
                                   "event_id": "ev1"})),
        audit_item(record("rita", "risk_officer", Action.override, "B1", "o2",
                          details={"action": "set", "direction": "cap", "tier": "normal", "until": until,
                                   "event_id": "ev2"})),
    ])
    d = view.books["B1"].derived
    assert [c.event_id for c in d.changes] == ["ev1"]
    assert "needs a second officer" in d.ignored[0].note


def _brute(view: DeskView, filters: dict, since: int | None = None) -> list[str]:
    rows = []
    for a in view.alerts.values():
        case = view.case_of_alert(a.alert_id)
        status = case.status if case else "none"
        facets = {"tier": a.to_tier, "team": a.team, "branch": a.branch, "kind": a.kind, "status": status,
                  "active": status in ("open", "acknowledged", "release_requested")}
        if all(facets[k] == v for k, v in filters.items()) and (since is None or a.at >= since):
            rows.append(a)
    rows.sort(key=lambda a: a.key, reverse=True)
    return [a.alert_id for a in rows]


def _walk(view: DeskView, filters: dict, limit: int, since: int | None = None) -> list[str]:
    out, after = [], None
    while True:
        rows, more = view.alert_page(filters, after=after, since=since, limit=limit)
        out += [r.alert_id for r in rows]
        if not more:
            return out
        after = rows[-1].key


def test_feed_pages_equal_a_full_scan_for_every_filter_combination():
    rng = random.Random(5)
    view = DeskView()
    items = []
    for b in range(120):
        bid = f"B{b:03d}"
        team, branch = f"T{rng.randrange(4)}", f"BR{rng.randrange(3)}"
        seq, tier = 1, "watch"
        items.append((ALERTS, None, alert(bid, 1, "raised", "watch", team=team, branch=branch, day=rng.random() * 50)))
        for _ in range(rng.randrange(4)):
            seq += 1
            new = rng.choice(["warning", "severe"])
            items.append((ALERTS, None, alert(bid, seq, "escalated", new, from_tier=tier, team=team, branch=branch,
                                              day=rng.random() * 50)))
            tier = new
        if rng.random() < 0.5:
            items.append(audit_item(record("rita", "risk_officer", Action.acknowledge, bid, f"{bid}-ack",
                                           case=f"{bid}-1")))
    rng.shuffle(items)
    for i in range(0, len(items), 37):
        view.apply_batch(items[i:i + 37])
    since = view.alerts["B010-1"].at
    combos = [{}, {"team": "T1"}, {"tier": "severe"}, {"team": "T2", "tier": "warning"}, {"status": "acknowledged"},
              {"active": True, "branch": "BR0"}, {"kind": "raised", "status": "open"}, {"team": "T9"}]
    for filters in combos:
        expected = _brute(view, filters)
        assert _walk(view, filters, 7) == expected, filters
        assert _walk(view, filters, 7, since) == _brute(view, filters, since), filters
    acked_before = len(_brute(view, {"status": "acknowledged"}))
    opened = [c for c in view.cases.values() if c.status == "open"]
    view.apply_batch([audit_item(record("rita", "risk_officer", Action.acknowledge, c.borrower_id, f"{c.case_id}-x",
                                        case=c.case_id)) for c in opened])
    assert _walk(view, {"status": "open"}, 10) == []
    assert len(_walk(view, {"status": "acknowledged"}, 10)) == len(view.alerts) > acked_before


@pytest.mark.parametrize("pairs", [False, True])
def test_facet_index_survives_churn_and_compaction(pairs):
    idx = FacetIndex(("status", "team"), pairs=pairs)
    rng = random.Random(1)
    truth = {}
    for step in range(20_000):
        key = (rng.randrange(500), "k")
        values = (rng.choice("abc"), rng.choice("xy"))
        if rng.random() < 0.05:
            idx.drop(key)
            truth.pop(key, None)
        else:
            idx.put(key, values)
            truth[key] = values
        if step % 97 == 0:
            idx.settle(full=step % 2 == 0)
    idx.settle()
    for filters in ({"status": "a"}, {"team": "y"}, {"status": "b", "team": "x"}, {}):
        got = list(idx.scan(filters, descending=True))
        want = sorted((k for k, v in truth.items()
                       if all(v[("status", "team").index(f)] == x for f, x in filters.items())), reverse=True)
        assert got == want, filters
        assert idx.count(filters) == len(want)
    assert all(lst.stale * 2 <= len(lst.items) for lst in idx.lists.values())
    assert sorted(idx.values("team")) == ["x", "y"]


def test_schedule_keeps_the_latest_entry_per_borrower_and_tombstones_remove_it():
    view = DeskView()
    view.apply_batch([(SCHEDULE, b"B1", schedule("B1", date(2026, 3, 5))),
                      (SCHEDULE, b"B2", schedule("B2", date(2026, 3, 7), team="T2")),
                      (SCHEDULE, b"B1", schedule("B1", date(2026, 3, 9))),
                      (SCHEDULE, b"B3", schedule("B3", date(2026, 3, 1))),
                      (SCHEDULE, b"\x00watermark:1:0", b"{}"),  # the worker's bookkeeping: skipped
                      (SCHEDULE, b"B4", schedule("B4", None))])
    assert [e.borrower_id for e in view.schedule("T1", date(2026, 3, 1), date(2026, 3, 31))] == ["B3", "B1"]
    assert view.schedule("T1", date(2026, 3, 2), date(2026, 3, 8)) == []
    assert view.due_counts("T1", date(2026, 3, 9)) == (1, 1)
    assert view.teams() == ["T1", "T2"]
    view.apply_batch([(SCHEDULE, b"B3", None)])
    assert [e.borrower_id for e in view.schedule("T1", date.min, date(2026, 12, 31))] == ["B1"]


def test_bad_records_are_counted_and_the_rest_is_folded():
    view = DeskView()
    batch = view.apply_batch([(ALERTS, None, b"{not json"), (ALERTS, None, alert("B1", 1, "raised", "watch")),
                              (AUDIT, b"B9", record("rita", "risk_officer", Action.acknowledge, "B1", "x",
                                                    case="B1-1")),  # key differs from borrower_id
                              (SCHEDULE, None, None), ("weather", None, b"{}")])
    assert view.rejected == {"alerts": 1, "audit": 1, "schedule": 1, "weather": 1}
    assert [k for k, _ in batch.rejected] == ["alerts", "audit", "schedule", "weather"]
    assert "key differs" in batch.rejected[1][1]
    assert list(view.cases) == ["B1-1"] and view.cases["B1-1"].status == "open"
    assert view.read["alerts"] == 2


PURE = ("index.py", "cases.py", "view.py", "records.py", "commands.py", "table.py")
PURE_LIBS = {"__future__", "bisect", "itertools", "operator", "collections", "dataclasses", "datetime", "typing",
             "enum", "hashlib", "json", "pydantic", "monitor", "numpy", "zoneinfo"}
PURE_MONITOR = {"monitor._time", "monitor.outputs", "monitor.events", "monitor.desk.index", "monitor.desk.cases",
                "monitor.desk.records", "monitor.desk.auth", "monitor.desk.table"}


@pytest.mark.parametrize("name", PURE)
def test_the_view_and_its_parts_read_no_clock_and_do_no_io(name):
    import ast
    from pathlib import Path

    from tests.test_architecture import FORBIDDEN_CALLS

    path = Path(__file__).resolve().parents[2] / "monitor" / "desk" / name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in modules:
                assert mod.split(".")[0] in PURE_LIBS, f"{name} imports {mod}"
                assert not mod.startswith("monitor.") or mod in PURE_MONITOR, f"{name} imports {mod}"
        if isinstance(node, ast.Call):
            fn = node.func
            called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            assert called not in FORBIDDEN_CALLS, f"{name}:{node.lineno} calls {called}()"
