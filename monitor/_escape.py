"""Text on its way into HTML and SVG (the report's page, the backtest's page): never markup, never hidden.

:func:`html.escape` keeps ``<``, ``&`` and quotes from becoming markup, but lets control, escape and
bidi characters through: a name in a record written before the event contract refused them (or by
another producer) could still hide or reorder what a reader sees, or make the page ill-formed. Here
every character a name may not hold (:data:`monitor.events.NAME_PATTERN`) becomes U+FFFD first, as the
desk's CSV and calendar show them; :func:`clean` does the same for text that is not HTML (the report's
CSV). Pure.
"""

from __future__ import annotations

import html
import re

from monitor.events import NAME_PATTERN

__all__ = ["REPLACEMENT", "clean", "escape"]

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile("[" + NAME_PATTERN.removeprefix("^[^").removesuffix("]*$") + "]")


def clean(text: str) -> str:
    """``text`` with every control, escape, separator and bidi character as U+FFFD (as the desk's CSV has it)."""
    return _UNSAFE.sub(REPLACEMENT, text) if not text.isprintable() else text


def escape(text: str, quote: bool = True) -> str:
    """``text`` for an HTML text node or a quoted attribute: control, escape and bidi characters as U+FFFD,
    then ``&``, ``<``, ``>`` (and, with ``quote``, both quotes) as character references."""
    return html.escape(clean(text), quote)
