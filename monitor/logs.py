"""Structured logs: one JSON object per line, with no personal data.

``configure_logging("info")`` sends every record to standard error as one JSON
object (``time``, ``level``, ``logger``, ``message``, then any ``extra=`` fields);
``fmt="text"`` gives one readable line instead. :func:`logging_config` returns
the same setup as a :func:`logging.config.dictConfig` dictionary, which Faust's
worker takes as ``Worker(app, logging_config=...)`` so that its own records
come out the same way.

:class:`PersonalDataFilter` sits on the handler, so it sees every record of
every logger: it masks extra fields that name a person (``borrower_name`` and
friends; ``name`` keys inside dict or list extras) and, in the message and the
traceback text, the forms a name takes when an event or an error is printed
(``"name": "..."``, ``'name': '...'``, ``name='...'`` and pydantic's
``input_value=...``). The monitor never logs event payloads; the filter is the
safety net for code that one day does, and for libraries that print what they
hold when they fail.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

__all__ = ["MASK", "ROUTINE", "JsonFormatter", "PersonalDataFilter", "RoutineFilter", "TextFormatter",
           "configure_logging", "logging_config", "mask_quoted_values", "scrub"]

MASK = "***"
#: extra fields (record attributes) that carry a person's name
PERSONAL_FIELDS = frozenset({"borrower_name", "customer_name", "person_name", "full_name", "legal_name"})
#: keys masked inside dict and list extras (``name`` itself cannot be an extra: it is the logger's name)
PERSONAL_KEYS = PERSONAL_FIELDS | {"name"}

_KEYS = "|".join(sorted(PERSONAL_KEYS))
_PATTERNS = [
    # JSON: "name": "..." (escaped quotes inside the value included)
    re.compile(r'("(?:' + _KEYS + r')"\s*:\s*)"(?:[^"\\]|\\.)*"'),
    # Python dict repr: 'name': '...' or 'name': "..."
    re.compile(r"""('(?:""" + _KEYS + r""")'\s*:\s*)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""),
    # dataclass / pydantic repr and keyword style: name='...' or name="..."
    re.compile(r"""(\b(?:""" + _KEYS + r""")=)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""),
    # pydantic ValidationError text: input_value='...' (an invalid input may be anything, a name included)
    re.compile(r"""(\binput_value=)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\{[^\n]*?\}(?=, input_type)|[^,\]\n]+)"""),
]
_TEXT_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
                "critical": logging.CRITICAL}
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def scrub(text: str) -> str:
    """``text`` with every personal value in a recognised form replaced by ``***``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + (MASK if m.group(1).endswith("=") else f'"{MASK}"'), text)
    return text


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
#: a clause that quotes the allowed values, not the message's (``mitigation: must be one of 'a' or 'b'``)
_ALLOWED = re.compile(r"^[\w.\[\]]+: must be (?:one of )?'")


def mask_quoted_values(reason: str) -> str:
    """A dead letter's reason as a log may show it: every quoted value masked (a key mismatch quotes the
    key and the borrower id, an unknown type the type given, an exception its input), except the allowed
    values a ``must be one of`` clause lists. The dead-letter topic keeps the whole reason."""
    return "; ".join(part if _ALLOWED.match(part) else _QUOTED.sub(f"'{MASK}'", part)
                     for part in reason.split("; "))


def _mask(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, Mapping):
        return {k: (MASK if str(k) in PERSONAL_KEYS else _mask(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, depth + 1) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


class PersonalDataFilter(logging.Filter):
    """Masks names in a record (see the module docstring); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn repeats its message with ANSI colour codes for its own console: not for a log file
        record.__dict__.pop("color_message", None)
        for key in list(record.__dict__):
            if key in _STANDARD:
                continue
            if key in PERSONAL_FIELDS:
                record.__dict__[key] = MASK
            else:
                record.__dict__[key] = _mask(record.__dict__[key])
        message = record.getMessage()
        clean = scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            record.exc_info = None  # formatters print exc_text, already scrubbed
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


#: (logger, message format) of library lines that every ordinary rebalance writes at WARNING: INFO here,
#: so that WARNING keeps meaning "look at this" (tests/test_logs.py checks the formats still exist)
ROUTINE = frozenset({
    # each member of the group, each time the group rebalances (a worker added, removed or restarted)
    ("aiokafka.consumer.group_coordinator", "Heartbeat failed for group %s because it is rebalancing"),
})


class RoutineFilter(logging.Filter):
    """Shows the :data:`ROUTINE` library lines at INFO (dropped when the handler's ``level`` is above)."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO and (record.name, record.msg) in ROUTINE:
            record.levelno, record.levelname = logging.INFO, "INFO"
            return self.level <= logging.INFO
        return True


def _iso(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter, with ``time`` in ISO 8601 UTC (milliseconds)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso(record)


class TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso(record)


def logging_config(level: str | int = "info", fmt: str = "json") -> dict[str, Any]:
    """The :func:`logging.config.dictConfig` form of the monitor's logging (handler on stderr)."""
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    lvl = _TEXT_LEVELS.get(level.lower(), None) if isinstance(level, str) else level
    if lvl is None:
        raise ValueError(f"log level must be one of {', '.join(_TEXT_LEVELS)}, not {level!r}")
    formatters: dict[str, Any] = {
        "json": {
            "()": JsonFormatter,
            "fmt": "{asctime}{levelname}{name}{message}",
            "style": "{",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"()": TextFormatter, "fmt": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"personal_data": {"()": PersonalDataFilter}, "routine": {"()": RoutineFilter, "level": lvl}},
        "formatters": {fmt: formatters[fmt]},
        "handlers": {"default": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": fmt,
                                 "filters": ["routine", "personal_data"], "level": lvl}},
        "root": {"level": lvl, "handlers": ["default"]},
    }


def configure_logging(level: str | int = "info", fmt: str = "json", stream: IO[str] | None = None) -> None:
    """Apply :func:`logging_config` (to ``stream`` instead of stderr when given)."""
    config = logging_config(level, fmt)
    logging.config.dictConfig(config)
    if stream is not None and stream is not sys.stderr:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)
