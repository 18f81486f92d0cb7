"""The search-space file: which policy parameters ``monitor tune`` may change, and to what.

TOML::

    [search]
    base = "default"        # the policy the candidates start from: "default" or a policy file
                            # (a relative path is read from the search-space file's folder)
    seed = 1                # candidates are drawn from this seed (``--seed`` overrides it)
    candidates = 48         # how many policies to score, the base included (``--candidates``)

    [params]
    # a policy key, dotted, [i] for a list item: a list of choices, or a range
    "overdue.dpd.bands[1].min" = [15, 20, 30]
    "cure_days.watch" = { min = 30, max = 120, step = 15 }
    "lawsuit.claim_large.min_ratio" = { min = 0.02, max = 0.20, step = 0.02 }
    "rating.downgrade_1.level" = ["watch", "warning"]

Every key must exist in the base policy, every choice must have the type of
the base value there (a whole number for a whole number, a number for a
number, a string for a string, true/false for a switch). A range is
``min, max`` and ``step`` (whole numbers: step 1 when left out). A
candidate that breaks a rule of the policy (say, band minimums no longer
increasing) is scored as invalid and named, never silently repaired.
"""

from __future__ import annotations

import copy
import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor._errors import InputError
from monitor.rules.loader import DEFAULT_POLICY_PATH

__all__ = ["Param", "Space", "apply_params", "get_path", "load_space", "parse_path"]

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MAX_CHOICES = 10_000
Value = int | float | str | bool


@dataclass(frozen=True, slots=True)
class Param:
    path: str
    keys: tuple[str | int, ...]
    choices: tuple[Value, ...]
    base: Value


@dataclass(frozen=True, slots=True)
class Space:
    file: str
    sha256: str
    base_file: str  # the base policy file
    base_text: str  # its text (the chosen policy is written as a copy of it, with comments)
    base_data: dict[str, Any]
    seed: int
    candidates: int
    params: tuple[Param, ...]


def parse_path(path: str) -> tuple[str | int, ...]:
    """``overdue.dpd.bands[1].min`` -> ("overdue", "dpd", "bands", 1, "min"); ValueError when malformed."""
    keys: list[str | int] = []
    pos = 0
    for m in _STEP.finditer(path):
        gap = path[pos:m.start()]
        if gap not in ("", "."):
            raise ValueError(f"not a policy key: {path!r}")
        keys.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not keys or pos != len(path) or path.startswith(".") or ".." in path:
        raise ValueError(f"not a policy key: {path!r}")
    return tuple(keys)


def get_path(data: Any, keys: tuple[str | int, ...]) -> Any:
    node = data
    for k in keys:
        if isinstance(k, int):
            if not isinstance(node, list) or k >= len(node):
                raise KeyError(k)
            node = node[k]
        else:
            if not isinstance(node, dict) or k not in node:
                raise KeyError(k)
            node = node[k]
    return node


def apply_params(base: dict[str, Any], params: tuple[Param, ...], values: tuple[Value, ...]) -> dict[str, Any]:
    """A copy of the base policy mapping with each parameter set to its value."""
    data = copy.deepcopy(base)
    for p, v in zip(params, values):
        node = get_path(data, p.keys[:-1])
        node[p.keys[-1]] = v
    return data


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, int):
        return "a whole number"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    return type(v).__name__


