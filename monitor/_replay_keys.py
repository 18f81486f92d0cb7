"""Which events of a replay's input share their id: the rest need no duplicate memory (``engine.UNSEEN``).

The engine remembers the ids of the events it applied (``duplicate_memory`` per borrower, within the duplicate
window) to recognise copies. In a replay most ids occur once in the whole input: nothing will ever be compared
with them. Before the replay, one pass over the input takes a 64-bit key of each line's event_id (the
contract's ids are unique per event, whatever the borrower) and finds the keys that occur more than once
(sorted with numpy; a split input's keys are taken by the split, which reads every line anyway, each process
its share, then put together: ``monitor._replay_split.repeated_keys_of``): an event whose key occurs once is
given to the engine as ``UNSEEN`` (no digest, not kept: the engine only counts it against the memory's cap,
so that it forgets the other ids exactly when the full memory would). Every other event (a repeated id, under one borrower or several, or a key two ids happen
to share) gets the full treatment. The outcomes are those of the full memory (tests/test_engine_unseen.py,
tests/test_replay_keys.py).

The key of a line is read from its text when that is plain: no backslash in the line (no escape anywhere, so
every key and value is written as it is) and ``"event_id"`` written once, as ``"event_id":"value"``. Then that
value is the one validation gives (a valid event is a flat object that must hold it). Any other line is
validated (the contract decides, as the replay will): a line that fails is rejected by the replay and needs
no key. The lines are read in blocks of about 1 MiB, with one search for all their ids when the block is
plain (see ``block_keys``). Memory: the keys of the input's lines (8 bytes a line, twice while sorted)
during the pass, then the set of repeated keys (it grows with the repeated ids, not with the events).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from monitor._errors import InputError
from monitor.events import EVENT_ADAPTER
from monitor.jsonl import compressed, iter_lines, range_blocks

__all__ = ["block_keys", "event_key", "file_blocks", "joined", "raw_key", "repeated_keys", "repeated_keys_in"]

_EID = b'"event_id":"'
_KEY = b'"event_id"'
_validate_json = EVENT_ADAPTER.validator.validate_json


# The key of an event id (within one run: Python's hash, the same in the processes a replay forks); the builtin
# itself, so that the replay's loop makes no call of its own for it.
event_key: Callable[[str], int] = hash


def raw_key(raw: bytes) -> int | None:
    """The key of the id of the event a line holds; None for a line the replay rejects (fails validation)."""
    if b"\\" not in raw and raw.count(_KEY) == 1:
        i = raw.find(_EID)
        if i >= 0:
            try:
                return hash(raw[i + 12:raw.find(b'"', i + 12)].decode())
            except UnicodeDecodeError:
                pass
    try:
        event = _validate_json(raw)
    except ValidationError:
        return None
    return hash(event.event_id)


def repeated_keys(lines: Iterable[bytes]) -> set[int]:
    """The keys that more than one of ``lines`` holds."""
    return repeated_keys_in(joined(lines))


def repeated_keys_in(blocks: Iterable[bytes]) -> set[int]:
    """``repeated_keys`` of lines given as blocks, each of whole lines joined by newlines (a line may end
    with carriage returns, as in a file: they are not part of the line)."""
    keys = array("q")
    for block in blocks:
        block_keys(block, keys)
    if len(keys) < 2:
        return set()
    ordered = np.sort(np.frombuffer(keys, dtype=np.int64))
    del keys
    same = ordered[1:] == ordered[:-1]
    return set(np.unique(ordered[1:][same]).tolist())


def file_blocks(path: Path) -> Iterator[bytes]:
    """The lines of a JSONL file (those ``iter_lines`` gives) as blocks of whole lines for ``repeated_keys_in``:
    a plain file read 1 MiB at a time (``range_blocks`` over the whole file); a compressed file, stdin or
    anything that is not a plain file, line by line."""
    name = str(path)
    if name != "-" and Path(name).is_file():
        try:
            gz, size = compressed(Path(name)), Path(name).stat().st_size
        except OSError as exc:
            raise InputError(f"{name}: cannot read: {exc}") from None
        if not gz:
            yield from range_blocks(Path(name), 0, size)
            return
    yield from joined(raw for _, raw in iter_lines(path))


_CHUNK = 4096
_EIDS = re.compile(rb'"event_id":"([^"]*)"')


def joined(lines: Iterable[bytes]) -> Iterator[bytes]:
    chunk: list[bytes] = []
    for raw in lines:
        chunk.append(raw)
        if len(chunk) == _CHUNK:
            yield b"\n".join(chunk)
            chunk = []
    if chunk:
        yield b"\n".join(chunk)


def block_keys(block: bytes, keys: array[int]) -> None:
    """The keys of a block of lines, all at once when the block is plain: no backslash anywhere and every
    ``"event_id"`` written as ``"event_id":"value"`` (then each line's id is among the values found, and
    a value found beside it, in a line the replay rejects or a repeated key, can only mark more ids as
    repeated); else line by line."""
    if b"\\" not in block:
        found = _EIDS.findall(block)  # (UTF-8 never holds a quote within a character: the values of the text)
        if len(found) == block.count(_KEY):
            if b"".join(found).isascii():  # an ASCII value's hash is its text's (CPython: the same bytes)
                keys.extend(map(hash, found))
                return
            try:
                keys.extend([hash(v.decode()) for v in found])
                return
            except UnicodeDecodeError:
                pass
    for raw in block.split(b"\n"):
        key = raw_key(raw.rstrip(b"\r"))
        if key is not None:
            keys.append(key)
