"""The shell's commit bookkeeping: offset order per topic-partition, never a commit past an unfinished message."""

from monitor.agents.offsets import OffsetBook

TP = ("overdue-events", 3)
OTHER = ("lawsuits", 3)


def test_out_of_order_finishing_commits_only_up_to_the_first_unfinished_offset():
    book = OffsetBook()
    book.reset({TP: 10})
    taken = [x for off in (10, 11, 12, 13) for x in book.take(TP, off, off)]
    assert taken == [10, 11, 12, 13]
    # the runtime applies 11..13 first (earlier event time) and keeps 10 buffered
    for off in (11, 12, 13):
        book.finish(TP, off)
    assert book.to_commit() == {}  # Faust would have committed 14 here, past the buffered 10
    book.finish(TP, 10)
    assert book.to_commit() == {TP: 14}
    book.committed({TP: 14})
    assert book.to_commit() == {}


def test_from_offset_zero_a_later_finished_message_does_not_commit_past_the_first():
    book = OffsetBook()
    book.reset({TP: 0})
    assert book.take(TP, 0, "a") == ["a"] and book.take(TP, 1, "b") == ["b"]
    book.finish(TP, 1)
    assert book.to_commit() == {}
    book.finish(TP, 0)
    assert book.to_commit() == {TP: 2}


def test_copies_are_dropped_and_foreign_partitions_are_not_taken():
    book = OffsetBook()
    book.reset({TP: 5})
    assert book.take(TP, 4, "old") == []  # below the committed offset: already applied
    assert book.take(TP, 5, "x") == ["x"]
    assert book.take(TP, 5, "x again") == []  # a second delivery of the same message
    assert book.take(OTHER, 0, "y") == []  # not assigned to this worker
    book.finish(TP, 5)
    book.forget([TP])
    assert not book.owns(TP) and book.take(TP, 6, "z") == []
    assert book.to_commit() == {}


def test_a_message_past_a_missing_one_is_held_back_until_the_missing_one_comes():
    book = OffsetBook()
    book.reset({TP: 0, OTHER: 7})
    assert book.take(TP, 0, 0) == [0]
    assert book.take(TP, 3, 3) == [] and book.take(TP, 4, 4) == []  # 1 and 2 never came
    assert book.missing() == {TP: (1, 3)}
    book.finish(TP, 0)
    assert book.to_commit() == {TP: 1}  # never past the missing offset
    book.asked_again(TP)
    assert book.take(TP, 1, 1) == [1]
    assert book.take(TP, 2, 2) == [2, 3, 4]  # the held run follows in offset order
    assert book.missing() == {}
    for off in (1, 2, 3, 4):
        book.finish(TP, off)
    assert book.to_commit() == {TP: 5}


def test_offsets_that_hold_no_message_are_skipped_only_when_told():
    book = OffsetBook()
    book.reset({TP: 10})
    assert book.take(TP, 12, 12) == [] and book.take(TP, 13, 13) == []
    book.asked_again(TP)
    assert book.echoes(TP) == 0
    assert book.take(TP, 12, "12 again") == []  # read again: 10 and 11 still do not come
    assert book.echoes(TP) == 1
    assert book.skip_to_held(TP) == [12, 13]
    assert book.skipped == 2 and book.missing() == {}
    book.finish(TP, 12)
    book.finish(TP, 13)
    assert book.to_commit() == {TP: 14}


def test_applied_offsets_are_recorded_per_partition_when_they_move_and_read_back():
    from monitor.agents.offsets import applied_records, stored_offsets

    book = OffsetBook()
    a, b, c = ("t.profiles", 0), ("t.lawsuits", 0), ("t.profiles", 1)
    book.reset({a: 5, b: 0, c: 9})
    recorded = dict(book.positions())
    keys = {0: "\x00offsets:0:1", 1: "\x00offsets:1:0"}
    assert applied_records(book.positions(), recorded, keys) == {}  # nothing moved
    for off in (5, 6, 7):
        book.take(a, off, off)
    book.finish(a, 5)
    book.finish(a, 7)  # 6 is still open: the position stops there
    records = applied_records(book.positions(), recorded, keys)
    assert records == {"\x00offsets:0:1": b'{"t.lawsuits": 0, "t.profiles": 6}'}
    assert applied_records(book.positions(), recorded, keys) == {}  # written once
    stored = stored_offsets([("B1", b"{}"), *records.items(), ("\x00offsets:1:0", b'{"t.profiles": 9}')], {0}, "\x00offsets:")
    assert stored == {a: 6, b: 0}  # only the partitions asked for


def test_the_age_of_the_oldest_unfinished_message():
    book = OffsetBook()
    book.reset({TP: 0, OTHER: 0})
    assert book.oldest_open(100.0) == 0
    book.now = 10.0
    for off in (0, 1):
        book.take(TP, off, off)
    book.now = 20.0
    book.take(TP, 2, 2)
    book.take(OTHER, 0, "x")
    assert book.oldest_open(100.0) == 90.0  # offset 0, read at 10
    book.finish(TP, 0)
    book.finish(TP, 1)
    assert book.oldest_open(100.0) == 80.0  # offset 2 and the other partition, read at 20
    book.finish(TP, 2)
    book.finish(OTHER, 0)
    assert book.oldest_open(100.0) == 0
