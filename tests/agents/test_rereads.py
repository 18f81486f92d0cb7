"""The re-read policy on its own: a fake offset book and a clock the test moves (no consumer, no broker).

The shell's tests (test_shell.py) drive it through the in-memory port; these pin each decision and its
timing: when a gap is read again, when it is passed, when a quiet partition short of its end is read
again, and when a stall is logged.
"""

from __future__ import annotations

from monitor.agents.rereads import RereadPolicy, Seek

TP = ("monitor.lawsuits", 3)
OTHER = ("monitor.lawsuits", 5)


class Book:
    """What the offset book shows: gaps (next offset wanted, lowest held offset), how often the held run
    was delivered again, the partitions owned and each one's next offset."""

    def __init__(self) -> None:
        self.gaps: dict[tuple[str, int], tuple[int, int]] = {}
        self.echo: dict[tuple[str, int], int] = {}
        self.next: dict[tuple[str, int], int] = {}

    def missing(self):
        return dict(self.gaps)

    def echoes(self, tp):
        return self.echo.get(tp, 0)

    def owned(self):
        return list(self.next)

    def expected(self, tp):
        return self.next.get(tp)


def test_a_gap_is_noted_waited_for_then_read_again_from_its_first_missing_offset():
    policy, book = RereadPolicy(wait=1.0, attempts=5), Book()
    book.gaps[TP] = (100, 140)
    first = policy.gaps(book, now=10.0)
    assert first.seeks == [] and first.skips == []
    assert [n.level for n in first.notes] == ["info"] and "100..139" in first.notes[0].message % first.notes[0].args
    assert policy.waiting(TP)
    assert not policy.gaps(book, now=10.5)  # within the wait: nothing to do, nothing logged
    again = policy.gaps(book, now=11.0)
    assert again.seeks == [Seek(TP, 100)] and again.skips == []
    assert again.notes[0].level == "info" and again.notes[0].extra["attempt"] == 1
    # the second attempt is a warning, and each attempt waits its own second
    assert not policy.gaps(book, now=11.5)
    second = policy.gaps(book, now=12.0)
    assert second.seeks == [Seek(TP, 100)] and second.notes[0].level == "warning"


def test_messages_coming_in_restart_the_wait_and_a_filled_gap_is_forgotten():
    policy, book = RereadPolicy(wait=1.0), Book()
    book.gaps[TP] = (100, 140)
    policy.gaps(book, now=0.0)
    book.gaps[TP] = (120, 140)  # the missing messages are arriving
    assert not policy.gaps(book, now=5.0)
    assert not policy.gaps(book, now=5.5)  # the wait runs from the last progress
    assert policy.gaps(book, now=6.0).seeks == [Seek(TP, 120)]
    del book.gaps[TP]
    assert not policy.gaps(book, now=7.0) and not policy.waiting(TP)


def test_a_gap_read_again_past_its_attempts_is_passed_only_when_the_held_run_came_back():
    policy, book = RereadPolicy(wait=1.0, attempts=2), Book()
    book.gaps[TP] = (7, 9)
    policy.gaps(book, now=0.0)
    assert policy.gaps(book, now=1.0).seeks == [Seek(TP, 7)]
    assert policy.gaps(book, now=2.0).seeks == [Seek(TP, 7)]
    # attempts used up, but the re-reads never showed the held messages again: keep reading, never skip
    third = policy.gaps(book, now=3.0)
    assert third.skips == [] and third.seeks == [Seek(TP, 7)]
    book.echo[TP] = 1
    passed = policy.gaps(book, now=4.0)
    assert passed.skips == [TP] and passed.seeks == []
    assert passed.notes[0].level == "warning" and "hold no message" in passed.notes[0].message
    assert passed.notes[0].extra == {"topic": TP[0], "partition": TP[1], "first_offset": 7, "last_offset": 8}
    assert not policy.waiting(TP)


def test_a_gap_is_read_again_as_many_times_as_the_attempts_before_it_is_passed():
    policy, book = RereadPolicy(wait=1.0, attempts=2), Book()
    book.gaps[TP] = (7, 9)
    book.echo[TP] = 1  # the held run comes back on every re-read
    policy.gaps(book, now=0.0)
    decisions = [policy.gaps(book, now=float(t)) for t in (1, 2, 3)]
    assert [d.seeks for d in decisions] == [[Seek(TP, 7)], [Seek(TP, 7)], []]
    assert [d.skips for d in decisions] == [[], [], [TP]]


def test_gaps_of_several_partitions_are_decided_in_partition_order():
    policy, book = RereadPolicy(wait=0.0), Book()
    book.gaps = {OTHER: (1, 2), TP: (3, 4)}
    policy.gaps(book, now=0.0)
    assert [s.tp for s in policy.gaps(book, now=0.0).seeks] == [TP, OTHER]


def test_a_partition_short_of_its_end_that_hands_over_nothing_is_read_again_after_the_patience():
    policy, book = RereadPolicy(patience=15.0, every=5.0), Book()
    book.next = {TP: 50, OTHER: 80}
    ends = {TP: 60, OTHER: 80}  # OTHER is at its end: never read again
    assert policy.ends_due(0.0) and not policy.ends_due(4.9) and policy.ends_due(5.0)
    assert not policy.ends(book, ends, now=0.0)
    assert not policy.ends(book, ends, now=14.9)
    late = policy.ends(book, ends, now=15.0)
    assert late.seeks == [Seek(TP, 50)] and late.notes[0].level == "warning"
    # the clock starts again from the re-read; progress also restarts it
    assert not policy.ends(book, ends, now=20.0)
    book.next[TP] = 55
    assert not policy.ends(book, ends, now=31.0)
    assert not policy.ends(book, ends, now=45.9)
    assert policy.ends(book, ends, now=46.0).seeks == [Seek(TP, 55)]


def test_a_partition_waiting_for_a_gap_is_not_also_read_again_as_quiet():
    policy, book = RereadPolicy(patience=1.0, wait=100.0), Book()
    book.next = {TP: 10}
    book.gaps[TP] = (10, 20)
    policy.gaps(book, now=0.0)
    policy.ends(book, {TP: 30}, now=0.0)
    assert policy.ends(book, {TP: 30}, now=5.0).seeks == []


def test_a_stall_is_logged_after_a_minute_without_progress_and_then_once_a_minute():
    policy = RereadPolicy(stall_after=60.0)
    assert not policy.stall(buffered=3, now=0.0)
    assert not policy.stall(buffered=3, now=59.0)
    assert policy.stall(buffered=3, now=60.0)
    assert not policy.stall(buffered=3, now=100.0)
    assert policy.stall(buffered=3, now=120.0)
    policy.progress(now=130.0)
    assert not policy.stall(buffered=3, now=189.0)
    assert not policy.stall(buffered=0, now=500.0)  # nothing waits: nothing to say
    assert policy.stall(buffered=1, now=501.0)
