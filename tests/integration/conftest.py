"""The real Kafka broker for integration tests.

``MONITOR_TEST_BROKER=HOST:PORT`` names a running broker (``.ci/run`` starts one
with deploy/kafka/kafka.sh). Otherwise the tests start their own with
deploy/kafka/kafka.sh on a spare port and stop it at the end. When no broker
can be had, the tests fail if ``CI`` or ``MONITOR_REQUIRE_BROKER`` is set, and
are skipped (with the reason) otherwise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.integration.kafka_harness import Broker, Names, kafka_timeouts, patient, reachable

REQUIRED = bool(os.environ.get("CI") or os.environ.get("MONITOR_REQUIRE_BROKER"))


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"Kafka broker required but not available: {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker: {reason} (set MONITOR_TEST_BROKER or install Java and Maven)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test against the broker may run up to :func:`patient` of pyproject's 600 s (pytest-timeout),
    unless it sets its own limit: its waits are that patient too."""
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(patient(600)))


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    given = os.environ.get("MONITOR_TEST_BROKER")
    if given:
        if not reachable(given):
            _unavailable(f"MONITOR_TEST_BROKER={given} does not answer")
        managed_env = {k: v for k, v in os.environ.items() if k.startswith("KAFKA_")}
        yield Broker(given, managed=bool(managed_env.get("KAFKA_DATA_DIR")), env=managed_env)
        return
    if shutil.which("java") is None or shutil.which("mvn") is None:
        _unavailable("java or mvn not found to start one")
    data = tempfile.mkdtemp(prefix="monitor-test-kafka-")
    port = int(os.environ.get("MONITOR_TEST_KAFKA_PORT", "29092"))
    env = {"KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1), "KAFKA_DATA_DIR": data,
           "KAFKA_AUTO_CREATE_TOPICS": "false", **kafka_timeouts()}
    b = Broker(f"127.0.0.1:{port}", managed=True, env=env)
    try:
        b.start()
    except AssertionError as exc:
        _unavailable(str(exc))
    try:
        yield b
    finally:
        b._sh("stop", "--wipe")


@pytest.fixture
def names() -> Names:
    return Names()
