"""Content digests of events, for the engine's duplicate memory (``monitor.engine`` re-exports
:func:`content_digest`): two copies with one event_id and one digest are the same event, a copy with
another digest is a conflicting duplicate."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from monitor._time import to_us
from monitor.events import Event, TierOverride

__all__ = ["FORM2", "content_digest", "digest_form1"]

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
