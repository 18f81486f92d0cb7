"""Command-line shell of the streaming runtime: ``monitor worker | topics create | produce``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from monitor._cli_options import Option, add_options, settings_from_options
from monitor.settings import Settings

__all__ = ["worker", "topics", "produce"]

_OPTIONS: list[Option] = [
    ("--broker", {"help": "Kafka URL(s), kafka://HOST:PORT[,...] [env MONITOR_BROKER]"}),
    ("--topic-prefix", {"help": "Prefix of every topic name [env MONITOR_TOPIC_PREFIX]"}),
    ("--partitions", {"type": int, "help": "Partitions of every topic [env MONITOR_PARTITIONS]"}),
    ("--app-id", {"help": "Consumer group and changelog prefix [env MONITOR_APP_ID]"}),
    ("--store", {"type": click.Choice(["rocksdb://", "memory://"]), "help": "Table store [env MONITOR_STORE]"}),
    ("--data-dir", {"type": click.Path(file_okay=False, path_type=Path),
                    "help": "Where the worker keeps its RocksDB tables [env MONITOR_DATA_DIR]"}),
    ("--clock", {"type": click.Choice(["wall", "event"]), "help": "wall (production) or event [env MONITOR_CLOCK]"}),
    ("--policy", {"type": click.Path(dir_okay=False, path_type=Path), "help": "Policy file [env MONITOR_POLICY]"}),
    ("--web-port", {"type": int, "help": "HTTP port for health and metrics, 0 = off [env MONITOR_WEB_PORT]"}),
    ("--web-host", {"help": "Address the web port listens on; default 127.0.0.1, 0.0.0.0 for every interface "
                    "[env MONITOR_WEB_HOST]"}),
    ("--metrics-token-file", {"type": click.Path(dir_okay=False, path_type=Path),
                              "help": "File with the bearer token /metrics asks for; default: none asked "
                              "[env MONITOR_METRICS_TOKEN_FILE]"}),
    ("--replication-factor", {"type": int, "help": "Replicas of every topic `topics create` makes; default 1, "
                              "3 on a production cluster [env MONITOR_REPLICATION_FACTOR]"}),
    ("--min-insync-replicas", {"type": int, "help": "min.insync.replicas of every topic `topics create` makes: "
                               "replicas that must have a write before it is acknowledged (producers use acks=all); "
                               "default 1, 2 with 3 replicas [env MONITOR_MIN_INSYNC_REPLICAS]"}),
    ("--batch-size", {"type": int, "help": "Most input messages per fetch (one batch); default 20000 "
                      "[env MONITOR_BATCH_SIZE]"}),
    ("--day-ends", {"type": bool, "help": "true: publish each borrower's day-end record on the day-ends topic "
                    "(monitor.day_ends); default false [env MONITOR_DAY_ENDS]"}),
    ("--session-timeout", {"type": float, "help": "Seconds without a heartbeat before the group gives a worker's "
                           "partitions away; default 10 [env MONITOR_SESSION_TIMEOUT]"}),
    ("--tick-seconds", {"type": float, "help": "Seconds between wall-clock ticks (time-driven changes); default 1 "
                        "[env MONITOR_TICK_SECONDS]"}),
    ("--max-message-bytes", {"type": int, "help": "Larger input messages are dead-lettered; default 65536 "
                             "[env MONITOR_MAX_MESSAGE_BYTES]"}),
    ("--future-skew", {"help": "How far ahead of the wall clock (or the partition's reached watermark) an event "
                       "may be dated; further ahead it is dead-lettered. Seconds or ISO 8601 (P1D, PT36H); "
                       "default one day [env MONITOR_FUTURE_SKEW]"}),
]


def settings_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the settings options; the command receives ``settings`` built from them and the environment."""

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        return fn(settings=settings_from_options(Settings, _OPTIONS, kwargs), **kwargs)

    return add_options(_OPTIONS)(wrapper)


@click.command()
@settings_options
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True,
              envvar="MONITOR_LOG_FORMAT", help="Log lines: json (one object per line) or text [env MONITOR_LOG_FORMAT]")
