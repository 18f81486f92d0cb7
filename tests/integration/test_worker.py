"""The streaming worker against a real Kafka broker (marked ``integration``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.settings import Settings
from monitor.simulate import simulate, write_simulation
from monitor.state import dump_state
from monitor.topics import Topics, create_topics
from tests.integration.kafka_harness import (
    ROOT,
    Broker,
    Names,
    Worker,
    alerts_by_id,
    latest_by_key,
    patient,
    read_topic,
    settings_env,
    wait_for,
)

pytestmark = pytest.mark.integration


def _settings(env: dict[str, str]) -> Settings:
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    return Settings(**{keys[k]: v for k, v in env.items() if k in keys})


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("portfolio") / "events.jsonl"
    write_simulation(simulate(400, 9, 21, duplicates=0.005), path)
    return path, replay([path], default_policy())


def _expected_alerts(result) -> dict[str, str]:
    return {a.alert_id: json.dumps(json.loads(a.model_dump_json()), sort_keys=True) for a in result.alerts}


def _check_final(broker: Broker, names: Names, result) -> None:
    """Alerts (each id once, same content), states and schedule equal the replay's."""
    expected = _expected_alerts(result)
    got, _count = alerts_by_id(broker.bootstrap, Topics(names.prefix).alerts)
    assert got.keys() == expected.keys()
    assert got == expected
    states = latest_by_key(broker.bootstrap, names.changelog)
    assert states == {b: dump_state(s) for b, s in result.states.items()}


def _produce(env: dict[str, str], path: Path) -> None:
    from monitor.produce import produce

    produce([path], _settings(env))


def _wait_all_alerts(broker: Broker, names: Names, result, workers: list[Worker], timeout: float = 180) -> None:
    expected = len(result.alerts)

    def done() -> int | bool:
        for w in workers:
            if w.proc is not None and not w.alive():
                raise AssertionError(f"worker died:\n{w.tail()}")
        got, _ = alerts_by_id(broker.bootstrap, Topics(names.prefix).alerts)
        return len(got) >= expected and len(got)

    wait_for(done, timeout, f"{expected} alerts")
    # the changelog follows the alerts: wait until every borrower's last state is in it
    want = {b: dump_state(s) for b, s in result.states.items()}
    wait_for(lambda: _Diff.of(latest_by_key(broker.bootstrap, names.changelog), want), 60,
             "final states in the changelog")


class _Diff(str):
    """A falsy description of how two state maps differ (wait_for prints the last one on a timeout)."""

    def __bool__(self) -> bool:
        return self == "same"

    @classmethod
    def of(cls, got: dict[str, bytes], want: dict[str, bytes]) -> _Diff:
        if got == want:
            return cls("same")
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        differ = sorted(b for b in set(got) & set(want) if got[b] != want[b])
        first = differ[0] if differ else None
        return cls(f"missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)}), "
                   f"differing {differ[:5]} ({len(differ)})"
                   + (f"; {first}: got {got[first]!r}, want {want[first]!r}" if first else ""))


def test_stream_through_kafka_equals_replay(broker, names, portfolio, tmp_path):
    path, result = portfolio
    env = settings_env(broker, names, tmp_path / "w1")
    create_topics(_settings(env))
    _produce(env, path)
    w = Worker(env, tmp_path / "w1.log").start()
    try:
        _wait_all_alerts(broker, names, result, [w])
        _check_final(broker, names, result)
        schedule = latest_by_key(broker.bootstrap, Topics(names.prefix).schedule)
        final = {b: s for b, s in ((v.borrower_id, v) for v in result.views)}
        assert set(schedule) == {b for b, s in result.states.items() if s.profile is not None}
        for bid, raw in schedule.items():
            doc = json.loads(raw)
            assert doc["next_visit_due"] == (final[bid].next_visit_due.isoformat()
                                             if final[bid].next_visit_due else None)
            assert doc["tier"] == final[bid].tier
    finally:
        w.terminate()


