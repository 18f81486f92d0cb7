"""The functional core imports none of the shell, reads no clock and does no I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "monitor"
CORE = ["_errors.py", "_time.py", "events.py", "outputs.py", "state.py", "engine.py",
        "rules/__init__.py", "rules/policy.py", "rules/evaluate.py", "rules/overrides.py", "rules/visits.py"]
ALLOWED = {"__future__", "dataclasses", "typing", "enum", "functools", "hashlib", "collections", "datetime",
           "zoneinfo", "pydantic", "monitor"}
CORE_MODULES = {"monitor." + c.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for c in CORE}
FORBIDDEN_CALLS = {"now", "today", "utcnow", "time", "perf_counter", "monotonic", "open", "print", "getLogger",
                   "read_bytes", "read_text", "write_text", "urandom", "random"}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("name", CORE)
def test_core_module_imports_only_the_core_and_pure_libraries(name):
    tree = ast.parse((PKG / name).read_text())
    for mod in _imports(tree):
        top = mod.split(".")[0]
        assert top in ALLOWED, f"{name} imports {mod}"
        if top == "monitor":
            assert mod in CORE_MODULES or mod == "monitor", f"{name} imports the shell module {mod}"


@pytest.mark.parametrize("name", CORE)
def test_core_module_reads_no_clock_and_does_no_io(name):
    tree = ast.parse((PKG / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            assert called not in FORBIDDEN_CALLS, f"{name}:{node.lineno} calls {called}()"


def test_importing_the_engine_loads_no_shell():
    code = ("import sys, monitor.engine, monitor.rules.evaluate, monitor.events; "
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout.split())
    for shell in ("faust", "aiokafka", "kafka", "click", "numpy", "monitor.replay", "monitor.cli",
                  "monitor.jsonl", "monitor.simulate", "monitor.rules.loader", "monitor.agents", "monitor.reports"):
        assert shell not in loaded, f"importing the core loaded {shell}"


def test_package_hygiene_no_star_imports_pickle_or_god_files():
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        rel = path.relative_to(ROOT)
        assert len(text.splitlines()) <= 600, f"{rel} has more than 600 lines"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert all(a.name != "*" for a in node.names), f"{rel} uses a star import"
            assert not isinstance(node, ast.Assert), f"{rel}:{getattr(node, 'lineno', '?')} validates with assert"
        assert "pickle" not in _imports(tree), f"{rel} imports pickle"