def _choices(where: str, spec: Any, base: Value) -> tuple[Value, ...]:
    if isinstance(base, (dict, list)):
        raise InputError(f"{where}: names a table or list of the policy, not a value")
    if isinstance(spec, list):
        values = tuple(spec)
    elif isinstance(spec, dict):
        unknown = sorted(set(spec) - {"min", "max", "step"})
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r} (a range has min, max and step)")
        if "min" not in spec or "max" not in spec:
            raise InputError(f"{where}: a range needs min and max")
        lo, hi = spec["min"], spec["max"]
        step = spec.get("step", 1 if isinstance(base, int) and not isinstance(base, bool) else None)
        for name, x in (("min", lo), ("max", hi), ("step", step)):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise InputError(f"{where}: {name} must be a number" if x is not None else
                                 f"{where}: a range of numbers needs a step")
        if isinstance(base, bool) or not isinstance(base, (int, float)):
            raise InputError(f"{where}: a range needs a numeric policy value, the policy has {_kind(base)}")
        if hi < lo or step <= 0:
            raise InputError(f"{where}: needs min <= max and step > 0")
        n = int((hi - lo) / step + 1e-9) + 1
        if n > _MAX_CHOICES:
            raise InputError(f"{where}: {n} values, more than {_MAX_CHOICES}: use a larger step")
        if isinstance(base, int):
            if any(not float(x).is_integer() for x in (lo, step)):
                raise InputError(f"{where}: the policy value is a whole number: min and step must be too")
            values = tuple(int(lo) + i * int(step) for i in range(n))
        else:
            values = tuple(round(lo + i * step, 10) for i in range(n))
    else:
        raise InputError(f"{where}: give a list of choices or a range {{min, max, step}}")
    if not values:
        raise InputError(f"{where}: no choices")
    out: list[Value] = []
    for v in values:
        ok = (_kind(v) == _kind(base)) or (isinstance(base, float) and isinstance(v, int) and not isinstance(v, bool))
        if not ok:
            raise InputError(f"{where}: {v!r} is {_kind(v)}, the policy value is {_kind(base)}")
        v = float(v) if isinstance(base, float) else v
        if v not in out:
            out.append(v)
    return tuple(out)


def load_space(path: str, *, seed: int | None = None, candidates: int | None = None) -> Space:
    """Read and check a search-space file; raises ``InputError`` naming the file and key."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"search", "params"})
    if unknown:
        raise InputError(f"{p}: unknown table {unknown[0]!r} (a search space has [search] and [params])")
    search = doc.get("search", {})
    if not isinstance(search, dict):
        raise InputError(f"{p}: search must be a table")
    bad = sorted(set(search) - {"base", "seed", "candidates"})
    if bad:
        raise InputError(f"{p}: search.{bad[0]}: unknown key (misspelt?)")
    base = search.get("base", "default")
    if not isinstance(base, str) or not base:
        raise InputError(f"{p}: search.base: must be \"default\" or a policy file")
    base_path = DEFAULT_POLICY_PATH if base == "default" else (p.parent / base)
    try:
        base_text = Path(base_path).read_text(encoding="utf-8")
        base_data = tomllib.loads(base_text)
    except OSError as exc:
        raise InputError(f"{p}: search.base: cannot read {base_path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: search.base: {base_path} is not a TOML policy: {exc}") from None
    n_seed = seed if seed is not None else search.get("seed", 1)
    n_cand = candidates if candidates is not None else search.get("candidates", 40)
    for name, v, lo in (("seed", n_seed, 0), ("candidates", n_cand, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"{p}: search.{name}: must be a whole number >= {lo}")
    params_doc = doc.get("params")
    if not isinstance(params_doc, dict) or not params_doc:
        raise InputError(f"{p}: [params] must name at least one policy key to search")
    params = []
    for key in sorted(params_doc):
        where = f"{p}: params.{key!r}" if not re.fullmatch(r"[A-Za-z0-9_.\[\]]+", key) else f"{p}: params.{key}"
        try:
            keys = parse_path(key)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        if keys[0] == "version":
            raise InputError(f"{where}: the version is set by monitor tune")
        try:
            base_value = get_path(base_data, keys)
        except KeyError:
            raise InputError(f"{where}: no such key in the base policy {Path(base_path).name}") from None
        params.append(Param(key, keys, _choices(where, params_doc[key], base_value), base_value))
    return Space(str(p), hashlib.sha256(raw).hexdigest(), str(base_path), base_text, base_data, n_seed, n_cand,
                 tuple(params))
