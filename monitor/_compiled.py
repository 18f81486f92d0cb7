"""The guard of the compiled modules: a compiled module runs only while its source is the one it was built from.

setup.py compiles some modules with Cython (pure-Python mode) and records each one's source SHA-256 in
``_compiled.json`` beside them (with its ``.pxd``, Cython's declarations, when it has one). Python would import a module's compiled file (``engine.cpython-*.so``) before its
source, so after an edit of ``engine.py`` the old build would run silently. The build is optional and not the
default (setup.py says why). ``install()`` (run by the package's
``__init__``, before any other module of the package is imported) puts a finder first on ``sys.meta_path``: a
module of the package with a compiled file beside it whose source no longer has the recorded hash (or that the
record does not list) is imported from its source. ``MONITOR_COMPILED=require`` makes such a module an
ImportError naming the rebuild command instead (for benchmarks of the compiled build); ``MONITOR_COMPILED=source``
imports every module from its source (the pure side of an A/B on one build). This module is never compiled.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from importlib.util import spec_from_file_location
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
RECORD = os.path.join(HERE, "_compiled.json")
REBUILD = "make install COMPILED=1 (or: MONITOR_COMPILE=1 pip install -e .)"


def _record() -> dict[str, Any]:
    try:
        with open(RECORD, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recorded() -> dict[str, str]:
    modules = _record().get("modules")
    return modules if isinstance(modules, dict) else {}


def source_digest(source: str) -> str:
    """SHA-256 of a module's source and of its ``.pxd`` (Cython's declarations beside it), when it has one."""
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        digest.update(f.read())
    pxd = source.removesuffix(".py") + ".pxd"
    if os.path.exists(pxd):
        with open(pxd, "rb") as f:
            digest.update(b"\0pxd\0" + f.read())
    return digest.hexdigest()


class Guard:
    """The meta-path finder: answers only for the package's modules that have a compiled file beside them."""

    def __init__(self, recorded: dict[str, str], mode: str) -> None:
        self.recorded = {} if mode == "source" else recorded
        self.require = mode == "require"
        self.mode = mode
        self.status: dict[str, str] = {}  # module -> "compiled" | why it runs from source

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if not name.startswith("monitor."):
            return None
        base = os.path.join(HERE, *name.split(".")[1:])
        if not any(os.path.exists(base + suffix) for suffix in EXTENSION_SUFFIXES):
            if self.require and name in self.recorded:
                raise ImportError(f"{name}: the compiled module is missing; rebuild with: {REBUILD}")
            return None
        source = base + ".py"
        try:
            digest = source_digest(source)
        except OSError:
            return None  # no source beside it: the ordinary import machinery decides
        want = self.recorded.get(name)
        if want == digest:
            self.status[name] = "compiled"
            return None  # the ordinary machinery imports the compiled file
        why = ("its source changed since the build" if want else
               "MONITOR_COMPILED=source" if self.mode == "source" else "the build's record does not list it")
        if self.require:
            raise ImportError(f"{name}: the compiled module is stale ({why}); rebuild with: {REBUILD}")
        self.status[name] = f"source ({why})"
        return spec_from_file_location(name, source)


def install() -> Guard:
    """Put the guard first on ``sys.meta_path`` (once)."""
    for finder in sys.meta_path:
        if isinstance(finder, Guard):
            return finder
    guard = Guard(_recorded(), os.environ.get("MONITOR_COMPILED", ""))
    sys.meta_path.insert(0, guard)
    return guard


def status() -> dict[str, str]:
    """How each imported module that has a compiled file ran so far: "compiled" or "source (why)"."""
    return dict(install().status)


def summary() -> str:
    """One line: what the last build compiled, or why it installed pure Python."""
    record = _record()
    if not record:
        return "monitor: pure Python (no compiled build recorded)"
    if record.get("pure"):
        return f"monitor: pure Python, no module compiled ({record['pure']})"
    return f"monitor: {len(_recorded())} modules compiled by Cython (setup.py; pure Python: make install)"

