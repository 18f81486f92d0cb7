"""A report's input from what the workers publish, folded as the desk reads it (issue 14): no replay of the feeds.

When the workers publish their day-end rows (``MONITOR_DAY_ENDS=true``, :mod:`monitor.day_ends`), the desk's
reporter reads three retained topics from their beginning and keeps reading them for as long as it runs
(:class:`monitor.desk.report_kafka.KafkaFold`), folding every message into a :class:`ReportFold`:

* ``day-ends`` -> :class:`monitor.day_ends.DayEnds` (each borrower's records, inspections, schedule history,
  the states of watch+ borrowers of its last days, and which input message each row took);
* ``alerts`` -> :class:`monitor.desk.report_topics.AlertRows` (each alert once, parsed as read);
* the dead-letter topic -> the rejected feed messages (text and reason, as the replay's ``rejects.jsonl``).

Bounded: once a month ended ``keep_days`` before the newest rows of every partition (no report the scheduler can
still build needs its days in memory), the fold moves its change rows to disk (``spool``: each borrower's rows
before its newest row's day; :mod:`monitor._day_ends_months`) and keeps each borrower's last row; a report's
snapshots are written from the stored months and the rows in memory.

At a period's end (:meth:`ReportFold.write`) :func:`monitor.desk.report_topics.write_inputs` writes the report's
input directory from the fold; the report built on it has every section of ``monitor replay --as-of END`` +
``monitor report`` on the same events (its recorded inputs name the topics' offsets instead of an events file).

A build waits until the fold holds every input message the feeds had when it began (:meth:`ReportFold.missing`:
each offset is named by a day-end row or a dead letter); workers that do not publish day-end rows (or a
worker that ran without them earlier) leave messages unnamed, and the build fails with a message saying so
(the scheduler tries again). On the event clock, a worker applies an event only once a later one (or a
watermark) passed it on every feed of its partition: a report waits for that too.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from monitor.day_ends import DayEnds, floors_of
from monitor.desk.report_feeds import Snapshot, reject_line, reject_text
from monitor.desk.report_topics import AlertRows, write_inputs
from monitor.rules.policy import Policy
from monitor.engine import Engine
from monitor.snapshots import day_date, day_number
from monitor.topics import Topics

__all__ = ["ReportFold"]

log = logging.getLogger("monitor.desk.reports")


class ReportFold:
    """The day-end rows, alerts and dead letters the workers published, folded as read (see the module
    docstring). ``keep_days``: how many days before the newest rows a report can still be built for (the
    states of watch+ borrowers are kept that long)."""

    def __init__(self, policy: Policy, topics: Topics, keep_days: int = 8, spool: Path | None = None) -> None:
        self.policy, self.topics = policy, topics
        self.day_ends = DayEnds(policy.zone, floors_of(policy), keep_days=keep_days)
        self.keep_days = keep_days
        self.spool = spool  # where closed months go (None: all rows stay in memory)
        self._newest: dict[int, int] = {}  # day-ends partition -> the newest day of its rows
        self.partitions: set[int] = set()  # the day-ends partitions with rows (each must be read before a close)
        self.alerts = AlertRows()
        self._rank = {t: i for i, t in enumerate(topics.inputs)}
        # (topic rank, partition, offset) -> (the rejected line, reason, the dead letter's timestamp in us)
        self._dead: dict[tuple[int, int, int], tuple[bytes, str, int]] = {}
        self._sent: dict[tuple[int, int, int], int] = {}  # the refused messages' own timestamps (us), where asked
        self.positions: dict[tuple[str, int], int] = {}  # (topic, partition) -> the next offset to read
        self.bad: Counter[str] = Counter()  # messages that are not what their topic holds, per topic
        self._prepared = -1  # the last month end whose signals were judged ahead (_prepare)
        self._engine: Engine | None = None

    def take(self, topic: str, partition: int, offset: int, value: bytes | None, timestamp_ms: int) -> None:
        """One message of the day-ends, alerts or dead-letter topic, in each partition's order."""
        self.positions[(topic, partition)] = offset + 1
        try:
            if topic == self.topics.day_ends:
                day = self.day_ends.add_message(value or b"")
                if day > self._newest.get(partition, -1):
                    self._newest[partition] = day
                    self._close()
                    self._prepare()
            elif topic == self.topics.alerts:
                self.alerts.add(value or b"")
            elif topic == self.topics.dead_letter:
                self._dead_letter(value or b"", timestamp_ms)
        except (ValueError, KeyError, TypeError) as exc:
            if not self.bad[topic]:
                log.warning("%s partition %d offset %d: not a message of that topic (%s: %s); ignored",
                            topic, partition, offset, type(exc).__name__, str(exc)[:200])
            self.bad[topic] += 1

    def _close(self) -> None:
        """Months whose end is ``keep_days`` before the newest rows of every partition go to disk: no row of
        theirs changes any more (a restarted worker's again are dropped), no report can still need them."""
        if self.spool is None or not self._newest or not self.partitions <= self._newest.keys():
            return
        ready = min(self._newest.values()) - self.keep_days - 1
        if ready < 0:
            return
        base = self.day_ends._base
        if base is None or ready > base.day + 27:  # a month end may have passed
            if (done := self.day_ends.close_months(ready, self.spool)) is not None:
                log.info("day-end rows up to %s closed (on disk): %s", day_date(done), self.describe())

    def _prepare(self) -> None:
        """When a month's last day begins (the rows of every partition reached it; or later, after a gap, while
        the states of that day are kept), judge every borrower's signals at its end
        (:meth:`monitor.day_ends.DayEnds.prepare`): the month's report then judges only the borrowers with rows
        read since. (A fold catching up judges each month end once: ~1/12 of a month's reading more.)"""
        if not self._newest or not self.partitions <= self._newest.keys():
            return
        day = min(self._newest.values())
        end = day if day_date(day + 1).day == 1 else day_number(day_date(day).replace(day=1)) - 1
        if day - end >= self.keep_days or end <= self._prepared:
            return
        self._prepared = end
        if self._engine is None:
            self._engine = Engine(self.policy)
        self.day_ends.prepare(end, self._engine)

    def _dead_letter(self, value: bytes, timestamp_ms: int) -> None:
        doc = json.loads(value)
        rank = self._rank.get(doc["topic"])
        if rank is None:  # not a feed's message (a watermark): not an input of the report
            return
        text = doc.get("value_text")
        raw = text.encode() if isinstance(text, str) else base64.b64decode(doc.get("value_base64") or "")
        self._dead[(rank, int(doc["partition"]), int(doc["offset"]))] = (reject_line(raw), str(doc["reason"]),
                                                                         timestamp_ms * 1000)

    def missing(self, ends: dict[tuple[str, int], int]) -> dict[str, int]:
        """Per feed topic, how many of its messages below ``ends`` ((topic, partition) -> end offset) no day-end
        row and no dead letter names yet (empty: the fold has every one)."""
        dead: dict[tuple[int, int], list[int]] = {}
        for rank, part, off in self._dead:
            dead.setdefault((rank, part), []).append(off)
        out: Counter[str] = Counter()
        for (topic, part), end in ends.items():
            rank = self._rank.get(topic)
            if rank is None or end <= 0:
                continue
            bits = np.unpackbits(np.frombuffer(self.day_ends.taken(rank, part), dtype=np.uint8), bitorder="little")
            seen = np.zeros(end, dtype=bool)
            n = min(end, bits.size)
            seen[:n] = bits[:n].astype(bool)
            offs = np.array(dead.get((rank, part), ()), dtype=np.int64)
            seen[offs[offs < end]] = True
            if (left := int(end - seen.sum())) > 0:
                out[topic] += left
        return dict(out)

    def unknown_times(self, built_at: int) -> list[tuple[str, int, int]]:
        """The refused messages (topic, partition, offset) whose own timestamps a build at ``built_at`` needs:
        those dead-lettered after it (a message reaches the broker before its dead letter does)."""
        inputs = self.topics.inputs
        return [(inputs[k[0]], k[1], k[2]) for k, v in sorted(self._dead.items())
                if v[2] > built_at and k not in self._sent]

    def sent_at(self, topic: str, partition: int, offset: int, at: int) -> None:
        """A refused message's own timestamp (us), as read from its feed."""
        self._sent[(self._rank[topic], partition, offset)] = at

    def rejects(self, built_at: int) -> list[tuple[str, str]]:
        """The rejected feed messages that reached the broker by ``built_at`` (as the replay of the feeds counts
        them): (text, reason), by feed, partition and offset (as it numbers them)."""
        never = built_at + 1
        return [(reject_text(line), why) for k, (line, why, at) in sorted(self._dead.items())
                if at <= built_at or self._sent.get(k, never) <= built_at]

    def write(self, out: Path, *, until: int, built_at: int, offsets: dict[str, dict[int, int]]) -> Snapshot:
        """The report's input directory as of the end of the day ``until`` (a day number) in ``out``."""
        cut = self.day_ends.days.start(until + 1) - 1
        rejects = self.rejects(built_at)
        write_inputs(self.day_ends, self.alerts, rejects, out, until=until, policy=self.policy, offsets=offsets)
        self.day_ends.release()  # (not held while the reports are built)
        counts, _newest = self.day_ends.counts(until)
        accepted = sum(a + c for a, c in counts.values())
        return Snapshot(out, cut, built_at, self.alerts.ids(cut), accepted, len(rejects), (), "day-ends")

    def describe(self) -> dict[str, Any]:
        """What the fold holds (for the log)."""
        return {"borrowers": len(self.day_ends.borrowers()), "alerts": len(self.alerts), "rejected": len(self._dead),
                "ignored": dict(self.bad), "late_rows_dropped": self.day_ends.late}
