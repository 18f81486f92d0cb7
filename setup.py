"""The optional compiled build: the hot pure-Python modules of the replay compiled by Cython, on request.

``MONITOR_COMPILE=1 pip install -e .`` (``make install COMPILED=1``) compiles the modules listed below; they stay
ordinary Python source (Cython's pure-Python mode, no C types). Without it, or on a machine without a working C
compiler (said in one line), the same package installs as pure Python: the default, because compiled unchanged
the modules measured no faster on CPython 3.11 (bench/RESULTS.md, 2026-12-07). Every other setting is in
pyproject.toml. The build records each compiled module's source SHA-256 in ``monitor/_compiled.json``; at import
``monitor._compiled`` runs a module's compiled form only while its source still has that hash (an edited source
runs as source until the next build: ``make install COMPILED=1``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

#: the compiled modules (never one that defines a pydantic model: pydantic reads class annotations)
COMPILED = [
    "monitor/_civil.py",
    "monitor/_digest.py",
    "monitor/_replay_keys.py",
    "monitor/_replay_merge.py",
    "monitor/_replay_run.py",
    "monitor/_replay_split.py",
    "monitor/_replay_stream.py",
    "monitor/_spill.py",
    "monitor/_time.py",
    "monitor/engine.py",
    "monitor/jsonl.py",
    "monitor/rules/evaluate.py",
    "monitor/rules/overrides.py",
    "monitor/rules/visits.py",
    "monitor/snapshots.py",
    "monitor/state.py",
]
#: semantics unchanged: annotations are not C types and not checked (Cython 3 would otherwise make ``float``
#: a C double and type-check ``int`` arguments), functions keep Python's introspection and pickle by name
DIRECTIVES = {"language_level": 3, "binding": True, "annotation_typing": False}
MANIFEST = "monitor/_compiled.json"
HERE = os.path.dirname(os.path.abspath(__file__))


def _sha256(path: str) -> str:
    """The digest of a module's source and its ``.pxd`` (Cython's declarations beside it), when it has one: the
    same as ``monitor._compiled.source_digest``."""
    digest = hashlib.sha256()
    with open(os.path.join(HERE, path), "rb") as f:
        digest.update(f.read())
    pxd = os.path.join(HERE, path.removesuffix(".py") + ".pxd")
    if os.path.exists(pxd):
        with open(pxd, "rb") as f:
            digest.update(b"\0pxd\0" + f.read())
    return digest.hexdigest()


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _say(line: str) -> None:
    print(f"monitor build: {line}", file=sys.stderr, flush=True)


def _pure_reason() -> str | None:
    """Why this build installs pure Python (None: compile)."""
    if os.environ.get("MONITOR_COMPILE", "") in ("", "0"):
        return "the default: make install COMPILED=1 compiles"
    try:
        from Cython import __version__  # the build's requirement, pinned in pyproject.toml
    except ImportError:
        return "Cython is not installed"
    if not __version__:
        return "Cython has no version"
    return None


def _extensions() -> list[Extension]:
    plain = [Extension(_module(p), [p]) for p in COMPILED]
    if _pure_reason() is not None:
        return plain  # not built (BuildExt.run), listed so that build_ext runs and records the pure build
    from Cython.Build import cythonize

    # the generated C beside the build, not beside the sources
    return cythonize(plain, compiler_directives=DIRECTIVES,
                     build_dir="build/cython", nthreads=os.cpu_count() or 1, quiet=True)


def _build_key() -> str:
    """What else a compiled module depends on besides its source: a change rebuilds every module."""
    import Cython

    return f"cython {Cython.__version__}; {sorted(DIRECTIVES.items())}; {sysconfig.get_config_var('EXT_SUFFIX')}"


class BuildExt(build_ext):
    """Compile when a C compiler works, else install pure Python (one clear line); record the sources' hashes."""

    def run(self) -> None:
        self._key = None
        reason = _pure_reason()
        if reason is None:
            reason = self._no_compiler()
        if reason is not None:
            _say(f"installing pure Python, no module compiled ({reason})")
            self.extensions = []
            self._write_manifest({}, reason)
            return
        self.parallel = self.parallel or os.cpu_count() or 1
        self._built: dict[str, str] = {}
        self._key = _build_key()
        self._reusable = self._previous() if self.inplace else {}
        super().run()
        self._write_manifest(self._built, None)
        reused = sum(1 for m in self._built if m in self._reusable)
        _say(f"{len(self._built)} modules compiled by Cython ({reused} unchanged, reused)")

    def _no_compiler(self) -> str | None:
        """None when the C compiler builds a trivial file, else why not."""
        from setuptools._distutils.ccompiler import new_compiler
        from setuptools._distutils.sysconfig import customize_compiler

        compiler = new_compiler(compiler=self.compiler)
        customize_compiler(compiler)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write("int main(void) { return 0; }\n")
            try:
                compiler.compile([src], output_dir=tmp)
            except Exception as exc:  # CompileError, DistutilsExecError, a missing executable
                return f"no working C compiler: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}"
        return None

    def _previous(self) -> dict[str, str]:
        """The in-place build's record (module -> source hash) when made by this same build key."""
        try:
            with open(os.path.join(HERE, MANIFEST)) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data.get("modules", {}) if data.get("build") == self._key else {}

    def build_extension(self, ext: Extension) -> None:
        source = ext.name.replace(".", "/") + ".py"
        digest = _sha256(source)
        inplace = os.path.join(HERE, self.get_ext_filename(ext.name))
        target = self.get_ext_fullpath(ext.name)
        if self._reusable.get(ext.name) == digest and os.path.exists(inplace):
            # an editable install's module whose source and build are unchanged: copy, do not recompile
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(inplace, target)
        else:
            super().build_extension(ext)
        self._built[ext.name] = digest

    def _write_manifest(self, modules: dict[str, str], pure: str | None) -> None:
        data = {"build": self._key, "pure": pure, "modules": dict(sorted(modules.items()))}
        text = json.dumps(data, indent=1) + "\n"
        places = [os.path.join(self.build_lib, MANIFEST)]
        if self.inplace:
            places.append(os.path.join(HERE, MANIFEST))
            if not modules:  # a pure build: no compiled module left beside the sources
                for path in COMPILED:
                    stale = os.path.join(HERE, self.get_ext_filename(_module(path)))
                    if os.path.exists(stale):
                        os.remove(stale)
        for place in places:
            os.makedirs(os.path.dirname(place), exist_ok=True)
            with open(place, "w") as f:
                f.write(text)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
