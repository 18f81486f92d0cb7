"""How long a worker killed with SIGKILL takes to be ready again, with a million borrowers in its store.

    python bench/worker_restart_bench.py [--borrowers 1000000] [--port 29168] [--restarts 2]

Issue 15's figure (goal: ready in under 60 s). Steps, all against a real broker (started here with
deploy/kafka/kafka.sh on ``--port``, stopped and wiped at the end, unless one answers there):

1. fresh topics (8 partitions) and one loan profile per borrower (``--borrowers``), published with
   aiokafka (acks=all), keyed by borrower;
2. one ``monitor worker`` (wall clock, rocksdb://) applies them all: the wait ends when every input
   partition is committed to its end;
3. the worker is killed with SIGKILL, its data directory kept, and started again; the figure is the
   time from the new process's start until ``/readyz`` answers 200 (and, from its log, until its
   table was taken over: "recovered: ..."), repeated ``--restarts`` times.

It prints the borrowers in the table, the store's size on disk, the times, the new process's peak
resident memory and the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker_bench import Kafka, Proc, clean_env, log, rss_mb

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 8
GOAL_S = 60.0  # issue 15: ready in under a minute


def _profile(i: int) -> tuple[bytes, bytes]:
    bid = f"R{i:07d}"
    doc = {"event_id": f"rb-{i}", "type": "loan_profile", "borrower_id": bid,
           "occurred_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T08:00:00+08:00", "source": "core-banking",
           "segment": "small", "industry": "trade", "branch": f"b{i % 40:02d}", "team": f"t{i % 80:02d}",
           "exposure": 100_000.0 + (i % 997) * 1000.0, "grade": "BBB", "product": "working_capital",
           "mitigation": "secured", "disbursed_at": "2024-06-01T00:00:00+08:00"}
    return bid.encode(), json.dumps(doc).encode()


async def _publish(bootstrap: str, topic: str, n: int) -> float:
    from aiokafka import AIOKafkaProducer

    started = time.monotonic()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=50,
                                max_batch_size=524_288)
    await producer.start()
    try:
        pending = []
        for i in range(n):
            key, value = _profile(i)
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                if i % 200_000 < 20_000:
                    log(f"  published {i + 1:,} profiles")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _worker(env: dict[str, str], logfile: Path, name: str) -> Proc:
    return Proc(name, [sys.executable, "-m", "monitor", "worker", "--loglevel", "info"], env, logfile, ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=1_000_000)
    ap.add_argument("--port", type=int, default=29168)
    ap.add_argument("--web-port", type=int, default=29167)
    ap.add_argument("--kafka-data", type=Path, default=Path("/tmp/wrb-kafka"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/wrb"))
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--load-timeout", type=float, default=3600.0)
    args = ap.parse_args()
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so that the finally block stops the worker and broker
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load0 = os.getloadavg()
    kafka = Kafka(args.port, args.kafka_data)
    worker: Proc | None = None
    tag = uuid.uuid4().hex[:6]
    prefix, app_id = f"rb{tag}.", f"rb{tag}"
    data = args.work / f"data-{tag}"
    args.work.mkdir(parents=True, exist_ok=True)
    env = clean_env(MONITOR_BROKER=f"kafka://{kafka.bootstrap}", MONITOR_TOPIC_PREFIX=prefix, MONITOR_APP_ID=app_id,
                    MONITOR_PARTITIONS=str(PARTITIONS), MONITOR_CLOCK="wall", MONITOR_STORE="rocksdb://",
                    MONITOR_DATA_DIR=str(data), MONITOR_WEB_PORT=str(args.web_port))
    results: list[str] = []
    readies: list[float] = []
    try:
        kafka.start()
        from monitor.settings import Settings
        from monitor.topics import Topics, create_topics

        create_topics(Settings(broker=f"kafka://{kafka.bootstrap}", topic_prefix=prefix, app_id=app_id,
                               partitions=PARTITIONS))
        topics = Topics(prefix)
        log(f"publishing {args.borrowers:,} loan profiles to {topics.feed('loan_profile')}")
        took = asyncio.run(_publish(kafka.bootstrap, topics.feed("loan_profile"), args.borrowers))
        log(f"  published in {took:.0f} s")
        from kafka import TopicPartition

        inputs = [TopicPartition(t, p) for t in topics.inputs for p in range(PARTITIONS)]
        ends = kafka.end_offsets(topics.inputs, PARTITIONS)
        worker = _worker(env, args.work / f"worker-{tag}.log", "load")
        started = time.monotonic()
        while True:
            worker.check()
            done = kafka.committed(app_id, inputs)
            applied = sum(done.values())
            if all(done[tp] >= ends[tp] for tp in inputs):
                break
            if time.monotonic() - started > args.load_timeout:
                raise RuntimeError(f"the worker applied {applied:,} of {sum(ends.values()):,} in time")
            time.sleep(2)
        load_s = time.monotonic() - started
        log(f"  applied {sum(ends.values()):,} profiles in {load_s:.0f} s ({sum(ends.values()) / load_s:,.0f}/s)")
        for attempt in range(1, args.restarts + 1):
            os.killpg(worker.pid, signal.SIGKILL)
            worker.proc.wait(timeout=60)
            size = _size_mb(data)
            logfile = args.work / f"worker-{tag}-restart{attempt}.log"
            worker = _worker(env, logfile, f"restart {attempt}")
            t0 = worker.started
            peak = 0.0
            while not _ready(args.web_port):
                worker.check()
                peak = max(peak, rss_mb(worker.pid))
                if time.monotonic() - t0 > 900:
                    raise RuntimeError(f"not ready after 900 s:\n{worker.tail()}")
                time.sleep(0.2)
            ready_s = time.monotonic() - t0
            text = logfile.read_text(errors="replace")
            found = re.findall(r"recovered: partitions \[[^]]*\], (\d+) borrowers in the table", text)
            took_over = "?"
            for line in text.splitlines():
                if "recovered: partitions" in line:
                    stamp = json.loads(line)["time"]
                    took_over = stamp
                    break
            borrowers = f"{int(found[-1]):,}" if found else "?"
            line = (f"restart {attempt} after SIGKILL: ready (/readyz 200) in {ready_s:.1f} s; "
                    f"{borrowers} borrowers in the table; store {size:,.0f} MB on disk; "
                    f"peak RSS {peak:,.0f} MB; table taken over at {took_over}")
            log(line)
            results.append(line)
            readies.append(ready_s)
    finally:
        if worker is not None:
            worker.stop()
        kafka.stop()
        subprocess.run(["rm", "-rf", str(data)], check=False)
    load1 = os.getloadavg()
    print(f"\nworker restart bench: {args.borrowers:,} borrowers, {PARTITIONS} partitions, os.cpu_count() = "
          f"{os.cpu_count()}, load average at start {load0[0]:.1f}, at end {load1[0]:.1f}")
    for line in results:
        print("  " + line)
    worst = max(readies, default=float("nan"))
    verdict = "met" if readies and worst < GOAL_S else "NOT met"
    print(f"goal: ready after SIGKILL with {args.borrowers:,} borrowers in the store in < {GOAL_S:.0f} s | "
          f"measured: slowest of {len(readies)} restarts {worst:.1f} s | {verdict} "
          f"(load average at start {load0[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
