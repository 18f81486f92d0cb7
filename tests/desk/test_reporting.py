"""The periodic reports in the service: schedule, snapshot from Kafka records, one code path, publication."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitor._time import iso, to_us
from monitor.agents.runtime import partition_for
from monitor.cli import cli
from monitor.desk.records import Action, AuditRecord, record_id_for
from monitor.desk.reporting import (
    EVENTS,
    InputRecord,
    Inputs,
    Notice,
    Reporter,
    ReportStore,
    Scheduler,
    due,
    kinds_ending,
    next_after,
    scheduled_at,
    write_snapshot,
)
from monitor.desk.view import AUDIT
from monitor.reports._period import make_period
from tests.desk.report_world import ARRIVED_MS, FakeSource, World, build_world

SH = ZoneInfo("Asia/Shanghai")
REPLAY_FILES = ("alerts.jsonl", "borrowers.jsonl", "schedule.csv", "schedule_history.jsonl", "rejects.jsonl",
                "summary.json")
MID = date(2025, 2, 16)  # a Sunday inside the simulation: day and week
END = date(2025, 2, 28)  # the last day simulated: day and month


def sh(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=SH))  # type: ignore[misc]


# ---------------------------------------------------------------------- the schedule

def test_periods_ending_on_a_day_weeks_on_sundays_months_on_their_last_day():
    assert kinds_ending(date(2025, 3, 26)) == ("day",)
    assert kinds_ending(date(2025, 3, 30)) == ("day", "week")  # Sunday
    assert kinds_ending(date(2025, 3, 31)) == ("day", "month")  # Monday, month end
    assert kinds_ending(date(2024, 2, 29)) == ("day", "month")  # leap year
    assert kinds_ending(date(2025, 2, 28)) == ("day", "month")
    assert kinds_ending(date(2024, 2, 28)) == ("day",)
    assert kinds_ending(date(2025, 8, 31)) == ("day", "week", "month")  # a Sunday and a month end
    assert kinds_ending(date(2025, 12, 31)) == ("day", "month")


def test_report_instants_are_the_next_local_midnight_plus_the_settle_delay():
    assert scheduled_at(date(2025, 3, 31), SH, 600) == sh(2025, 4, 1, 0, 10)
    assert iso(scheduled_at(date(2025, 3, 31), SH, 600)) == "2025-03-31T16:10:00Z"
    assert scheduled_at(date(2025, 12, 31), SH, 0) == sh(2026, 1, 1)
    # (after, until]: the instant itself is due, the one before is not
    got = due(sh(2025, 3, 29, 12), sh(2025, 4, 1, 0, 10), SH, 600)
    assert got == [(sh(2025, 3, 30, 0, 10), date(2025, 3, 29), ("day",)),
                   (sh(2025, 3, 31, 0, 10), date(2025, 3, 30), ("day", "week")),
                   (sh(2025, 4, 1, 0, 10), date(2025, 3, 31), ("day", "month"))]
    assert due(sh(2025, 4, 1, 0, 10), sh(2025, 4, 1, 23), SH, 600) == []
    # five minutes after midnight: with a ten-minute settle, yesterday's report is not due yet
    assert due(sh(2025, 3, 31, 23), sh(2025, 4, 1, 0, 5), SH, 600) == []
    assert due(sh(2025, 3, 31, 23), sh(2025, 4, 1, 0, 5), SH, 0) == [(sh(2025, 4, 1), date(2025, 3, 31),
                                                                      ("day", "month"))]
    assert next_after(sh(2025, 3, 31, 23, 59), SH, 600) == sh(2025, 4, 1, 0, 10)
    assert next_after(sh(2025, 4, 1, 0, 10), SH, 600) == sh(2025, 4, 2, 0, 10)
    assert next_after(sh(2025, 4, 1, 0, 5), SH, 600) == sh(2025, 4, 1, 0, 10)
    # a month of instants: 31 days, 4 Sundays before Mar 31's report, one month end
    month = due(sh(2025, 3, 1, 0, 10), sh(2025, 4, 1, 0, 10), SH, 600)
    assert [d for _, d, _ in month] == [date(2025, 3, 1) + timedelta(days=i) for i in range(31)]
    assert sum("week" in k for _, _, k in month) == 5 and sum("month" in k for _, _, k in month) == 1


class Recorder:
    def __init__(self, fail: int = 0) -> None:
        self.calls: list[tuple[date, tuple[str, ...]]] = []
        self.fail = fail

    async def ensure(self, day: date, kinds: tuple[str, ...]) -> list[Notice]:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker down (test)")
        self.calls.append((day, kinds))
        return []


def test_the_loop_catches_up_then_wakes_at_each_instant_and_retries_a_failure():
    now = [datetime(2025, 3, 28, 9, 0, tzinfo=SH)]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)

    rec = Recorder(fail=1)
    s = Scheduler(rec, zone=SH, settle_seconds=600, catch_up_days=2, clock=lambda: now[0], sleep=sleep,  # type: ignore[arg-type]
                  retry_seconds=60, max_sleep=172_800)

    async def go() -> None:
        for _ in range(7):
            await s.sleep(await s.tick())

    asyncio.run(go())
    # at start: the instants of the last two days (the first attempt fails and is retried 60 s later)
    assert rec.calls[:2] == [(date(2025, 3, 27), ("day",)), (date(2025, 3, 26), ("day",))]
    assert slept[0] == 60 and slept[1] == (sh(2025, 3, 29, 0, 10) - sh(2025, 3, 28, 9, 1)) / 1e6
    assert rec.calls[2:] == [(date(2025, 3, 28), ("day",)), (date(2025, 3, 29), ("day",)),
                             (date(2025, 3, 30), ("day", "week")), (date(2025, 3, 31), ("day", "month")),
                             (date(2025, 4, 1), ("day",))]
    assert slept[2:] == [86_400.0] * 5  # each wake is exactly at the next instant


# ---------------------------------------------------------------------- the snapshot and the one code path

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.mark.parametrize("day", [MID, END])
def test_snapshot_from_kafka_records_equals_monitor_replay_of_the_same_events(world, day, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    offline = world.offline_replay(day, tmp_path)
    snap = write_snapshot(world.inputs, tmp_path / "svc", cut=world.cut(day),
                          built_at=scheduled_at(day, SH, 600), policy=world.policy, topics=world.topics)
    assert (tmp_path / "svc" / EVENTS).read_bytes() == (tmp_path / EVENTS).read_bytes()
    for name in REPLAY_FILES:
        assert (tmp_path / "svc" / name).read_bytes() == (offline / name).read_bytes(), name
    summary = json.loads((offline / "summary.json").read_text())
    assert summary["events"]["duplicate"] > 0 and summary["events"]["rejected"] == len(world.bad) > 0
    assert summary["alerts"]["total"] == len(snap.alert_ids) > 0 and snap.rejected == len(world.bad)


def test_routing_errors_late_and_stale_messages_follow_the_worker(world, tmp_path):
    """What the worker refuses is a rejected line (never applied); what it has not seen yet is not input."""
    p = world.topics.feed("overdue")
    valid_profile = next(raw for _, raw in world.valid if b'"loan_profile"' in raw)
    bid = json.loads(valid_profile)["borrower_id"]
    part = partition_for(bid, 4)
    extra = [
        InputRecord(p, part, 10_000, bid.encode(), valid_profile, ARRIVED_MS),  # a profile on the overdue feed
        InputRecord(world.topics.feed("loan_profile"), part, 10_000, b"someone-else", valid_profile, ARRIVED_MS),
        InputRecord(world.topics.feed("loan_profile"), part, 10_001, bid.encode(), None, ARRIVED_MS),  # tombstone
        # refused, but reached the broker after the report was built: not in this report
        InputRecord(world.topics.feed("loan_profile"), part, 10_002, None, b"{oops", sh(2025, 3, 2) // 1000),
        # a valid event dated after the period: a later report's input
        InputRecord(world.topics.feed("loan_profile"), part, 10_003, bid.encode(),
                    valid_profile.replace(b'"occurred_at":"2025-', b'"occurred_at":"2026-'), ARRIVED_MS),
    ]
    victim = next(r for r in world.inputs.records if r.seq == 5)  # the worker found it stale: never applied
    dead = {**world.inputs.dead, (victim.topic, victim.partition, victim.offset): "stale: 40.0 days older (test)"}
    inputs = Inputs(world.inputs.records + extra, dead, 4)
    snap = write_snapshot(inputs, tmp_path, cut=world.cut(END), built_at=scheduled_at(END, SH, 600),
                          policy=world.policy, topics=world.topics)
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert snap.rejected == len(world.bad) + 4 and snap.accepted == len(world.valid) - 1
    assert "stale: 40.0 days older (test)" in reasons
    assert "type: loan_profile does not belong on t.overdue-events (expected overdue)" in reasons
    assert f"key 'someone-else' differs from borrower_id {bid!r}" in reasons
    assert "empty message (tombstone)" in reasons
    lines = (tmp_path / EVENTS).read_bytes().split(b"\n")
    assert len(lines) - 1 == snap.accepted + snap.rejected and lines[-1] == b""
    assert b"" in lines[snap.accepted:-1] and victim.value in lines[snap.accepted:]  # refused lines come last
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["events"]["read"] == snap.accepted + snap.rejected
    assert summary["events"]["after_as_of"] == 0 and summary["events"]["rejected"] == snap.rejected


def _report_cli(replay_dir: Path, events: Path, kind: str, day: date, out: Path) -> dict[str, bytes]:
    res = CliRunner().invoke(cli, ["report", "--period", kind, "--as-of", day.isoformat(), "--replay",
                                   str(replay_dir), "--events", str(events), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("day", [MID, END])
def test_the_service_report_is_byte_identical_to_monitor_report(world, day, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    offline = world.offline_replay(day, tmp_path)
    source = FakeSource(world.inputs)
    store = ReportStore(tmp_path / "store")
    view = world.view()
    reporter = Reporter(store, source, world.policy, topics=world.topics, view=lambda: view)
    notices = asyncio.run(reporter.ensure(day))
    assert [n.period for n in notices] == list(kinds_ending(day)) and len(notices) == 2
    for n in notices:
        expected = _report_cli(offline, tmp_path / EVENTS, n.period, day, tmp_path / f"cli-{n.period}")
        stored = {f.name: store.path(n, f.form).read_bytes() for f in n.files}  # type: ignore[union-attr]
        assert stored == expected  # HTML, JSON, CSV and the workbook, byte for byte
        meta = json.loads(next(v for k, v in stored.items() if k.endswith(".json")))["meta"]
        assert meta["current_signals"]  # both replays wrote snapshots: the warning list shows the signals at the end
        per = make_period(n.period, day, SH)
        assert n.report_id.startswith(f"{n.period}-{per.label}-") and n.first_day == per.first.isoformat()
        assert n.built_at == iso(scheduled_at(day, SH, 600)) and n.as_of == iso(per.end_us)
        assert n.policy_version == world.policy.version and n.stored_at.startswith(f"{n.period}/{n.first_day}/")
        assert json.loads(expected[f"report-{n.period}-{day}.json"])["meta"]["as_of"] == n.as_of
        assert "alerts checked: the" in n.notes[1], n.notes  # the worker published what the engine decided
    assert not any((tmp_path / "store" / ".work").iterdir())  # the working copy is gone


def test_building_twice_or_on_two_replicas_publishes_one_notice(world, tmp_path):
    topic: list[bytes] = []
    a = Reporter(ReportStore(tmp_path / "a"), FakeSource(world.inputs, topic), world.policy, topics=world.topics)
    first = asyncio.run(a.ensure(END))
    again = asyncio.run(a.ensure(END))
    assert again == first and a.builds == 1 and len(topic) == 2  # the day and the month, once each
    # a second replica with its own directory builds the same bytes, and publishes nothing new
    b = Reporter(ReportStore(tmp_path / "b"), FakeSource(world.inputs, topic), world.policy, topics=world.topics)
    assert asyncio.run(b.ensure(END)) == first and b.builds == 1 and len(topic) == 2
    for n in first:
        for f in n.files:
            assert (tmp_path / "a" / n.stored_at / f.name).read_bytes() == (tmp_path / "b" / n.stored_at / f.name
                                                                             ).read_bytes()
    # a replica sharing the first one's directory finds the reports stored: no build at all
    c = Reporter(ReportStore(tmp_path / "a"), FakeSource(world.inputs, topic), world.policy, topics=world.topics)
    assert asyncio.run(c.ensure(END)) == first and c.builds == 0 and len(topic) == 2
    assert [Notice.model_validate_json(v) for v in topic] == first


def test_a_month_ends_reports_are_built_one_at_a_time_the_month_first_each_stored_before_the_next(world, tmp_path, monkeypatch):
    # each report holds the portfolio's warning list (~0.75 GiB at a million borrowers): the desk never holds two
    import monitor.desk.reporting as reporting

    store = ReportStore(tmp_path / "store")
    stored_before: list[tuple[str, list[str]]] = []
    build = reporting.build_one

    def watched(snap, day, kind, **kw):
        stored_before.append((kind, [n.period for n in store.list()]))
        return build(snap, day, kind, **kw)

    monkeypatch.setattr(reporting, "build_one", watched)
    notices = asyncio.run(Reporter(store, FakeSource(world.inputs), world.policy, topics=world.topics).ensure(END))
    assert [n.period for n in notices] == ["day", "month"]
    assert stored_before == [("month", []), ("day", ["month"])]  # the month's first: stored one build sooner


def test_a_notice_that_could_not_be_published_is_published_on_the_next_try(world, tmp_path):
    source = FakeSource(world.inputs)
    source.fail_publish = True
    r = Reporter(ReportStore(tmp_path), source, world.policy, topics=world.topics)
    with pytest.raises(ConnectionError):
        asyncio.run(r.ensure(MID, ["day"]))
    assert source.topic == [] and r.store.list()  # stored, not announced
    source.fail_publish = False
    (n,) = asyncio.run(r.ensure(MID, ["day"]))
    assert r.builds == 1 and [Notice.model_validate_json(v).report_id for v in source.topic] == [n.report_id]


def test_case_owners_come_from_the_audit_records_up_to_the_end_of_the_period(world, tmp_path, monkeypatch):
    view = world.view()
    cut = world.cut(END)
    listed = next(b for b in view.books.values()
                  if b.alerts and b.alerts[-1].to_tier != "normal" and b.alerts[-1].at <= cut)
    case = next(c for c in listed.derived.cases)

    def assign(user: str, assignee: str, at: datetime) -> None:
        r = AuditRecord(record_id=record_id_for(user, assignee), at=at, user=user, role="risk_officer",
                        action=Action.assign, borrower_id=listed.borrower_id, alert_id=case.case_id,
                        reason="mine", details={"assignee": assignee}, request_id=assignee)
        view.apply(AUDIT, listed.borrower_id.encode(), r.model_dump_json().encode())

    assign("rita", "rita", datetime(2025, 2, 28, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai: in force at the end
    assign("ralf", "ralf", datetime(2025, 2, 28, 16, 30, tzinfo=UTC))  # 00:30 next day: too late for February
    store = ReportStore(tmp_path / "store")
    r = Reporter(store, FakeSource(world.inputs), world.policy, topics=world.topics, lang="en", view=lambda: view)
    (n,) = asyncio.run(r.ensure(END, ["day"]))
    report = json.loads(store.path(n, "json").read_bytes())  # type: ignore[union-attr]
    owners = {row["borrower_id"]: row["case_owner"] for row in report["warning_list"]["rows"]}
    assert owners[listed.borrower_id] == "rita"
    assert [v for k, v in owners.items() if k != listed.borrower_id] == [None] * (len(owners) - 1)
    assert report["meta"]["inputs"][-1]["role"] == "case_owners"
    # the disposal of the warnings: every listed borrower with a case, by status
    statuses = {row["borrower_id"]: row["case_status"] for row in report["warning_list"]["rows"]}
    assert report["meta"]["cases_known"] and statuses[listed.borrower_id] in ("open", "acknowledged")
    disposal = {d["status"]: d["borrowers"] for d in report["disposal"]["rows"]}
    assert sum(disposal.values()) == len(statuses)
    assert disposal["none"] == sum(1 for v in statuses.values() if v is None)
    csv_text = store.path(n, "csv").read_bytes().decode("utf-8-sig")  # type: ignore[union-attr]
    assert f",{listed.borrower_id}," in csv_text and ",rita," in csv_text and "ralf" not in csv_text
    assert "case owners: 1 borrowers" in n.notes[2]
