"""The worker on a three-broker KRaft cluster (deploy/kafka/kafka.sh cluster), as production runs it.

Topics are created with replication factor 3 and ``min.insync.replicas`` 2 from the settings, and every
producer writes with ``acks=all`` (and idempotence). The broker that leads most partitions is killed
(SIGKILL) mid-stream: leadership moves to the other two, the worker carries on, and the outcome still
equals ``monitor replay``, with nothing lost and nothing dead-lettered.

``MONITOR_TEST_CLUSTER=HOST:PORT,HOST:PORT,HOST:PORT`` names a running cluster (then no broker is
killed: the test needs its own); otherwise the cluster starts on ``MONITOR_TEST_CLUSTER_PORT`` (default:
the single test broker's port + 2; six ports from there) and is stopped at the end.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.settings import Settings
from monitor.simulate import simulate, write_simulation
from monitor.topics import Topics, create_topics
from tests.integration.conftest import _unavailable
from tests.integration.kafka_harness import (
    KAFKA_SH,
    Broker,
    Names,
    Worker,
    alerts_by_id,
    kafka_timeouts,
    patient,
    settings_env,
    wait_for,
)
from tests.integration.test_worker import _check_final, _dead_letters, _wait_all_alerts

pytestmark = pytest.mark.integration


@dataclass
class Cluster:
    nodes: list[str]  # HOST:PORT of nodes 1, 2, 3
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return ",".join(f"kafka://{n}" for n in self.nodes)

    def sh(self, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["bash", str(KAFKA_SH), "cluster", *args],
                              env={**os.environ, **kafka_timeouts(), **self.env}, capture_output=True, text=True,
                              timeout=patient(timeout))
        if done.returncode != 0:
            raise AssertionError(f"kafka.sh cluster {' '.join(args)} failed: {done.stderr[-3000:]}")
        return done


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if os.environ.get("MONITOR_TEST_CLUSTER"):
        pytest.skip("MONITOR_TEST_CLUSTER names a running cluster; this test kills one of its brokers")
    if shutil.which("java") is None or shutil.which("mvn") is None:
        _unavailable("java or mvn not found to start one")
    single = int(os.environ.get("MONITOR_TEST_KAFKA_PORT", "29092"))
    base = int(os.environ.get("MONITOR_TEST_CLUSTER_PORT", str(single + 2)))
    data = tempfile.mkdtemp(prefix="monitor-test-cluster-")
    c = Cluster([f"127.0.0.1:{base + 2 * i}" for i in range(3)],
                {"KAFKA_PORT": str(base), "KAFKA_DATA_DIR": data, "KAFKA_AUTO_CREATE_TOPICS": "false"})
    try:
        c.sh("start")
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        try:
            c.sh("stop", "--wipe", timeout=120)
        finally:
            _unavailable(str(exc))
    try:
        yield c
    finally:
        c.sh("stop", "--wipe", timeout=300)


def _leaders(bootstrap: str, topics: list[str]) -> collections.Counter[int]:
    """How many of ``topics``' partitions each node leads."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    try:
        return collections.Counter(p["leader_id"] for d in admin.describe_topics(topics) for p in d["partitions"])
    finally:
        admin.close()


def _replication(bootstrap: str, topics: list[str]) -> set[tuple[int, str]]:
    """(replicas, min.insync.replicas) of each of ``topics``."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    try:
        replicas = {d.get("name", d.get("topic")): min(len(p["replica_nodes"]) for p in d["partitions"])
                    for d in admin.describe_topics(topics)}
        # the topic configs set on purpose (kafka-python 3: {type: {name: {key: {"value": ...}}}})
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])["topic"]
        return {(replicas[t], str(configs[t].get("min.insync.replicas", {}).get("value"))) for t in topics}
    finally:
        admin.close()


def test_killing_the_broker_that_leads_most_partitions_mid_stream_loses_nothing(cluster, names: Names, tmp_path):
    src = tmp_path / "events.jsonl"
    write_simulation(simulate(300, 9, 23), src)
    result = replay([src], default_policy())
    broker = Broker(cluster.nodes[0], managed=False)
    env = settings_env(broker, names, tmp_path / "w", MONITOR_BROKER=cluster.url, MONITOR_REPLICATION_FACTOR="3",
                       MONITOR_MIN_INSYNC_REPLICAS="2", MONITOR_BATCH_SIZE="200")
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    settings = Settings(**{keys[k]: v for k, v in env.items() if k in keys})
    create_topics(settings)
    topics = Topics(names.prefix)
    mine = [*topics.inputs, topics.clock, topics.alerts, topics.schedule, topics.dead_letter, topics.borrowers,
            names.changelog]
    assert _replication(cluster.nodes[0], mine) == {(3, "2")}

    from monitor.produce import produce

    produce([src], settings)
    w = Worker(env, tmp_path / "w.log").start()
    try:
        wait_for(lambda: len(alerts_by_id(cluster.nodes[0], topics.alerts)[0]) >= len(result.alerts) * 0.3, 240,
                 "30% of the alerts before a broker is killed")
        victim, led = _leaders(cluster.nodes[0], mine).most_common(1)[0]
        assert led > 0
        cluster.sh("kill", str(victim))
        survivor = cluster.nodes[(victim % 3)]  # a node that is still up
        def moved() -> bool:
            try:
                return victim not in _leaders(survivor, mine)
            except Exception:  # noqa: BLE001 - the admin client may still try the dead node: ask again
                return False

        wait_for(moved, 120, f"leadership to leave node {victim}")
        alive = Broker(survivor, managed=False)
        _wait_all_alerts(alive, names, result, [w], timeout=400)
        _check_final(alive, names, result)
        assert _dead_letters(alive, names) == []
        assert w.alive()
    finally:
        w.terminate()
        cluster.sh("start-node", str(victim) if "victim" in locals() else "1")