def worker(settings: Settings, loglevel: str, log_format: str) -> None:
    """Run a streaming worker: apply the feeds from Kafka, publish alerts and visit schedules."""
    from faust import Worker

    from monitor.agents.app import create_app
    from monitor.logs import configure_logging, logging_config

    from monitor.agents.quiet import FloodFilter, install, with_flood_filter

    configure_logging(loglevel, log_format)  # before prepare_data_dir, so that its warning is JSON too
    flood = FloodFilter()  # a broker outage must not flood the log (see quiet.py)
    install(flood)
    prepare_data_dir(settings)
    _wait_and_check(settings)
    app, _shell = create_app(settings)
    clean = False
    try:
        config = with_flood_filter(logging_config(loglevel, log_format), flood)
        Worker(app, loglevel=loglevel, logging_config=config).execute_from_commandline()
        clean = True
    except SystemExit as exc:
        clean = exc.code in (0, None)
        raise
    finally:
        if clean:
            (settings.data_dir / CLEAN_MARK).write_text("stopped cleanly\n")


CLEAN_MARK = ".clean-shutdown"


def _wait_and_check(settings: Settings) -> None:
    """Wait for the broker (health and readiness answered meanwhile), then refuse topics that are not
    co-partitioned (see monitor/agents/startup.py)."""
    from monitor.agents.startup import prepare

    prepare(settings)


def prepare_data_dir(settings: Settings) -> bool:
    """Make the data dir ready; True when the last run stopped cleanly (it wrote the mark then).

    The local RocksDB store is kept after an unclean stop too: every borrower's value and the changelog
    offset it was written at go to the store in one write batch (see checkpoint.py), so the store never
    holds an offset ahead of its values and recovery reads the changelog on from it. The mark only tells
    the log (and an operator) how the last run ended.
    """
    import logging

    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    mark = data / CLEAN_MARK
    clean = mark.exists()
    if not clean and any(p.name != CLEAN_MARK for p in data.iterdir()):
        logging.getLogger("monitor.worker").info(
            "the last run did not stop cleanly; the local tables are kept and brought up to date from the changelog")
    mark.unlink(missing_ok=True)  # written again only by a clean stop
    return clean


@click.group()
def topics() -> None:
    """Manage the Kafka topics."""


@topics.command("create")
@settings_options
def topics_create(settings: Settings) -> None:
    """Create every topic (idempotent) with the right partitions and configs."""
    from monitor.topics import create_topics

    for name, what in create_topics(settings):
        click.echo(f"{name:<40} {what}")


@click.command()
@click.argument("events", nargs=-1, required=True)
@settings_options
@click.option("--no-watermark", is_flag=True, help="Do not publish the closing event-time watermark")
@click.option("--watermark-at", metavar="INSTANT",
              help="The watermark's instant (ISO 8601 with offset); default: the newest occurred_at sent. "
              "An empty file with it sends only the watermark (moves an event-clock worker's time on)")
def produce(events: tuple[str, ...], settings: Settings, no_watermark: bool, watermark_at: str | None) -> None:
    """Publish EVENTS (JSONL files, .gz, or -) to the input topics, in event-time order."""
    from monitor._time import iso, parse_instant
    from monitor.produce import produce as run

    at = None
    if watermark_at is not None:
        try:
            at = parse_instant(watermark_at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--watermark-at") from None
    result = run(list(events), settings, watermark=not no_watermark, watermark_at=at)
    if result.sent == 0 and result.watermark is None and not no_watermark:
        click.echo("no event sent, so no watermark either: give --watermark-at INSTANT to send one", err=True)
    for topic, count in sorted(result.by_topic.items()):
        click.echo(f"{topic:<40} {count:>10,}")
    click.echo(f"sent {result.sent:,} events in {result.elapsed:.1f} s; rejected {len(result.rejected):,} lines")
    for rej in result.rejected[:10]:
        click.echo(f"  {rej.source}:{rej.line}: {rej.reason}", err=True)
    if result.watermark is not None:
        click.echo(f"watermark {iso(result.watermark)} sent to every partition of the clock topic")
