"""Helpers for tests against a real Kafka broker: the broker, worker processes, reading topics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"

#: How many times longer than on a quiet machine any wait of these tests may last (MONITOR_TEST_PATIENCE,
#: default 3). Every wait is on a condition and ends as soon as it holds, so a generous deadline costs
#: nothing when things work; it only keeps a loaded 2-core machine (several suites, benchmarks and
#: brokers at once, where a worker may get a tenth of a core) from failing a test that was merely slow.
#: Nothing the tests assert depends on it.
PATIENCE = max(1.0, float(os.environ.get("MONITOR_TEST_PATIENCE", "3")))


def patient(seconds: float) -> float:
    """``seconds`` (what a wait takes on a quiet machine, with room) times :data:`PATIENCE`."""
    return seconds * PATIENCE


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline.

    ``timeout`` is what the wait may take on a quiet machine; the deadline is :func:`patient` of it."""
    limit = patient(timeout)
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {limit:.0f} s waiting for {what} (last: {last!r})")


def kafka_timeouts() -> dict[str, str]:
    """deploy/kafka/kafka.sh's own start and stop deadlines, made as patient as the tests' waits."""
    return {"KAFKA_START_TIMEOUT": str(int(patient(90))), "KAFKA_STOP_TIMEOUT": str(int(patient(60)))}


@dataclass
class Broker:
    """A broker the tests may use; ``managed`` when the tests started it (and may restart it)."""

    bootstrap: str
    managed: bool
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def _sh(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(KAFKA_SH), *args], env={**os.environ, **kafka_timeouts(), **self.env},
                              capture_output=True, text=True, timeout=patient(timeout))

    def stop(self) -> None:
        done = self._sh("stop")
        if done.returncode != 0:
            raise AssertionError(f"kafka.sh stop failed: {done.stderr[-2000:]}")

    def start(self) -> None:
        done = self._sh("start")
        if done.returncode != 0:
            raise AssertionError(f"kafka.sh start failed: {done.stderr[-2000:]}")


def reachable(bootstrap: str) -> bool:
    import socket

    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


class Names:
    """Unique topic prefix and app id per test, so tests never see each other's data."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.prefix = f"it{tag}."
        self.app_id = f"it{tag}"

    @property
    def changelog(self) -> str:
        return f"{self.app_id}-borrowers-changelog"


class Worker:
    """A ``monitor worker`` process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "worker", "--loglevel", os.environ.get("MONITOR_TEST_LOGLEVEL", "info")],
                                     env={**os.environ, **self.env}, stdout=fh, stderr=subprocess.STDOUT,
                                     cwd=ROOT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=patient(30))

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, and the exit code once it stopped (SIGKILL after :func:`patient` of ``timeout``)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=patient(timeout))
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=patient(30))
        return self.proc.returncode

    def exited(self, timeout: float) -> int:
        """The exit code of a worker expected to stop by itself (fails, with its log, if it does not)."""
        assert self.proc is not None
        wait_for(lambda: self.proc is not None and self.proc.poll() is not None, timeout,
                 f"the worker to exit; log:\n{self.tail()}", interval=0.5)
        return self.proc.returncode

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def settings_env(broker: Broker, names: Names, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "MONITOR_BROKER": broker.url,
        "MONITOR_TOPIC_PREFIX": names.prefix,
        "MONITOR_APP_ID": names.app_id,
        "MONITOR_PARTITIONS": "4",
        "MONITOR_CLOCK": "event",
        "MONITOR_WEB_PORT": "0",
        "MONITOR_DATA_DIR": str(data_dir),
        "MONITOR_SESSION_TIMEOUT": "6",
    }
    env.update(extra)
    return env


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Any]:
    """Every message of ``topic`` from the beginning to its current end (within :func:`patient` of
    ``timeout``)."""
    from kafka import KafkaConsumer, TopicPartition

    timeout = patient(timeout)
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=int(timeout * 1000))
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout} s")
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def alerts_by_id(bootstrap: str, topic: str) -> tuple[dict[str, str], int]:
    """Alert JSON by alert id, and how many messages there were (duplicates included).
    Fails if two messages with the same id differ."""
    seen: dict[str, str] = {}
    count = 0
    for rec in read_topic(bootstrap, topic):
        count += 1
        doc = json.loads(rec.value)
        text = json.dumps(doc, sort_keys=True)
        prev = seen.setdefault(doc["alert_id"], text)
        if prev != text:
            raise AssertionError(f"alert {doc['alert_id']} delivered twice with different content")
    return seen, count


def latest_by_key(bootstrap: str, topic: str) -> dict[str, bytes]:
    """The latest value per key (the worker's own bookkeeping keys, starting with NUL, left out)."""
    out: dict[str, bytes] = {}
    for rec in read_topic(bootstrap, topic):
        if rec.key.startswith(b"\x00"):
            continue
        if rec.value is None:
            out.pop(rec.key.decode(), None)
        else:
            out[rec.key.decode()] = rec.value
    return out