@pytest.mark.parametrize("store", ["rocksdb://", "memory://"])
def test_crash_and_restart_loses_nothing(broker, names, portfolio, tmp_path, store):
    path, result = portfolio
    env = settings_env(broker, names, tmp_path / "w", MONITOR_BATCH_SIZE="50", MONITOR_STORE=store)
    create_topics(_settings(env))
    _produce(env, path)
    topic = Topics(names.prefix).alerts
    total = len(result.alerts)
    kills = 0
    for fraction in (0.2, 0.55):
        w = Worker(env, tmp_path / "w.log").start()
        wait_for(lambda f=fraction: len(alerts_by_id(broker.bootstrap, topic)[0]) >= total * f, 120,
                 f"{fraction:.0%} of the alerts before the kill")
        w.kill()  # SIGKILL mid-stream
        kills += 1
    w = Worker(env, tmp_path / "w.log").start()
    try:
        _wait_all_alerts(broker, names, result, [w])
        _check_final(broker, names, result)
        _, delivered = alerts_by_id(broker.bootstrap, topic)
        assert delivered >= total and kills == 2  # at least once; repeats carry the same id and content
    finally:
        w.terminate()


def test_dead_letter_gets_bad_messages_and_the_rest_is_processed(broker, names, tmp_path):
    from kafka import KafkaProducer

    from monitor.agents.runtime import partition_for

    src = tmp_path / "good.jsonl"
    write_simulation(simulate(60, 4, 8), src)
    expected = replay([src], default_policy())
    env = settings_env(broker, names, tmp_path / "w", MONITOR_MAX_MESSAGE_BYTES="65536")
    settings = _settings(env)
    create_topics(settings)
    topics = Topics(names.prefix)
    good_overdue = {"type": "overdue", "event_id": "bad-base", "borrower_id": "B000001",
                    "occurred_at": "2025-01-01T00:00:00Z", "account_id": "x", "product": "p",
                    "days_past_due": 1, "overdue_amount": 1}
    part = partition_for("B000001", settings.partitions)
    bad = [
        (b"{definitely not json", "not JSON"),
        (json.dumps({**good_overdue, "days_past_due": -3}).encode(), "days_past_due: must be >= 0"),
        (json.dumps({**good_overdue, "type": "weather"}).encode(), "type: unknown event type 'weather'"),
        (json.dumps({**good_overdue, "product": "z" * 300_000}).encode(), "larger than 65536"),
    ]
    producer = KafkaProducer(bootstrap_servers=[broker.bootstrap], max_request_size=2_000_000)
    for raw, _ in bad:
        producer.send(topics.feed("overdue"), raw, key=b"B000001", partition=part)
    producer.flush()
    producer.close()
    _produce(env, src)
    w = Worker(env, tmp_path / "w.log").start()
    try:
        _wait_all_alerts(broker, names, expected, [w])

        def dead() -> list[dict]:
            docs = [json.loads(r.value) for r in read_topic(broker.bootstrap, topics.dead_letter)]
            return docs if len(docs) >= len(bad) else []

        docs = wait_for(dead, 60, "dead letters")
        assert [d["offset"] for d in docs] == [0, 1, 2, 3]
        for d, (raw, reason) in zip(docs, bad):
            assert reason in d["reason"]
            assert d["topic"] == topics.feed("overdue") and d["partition"] == part
            assert d["value_bytes"] == len(raw)
        assert docs[3]["truncated"] is True and len(docs[3]["value_text"]) == 65536
        _check_final(broker, names, expected)
    finally:
        w.terminate()


def _both_own_partitions(*workers: Worker) -> bool:
    """Each worker's latest assignment (its last "recovered" log line) holds some partitions."""
    lasts = [w.log.read_text(errors="replace").split("recovered: partitions ")[1:] for w in workers]
    return all(last and not last[-1].startswith("[]") for last in lasts)


@contextmanager
def _two_workers(broker: Broker, names: Names, tmp_path: Path) -> Iterator[tuple[dict[str, str], Worker, Worker]]:
    """Topics created, workers a and b started (small batches), both owning partitions; both stopped at exit."""
    base = settings_env(broker, names, tmp_path / "a", MONITOR_BATCH_SIZE="50")
    create_topics(_settings(base))
    a = Worker(base, tmp_path / "a.log").start()
    b = Worker({**base, "MONITOR_DATA_DIR": str(tmp_path / "b")}, tmp_path / "b.log").start()
    try:
        wait_for(lambda: _both_own_partitions(a, b), 60, "both workers to own partitions")
        yield base, a, b
    finally:
        a.terminate()
        b.terminate()


