"""``monitor._replay_scan.scan_block`` reads each line's shard, event-id key and occurred_at at once: the same
values as ``owners``, ``block_keys`` and ``plain_instants`` read one at a time, for blocks written the feeds' way
and for every way of writing a line that the fast reading must leave to them."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from array import array
from pathlib import Path

import numpy as np

from monitor._replay_keys import block_keys
from monitor._replay_scan import crc32_rows, scan_block
from monitor._replay_split import owners
from monitor.jsonl import plain_instants

GOLDEN = Path(__file__).resolve().parent / "data" / "golden-events.jsonl.gz"


def _one_at_a_time(block: bytes, lines: list[bytes], shards: int) -> tuple[list[int], list[int], list[int]]:
    keys: array[int] = array("q")
    block_keys(block, keys)
    return owners(block, lines, shards), keys.tolist(), plain_instants(block, lines).tolist()


def _scanned(block: bytes, lines: list[bytes], shards: int) -> tuple[list[int], list[int], list[int]]:
    keys: array[int] = array("q")
    mine, ats = scan_block(block, lines, shards, keys)
    return [int(x) for x in mine], keys.tolist(), ats.tolist()


def _same(lines: list[bytes], shards: int = 8) -> tuple[list[int], list[int], list[int]]:
    block = b"\n".join(lines)
    split = block.split(b"\n")
    want = _one_at_a_time(block, split, shards)
    got = _scanned(block, split, shards)
    assert got == want
    # the lines each with a newline at its end (the split's way), the same values
    ended: array[int] = array("q")
    mine, ats = scan_block(block, [x + b"\n" for x in split], shards, ended, ended=True)
    assert ([int(x) for x in mine], ended.tolist(), ats.tolist()) == want
    return got


def _golden() -> list[bytes]:
    """The golden file's lines that are JSON objects with the four fields (valid events or not)."""
    out = []
    for x in gzip.decompress(GOLDEN.read_bytes()).splitlines():
        try:
            doc = json.loads(x)
        except ValueError:
            continue
        if isinstance(doc, dict) and all(isinstance(doc.get(k), str) for k in ("event_id", "type", "borrower_id",
                                                                               "occurred_at")):
            out.append(x)
    return out


def _compact(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _canonical(doc: dict) -> bytes:
    """The feeds' order: event_id, type, borrower_id, occurred_at first."""
    head = {k: doc[k] for k in ("event_id", "type", "borrower_id", "occurred_at") if k in doc}
    return _compact({**head, **{k: v for k, v in doc.items() if k not in head}})


def test_crc32_rows_is_zlibs() -> None:
    rng = random.Random(3)
    texts = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))) for _ in range(500)]
    rows = np.zeros((len(texts), 40), dtype=np.uint8)
    for i, t in enumerate(texts):
        rows[i, :len(t)] = np.frombuffer(t, dtype=np.uint8)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    assert crc32_rows(rows, lengths).tolist() == [zlib.crc32(t) for t in texts]


def test_the_feeds_lines_are_read_at_once_as_one_at_a_time() -> None:
    lines = [_canonical(json.loads(x)) for x in _golden()]
    assert all(x.startswith(b'{"event_id":"') for x in lines[:50])
    for shards in (1, 2, 8, 13):
        owners_, keys, ats = _same(lines, shards)
    assert len(keys) == len(lines) and set(owners_) == set(range(13))
    block = b"\n".join(lines)
    keys_a: array[int] = array("q")
    # the fast reading is taken (not the fallback): the keys come from the ids' bytes, the shards by crc32_rows
    got = scan_block(block, block.split(b"\n"), 8, keys_a)
    assert isinstance(got[0], np.ndarray)
    ended = scan_block(block, [x + b"\n" for x in block.split(b"\n")], 8, array("q"), ended=True)
    assert isinstance(ended[0], np.ndarray)  # (the lines with their newlines: the fast reading too)


def test_simulated_lines_with_copies_and_malformed_ones() -> None:
    from monitor.simulate import iter_lines, simulate

    lines = [x.encode() for x in iter_lines(simulate(200, 3, 9, duplicates=0.05, malformed=0.02))]
    for lo in range(0, len(lines), 997):
        _same(lines[lo:lo + 997], 4)


def test_lines_the_fast_reading_leaves_to_the_one_at_a_time_reading() -> None:
    """Any of these in a block sends the whole block the slower way, with the same results."""
    base = [_canonical(json.loads(x)) for x in _golden()[:40]]
    doc = json.loads(base[3])
    odd = [
        _compact({"type": doc["type"], **doc}),  # another order
        _canonical(doc).replace(b'"occurred_at":"', b'"occurred_at": "'),
        _canonical(doc)[:-1] + b',"occurred_at":"2030-01-01T00:00:00Z"}',  # written twice: the last one counts
        _canonical(doc)[:-1] + b',"borrower_id":"B-other"}',
        _canonical(doc)[:-1] + b',"event_id":"e-other"}',
        _canonical({**doc, "event_id": "é-ünïcode"}),  # not ASCII: hashed as text
        _canonical({**doc, "event_id": "x" * 60}),  # longer than read at once
        _canonical({**doc, "borrower_id": "B" * 40}),
        _canonical({**doc, "event_id": ""}),
        _canonical({**doc, "notes": 'a "quoted" word'}),  # a backslash
        _canonical({**doc, "occurred_at": "2025-01-01T00:00:00.5+08:00"}),
        b"",
        b"not json",
        _canonical({**doc, "type": "t" * 30}),
    ]
    for line in odd:
        for at in (0, 7, len(base)):
            _same(base[:at] + [line] + base[at:])
    for line in odd:  # alone, and at the end of a block without a newline after it
        _same([line])
    _same([x + b"\r" for x in base])  # carriage returns


def test_random_lines_agree() -> None:
    rng = random.Random(11)
    docs = [json.loads(x) for x in _golden()]
    assert len(docs) >= 60
    for _ in range(40):
        lines = []
        for doc in rng.sample(docs, 60):
            line = _canonical(doc) if rng.random() < 0.9 else _compact(doc)
            if rng.random() < 0.05:
                line = line[:rng.randrange(len(line))]
            lines.append(line)
        _same(lines, rng.choice([2, 3, 8]))
