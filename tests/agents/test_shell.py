"""The worker shell on the in-memory port: batches in, a checkpoint's numbered steps out, in order.

No broker and no Faust: :mod:`tests.agents.memory_port` stands in for both (the real ones are exercised
in tests/integration/test_worker.py). The shell's behaviour is read from what it asked of the port.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from monitor._time import iso, parse_instant
from monitor.agents.runtime import OFFSETS_PREFIX, offsets_key
from monitor.agents.shell import WorkerShell
from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.settings import Settings
from monitor.simulate import simulate, write_simulation
from monitor.state import dump_state
from monitor.topics import Topics, partition_for
from tests.agents.memory_port import TP, MemoryPort, Record

PARTS = 2
TOPICS = Topics("sh.")


def _shell(tmp_path: Path, port: MemoryPort, clock: str = "event") -> WorkerShell:
    settings = Settings(store="memory://", data_dir=tmp_path / "d", app_id="sh", partitions=PARTS,
                        topic_prefix="sh.", clock=clock)
    return WorkerShell(port, settings, tp=TP, exit_on_failure=False)


def _every_tp() -> list[TP]:
    return [TP(t, p) for t in [*TOPICS.inputs, TOPICS.clock] for p in range(PARTS)]


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("sh") / "events.jsonl"
    write_simulation(simulate(40, 6, 5), path)
    return path, replay([path], default_policy())


def _records(path: Path) -> tuple[dict[TP, list[Record]], int]:
    """The portfolio as `monitor produce` would publish it: per topic-partition, in event-time order."""
    docs = [json.loads(x) for x in path.read_bytes().splitlines()]
    order = sorted(range(len(docs)), key=lambda i: parse_instant(docs[i]["occurred_at"]))
    out: dict[TP, list[Record]] = {}
    for seq, i in enumerate(order):
        d = docs[i]
        tp = TP(TOPICS.feed(d["type"]), partition_for(d["borrower_id"], PARTS))
        recs = out.setdefault(tp, [])
        recs.append(Record(len(recs), d["borrower_id"].encode(), json.dumps(d).encode(), [("seq", str(seq).encode())]))
    last = max(parse_instant(d["occurred_at"]) for d in docs)
    for p in range(PARTS):
        body = {"at": iso(last), "offsets": {t: len(out.get(TP(t, p), [])) for t in TOPICS.inputs}}
        out[TP(TOPICS.clock, p)] = [Record(0, None, json.dumps(body).encode())]
    return out, last


async def _start(shell: WorkerShell, port: MemoryPort) -> None:
    port.assign(_every_tp())
    await shell.recovered()


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_portfolio_through_the_shell_equals_replay_and_everything_is_committed(tmp_path, portfolio):
    path, result = portfolio
    port = MemoryPort()
    shell = _shell(tmp_path, port)
    records, _ = _records(path)

    async def go() -> None:
        await _start(shell, port)
        for tp, recs in sorted(records.items()):
            for i in range(0, len(recs), 7):
                await shell.handle([(tp, recs[i:i + 7])], port.generation())
        await shell.settle()

    _run(go())
    alerts = {json.loads(v)["alert_id"]: json.loads(v) for _k, v in port.records(TOPICS.alerts)}
    assert alerts == {a.alert_id: json.loads(a.model_dump_json()) for a in result.alerts}
    table = {k.decode(): v for k, v in port.table.items() if not k.startswith(b"\x00")}
    assert table == {b: dump_state(s) for b, s in result.states.items()}
    assert port.group == {tp: len(recs) for tp, recs in records.items()}  # every input committed
    for p in range(PARTS):  # the applied offsets, in the table with the states
        stored = json.loads(port.table[offsets_key(p, PARTS).encode()])
        assert stored == {t: len(records.get(TP(t, p), [])) for t in [*TOPICS.inputs, TOPICS.clock]}


def test_a_checkpoint_publishes_then_logs_the_states_then_stores_them_then_commits(tmp_path, portfolio):
    path, _ = portfolio
    port = MemoryPort()
    shell = _shell(tmp_path, port)
    records, _ = _records(path)
    clock_tps = [tp for tp in records if tp.topic == TOPICS.clock]
    feed_tps = [tp for tp in records if tp.topic != TOPICS.clock]

    async def go() -> None:
        await _start(shell, port)
        for tp in feed_tps:
            await shell.handle([(tp, records[tp])], port.generation())
        await shell.settle()
        port.journal.clear()
        port.hold()  # the broker has not acknowledged the outputs yet
        await shell.handle([(tp, records[tp]) for tp in clock_tps], port.generation())
        await asyncio.sleep(0.01)
        kinds = [j[0] for j in port.journal]
        assert kinds and set(kinds) == {"published"}  # step 1 only: nothing stored or committed yet
        assert shell.runtime.buffered() == 0
        port.release()
        await asyncio.sleep(0.01)
        port.release()  # the changelog records
        await shell.settle()

    _run(go())
    kinds = [j[0] for j in port.journal]
    first = {k: kinds.index(k) for k in ("published", "changelog", "stored", "committed")}
    last = {k: len(kinds) - 1 - kinds[::-1].index(k) for k in first}
    assert last["published"] < first["changelog"] and last["changelog"] < first["stored"]
    assert last["stored"] < first["committed"]
    changelog_end = {p: len(port.topics[(port.changelog, p)]) - 1 for p in range(PARTS)}
    assert port.store_offsets == changelog_end  # each partition's store knows its last changelog record


def test_a_fetch_of_an_earlier_generation_is_dropped(tmp_path, portfolio):
    path, _ = portfolio
    port = MemoryPort()
    shell = _shell(tmp_path, port)
    records, _ = _records(path)
    tp = next(tp for tp in records if tp.topic == TOPICS.feed("loan_profile"))

    async def go() -> None:
        await _start(shell, port)
        fetched_in = port.generation()
        port.gen += 1  # a rebalance happened between the fetch and its handling
        await shell.handle([(tp, records[tp])], fetched_in)
        assert shell.dropped == len(records[tp]) and shell.book.expected(tp) == 0
        await shell.handle([(tp, records[tp])], port.generation())
        assert shell.book.expected(tp) == len(records[tp])

    _run(go())


def test_recovery_reads_on_from_the_tables_applied_offsets_when_the_group_committed_less(tmp_path):
    port = MemoryPort()
    a, b, c = TP(TOPICS.feed("overdue"), 0), TP(TOPICS.feed("lawsuit"), 0), TP(TOPICS.feed("overdue"), 1)
    port.group = {a: 5, c: 9}  # b: nothing committed
    key = offsets_key(0, PARTS).encode()
    assert key.startswith(OFFSETS_PREFIX.encode())
    port.table[key] = json.dumps({a.topic: 40, b.topic: 3}).encode()
    shell = _shell(tmp_path, port)

    async def go() -> None:
        await _start(shell, port)

    _run(go())
    seeks = {j[1]: j[2] for j in port.journal if j[0] == "seek"}
    assert seeks[a] == 40 and seeks[b] == 3  # the table applied more than the group committed
    assert c not in seeks  # committed 9, nothing applied beyond it: Faust's own seek stands
    assert shell.book.expected(a) == 40 and shell.book.expected(c) == 9
    nothing = TP(TOPICS.feed("rating_change"), 1)
    assert seeks[nothing] == 0  # never committed, never applied: from the start


def test_a_failed_commit_is_logged_and_tried_again_on_the_tick(tmp_path, portfolio, caplog):
    path, _ = portfolio
    port = MemoryPort()
    shell = _shell(tmp_path, port, clock="wall")
    records, _ = _records(path)
    tp = next(tp for tp in records if tp.topic == TOPICS.feed("loan_profile"))

    async def go() -> None:
        await _start(shell, port)
        port.refuse_commits = 1
        await shell.handle([(tp, records[tp])], port.generation())
        await shell.settle()
        assert tp not in port.group
        shell._commit_tried_at -= 10  # the tick tries again five seconds after the last attempt
        await shell.tick()
        await shell.settle()
        assert port.group[tp] == len(records[tp])

    _run(go())
    text = caplog.text
    assert "committing the input offsets failed" in text and "committed the input offsets again" in text


def test_a_partition_short_of_its_end_and_a_gap_are_read_again(tmp_path, portfolio):
    path, _ = portfolio
    port = MemoryPort()
    shell = _shell(tmp_path, port)
    records, _ = _records(path)
    gap, short = [tp for tp in records if tp.topic != TOPICS.clock and len(records[tp]) > 12][:2]
    shell.rereads.patience = 0.0
    shell.rereads.wait = 0.0

    async def go() -> None:
        await _start(shell, port)
        port.journal.clear()
        await shell.handle([(gap, records[gap][:4] + records[gap][6:9])], port.generation())  # 4, 5 never came
        assert ("seek", gap, 4) not in port.journal  # waited for first
        await shell.handle([(gap, records[gap][6:7])], port.generation())  # the consumer reads on past the gap
        assert ("seek", gap, 4) in port.journal
        await shell.handle([(short, records[short][:10])], port.generation())
        port.ends[short] = len(records[short])  # the broker holds more, and nothing more comes
        await shell._watch_ends()
        assert ("seek", short, 10) not in port.journal  # noted first
        await shell._watch_ends()
        assert ("seek", short, 10) in port.journal  # then read again from where it stopped
        await shell.handle([(gap, records[gap][4:6])], port.generation())  # the gap is filled
        assert shell.book.expected(gap) == 9

    _run(go())
