"""The functional core imports none of the shell, reads no clock and does no I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "monitor"
CORE = ["_errors.py", "_time.py", "events.py", "outputs.py", "state.py", "engine.py", "_digest.py", "_construct.py",
        "rules/__init__.py", "rules/policy.py", "rules/evaluate.py", "rules/overrides.py", "rules/visits.py"]
ALLOWED = {"__future__", "dataclasses", "typing", "enum", "functools", "hashlib", "collections", "datetime",
           "zoneinfo", "pydantic", "pydantic_core", "monitor"}
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


# ---------------------------------------------------------------- beyond the core (issue 15)

MODULES = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
           for p in sorted(PKG.rglob("*.py"))}
#: the streaming worker's pure logic: what the runtime decides, the offset book, the re-read policy,
#: and the intake the desk shares
PURE_STREAMING = ["monitor.agents.runtime", "monitor.agents.table", "monitor.agents.offsets", "monitor.agents.rereads",
                  "monitor.intake"]


def _imported(name: str) -> set[str]:
    """The monitor modules and third-party top-level packages ``name`` imports (relative imports resolved)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return out


@pytest.mark.parametrize("name", PURE_STREAMING)
def test_the_pure_streaming_logic_imports_no_faust_aiokafka_or_mode(name):
    for mod in _imported(name):
        assert mod.split(".")[0] not in ("faust", "mode", "aiokafka", "kafka", "rocksdict"), f"{name} imports {mod}"
    code = f"import sys, {name}; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout.split())
    for lib in ("faust", "mode", "aiokafka", "kafka", "rocksdict"):
        assert lib not in loaded, f"importing {name} loaded {lib}"


def test_the_desk_imports_nothing_from_the_worker():
    for name in MODULES:
        if name.startswith("monitor.desk"):
            worker = sorted(m for m in _imported(name) if m.startswith("monitor.agents"))
            assert not worker, f"{name} imports {worker}"


def test_reports_and_backtest_import_nothing_from_the_desk():
    for name in MODULES:
        if name.startswith(("monitor.reports", "monitor.backtest")):
            desk = sorted(m for m in _imported(name) if m.startswith("monitor.desk"))
            assert not desk, f"{name} imports {desk}"


def test_a_private_module_is_imported_only_inside_its_own_package():
    for name in MODULES:
        for mod in _imported(name):
            owner, _, last = mod.rpartition(".")
            if mod in MODULES and last.startswith("_") and not last.startswith("__"):
                assert name == owner or name.startswith(owner + "."), f"{name} imports the private module {mod}"


def test_only_the_construct_module_touches_pydantics_instance_internals():
    """pydantic's instance internals (``__pydantic_*__``, a model's ``__dict__``) are used in one module,
    monitor/_construct.py, whose contract tests (tests/test_construct.py) fail when an upgrade moves them."""
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "_construct.py" and path.parent == PKG:
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        named = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        named |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        found = sorted(a for a in named if a.startswith("__pydantic_"))
        assert not found, f"{path.relative_to(ROOT)} uses {found}: go through monitor._construct"
