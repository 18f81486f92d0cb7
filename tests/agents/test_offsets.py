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
