"""Configuration files: the one loader of the policy, teams, users and capacity files.

Each is a TOML file (or JSON, by its ``.json`` suffix) validated by a pydantic model. Whatever is wrong
is one line that names the file and the key, with the wording of :func:`monitor._errors.describe`::

    teams.toml: teams.T01.visits_per_day: must be 0 or more, not -1

:func:`read_document` reads and parses a file; :func:`load` also validates it. The error class is the
caller's (a policy's is :class:`~monitor._errors.PolicyError`, the others' :class:`~monitor._errors.ConfigError`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from monitor._errors import ConfigError, MonitorError, Wording, describe

__all__ = ["load", "parse", "read_document"]

T = TypeVar("T")


def read_document(path: str | Path, *, error: type[MonitorError] = ConfigError) -> Any:
    """The parsed content of a TOML (or ``.json``) file; ``error`` names the file and what is wrong."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror or exc}") from None
    kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{p}: not UTF-8: {exc}") from None
    try:
        return json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{p}: not valid {kind}: {exc}") from None


def parse(data: Any, validate: Callable[[Any], T], source: str, *, error: type[MonitorError] = ConfigError,
          wording: Wording | None = None, top: str = "", hint: str = "") -> T:
    """``validate(data)``; a pydantic error becomes ``error("<source>: <key>: <what is wrong>; ...")``
    (with `` (hint)`` after it when given)."""
    try:
        return validate(data)
    except ValidationError as exc:
        raise error(f"{source}: {describe(exc, wording, top)}" + (f" ({hint})" if hint else "")) from None


def load(path: str | Path, validate: Callable[[Any], T], *, error: type[MonitorError] = ConfigError,
         wording: Wording | None = None, top: str = "", hint: str = "") -> T:
    """Read, parse and validate a configuration file (see the module docstring)."""
    return parse(read_document(path, error=error), validate, str(path), error=error, wording=wording, top=top,
                 hint=hint)
