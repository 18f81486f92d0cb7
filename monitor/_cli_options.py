"""Command-line options that mirror a settings object, shared by ``monitor worker`` and ``monitor serve``.

Each option is ``(--name, click keyword arguments)``; its value, when given, overrides the
setting of the same name (which otherwise comes from ``MONITOR_<NAME>`` or its default).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from monitor._errors import ConfigError

__all__ = ["Option", "add_options", "settings_from_options"]

Option = tuple[str, dict[str, Any]]
S = TypeVar("S", bound=BaseModel)


def add_options(options: Sequence[Option]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding ``options`` to a click command (default None: "not given")."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt, spec in reversed(options):
            fn = click.option(opt, default=None, **spec)(fn)
        return fn

    return decorate


def settings_from_options(cls: type[S], options: Sequence[Option], kwargs: dict[str, Any]) -> S:
    """Pop the ``options``' values from ``kwargs`` and build ``cls`` from those given (and the
    environment); a bad value is a :class:`ConfigError` naming the setting."""
    given = {}
    for opt, _ in options:
        name = opt.lstrip("-").replace("-", "_")
        value = kwargs.pop(name)
        if value is not None:
            given[name] = value
    try:
        return cls(**given)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in err["loc"]) or "settings"
        raise ConfigError(f"{where}: {str(err['msg']).removeprefix('Value error, ')}") from None
