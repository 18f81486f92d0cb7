"""The replay gives the engine ``UNSEEN`` for the ids its input holds once (monitor._replay_keys): the same bytes
as the full duplicate memory (the in-memory replay), whatever the input repeats."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from monitor._replay_keys import event_key, file_blocks, raw_key, repeated_keys, repeated_keys_in
from monitor._replay_stream import replay_to
from monitor._time import parse_instant
from monitor.events import EVENT_ADAPTER
from monitor.jsonl import iter_lines
from monitor.replay import replay, write_outputs
from monitor.rules.loader import default_policy

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden-events.jsonl.gz"
FILES = ("alerts.jsonl", "borrowers.jsonl", "schedule.csv", "schedule_history.jsonl", "summary.json", "workout.csv")
DAY = 86_400


def _valid(raw: bytes):
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValueError:
        return None


def _shifted(doc: dict, seconds: float, **changes) -> bytes:
    """The document moved ``seconds`` later (its instant in UTC), with ``changes``."""
    t = parse_instant(doc["occurred_at"]) / 1e6 + seconds
    from datetime import UTC, datetime

    moved = dict(doc, occurred_at=datetime.fromtimestamp(t, UTC).isoformat(), **changes)
    return json.dumps(moved, ensure_ascii=False, separators=(",", ":")).encode()


def _input(seed: int) -> list[bytes]:
    """The golden input (with its copies and bad lines) and more: exact copies, conflicting copies, copies
    beyond the window, copies written differently (spaces, escapes), and one borrower with more than
    ``duplicate_memory`` ids between an original and its copies."""
    rng = random.Random(seed)
    lines = gzip.decompress(GOLDEN.read_bytes()).splitlines()
    docs = [json.loads(x) for x in lines if _valid(x) is not None]
    out = list(lines)
    for doc in rng.sample(docs, 300):
        kind = rng.randrange(6)
        raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        if kind == 0:
            out.append(raw)  # an exact copy
        elif kind == 1:
            out.append(_shifted(doc, rng.choice([3600.0, 40 * DAY, 200 * DAY])))  # later: a conflict or applied again
        elif kind == 2:
            out.append(json.dumps(doc, ensure_ascii=True).encode())  # spaces after the colons
        elif kind == 3:  # the id written with an escape: the same id
            eid = doc["event_id"]
            out.append(raw.replace(eid.encode(), eid[0].encode() + b"\\u00" + f"{ord(eid[1]):02x}".encode()
                                   + eid[2:].encode(), 1))
        elif kind == 4:
            out.append(json.dumps(dict(doc, source="copy"), ensure_ascii=False).encode())  # other content
        else:  # the id under another borrower: another event
            other = rng.choice(docs)["borrower_id"]
            out.append(json.dumps(dict(doc, borrower_id=other), ensure_ascii=False).encode())
    bureau = next(d for d in docs if d["type"] == "bureau_report" and d["occurred_at"] > "2025-03")
    memory = default_policy().duplicate_memory
    fillers = [_shifted(bureau, 60.0 * (i + 1), event_id=f"fill-{seed}-{i}") for i in range(memory + 20)]
    out += fillers
    out.append(_shifted(bureau, 0.0))  # an exact copy after more than the memory: applied again
    marker = _shifted(bureau, 60.0 * (memory + 30), event_id="marked")
    out += [marker, _shifted(bureau, 60.0 * (memory + 40), event_id="marked")]  # a copy soon after: a duplicate
    rng.shuffle(out)
    return out


def _full(src: Path, out: Path) -> None:
    write_outputs(replay([src], default_policy()), out)


def _same(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # the in-memory replay lists the engine's refusals after the other rejects, with the event's JSON
    assert _rejected(a) == _rejected(b)


def _rejected(out: Path) -> list[tuple[int, str]]:
    rows = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    return sorted((r["line"], r["reason"]) for r in rows)


def test_the_key_of_a_line_is_the_key_of_its_event() -> None:
    """Read from the text or, when that is not plain, by validating it; a line that fails validation may have
    a key or none (it is rejected: only a spurious full treatment of another event could follow)."""
    checked = 0
    for raw in _input(3):
        event = _valid(raw)
        if event is not None:
            assert raw_key(raw) == event_key(event.event_id), raw
            checked += b"\\" in raw or b'": "' in raw
    assert checked > 100


def test_the_repeated_keys_are_those_of_the_ids_held_more_than_once() -> None:
    lines = _input(4)
    count = Counter(event_key(e.event_id) for e in map(_valid, lines) if e is not None)
    assert repeated_keys(lines) == {k for k, n in count.items() if n > 1}
    assert len(repeated_keys(lines)) > 300
    plain = [x for x in lines if b"\\" not in x]  # chunks read at once (no line has to be read alone)
    count = Counter(event_key(e.event_id) for e in map(_valid, plain) if e is not None)
    assert repeated_keys(plain) == {k for k, n in count.items() if n > 1}
    spaced = [x.replace(b'"event_id":"', b'"event_id": "') if i % 999 == 0 else x for i, x in enumerate(plain)]
    assert repeated_keys(spaced) == {k for k, n in count.items() if n > 1}  # read line by line


@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_read_in_blocks_gives_its_lines_and_their_repeated_keys(tmp_path: Path, compressed: bool) -> None:
    lines = _input(5)
    many = [x if i % 7 else x + b"\r" for i, x in enumerate(lines * 12)]  # > 1 MiB: several blocks; CRLF lines
    many[5:5] = [b"", b"\r", b"   "]
    body = b"\n".join(many)  # no newline after the last line
    src = tmp_path / ("in.jsonl.gz" if compressed else "in.jsonl")
    src.write_bytes(gzip.compress(body) if compressed else body)
    assert len(body) > 3 << 20
    blocks = list(file_blocks(src))
    assert len(blocks) > (1 if compressed else 3)
    expected = [raw for _, raw in iter_lines(src)]
    assert [x.rstrip(b"\r") for b in blocks for x in b.split(b"\n")] == expected
    count = Counter(event_key(e.event_id) for e in map(_valid, expected) if e is not None)
    held_twice = {k for k, n in count.items() if n > 1}
    got = repeated_keys_in(blocks)
    # every id held twice; more only from values written as ids elsewhere (rejected or odd lines: harmless)
    assert held_twice <= got
    assert got - held_twice <= {event_key(v.decode()) for v in re.findall(rb'"event_id":"([^"]*)"', body)}
    plain = [x for x in expected if b"\\" not in x and x.count(b'"event_id"') == 1 and _valid(x) is not None]
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(plain) + b"\n")
    count = Counter(event_key(e.event_id) for e in map(_valid, plain))
    assert repeated_keys_in(file_blocks(clean)) == {k for k, n in count.items() if n > 1}
    assert len(count) > 1000


@pytest.mark.parametrize("flush", [64, 1 << 20])
def test_the_split_reads_its_ranges_in_blocks_and_takes_the_keys_of_the_whole_input(tmp_path: Path, monkeypatch,
                                                                                     flush: int) -> None:
    """Each process's range read in blocks gives the lines read one by one (carriage returns, empty lines and
    a last line without a line break included), and the keys the processes took are those held twice in the
    whole input, wherever the two lines are (more only from values written as ids elsewhere)."""
    import monitor._replay_split as split
    import monitor.jsonl as jsonl

    monkeypatch.setattr(jsonl, "_BLOCK", flush)  # blocks that end inside lines, in many places
    lines = _input(7)
    body = b"\n".join(x + b"\r" * (k % 3 == 0) for k, x in enumerate(lines)) + b"\n\n\r\n" + lines[5]
    src = tmp_path / "in.jsonl"
    src.write_bytes(body)
    expected = [raw for _, raw in iter_lines(src)]
    for writers in (1, 3, 7):
        ranges = [split._range(src, k, writers) for k in range(writers)]
        got = [x.rstrip(b"\r") for lo, hi in ranges for b in jsonl.range_blocks(src, lo, hi) for x in b.split(b"\n")]
        assert got == [x for lo, hi in ranges for x in split._range_lines(src, lo, hi)] == expected, writers
        out = tmp_path / f"w{writers}"
        out.mkdir()
        counts = [split.split_input([src], k, writers, 2, out, None)["counts"][0] for k in range(writers)]
        assert sum(counts) == len(expected)
        pieces = [raw for j in range(2) for _, _, raw in split.piece_lines(out, j, 0, [sum(counts[:k]) for k in
                                                                                      range(writers)])]
        assert sorted(pieces) == sorted(expected)
        ended = [(n, raw) for j in range(2) for n, _, raw in split.piece_lines(out, j, 0, [sum(counts[:k]) for k in
                                                                                          range(writers)], True)]
        assert sorted(ended) == sorted((n, x + b"\n") for n, x in iter_lines(src))  # (numbered as in the file)
        held_twice = repeated_keys(expected)
        got_keys = set(split.repeated_keys_of(out, writers).tolist())
        assert held_twice <= got_keys and len(held_twice) > 100
        assert got_keys - held_twice <= {event_key(v.decode()) for v in re.findall(rb'"event_id":"([^"]*)"', body)}
        assert not list(out.glob("keys-*"))


@pytest.mark.parametrize("seed,ordered", [(1, False), (2, True)])
def test_repeated_ids_give_the_bytes_of_the_full_memory(tmp_path: Path, seed: int, ordered: bool) -> None:
    lines = _input(seed)
    if ordered:  # time-ordered: streamed, not sorted on disk
        lines = [x for x in lines if _valid(x) is not None]
        lines.sort(key=lambda x: parse_instant(json.loads(x)["occurred_at"]))
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    _full(src, tmp_path / "full")
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["events"]["duplicate"] > 200
    assert any(r.startswith("conflicting duplicate") for r in summary["rejects_by_reason"])
    replay_to([src], default_policy(), tmp_path / "one", workers=1)
    _same(tmp_path / "one", tmp_path / "full")
    replay_to([src], default_policy(), tmp_path / "many", workers=2, shards=3)
    _same(tmp_path / "many", tmp_path / "full")
    as_of = parse_instant("2025-06-15T00:00:00Z")
    write_outputs(replay([src], default_policy(), as_of), tmp_path / "full-asof")
    replay_to([src], default_policy(), tmp_path / "one-asof", as_of)
    _same(tmp_path / "one-asof", tmp_path / "full-asof")


def test_the_owners_of_a_block_are_those_of_its_lines_read_one_by_one() -> None:
    """The split finds the shard of a plain block's lines at once: the same shards as ``owner`` line by line,
    also for blocks that hold a line with two ids and one with none (as many ids as lines), escapes, ids that
    are not texts, a value that reads "borrower_id" and lines that are not JSON."""
    from monitor._replay_split import owner, owners

    good = [b'{"event_id":"e%d","borrower_id":"B%d","amount":1}' % (i, i * 7919) for i in range(60)]
    odd = [b'{"borrower_id":"B1","borrower_id":"B2"}', b'{"event_id":"x"}', b'{"note":"borrower_id","borrower_id":"B3"}',
           b'{"borrower_id":"B\\u0031"}', b"", b'{"borrower_id":5}', b'{"borrower_id":"B4"', b'"borrower_id"borrower_id":"B5"}',
           b'{"borrower_id":"\xe6\x97\xa5"}\r']
    for extra in ([], *([x] for x in odd), [odd[0], odd[1]], [odd[1], odd[0]]):
        lines = good[:25] + extra + good[25:]
        block = b"\n".join(lines)
        for shards in (2, 3, 8):
            assert owners(block, lines, shards) == [owner(raw, shards) for raw in lines], (extra, shards)
    assert len({owner(raw, 8) for raw in good}) == 8


def test_the_keys_of_a_plain_block_are_those_of_its_events_whatever_the_text_of_the_ids() -> None:
    """A block without escapes is searched as bytes: ASCII ids, ids with other characters and a block that is
    not all UTF-8 (a line the replay rejects) give the key of every valid line's event."""
    from array import array

    from monitor._replay_keys import block_keys

    plain = [x for x in gzip.decompress(GOLDEN.read_bytes()).splitlines() if b"\\" not in x and _valid(x) is not None]
    other = [x.replace(b'"event_id":"', '"event_id":"事件-'.encode(), 1) if i % 3 == 0 else x
             for i, x in enumerate(plain)]
    broken = [*plain[:10], b'{"event_id":"bad","source":"\xff\xfe"}', *plain[10:]]
    for lines in (plain, other, broken):
        keys = array("q")
        block_keys(b"\n".join(lines), keys)
        expected = [event_key(e.event_id) for e in map(_valid, lines) if e is not None]
        assert not Counter(expected) - Counter(keys.tolist())
        assert len(keys) <= len(expected) + 1
    assert any(not e.event_id.isascii() for e in map(_valid, other) if e is not None)
