"""The optional compiled build (setup.py, Cython): a stale compiled module never runs, the build compiles what it
lists when it can, and it never lists a module that defines a pydantic model."""

from __future__ import annotations

import ast
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import monitor
from monitor import _compiled

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def _listed() -> list[str]:
    """setup.py's COMPILED (read without running setup.py)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            return [ast.literal_eval(e) for e in node.value.elts]
    raise AssertionError("setup.py lists no COMPILED modules")


def _copy_with_fake_build(tmp_path: Path, recorded_hash: str | None) -> Path:
    """A copy of the package whose ``engine`` has a "compiled" file beside it that cannot load (not an ELF file):
    importing it fails loudly, so a run that gets past ``import monitor.engine`` used the source."""
    pkg = tmp_path / "monitor"
    shutil.copytree(ROOT / "monitor", pkg, ignore=shutil.ignore_patterns("*.so", "*.pyd", "_compiled.json",
                                                                          "__pycache__"))
    (pkg / f"engine{SUFFIX}").write_bytes(b"not a compiled module\n")
    modules = {} if recorded_hash is None else {"monitor.engine": recorded_hash}
    (pkg / "_compiled.json").write_text(json.dumps({"build": "test", "pure": None, "modules": modules}))
    return pkg


def _import_engine(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    code = ("import monitor.engine, monitor._compiled as c; "
            "print(monitor.engine.__file__); print(getattr(monitor.engine, 'EDITED', None)); print(c.status())")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(cwd), "MONITOR_COMPILED": "", **env})


def test_an_edited_source_runs_instead_of_its_stale_compiled_module(tmp_path):
    pkg = _copy_with_fake_build(tmp_path, _compiled.source_digest(str(ROOT / "monitor/engine.py")))
    with open(pkg / "engine.py", "a") as f:
        f.write("\nEDITED = True\n")  # the edit after the build
    run = _import_engine(tmp_path)
    assert run.returncode == 0, run.stderr
    where, edited, status = run.stdout.splitlines()
    assert where == str(pkg / "engine.py") and edited == "True"
    assert "monitor.engine': 'source (its source changed since the build)'" in status


def test_with_compiled_required_a_stale_module_fails_naming_the_rebuild(tmp_path):
    pkg = _copy_with_fake_build(tmp_path, "0" * 64)
    run = _import_engine(tmp_path, MONITOR_COMPILED="require")
    assert run.returncode != 0
    assert "monitor.engine: the compiled module is stale (its source changed since the build); rebuild with: " \
           "make install COMPILED=1" in run.stderr, run.stderr
    assert pkg.is_dir()


def test_a_compiled_file_the_build_did_not_record_never_runs(tmp_path):
    pkg = _copy_with_fake_build(tmp_path, None)  # e.g. left over from an earlier build of another list
    run = _import_engine(tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(pkg / "engine.py")


def test_an_unchanged_source_runs_its_compiled_module(tmp_path):
    # the fake compiled file is imported (and fails): the guard lets a current build through
    _copy_with_fake_build(tmp_path, _compiled.source_digest(str(ROOT / "monitor/engine.py")))
    run = _import_engine(tmp_path)
    assert run.returncode != 0 and "ImportError" in run.stderr and f"engine{SUFFIX}" in run.stderr, run.stderr
    # and MONITOR_COMPILED=source runs every module from its source
    run = _import_engine(tmp_path, MONITOR_COMPILED="source")
    assert run.returncode == 0, run.stderr
    assert "monitor.engine': 'source (MONITOR_COMPILED=source)'" in run.stdout


def test_this_install_runs_its_compiled_modules_or_says_why_not():
    record = _compiled._record()
    listed = {p.removesuffix(".py").replace("/", ".") for p in _listed()}
    if record.get("pure") or not record:
        # a pure install: nothing compiled beside the sources, and the reason is one line
        assert not list((ROOT / "monitor").rglob(f"*{SUFFIX}"))
        assert _compiled.summary().startswith("monitor: pure Python")
        return
    assert set(record["modules"]) == listed
    for name in sorted(listed):
        source = ROOT / (name.replace(".", "/") + ".py")
        if record["modules"][name] != _compiled.source_digest(str(source)):
            continue  # edited since the build: runs from source (the tests above)
        code = f"import {name} as m; print(m.__file__)"
        where = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={**os.environ, "MONITOR_COMPILED": ""}).stdout.strip()
        assert where.endswith(SUFFIX), f"{name} ran from {where}"


def test_no_compiled_module_defines_a_pydantic_model():
    # pydantic builds a model from its class's annotations; a compiled class body is not guaranteed to keep them
    for path in _listed():
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not bases & {"BaseModel", "RootModel"}, f"{path} defines the pydantic model {node.name}"


def test_importing_the_package_puts_the_guard_before_the_ordinary_import_machinery():
    assert monitor.__name__ == "monitor"
    kinds = [type(f) if isinstance(f, _compiled.Guard) else f for f in sys.meta_path]
    assert kinds.index(_compiled.Guard) < kinds.index(importlib.machinery.PathFinder)


def test_a_modules_declarations_are_part_of_its_digest(tmp_path):
    # an edited .pxd (Cython's declarations beside a module) also makes the compiled module stale
    source = tmp_path / "m.py"
    source.write_text("X = 1\n")
    plain = _compiled.source_digest(str(source))
    (tmp_path / "m.pxd").write_text("cdef object X\n")
    declared = _compiled.source_digest(str(source))
    (tmp_path / "m.pxd").write_text("cdef public object X\n")
    assert len({plain, declared, _compiled.source_digest(str(source))}) == 3
