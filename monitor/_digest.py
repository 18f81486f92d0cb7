"""The engine's duplicate memory and the content digests it keeps (``monitor.engine`` re-exports
:func:`content_digest`): two copies with one event_id and one digest are the same event, a copy with
another digest is a conflicting duplicate."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from monitor._time import to_us
from monitor.events import Event, TierOverride
from monitor.state import BorrowerState

__all__ = ["FORM2", "UNIQUE", "content_digest", "count_unseen", "digest_form1", "remember"]

UNIQUE = -1  # the digest of an id kept without its content (see ``monitor.engine.UNIQUE``)

_INSTANTS = frozenset({"occurred_at", "until"})
# A digest of the second form carries this bit (the first form, blake2b of the model's JSON, fits in 32 bits
# and is still recognised in states written before the second form)
FORM2 = 1 << 32
_DIGEST_TEXT: dict[type, Callable[[Any], str]] = {}


def _digest_text(cls: type) -> Callable[[Any], str]:
    """The function that writes the content of an event of ``cls`` as the text :func:`content_digest` hashes
    (generated from the model's fields, so that it follows the schema)."""
    parts = []
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        if name in _INSTANTS:
            continue
        if not name.isidentifier():
            raise ValueError(f"field name {name!r}")
        optional = not info.is_required() or type(None) in getattr(info.annotation, "__args__", ())
        parts.append("{_ABSENT if e." + name + " is None else e." + name + "}" if optional else "{e." + name + "}")
    namespace: dict[str, Any] = {"_ABSENT": "\x1e"}
    exec("def text(e):\n    return f'" + "\x1f".join(parts) + "'\n", namespace)  # noqa: S102 - field names
    fn = _DIGEST_TEXT[cls] = namespace["text"]
    return fn  # type: ignore[no-any-return]


def content_digest(event: Event, at: int | None = None) -> int:
    """A short digest (32 bits, with the form bit ``1 << 32``) of an event's content, instants compared as
    instants (whatever the written UTC offset): two copies with one event_id and one digest are the same event.

    The content is the model's field values in field order (the instants ``occurred_at`` and ``until`` as
    microseconds, at the end): text as it is, enums as their values, numbers as ``format`` writes them (floats
    shortest round-trip), an absent value as U+001E; joined with U+001F (neither can occur in any field)."""
    t = to_us(event.occurred_at) if at is None else at
    text = (_DIGEST_TEXT.get(type(event)) or _digest_text(type(event)))(event)
    until = event.until if type(event) is TierOverride else None
    tail = f"\x1d{t}\x1d{to_us(until) if until is not None else ''}"
    h = hashlib.blake2b((text + tail).encode("utf-8", "surrogatepass"), digest_size=4)
    return int.from_bytes(h.digest()) | FORM2


def digest_form1(event: Event, at: int) -> int:
    """The first form of :func:`content_digest` (the model's JSON without the instants), to compare a copy with
    a digest kept in a state written before the second form."""
    until = getattr(event, "until", None)
    tail = f"|{at}|{to_us(until) if until is not None else ''}".encode()
    h = hashlib.blake2b(event.model_dump_json(exclude=_INSTANTS).encode(), digest_size=4)
    h.update(tail)
    return int.from_bytes(h.digest())


def remember(s: BorrowerState, eid: str, t: int, digest: int, horizon: int, memory: int) -> None:
    """Keep an applied event's id (digest, or ``UNIQUE``) in ``s.seen``, in arrival order; forget the oldest
    while they are at or before ``horizon`` (now less the window), then beyond the ``memory`` latest."""
    seen = s.seen
    s.bare = False
    if eid in seen:
        del seen[eid]  # re-inserted last: the dict stays in arrival order
    if s.unseen:  # UNSEEN events counted (see count_unseen): the entry notes how many came before it
        seen[eid] = (t, None if digest == UNIQUE else digest, s.unseen)
    else:
        seen[eid] = t if digest == UNIQUE else (t, digest)
    # forget the oldest arrivals while they are out of the window (the one just kept is inside it:
    # the engine took a later one as stale)
    kept = seen[next(iter(seen))]
    if (kept if kept.__class__ is int else kept[0]) <= horizon:
        stale = []
        for first, kept in seen.items():
            if (kept if kept.__class__ is int else kept[0]) > horizon:
                break
            stale.append(first)
        for first in stale:
            del seen[first]
    if s.unseen:
        _cap(s, memory)
        return
    over = len(seen) - memory
    if over > 0:
        for old in list(seen)[:over]:
            del seen[old]


def count_unseen(s: BorrowerState, horizon: int, memory: int) -> None:
    """An event given as ``UNSEEN`` (no other event has its id) was applied while ``s.seen`` holds ids: the
    full memory would have kept it, so it takes a place in the cap. ``s.unseen`` counts such events; an
    entry of ``seen`` kept meanwhile notes the count at its arrival, so that the UNSEEN events after it are
    known, and the oldest id is forgotten exactly when the full memory would forget it."""
    seen = s.seen
    while seen:
        first = next(iter(seen))
        kept = seen[first]
        if (kept if kept.__class__ is int else kept[0]) > horizon:
            break
        del seen[first]
    if not seen:
        s.unseen = 0  # nothing kept that later events could push out
        return
    s.unseen += 1
    _cap(s, memory)


def _cap(s: BorrowerState, memory: int) -> None:
    """Forget the oldest ids while ``memory`` or more arrivals (ids kept after them, and the UNSEEN events
    counted since) came after them: the full memory holds the latest ``memory`` arrivals only."""
    seen, unseen = s.seen, s.unseen
    while seen:
        first = next(iter(seen))
        kept = seen[first]
        before = kept[2] if kept.__class__ is tuple and len(kept) == 3 else 0
        if len(seen) - 1 + unseen - before < memory:
            break
        del seen[first]
    if not seen:
        s.unseen = 0
