"""A report's input from the feeds: the feed and dead-letter topics' messages replayed as ``monitor replay`` does.

The desk's scheduled build when the workers do not publish day-end rows (see :mod:`monitor.desk.reporting`): the
events dated up to the end of the period are written to ``events.jsonl`` in the order the worker applies them,
then the rejected messages, and the engine runs over them with the functions ``monitor replay`` uses, as of the
cut, into a working directory. Every build reads and replays every feed from the beginning (the cost the build
from the workers' day-end rows, :mod:`monitor.desk.report_fold`, avoids).
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor._time import to_us
from monitor.engine import Engine
from monitor.events import EVENT_ADAPTER
from monitor.intake import Intake, Message
from monitor.replay import Reject, ReplayResult, replay_events, write_outputs
from monitor.rules.policy import Policy
from monitor.topics import Topics, partition_for

__all__ = ["EVENTS", "InputRecord", "Inputs", "Snapshot", "reject_line", "reject_text", "write_snapshot"]

EVENTS = "events.jsonl"
_MAX_REJECT_TEXT = 65_536
_NO_SIZE_LIMIT = 1 << 40  # sizes: the worker's own limit decides (its dead letter says so)



@dataclass(frozen=True, slots=True)
class InputRecord:
    """One message of an input (feed) topic, as read from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # the broker's record timestamp
    seq: int | None = None  # ``monitor produce``'s order header


@dataclass(slots=True)
class Inputs:
    """What a report is built from: the feed topics' messages and the dead letters naming them."""

    records: list[InputRecord]
    dead: dict[tuple[str, int, int], str] = field(default_factory=dict)  # (topic, partition, offset) -> reason
    partitions: int = 1


@dataclass(slots=True)
class Snapshot:
    """A report's input directory (a replay's outputs, as known at ``cut``), written from the feeds or from
    what the workers publish (``source``: "feeds" or "day-ends")."""

    dir: Path
    cut: int  # the last instant of the period (the replay's as-of)
    built_at: int
    alert_ids: frozenset[str]  # the alerts up to the cut: the engine's (feeds), the workers' (day-ends)
    accepted: int
    rejected: int
    events: tuple[Path, ...] = ()  # the event files build_report is given (none: their record in files.json)
    source: str = "feeds"


def _event_line(raw: bytes) -> bytes:
    """A valid event as one JSONL line (raw bytes unless they hold a line break)."""
    if b"\n" not in raw and b"\r" not in raw:
        return raw
    return json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()


class _Parsed:
    """An accepted event as ``replay_events`` takes it, ``(instant, event)``, its event parsed again from the
    message when the engine applies it: parsed events held for the whole build were half its memory."""

    __slots__ = ("raw", "t")

    def __init__(self, t: int, raw: bytes) -> None:
        self.t, self.raw = t, raw

    def __getitem__(self, k: int) -> Any:
        return self.t if k == 0 else tuple(self)[k]

    def __iter__(self) -> Any:
        yield self.t
        yield EVENT_ADAPTER.validate_json(self.raw)  # as the worker's check parsed it: the same bytes, one contract


def reject_line(raw: bytes | None) -> bytes:
    text = (raw or b"").decode("utf-8", "replace").replace("\r", "\\r").replace("\n", "\\n")
    return text.encode()


def reject_text(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace")
    if len(text) > _MAX_REJECT_TEXT:
        return text[:_MAX_REJECT_TEXT] + f"… [{len(text)} characters in all]"
    return text


def write_snapshot(inputs: Inputs, out: Path, *, cut: int, built_at: int, policy: Policy,
                   topics: Topics) -> Snapshot:
    """Write ``events.jsonl`` and the replay's outputs as of ``cut`` into ``out`` (see the module docstring).

    Messages are judged as the worker judges them (its dead letter, else its own check), so the engine
    applies exactly the events the worker applies, in the order it applies them.
    """
    was_enabled = gc.isenabled()
    gc.disable()  # as monitor replay does: many long-lived objects, no cycles to collect
    try:
        return _write_snapshot(inputs, out, cut=cut, built_at=built_at, policy=policy, topics=topics)
    finally:
        if was_enabled:
            gc.enable()


def _write_snapshot(inputs: Inputs, out: Path, *, cut: int, built_at: int, policy: Policy,
                    topics: Topics) -> Snapshot:
    parts = inputs.partitions
    check = Intake(topics, lambda key: partition_for(key, parts), max_message_bytes=_NO_SIZE_LIMIT)
    rank = {t: i for i, t in enumerate(topics.inputs)}
    accepted: list[tuple[tuple[int, int, int, int, int], bytes, bytes]] = []
    rejected: list[tuple[tuple[int, int, int], bytes, str]] = []
    for r in inputs.records:
        if r.topic not in rank:
            continue
        reason = inputs.dead.get((r.topic, r.partition, r.offset))
        event = None
        if reason is None:
            # the worker's own acceptance rules (one definition): feed, key, partition, contract
            event, why = check.judge(Message(r.topic, r.partition, r.offset, r.key, r.value))
            reason = None if event is not None else why
        if reason is not None or event is None:
            if r.timestamp_ms * 1000 <= built_at:
                rejected.append(((rank[r.topic], r.partition, r.offset), reject_line(r.value), reason or ""))
            continue
        at = to_us(event.occurred_at)
        if at <= cut:
            order = check.order(at, r.seq, r.topic, r.partition, r.offset)
            accepted.append((order, _event_line(r.value or b""), r.value or b""))
    accepted.sort(key=lambda x: x[0])
    rejected.sort(key=lambda x: x[0])
    out.mkdir(parents=True, exist_ok=True)
    with (out / EVENTS).open("wb") as fh:
        for _, line, _ev in accepted:
            fh.write(line + b"\n")
        for _, line, _why in rejected:
            fh.write(line + b"\n")
    result = ReplayResult(as_of=cut)
    result.read = len(accepted) + len(rejected)
    result.rejects = [Reject(EVENTS, len(accepted) + i + 1, why, reject_text(line))
                      for i, (_, line, why) in enumerate(rejected)]
    events: Any = [_Parsed(o[0], raw) for o, _, raw in accepted]  # (instant, event) pairs, parsed when applied
    replay_events(Engine(policy), events, cut, result, out / "snapshots")
    write_outputs(result, out)
    return Snapshot(out, cut, built_at, frozenset(a.alert_id for a in result.alerts), len(accepted), len(rejected),
                    (out / EVENTS,))
