"""Path parameters of the desk's API: borrower, team, case and record ids, any of which may hold a ``/``.

A name in a path segment is percent-encoded by the client (``B/1`` -> ``B%2F1``),
but the server decodes the path before routing, so ``/borrowers/B%2F1`` would be
routed as two segments and never reach the borrower. :func:`keep_encoded_slashes`
(called by the desk's ASGI guard before routing) decodes such a path itself from
``raw_path``, turning each encoded slash into NUL, a character no valid id may
hold; the parameter types below turn it back into ``/`` before validation. The
guard refuses a path that holds a NUL of its own (422), so a NUL in a parameter
is always an encoded slash.

Every id refuses control, escape and bidi characters like the event contract
(a 422 naming the character), so no name from a path reaches a header, a
calendar or a log line unchecked.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import Path
from pydantic import BeforeValidator, StringConstraints

from monitor.events import NAME_PATTERN

__all__ = ["BorrowerId", "CaseId", "RecordId", "TeamId", "keep_encoded_slashes"]

_SLASH = "\x00"


def keep_encoded_slashes(raw_path: bytes | None) -> str | None:
    """The decoded path with every ``%2F`` as NUL, when ``raw_path`` holds one (else None: leave it)."""
    if not raw_path or b"%2f" not in raw_path.lower():
        return None
    path = raw_path.split(b"?", 1)[0]
    parts = []
    for segment in path.split(b"/"):
        text = unquote_to_bytes(segment).decode("utf-8", "replace")
        if _SLASH in text:
            return None
        parts.append(text.replace("/", _SLASH))
    return "/".join(parts)


def _slashes(value: Any) -> Any:
    return value.replace(_SLASH, "/") if isinstance(value, str) else value


def _id(max_length: int, description: str) -> Any:
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length, pattern=NAME_PATTERN),
                     BeforeValidator(_slashes), Path(description=description)]


BorrowerId = _id(128, "The borrower id (percent-encoded: a / is %2F)")
TeamId = _id(100, "The inspection team (percent-encoded)")
CaseId = _id(128, "The alert that opened the case")
RecordId = _id(128, "record_id of the request_override record")
