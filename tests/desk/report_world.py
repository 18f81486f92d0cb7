"""A simulated portfolio as the topics carry it, for the reports' unit tests.

``World`` holds the same events twice: as Kafka records of the feed topics (the
valid lines as ``monitor produce`` publishes them: event-time order, ``seq``
header, partition by borrower; the simulation's malformed lines as an upstream
system might send them, with the dead letters the worker's own runtime writes
for them), shuffled as a consumer may read them; and as the events file that
``monitor replay`` and ``monitor report`` read offline (valid lines in event-time
order, then the malformed ones).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from monitor.agents.runtime import Message, Runtime, StepResult, partition_for
from monitor.desk.reporting import InputRecord, Inputs, Notice
from monitor.desk.view import ALERTS, BORROWERS, SCHEDULE, DeskView
from monitor.engine import Engine
from monitor.jsonl import iter_lines
from monitor.replay import parse_lines, replay, write_outputs
from monitor.reports._period import midnight_us
from monitor.rules.loader import default_policy
from monitor.rules.policy import Policy
from monitor.simulate import simulate, write_simulation
from monitor.topics import Topics

PARTITIONS = 4
ARRIVED_MS = 1_735_660_800_000  # 2025-01-01T00:00:00+08:00: every message reached the broker before any report


@dataclass
class World:
    dir: Path
    policy: Policy
    topics: Topics
    valid: list[tuple[int, bytes]]  # (occurred_at µs, raw line) in the order monitor produce sends them
    bad: list[bytes]  # the malformed lines
    inputs: Inputs

    def cut(self, day: date) -> int:
        return midnight_us(day + timedelta(days=1), self.policy.zone) - 1

    def offline_events(self, day: date, path: Path) -> Path:
        """The events file of the report ending ``day``: the valid lines up to its end, then the bad ones."""
        cut = self.cut(day)
        path.write_bytes(b"".join(raw + b"\n" for t, raw in self.valid if t <= cut) + b"".join(b + b"\n" for b in self.bad))
        return path

    def offline_replay(self, day: date, workdir: Path) -> Path:
        """``monitor replay --as-of CUT events.jsonl`` in ``workdir`` (the caller has chdir'ed there)."""
        self.offline_events(day, workdir / "events.jsonl")
        out = workdir / "replay"
        write_outputs(replay(["events.jsonl"], self.policy, as_of=self.cut(day), snapshots=out / "snapshots"), out)
        return out

    def view(self) -> DeskView:
        """The desk's view after the worker published every alert, schedule entry and detail (up to the end)."""
        result = replay([self.dir / "all.jsonl"], self.policy)
        engine = Engine(self.policy)
        items: list[tuple[str, bytes | None, bytes | None]] = []
        for a in result.alerts:
            items.append((ALERTS, a.borrower_id.encode(), a.model_dump_json().encode()))
        for bid, state in sorted(result.states.items()):
            items.append((SCHEDULE, bid.encode(), engine.schedule_entry(state).model_dump_json().encode()))
            items.append((BORROWERS, bid.encode(), engine.detail(state).model_dump_json().encode()))
        random.Random(3).shuffle(items)
        view = DeskView()
        view.apply_batch(items)
        return view


def build_world(d: Path, borrowers: int = 80, seed: int = 7) -> World:
    policy = default_policy()
    topics = Topics("t.")
    sim = d / "sim.jsonl"
    write_simulation(simulate(borrowers, 2, seed, duplicates=0.02, malformed=0.01), sim)
    rejects: list = []
    raws: list[bytes] = []
    events = parse_lines("sim", iter_lines(sim), rejects, raws)
    bad_lines = {r.line for r in rejects}
    bad = [raw for n, raw in iter_lines(sim) if n in bad_lines]
    order = sorted(range(len(events)), key=lambda i: events[i][0])
    valid = [(events[i][0], raws[i]) for i in order]
    (d / "all.jsonl").write_bytes(b"".join(raw + b"\n" for _, raw in valid))
    records: list[InputRecord] = []
    offsets: dict[tuple[str, int], int] = {}

    def put(topic: str, partition: int, key: bytes | None, value: bytes, seq: int | None) -> InputRecord:
        offset = offsets.get((topic, partition), 0)
        offsets[topic, partition] = offset + 1
        rec = InputRecord(topic, partition, offset, key, value, ARRIVED_MS, seq)
        records.append(rec)
        return rec

    for seq, i in enumerate(order):
        ev = events[i][1]
        put(topics.feed(ev.type), partition_for(ev.borrower_id, PARTITIONS), ev.borrower_id.encode(), raws[i], seq)
    garbage = [put(topics.feed("loan_profile"), 0, None, raw, None) for raw in bad]
    runtime = Runtime(Engine(policy), topics, clock="event", partitions=PARTITIONS, get_state=lambda _b: None)
    out = StepResult()
    runtime.accept([Message(r.topic, r.partition, r.offset, r.key, r.value) for r in garbage], out)
    dead = {(x.topic, x.partition, x.offset): x.reason for x in out.dead}
    random.Random(1).shuffle(records)
    return World(d, policy, topics, valid, bad, Inputs(records, dead, PARTITIONS))


class FakeSource:
    """The reporter's Kafka, in memory: the inputs, and the reports topic as a list of messages."""

    def __init__(self, inputs: Inputs, topic: list[bytes] | None = None) -> None:
        self.inputs = inputs
        self.topic: list[bytes] = topic if topic is not None else []
        self.reads = 0
        self.fail_publish = False

    async def read_inputs(self) -> Inputs:
        self.reads += 1
        return self.inputs

    async def published(self) -> set[str]:
        return {Notice.model_validate_json(v).report_id for v in self.topic}

    async def publish(self, notice: Notice) -> None:
        if self.fail_publish:
            raise ConnectionError("the broker is down (test)")
        self.topic.append(notice.model_dump_json().encode())
