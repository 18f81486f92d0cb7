"""The exception tree of the monitor.

    MonitorError                 root: catch this to catch everything we raise
    ├── PolicyError              a policy file is unreadable or invalid (names the key)
    ├── InputError               an input file or argument cannot be used
    └── ConfigError              a setting of the runtime is invalid

Malformed events are not exceptions: they become rejects with a reason.

:func:`describe` is the one way a configuration file's validation errors are told (policy, teams,
users, capacity and feed files; see :mod:`monitor.config`): every error as ``key.path[1].name: what
is wrong``, joined with ``; ``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

#: a file's own words for some errors: gets pydantic's error dict, returns the message or None (the common one)
Wording = Callable[[Mapping[str, Any]], "str | None"]


class MonitorError(Exception):
    """Root of every error this package raises on purpose."""


class PolicyError(MonitorError):
    """A policy file is unreadable or invalid."""


class InputError(MonitorError):
    """An input file or argument cannot be used."""


class ConfigError(MonitorError):
    """A runtime setting is invalid."""


def where(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a file's key path: ``teams.T01.holidays[0]``; a bad key of a table
    (``[key]``) is named quoted."""
    if loc and loc[-1] == "[key]":
        loc = (*loc[:-2], f"{loc[-2]!r}")
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += ("." if out else "") + str(item)
    return out


def _common(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key (misspelt?)"
    if kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        if "|" in pattern:
            return "must be one of " + pattern.strip("^$()").replace("|", ", ")
    return str(err["msg"]).removeprefix("Value error, ")


def describe(exc: ValidationError, wording: Wording | None = None, top: str = "") -> str:
    """Every error of ``exc`` as ``key: what is wrong`` (``top`` names errors of the whole document;
    empty: the message alone), in the file's own ``wording`` where it has one."""
    lines = []
    for err in exc.errors(include_url=False):
        key = where(tuple(err["loc"])) or top
        msg = wording(err) if wording is not None else None
        if msg is None:
            msg = _common(err)
        lines.append(f"{key}: {msg}" if key else msg)
    return "; ".join(lines)
