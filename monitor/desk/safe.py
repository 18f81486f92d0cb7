"""Names and free text on their way out of the desk: nothing a record carries can break an output format.

The event contract and the desk's requests refuse control, escape and bidi
characters (:mod:`monitor.events`), but the topics may hold records written
before they did, or by another producer. So every output neutralises them as
well: :func:`clean` (names: every such character becomes U+FFFD; the one of
:mod:`monitor._escape`, which the reports and the HTML escape share) and
:func:`clean_text` (free text: tab, line feed and carriage return are kept),
and :func:`content_disposition` builds a download header from any name
(an ASCII fallback plus the RFC 6266 / RFC 8187 UTF-8 form). Pure.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from monitor._escape import REPLACEMENT, clean
from monitor.events import FREE_TEXT_PATTERN

__all__ = ["REPLACEMENT", "clean", "clean_text", "content_disposition"]

_TEXT_BAD = re.compile("[" + FREE_TEXT_PATTERN.removeprefix("^[^").removesuffix("]*$") + "]")
_FALLBACK_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def clean_text(text: str) -> str:
    """Free text with the characters a note may not hold replaced by U+FFFD (tab and line breaks kept)."""
    return _TEXT_BAD.sub(REPLACEMENT, text)


def content_disposition(filename: str) -> str:
    """``attachment`` with ``filename`` (ASCII letters, digits, ``._-``; anything else becomes ``_``) and
    ``filename*`` (the whole name in UTF-8, percent-encoded): never a character a header may not hold."""
    fallback = _FALLBACK_BAD.sub("_", filename).strip("._") or "download"
    encoded = quote(clean(filename).replace(REPLACEMENT, "_"), safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
