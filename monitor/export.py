"""``monitor export``: the input topics back to a JSONL file, for ``monitor produce`` or ``monitor replay``.

Reads every partition of the chosen input topics from the beginning up to the end offsets they had when
the export started, and writes one event per line: each message's JSON, compact, in (topic, partition,
offset) order (``monitor produce`` and ``monitor replay`` put them in ``occurred_at`` order). Messages
that are not a JSON object (the worker dead-lettered them) go to ``OUT.rejects.jsonl`` with where they
were, not to the events. The same topics give the same file, byte for byte.

Used to move to more partitions (docs/operations.md#scale): export the old topics, create a new set with
``--topic-prefix``, ``monitor produce`` the file into them, recompute with a new ``--app-id``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import click

from monitor.settings import Settings
from monitor.topics import FEEDS, Topics

__all__ = ["ExportResult", "export_command", "export_topics"]


@dataclass(slots=True)
class ExportResult:
    written: int = 0
    rejected: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def export_topics(settings: Settings, out: Path, feeds: list[str] | None = None, timeout: float = 60.0) -> ExportResult:
    """Write the messages of the input topics (``feeds``: short names, default all) to ``out``."""
    from kafka import KafkaConsumer, TopicPartition

    topics = Topics(settings.topic_prefix)
    names = [topics.feed(kind) for kind in FEEDS] if not feeds else [topics.prefix + f for f in feeds]
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
                             client_id="monitor-export", consumer_timeout_ms=int(timeout * 1000))
    result = ExportResult()
    rejects_path = out.with_name(out.name.removesuffix(".jsonl") + ".rejects.jsonl")
    try:
        tps = []
        for name in names:
            parts = consumer.partitions_for_topic(name)
            if parts is None:
                raise click.ClickException(f"topic {name} does not exist (monitor topics create?)")
            tps.extend(TopicPartition(name, p) for p in sorted(parts))
        ends = consumer.end_offsets(tps)
        records: dict[TopicPartition, list[tuple[int, bytes | None]]] = {tp: [] for tp in tps}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        todo = {tp for tp in tps if ends[tp] > 0}
        while todo:
            batch = consumer.poll(timeout_ms=1000)
            if not batch and all(consumer.position(tp) >= ends[tp] for tp in todo):
                break
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset < ends[tp]:
                        records[tp].append((m.offset, m.value))
                if consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        consumer.close()
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w", encoding="utf-8") as fh, rejects_path.open("w", encoding="utf-8") as rej:
        for tp in tps:
            for offset, value in records[tp]:
                try:
                    doc = json.loads(value) if value is not None else None
                except ValueError:
                    doc = None
                if not isinstance(doc, dict):
                    result.rejected += 1
                    where = {"topic": tp.topic, "partition": tp.partition, "offset": offset}
                    raw = None if value is None else base64.b64encode(value).decode()
                    rej.write(json.dumps({**where, "reason": "not a JSON object", "value_base64": raw}) + "\n")
                    continue
                fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
                result.written += 1
                result.by_topic[tp.topic] = result.by_topic.get(tp.topic, 0) + 1
    tmp.replace(out)
    if result.rejected == 0:
        rejects_path.unlink(missing_ok=True)
    return result


@click.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--broker", help="Kafka URL(s), kafka://HOST:PORT[,...] [env MONITOR_BROKER]")
@click.option("--topic-prefix", help="Prefix of the topics to read [env MONITOR_TOPIC_PREFIX]")
@click.option("--feed", "feeds", multiple=True, type=click.Choice(sorted(FEEDS.values())),
              help="Only this feed (repeatable); default: every input topic")
def export_command(out: Path, broker: str | None, topic_prefix: str | None, feeds: tuple[str, ...]) -> None:
    """Write the input topics' events to OUT (JSONL), for monitor produce or monitor replay."""
    given = {k: v for k, v in (("broker", broker), ("topic_prefix", topic_prefix)) if v is not None}
    result = export_topics(Settings(**given), out, list(feeds) or None)
    for topic, n in sorted(result.by_topic.items()):
        click.echo(f"{topic:<40} {n:>10,}")
    click.echo(f"wrote {result.written:,} events to {out}" +
               (f"; {result.rejected:,} messages that are not JSON objects to "
                f"{out.name.removesuffix('.jsonl')}.rejects.jsonl" if result.rejected else ""))
