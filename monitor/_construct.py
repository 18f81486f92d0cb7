"""Models built without validating again: the one place the package touches pydantic's internals.

What ``BaseModel.model_construct`` (and validation) sets on a new instance: ``__dict__``,
``__pydantic_fields_set__``, ``__pydantic_extra__`` and ``__pydantic_private__``, for a model with no
aliases, no extra fields allowed, no private attributes and no post-init hook. Two callers:

* the engine's alerts and signals (``made``): their values are already of each field's type, in field
  order, every dict and list the model's own, so validating them again only costs time (8-20 us a model;
  an alert with its signals ~30 us);
* the backtest's visits (``constructor``): an ``inspection_completed`` event every dozen events, 850,000 in
  the 100,000 x 24 bench's two policies; ``model_copy`` costs ~4 us, ``model_construct`` ~6 us, this ~1 us.

The contract tests fail when a pydantic upgrade moves these attributes: tests/test_construct.py (against
``model_construct`` and validation, field by field), tests/test_engine_alerts.py (every alert and signal the
engine makes against its validated copy) and tests/backtest/test_construct.py (the visits).

A field made when first read (the report's warning list: ``monitor.reports.model.WarningList.rows``, made from its
columns only if something reads them): ``unset`` (a field ``model_construct`` was not given is absent from the
instance's ``__dict__``), ``fill`` (set it as validation would have) and ``private`` (a private attribute read
without pydantic's ``__getattr__``, from inside a model's own ``__getattr__``). tests/test_construct.py holds them to
what pydantic does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["constructor", "fill", "made", "private", "unset"]

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__
_PLAIN: set[type[BaseModel]] = set()  # the classes checked by ``_plain``


def _plain(cls: type[BaseModel]) -> None:
    """Refuse a model these functions cannot build (aliases, extras, private attributes, a post-init hook)."""
    if cls in _PLAIN:
        return
    if (cls.__pydantic_root_model__ or cls.__pydantic_post_init__ or cls.__private_attributes__
            or cls.model_config.get("extra") == "allow"
            or any(f.alias not in (None, n) or f.validation_alias not in (None, n)
                   for n, f in cls.model_fields.items())):
        raise TypeError(f"{cls.__name__}: not a plain model")
    _PLAIN.add(cls)


def made(cls: type[M], **values: Any) -> M:
    """``cls(**values)`` for values already as validation gives them (each of its field's type, in field order,
    dicts and lists the instance's own): the instance validation would build, without validating again."""
    if cls not in _PLAIN:
        _plain(cls)
    return _build(cls, values, set(values))


def _build(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    m = _new(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", fields_set)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


def constructor(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """A function that makes an instance of ``cls`` from every field's value (a dict in field order, taken
    as the instance's own), as ``cls.model_construct(**values)`` would; refuses a model it cannot build so."""
    _plain(cls)
    names = frozenset(cls.model_fields)

    def make(values: dict[str, Any]) -> M:
        return _build(cls, values, set(names))

    return make


def unset(model: BaseModel, name: str) -> bool:
    """Whether field ``name`` of ``model`` holds no value (``model_construct`` was not given one, nor ``fill``)."""
    return name not in model.__dict__


def fill(model: BaseModel, name: str, value: Any) -> None:
    """Give field ``name`` of ``model`` its value, counted as set (as if ``model_construct`` had been given it)."""
    model.__dict__[name] = value
    model.__pydantic_fields_set__.add(name)


def private(model: BaseModel, name: str) -> Any:
    """The private attribute ``name`` of ``model`` (None: not set), read without the model's ``__getattr__``."""
    values = object.__getattribute__(model, "__pydantic_private__")
    return values.get(name) if values else None
