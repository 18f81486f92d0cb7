"""The intake of the input topics: how a Kafka message is judged and ordered, one definition for all.

The streaming worker applies what this module accepts and dead-letters what it refuses; the desk's
report builder replays the same topics and must take exactly the same events in the same order, so
both use :class:`Intake` (no copy of the rules, no private call into the worker).

A message of a feed topic is accepted when it carries a valid event of that feed (the contract in
:mod:`monitor.events`), is keyed by its ``borrower_id`` and sits in that borrower's partition.
Otherwise the reason names what is wrong, in words a person understands; the worker publishes it
on the dead-letter topic with the message. A watermark on the clock topic must name an instant and
the offsets of input feeds. The order in which accepted events of one partition are applied is
their :meth:`Intake.order`: event time, then the ``seq`` header ``monitor produce`` sets, then the
feed, then the offset.

Pure: no Kafka client, no clock. The partitioner is given (``monitor.topics.partition_for`` is
Kafka's default partitioner).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from monitor._time import parse_instant
from monitor.events import EVENT_ADAPTER, Event, describe_validation_error
from monitor.topics import FEEDS, Topics

__all__ = ["DeadLetter", "Intake", "Message", "NO_SEQ", "Watermark", "describe_exception"]

NO_SEQ = 1 << 62  # the order of a message without a ``seq`` header: after those with one
_REASON_CHARS = 500  # an exception's text in a reason, at most


@dataclass(slots=True)
class Message:
    """One Kafka message as the intake sees it; ``handle`` is the caller's (the worker acknowledges it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    seq: int | None = None
    handle: Any = None


class DeadLetter(BaseModel):
    """A refused message, as published to the dead-letter topic."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    key: str | None
    reason: str
    value_text: str | None = None
    value_base64: str | None = None
    value_bytes: int
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Watermark:
    """"Every event up to and including ``at`` is published, below these offsets of each input feed."""

    at: int
    offsets: dict[str, int]


def describe_exception(exc: BaseException) -> str:
    """An exception as a reason shows it: its type and (bounded) text."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + "…"


class Intake:
    """Judges messages of the topics of ``topics`` (see the module docstring)."""

    def __init__(self, topics: Topics, partition_of: Callable[[str], int], *,
                 max_message_bytes: int = 65_536) -> None:
        self.topics = topics
        self.partition_of = partition_of
        self.max_message_bytes = max_message_bytes
        self.inputs = topics.inputs
        self._rank = {t: i for i, t in enumerate(self.inputs)}
        self._feed_of = {topics.feed(kind): kind for kind in FEEDS}

    def rank(self, topic: str) -> int:
        """A feed's place in the tie-break of :meth:`order` (99 for any other topic)."""
        return self._rank.get(topic, 99)

    def order(self, at: int, seq: int | None, topic: str, partition: int, offset: int) -> tuple[int, int, int, int, int]:
        """The order accepted events are applied in: event time, ``seq``, feed, partition, offset."""
        return (at, seq if seq is not None else NO_SEQ, self._rank.get(topic, 99), partition, offset)

    def judge(self, m: Message) -> tuple[Event | None, str]:
        """The event a feed message carries, or None and why it is refused."""
        raw = m.value
        if raw is None:
            return None, "empty message (tombstone)"
        if len(raw) > self.max_message_bytes:
            return None, f"message of {len(raw)} bytes is larger than {self.max_message_bytes}"
        try:
            event = EVENT_ADAPTER.validate_json(raw)
        except ValidationError as exc:
            return None, describe_validation_error(exc)
        except Exception as exc:  # noqa: BLE001 - whatever the contract raises, it is this message's fault
            return None, f"invalid: {describe_exception(exc)}"
        expected = self._feed_of.get(m.topic)
        if expected is not None and event.type != expected:
            return None, f"type: {event.type} does not belong on {m.topic} (expected {expected})"
        if m.key is None:
            # a keyless message lands wherever its producer put it: refused, wherever that was, so
            # that a borrower's events never depend on a producer's luck
            return None, f"no key: messages on {m.topic} must be keyed by borrower_id ({event.borrower_id!r})"
        key = m.key.decode("utf-8", "replace")
        if key != event.borrower_id:
            return None, f"key {key!r} differs from borrower_id {event.borrower_id!r}"
        if self.partition_of(event.borrower_id) != m.partition:
            return None, f"borrower_id {event.borrower_id!r} does not belong to partition {m.partition}"
        return event, ""

    def watermark(self, m: Message) -> Watermark | str:
        """The watermark a clock message carries, or why it is refused (its time is judged by the caller)."""
        try:
            doc = json.loads(m.value or b"")
            at = parse_instant(doc["at"])
            offsets = {str(k): int(v) for k, v in dict(doc.get("offsets", {})).items()}
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            return f"watermark: {exc}"
        unknown = sorted(t for t in offsets if t not in self._rank)
        if unknown:
            return f"watermark: names topics that are not input feeds: {', '.join(unknown)[:300]}"
        negative = sorted(t for t, off in offsets.items() if off < 0)
        if negative:
            return f"watermark: negative offsets for {', '.join(negative)}"
        return Watermark(at, offsets)

    def dead(self, m: Message, reason: str) -> DeadLetter:
        """The dead letter of a refused message: where it was, why, and the message (bounded)."""
        raw = m.value or b""
        cut = raw[: self.max_message_bytes]
        try:
            text: str | None = cut.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text, b64 = None, base64.b64encode(cut).decode()
        return DeadLetter(topic=m.topic, partition=m.partition, offset=m.offset,
                          key=m.key.decode("utf-8", "replace") if m.key is not None else None, reason=reason,
                          value_text=text, value_base64=b64, value_bytes=len(raw), truncated=len(cut) < len(raw))
