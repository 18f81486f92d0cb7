"""Issue 15's cluster settings, offline: ``monitor topics create`` takes the replication factor and
``min.insync.replicas`` from the settings (and says so in ``--help``), and every producer that writes
to the topics waits for all in-sync replicas and is idempotent. The three-broker integration test
(tests/integration/test_cluster.py) runs them on a real cluster."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from monitor.cli import cli
from monitor.settings import KafkaSettings, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_topics_create_help_names_the_replication_settings_and_their_variables():
    result = CliRunner().invoke(cli, ["topics", "create", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "--replication-factor INTEGER" in text and "MONITOR_REPLICATION_FACTOR" in text
    assert "--min-insync-replicas INTEGER" in text and "MONITOR_MIN_INSYNC_REPLICAS" in text
    assert "acks=all" in text


def test_the_replication_settings_come_from_the_environment_and_are_checked(monkeypatch):
    monkeypatch.setenv("MONITOR_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("MONITOR_MIN_INSYNC_REPLICAS", "2")
    s = Settings()
    assert (s.replication_factor, s.min_insync_replicas) == (3, 2)
    assert KafkaSettings().min_insync_replicas == 2  # the desk's settings share the base
    monkeypatch.setenv("MONITOR_MIN_INSYNC_REPLICAS", "4")
    with pytest.raises(ValidationError, match=r"min_insync_replicas \(4\) cannot exceed replication_factor \(3\)"):
        Settings()
    with pytest.raises(ValidationError):
        Settings(replication_factor=0, min_insync_replicas=1)


def test_topics_create_asks_the_broker_for_the_settings_replication(monkeypatch):
    """create_topics hands the settings' replication factor and min.insync.replicas to every topic it makes,
    the worker's internal ones too (an admin client that records, in place of the broker)."""
    import kafka.admin

    from monitor.topics import Topics, create_topics

    made: list = []

    class Admin:
        def __init__(self, **_: object) -> None:
            pass

        def list_topics(self) -> list[str]:
            return []

        def create_topics(self, topics, timeout_ms=None):  # type: ignore[no-untyped-def]
            made.extend(topics)

        def describe_topics(self, names):  # type: ignore[no-untyped-def]
            return [{"topic": n, "partitions": [{"replicas": [1, 2, 3]}] * 4} for n in names]

        def close(self) -> None:
            pass

    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", Admin)
    settings = Settings(partitions=4, replication_factor=3, min_insync_replicas=2, app_id="rep", topic_prefix="r.")
    report = dict(create_topics(settings))
    names = {t.name for t in made}
    assert names == {s.name for s in Topics("r.").specs()} | {n for n, _, _ in Topics("r.").internal("rep")}
    assert {t.replication_factor for t in made} == {3}
    assert {t.topic_configs["min.insync.replicas"] for t in made} == {"2"}
    assert all("3 replicas" in what for what in report.values()), report


def _producer_calls() -> list[tuple[str, int, dict[str, object], bool]]:
    """Every AIOKafkaProducer(...) of the product: (file, line, its constant keyword arguments, whether the
    function that makes it sends anything)."""
    found = []
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            inner = [n for n in ast.walk(fn) if n is not fn and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            nested = {id(n) for f in inner for n in ast.walk(f)}
            nodes = [n for n in ast.walk(fn) if id(n) not in nested]
            sends = any(isinstance(n, ast.Attribute) and n.attr in ("send", "send_and_wait", "send_batch")
                        for n in nodes) or any(isinstance(n, ast.Attribute) and n.attr.startswith("_producer")
                                               for n in nodes)
            for node in nodes:
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == \
                        "AIOKafkaProducer":
                    kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
                    found.append((path.relative_to(ROOT).as_posix(), node.lineno, kw, sends))
    return found


def test_every_producer_that_writes_waits_for_all_replicas_and_is_idempotent():
    calls = _producer_calls()
    assert len(calls) >= 4 and any(c[0] == "monitor/produce.py" for c in calls)
    unsafe = [c for c in calls if c[2].get("acks") != "all" or c[2].get("enable_idempotence") is not True]
    # only a producer made to read metadata (partitions_for) may leave them out: its function sends nothing
    assert [c for c in unsafe if c[3] or c[0] == "monitor/produce.py"] == []
    assert len(unsafe) <= 1, unsafe