def test_two_workers_share_the_partitions_and_one_leaving_hands_them_over(broker, names, portfolio, tmp_path):
    path, result = portfolio
    with _two_workers(broker, names, tmp_path) as (base, a, b):
        _produce(base, path)
        _wait_all_alerts(broker, names, result, [a, b])  # the two together decide what one replay does
        _check_final(broker, names, result)
        assert _both_own_partitions(a, b)  # and both kept their share throughout
        assert a.terminate() == 0, a.tail()  # a graceful leave: b takes a's partitions over
        assert (tmp_path / "a" / ".clean-shutdown").exists()  # so a's RocksDB store is reused next time
        later = tmp_path / "later.jsonl"
        write_simulation(simulate(400, 3, 22, start="2025-10-01"), later)
        both = replay([path, later], default_policy())
        _produce(base, later)
        _wait_all_alerts(broker, names, both, [b])
        _check_final(broker, names, both)


@pytest.mark.skipif(os.environ.get("MONITOR_SKIP_BROKER_RESTART") == "1", reason="asked to")
def test_broker_restart_under_a_running_worker(broker, names, tmp_path):
    if not broker.managed:
        pytest.skip("the broker was started outside the tests; cannot restart it")
    src = tmp_path / "e.jsonl"
    # The worker merges the feeds in event time and, without a watermark, waits for a feed it has not
    # seen on a partition: the first half must hold every feed on every partition (a calibrated
    # portfolio has few lawsuits and rating changes: 800 borrowers are enough for 3 months).
    write_simulation(simulate(800, 6, 31), src)
    lines = src.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[: len(lines) // 2]))
    second.write_bytes(b"".join(lines[len(lines) // 2:]))
    expected = replay([src], default_policy())
    env = settings_env(broker, names, tmp_path / "w")
    from monitor.agents.runtime import partition_for

    parts = _settings(env).partitions
    half = {(e["type"], partition_for(e["borrower_id"], parts)) for e in map(json.loads, lines[: len(lines) // 2])}
    assert len(half) == 6 * parts, "the first half misses a feed on some partition"
    create_topics(_settings(env))
    from monitor.produce import produce

    produce([first], _settings(env), watermark=False)
    w = Worker(env, tmp_path / "w.log").start()
    try:
        topic = Topics(names.prefix).alerts
        wait_for(lambda: len(alerts_by_id(broker.bootstrap, topic)[0]) > 0, 120, "first alerts")
        broker.stop()
        broker.start()
        produce([first, second], _settings(env))  # the whole file again: the first half are duplicates
        _wait_all_alerts(broker, names, expected, [w], timeout=240)
        _check_final(broker, names, expected)
    finally:
        w.terminate()


def test_graceful_stop_loses_nothing_and_applies_nothing_twice(broker, names, portfolio, tmp_path):
    """SIGTERM mid-stream: the batch in hand is finished and committed, so the restarted worker
    neither repeats an alert (nothing applied twice) nor misses one (nothing lost)."""
    path, result = portfolio
    env = settings_env(broker, names, tmp_path / "w", MONITOR_BATCH_SIZE="50")
    create_topics(_settings(env))
    _produce(env, path)
    topic = Topics(names.prefix).alerts
    total = len(result.alerts)
    for fraction in (0.25, 0.6):
        before = alerts_by_id(broker.bootstrap, topic)[1]
        log = tmp_path / "w.log"
        start = log.stat().st_size if log.exists() else 0
        w = Worker(env, log).start()
        # stopped once it handles signals (a SIGTERM while Python starts kills it outright) and is at work:
        # it has published alerts of its own, unless all were out before it started
        wait_for(lambda: b"[^Worker]: Ready" in log.read_bytes()[start:], 120, "the worker ready")

        def at_work(f: float = fraction) -> bool:
            ids, delivered = alerts_by_id(broker.bootstrap, topic)
            return len(ids) >= total * f and (delivered > before or len(ids) == total)

        wait_for(at_work, 120, f"{fraction:.0%} of the alerts, some from this worker, before the stop")
        code = w.terminate()
        assert code == 0, f"exit code {code}\n{w.tail()}"  # SIGTERM: a clean exit
        assert "stopped taking batches" in w.tail(200)
    w = Worker(env, tmp_path / "w.log").start()
    try:
        _wait_all_alerts(broker, names, result, [w])
        _check_final(broker, names, result)
        _, delivered = alerts_by_id(broker.bootstrap, topic)
        assert delivered == total  # each alert published exactly once across the two graceful stops
    finally:
        w.terminate()


@pytest.mark.parametrize("leave", ["sigterm", "sigkill"])
def test_a_worker_leaving_mid_stream_hands_its_partitions_over(broker, names, portfolio, tmp_path, leave):
    """Two workers share the stream; one leaves while events are still flowing (gracefully, or killed:
    then after the session timeout). The survivor takes its partitions over and the outcome is still
    exactly the replay's."""
    path, result = portfolio
    with _two_workers(broker, names, tmp_path) as (base, a, b):
        _produce(base, path)
        topic = Topics(names.prefix).alerts
        wait_for(lambda: len(alerts_by_id(broker.bootstrap, topic)[0]) >= len(result.alerts) * 0.3, 120,
                 "30% of the alerts before one worker leaves")
        if leave == "sigterm":
            assert a.terminate() == 0, a.tail()
        else:
            a.kill()
        # b holds them all (after a SIGKILL only once the session timed out; the stream may be done by then)
        wait_for(lambda: "recovered: partitions [0, 1, 2, 3]" in b.log.read_text(errors="replace"), 90,
                 "the survivor to take every partition over")
        _wait_all_alerts(broker, names, result, [b])
        _check_final(broker, names, result)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def test_a_worker_started_while_the_broker_is_down_waits_reports_not_ready_and_then_works(broker, names, tmp_path):
    """Issue 12: it used to exit 1 at once (and log some 250 lines a second while the broker was away)."""
    if not broker.managed:
        pytest.skip("the broker was started outside the tests; cannot stop it")
    src = tmp_path / "e.jsonl"
    write_simulation(simulate(60, 4, 41), src)
    expected = replay([src], default_policy())
    port = _free_port()
    env = settings_env(broker, names, tmp_path / "w", MONITOR_WEB_PORT=str(port))
    create_topics(_settings(env))
    broker.stop()
    log = tmp_path / "w.log"
    w = Worker(env, log).start()
    try:
        try:
            def waiting() -> bool:
                assert w.alive(), w.tail()
                status, body = _get(port, "/readyz")
                return status == 503 and "has not answered yet" in " ".join(body.get("missing", []))

            wait_for(waiting, 60, "/readyz to say the worker waits for the broker")
            assert _get(port, "/healthz") == (200, {"status": "alive"})
            wait_for(lambda: log.read_text().count("does not answer") >= 4, 60, "four attempts")
            assert w.alive()
            lines = log.read_text().splitlines()
            assert len(lines) <= 12, lines  # one line per attempt (pauses 1, 2, 4, 8 s ...), no flood
        finally:
            broker.start()
        _produce(env, src)
        _wait_all_alerts(broker, names, expected, [w], timeout=180)
        _check_final(broker, names, expected)
        wait_for(lambda: _get(port, "/readyz")[0] == 200, 60, "/readyz to answer 200")
    finally:
        w.terminate()


def test_a_feed_with_another_partition_count_refuses_the_start(broker, names, tmp_path):
    from kafka.admin import KafkaAdminClient, NewTopic

    env = settings_env(broker, names, tmp_path / "w")  # 4 partitions
    topics = Topics(names.prefix)
    admin = KafkaAdminClient(bootstrap_servers=[broker.bootstrap])
    try:
        admin.create_topics([NewTopic(topics.feed("lawsuit"), num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    report = dict(create_topics(_settings(env)))
    assert "NOT co-partitioned" in report[topics.feed("lawsuit")]
    w = Worker(env, tmp_path / "w.log").start()
    try:
        code = w.exited(120)
    finally:
        w.terminate()
    assert code == 2, w.tail()
    assert f"topics not co-partitioned: {topics.feed('lawsuit')} has 2 partitions, not 4" in w.tail()


def _dead_letters(broker: Broker, names: Names) -> list[dict]:
    return [json.loads(r.value) for r in read_topic(broker.bootstrap, Topics(names.prefix).dead_letter)]


@pytest.mark.skipif(os.environ.get("MONITOR_SKIP_BROKER_RESTART") == "1", reason="asked to")
def test_sigkill_right_after_a_broker_restart_rereads_nothing_as_stale(broker, names, portfolio, tmp_path):
    """Issue 12: a worker killed just after the broker came back used to read partitions again from
    offset 0 (the group coordinator, still loading, answered the committed-offset fetch with an error
    that aiokafka ignored) and dead-lettered thousands of valid events as stale. Twice over: broker
    restart, SIGKILL of the worker at once, a new worker; nothing may be dead-lettered, and the
    outcome is still exactly the replay's."""
    if not broker.managed:
        pytest.skip("the broker was started outside the tests; cannot restart it")
    path, result = portfolio
    env = settings_env(broker, names, tmp_path / "w", MONITOR_BATCH_SIZE="50")
    create_topics(_settings(env))
    _produce(env, path)
    topic = Topics(names.prefix).alerts
    total = len(result.alerts)
    for fraction in (0.25, 0.6):
        w = Worker(env, tmp_path / "w.log").start()
        wait_for(lambda f=fraction: len(alerts_by_id(broker.bootstrap, topic)[0]) >= total * f, 120,
                 f"{fraction:.0%} of the alerts before the broker restart")
        broker.stop()
        broker.start()
        w.kill()  # SIGKILL right after the broker is back
    w = Worker(env, tmp_path / "w.log").start()
    try:
        _wait_all_alerts(broker, names, result, [w], timeout=240)
        _check_final(broker, names, result)
        assert _dead_letters(broker, names) == []  # no valid event was ever dead-lettered
    finally:
        w.terminate()


def _readme_recipe() -> list[str]:
    """The commands of the README's streaming recipe (the first shell block of its section)."""
    section = (ROOT / "README.md").read_text().split("## Streaming through Kafka", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_streaming_recipe_as_written_equals_monitor_replay(broker, names, tmp_path):
    """Issue 12: followed literally, the recipe once published 66 alerts where monitor replay gives 921 (a
    wall-clock worker turned the history into stale dead letters). Its commands run here as written, in
    a directory holding a demo portfolio, against the tests' broker (only the broker's own start and
    stop are left to the tests, which manage it)."""
    demo = tmp_path / "demo-out"
    demo.mkdir()
    write_simulation(simulate(300, 12, 7), demo / "events.jsonl")
    script = ["set -e"]
    for command in _readme_recipe():
        if command.startswith(". .venv/bin/activate") or command.startswith("deploy/kafka/kafka.sh"):
            continue  # the monitor command is on PATH; the tests' broker runs already
        script.append(command)
        if command.endswith("&"):
            script.append("echo $! >> pids")
    assert any(c.startswith("monitor produce") for c in script) and any(c.endswith("&") for c in script)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "MONITOR_BROKER": broker.url, "MONITOR_TOPIC_PREFIX": names.prefix,
           "MONITOR_APP_ID": names.app_id, "MONITOR_SESSION_TIMEOUT": "6"}
    log = (tmp_path / "recipe.log").open("wb")
    pids: list[int] = []
    try:
        done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT, timeout=patient(300))
        pids = [int(x) for x in (tmp_path / "pids").read_text().split()]
        assert done.returncode == 0, (tmp_path / "recipe.log").read_text()[-3000:]
        want = {}
        for line in (tmp_path / "replay-out" / "alerts.jsonl").read_text().splitlines():
            doc = json.loads(line)
            want[doc["alert_id"]] = json.dumps(doc, sort_keys=True)
        assert len(want) > 100
        topic = Topics(names.prefix).alerts

        def all_there() -> bool:
            assert all(_alive(pid) for pid in pids), (tmp_path / "recipe.log").read_text()[-3000:]
            return len(alerts_by_id(broker.bootstrap, topic)[0]) >= len(want)

        wait_for(all_there, 300, f"the {len(want)} alerts of monitor replay")
        got, _ = alerts_by_id(broker.bootstrap, topic)
        assert got == want
        assert _dead_letters(broker, names) == []
    finally:
        for pid in pids:
            _stop(pid)
        log.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _stop(pid: int, timeout: float = 60.0) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: not _alive(pid), timeout, f"worker {pid} to stop")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)


def test_poison_messages_mid_stream_are_dead_lettered_and_the_rest_equals_replay(broker, names, portfolio,
                                                                                 tmp_path):
    """Issue 12's bad input, between two halves of a portfolio: a new borrower's profile disbursed
    9999-12-31 (it crash-looped every worker), a team name with a line break (it broke the calendar),
    an event dated 2199 and a watermark dated 9999 (they silenced a borrower and released everything),
    a watermark naming an unknown topic (it blocked every later one), notes with NUL, an ANSI escape and a
    bidi override, keyless messages on the right
    and on a wrong partition, an event id applied earlier with other content. Each is dead-lettered with a
    reason; nothing valid is; the outcome is exactly the replay's of the valid events."""
    from kafka import KafkaProducer

    from monitor._time import iso, parse_instant
    from monitor.produce import produce
    from monitor.topics import partition_for

    path, result = portfolio
    lines = path.read_bytes().splitlines(keepends=True)
    cut = parse_instant("2025-05-01T00:00:00Z")
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(x for x in lines if parse_instant(json.loads(x)["occurred_at"]) < cut))
    second.write_bytes(b"".join(x for x in lines if parse_instant(json.loads(x)["occurred_at"]) >= cut))
    env = settings_env(broker, names, tmp_path / "w", MONITOR_BATCH_SIZE="200")
    settings = _settings(env)
    create_topics(settings)
    topics = Topics(names.prefix)
    parts = settings.partitions
    produce([first], settings, watermark=False)
    w = Worker(env, tmp_path / "w.log").start()
    try:
        wait_for(lambda: len(alerts_by_id(broker.bootstrap, topics.alerts)[0]) > 0, 120, "the first alerts")
        known = json.loads(lines[0])  # a borrower with a profile
        bid = known["borrower_id"]
        profile = {**known, "event_id": "poison-profile", "borrower_id": "P999", "disbursed_at":
                   "9999-12-31T00:00:00+00:00", "occurred_at": "2025-04-30T00:00:00+00:00"}
        future = {"event_id": "poison-future", "type": "bureau_report", "borrower_id": bid,
                  "occurred_at": "2199-06-01T00:00:00+00:00", "max_external_dpd": 0, "external_overdue_amount": 0,
                  "hard_inquiries_30d": 0, "total_external_debt": 0, "guarantee_exposure": 0}
        keyless = {**future, "event_id": "poison-keyless", "occurred_at": "2025-04-30T00:00:00+00:00"}
        # an event id of the first half again, an hour later, with other content: a conflicting duplicate
        original = [d for d in map(json.loads, lines) if d["type"] == "bureau_report"
                    and parse_instant(d["occurred_at"]) < cut - 86_400_000_000][-1]  # recent: not stale
        conflicting = {**original, "occurred_at": iso(parse_instant(original["occurred_at"]) + 3_600_000_000),
                       "total_external_debt": original["total_external_debt"] + 12_345}
        poison = [  # (topic, partition, key, value, what the reason says)
            (topics.feed("loan_profile"), partition_for("P999", parts), b"P999", profile, ""),
            (topics.feed("bureau_report"), partition_for(bid, parts), bid.encode(), future, "future: 2199-06-01"),
            (topics.feed("loan_profile"), partition_for("P998", parts), b"P998",
             {**profile, "event_id": "poison-team", "borrower_id": "P998", "team": "T1\nX-WR-CALNAME:evil",
              "disbursed_at": "2025-04-30T00:00:00+00:00"}, "team"),
            (topics.feed("bureau_report"), partition_for(bid, parts), None, keyless, "no key"),
            (topics.feed("inspection_completed"), partition_for(bid, parts), bid.encode(),
             {"event_id": "poison-notes", "type": "inspection_completed", "borrower_id": bid, "team": known["team"],
              "occurred_at": "2025-04-30T00:00:00+00:00", "inspector": "i1", "outcome": "normal",
              "notes": "ok\x00 \x1b[31mred\x1b[0m \u202egnp.exe"}, "notes"),
            (topics.feed("bureau_report"), partition_for(original["borrower_id"], parts),
             original["borrower_id"].encode(), conflicting, "conflicting duplicate"),
            (topics.feed("bureau_report"), (partition_for(bid, parts) + 1) % parts, None, keyless, "no key"),
            (topics.clock, 0, None, {"at": "2025-06-01T00:00:00Z", "offsets": {f"{names.prefix}gossip": 1}},
             "names topics that are not input feeds"),
            (topics.clock, 1, None, {"at": "9999-01-01T00:00:00Z", "offsets": {}}, "watermark: future"),
        ]
        producer = KafkaProducer(bootstrap_servers=[broker.bootstrap])
        sent = []
        for topic, partition, key, value, reason in poison:
            meta = producer.send(topic, json.dumps(value).encode(), key=key, partition=partition).get(timeout=patient(30))
            sent.append(((topic, meta.partition, meta.offset), reason))
        producer.flush()
        producer.close()
        produce([second], settings)
        _wait_all_alerts(broker, names, result, [w], timeout=240)
        _check_final(broker, names, result)

        def all_dead() -> list[dict] | bool:
            docs = _dead_letters(broker, names)
            return docs if len(docs) >= len(poison) else False

        docs = wait_for(all_dead, 60, "the poison messages' dead letters")
        got = {(d["topic"], d["partition"], d["offset"]): d["reason"] for d in docs}
        assert set(got) == {where for where, _ in sent}  # those, and no valid event
        for where, reason in sent:
            assert reason in got[where], (where, got[where])
        assert w.alive()
    finally:
        w.terminate()


def test_a_fetch_made_before_a_rebalance_is_dropped_and_the_outcome_stays_exact(broker, names, portfolio, tmp_path):
    """Issue 15: the consumer group generation guard of Faust's getmany, restored in the worker's own
    fetch loop. Worker a holds each fetch for four seconds before handing it on
    (MONITOR_DEBUG_FETCH_PAUSE); worker b joins while a holds fetches of the second half of the
    portfolio, so the group rebalances with a fetch in hand: that fetch belongs to the previous
    generation and is dropped (the new owners read those partitions on from their start). The two
    workers still decide exactly what replay does."""
    from monitor._time import parse_instant
    from monitor.produce import produce

    path, result = portfolio
    lines = path.read_bytes().splitlines(keepends=True)
    cut = parse_instant("2025-04-01T00:00:00Z")
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(x for x in lines if parse_instant(json.loads(x)["occurred_at"]) < cut))
    second.write_bytes(b"".join(x for x in lines if parse_instant(json.loads(x)["occurred_at"]) >= cut))
    base = settings_env(broker, names, tmp_path / "a", MONITOR_BATCH_SIZE="500")
    create_topics(_settings(base))
    produce([first], _settings(base), watermark=False)
    topic = Topics(names.prefix).alerts
    a = Worker({**base, "MONITOR_DEBUG_FETCH_PAUSE": "4"}, tmp_path / "a.log").start()
    b = Worker({**base, "MONITOR_DATA_DIR": str(tmp_path / "b")}, tmp_path / "b.log")
    try:
        wait_for(lambda: len(alerts_by_id(broker.bootstrap, topic)[0]) > 0, 180, "a's first alerts")
        b.start()
        produce([second], _settings(base))  # a fetches these and holds each fetch while b joins
        wait_for(lambda: "dropped a fetch of consumer group generation" in a.log.read_text(errors="replace"), 180,
                 "a to drop a fetch it held across the rebalance")
        _wait_all_alerts(broker, names, result, [a, b], timeout=400)
        _check_final(broker, names, result)
        assert _dead_letters(broker, names) == []
    finally:
        a.terminate()
        b.terminate()
