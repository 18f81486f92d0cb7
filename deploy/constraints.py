"""deploy/constraints.txt: every package the image installs, pinned (what ``make constraints`` runs).

    python3 deploy/constraints.py           rewrite deploy/constraints.txt from pyproject.toml
    python3 deploy/constraints.py --check   say what is out of date (offline; exit 1 if anything is)

Writing resolves ``[project] dependencies`` of pyproject.toml -- the runtime ones only, never the test
extras -- with pip's resolver (``pip install --dry-run --report``: nothing is installed, the local
environment plays no part) for the Python of the image (deploy/Dockerfile's ``FROM python:X.Y``). The
pins already in the file are kept where they still fit, so adding a dependency changes only the lines
it brings; when they no longer fit (a dependency moved to a version that needs newer ones) everything
is resolved afresh.

The check (run by tests/deploy/test_compose.py) needs no network. It fails only on a real drift:

* a line that is not ``name==version``, or a name twice;
* a dependency of pyproject.toml that the file does not pin, or pins at another version (the image's
  ``pip install -c deploy/constraints.txt .`` would then fail, or float what the new one brings);
* a package that a pinned one requires (as installed here, when it is installed at the pinned
  version) and that the file does not pin, or pins at a version the requirement excludes.

Packages the file pins but nothing requires any more are harmless (a constraint installs nothing) and
reported only by the writer, which drops them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "deploy/constraints.txt"
DOCKERFILE = ROOT / "deploy/Dockerfile"
HEADER = ("# Every package the image installs, pinned (transitive ones too): pip install -c deploy/constraints.txt .\n"
          "# The runtime dependencies of pyproject.toml resolved for the image's Python by deploy/constraints.py.\n"
          "# Regenerate after changing a dependency in pyproject.toml: make constraints\n")
_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


def runtime_requirements(pyproject: Path = PYPROJECT) -> list[Requirement]:
    """``[project] dependencies`` (the runtime ones, not the extras)."""
    return [Requirement(d) for d in tomllib.loads(pyproject.read_text())["project"]["dependencies"]]


def image_python(dockerfile: Path = DOCKERFILE) -> str:
    """The ``X.Y`` of the image's ``FROM python:X.Y...``."""
    m = re.search(r"^FROM python:(\d+\.\d+)", dockerfile.read_text(), flags=re.MULTILINE)
    if m is None:
        raise SystemExit(f"{dockerfile}: no 'FROM python:X.Y' line")
    return m.group(1)


def read_pins(text: str) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """canonical name -> (name as written, version), and the problems of the file's lines."""
    pins: dict[str, tuple[str, str]] = {}
    problems = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            problems.append(f"line {n}: {line!r} is not name==version")
            continue
        key = canonicalize_name(m.group(1))
        if key in pins:
            problems.append(f"line {n}: {m.group(1)} is pinned twice")
        pins[key] = (m.group(1), m.group(2))
    return pins, problems


def _pinned_version(spec: SpecifierSet) -> str | None:
    exact = [s.version for s in spec if s.operator in ("==", "===") and "*" not in s.version]
    return exact[0] if len(exact) == 1 and len(spec) == 1 else None


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def check(pyproject: Path = PYPROJECT, constraints: Path = CONSTRAINTS, *,
          installed: object = _installed) -> list[str]:
    """What is out of date in ``constraints`` (empty: nothing). Offline; see the module docstring."""
    if not constraints.exists():
        return [f"{constraints.name} is missing"]
    pins, problems = read_pins(constraints.read_text())
    env = default_environment()
    env["python_version"] = image_python()
    env["python_full_version"] = env["python_version"] + ".0"
    seen: set[str] = set()
    todo: list[tuple[Requirement, str]] = [(r, "pyproject.toml") for r in runtime_requirements(pyproject)]
    for req, _ in todo:
        want = _pinned_version(req.specifier)
        if want is None:
            problems.append(f"pyproject.toml: {req} is not pinned to one version (name==version)")
    while todo:
        req, by = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        key = canonicalize_name(req.name)
        pin = pins.get(key)
        if pin is None:
            problems.append(f"{req.name} (required by {by}) is not pinned")
            continue
        if not req.specifier.contains(pin[1], prereleases=True):
            problems.append(f"{req.name}=={pin[1]} does not satisfy {by}'s requirement {req}")
            continue
        if key in seen:
            continue
        seen.add(key)
        dist = installed(req.name)  # type: ignore[operator]
        if dist is None or canonicalize_name(dist.version) != canonicalize_name(pin[1]):
            continue  # not installed here at the pinned version: its requirements are unknown offline
        for text in dist.requires or []:
            try:
                sub = Requirement(text)
            except InvalidRequirement:
                continue
            if sub.marker is not None and not sub.marker.evaluate({**env, "extra": ""}):
                continue
            todo.append((sub, f"{pin[0]}=={pin[1]}"))
    return problems


def _resolve(requirements: list[str], pins: dict[str, tuple[str, str]]) -> list[tuple[str, str]] | None:
    """pip's resolution of ``requirements`` (with ``pins`` as constraints when given), or None if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                "--disable-pip-version-check", "--report", str(report)]
        if pins:
            (Path(tmp) / "keep.txt").write_text("".join(f"{n}=={v}\n" for n, v in pins.values()))
            args += ["-c", str(Path(tmp) / "keep.txt")]
        proc = subprocess.run(args + requirements, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-2000:])
            return None
        doc = json.loads(report.read_text())
    return sorted(((i["metadata"]["name"], i["metadata"]["version"]) for i in doc["install"]),
                  key=lambda nv: canonicalize_name(nv[0]))


def write(pyproject: Path = PYPROJECT, constraints: Path = CONSTRAINTS) -> int:
    want = image_python()
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if have != want:
        print(f"the image runs Python {want}; run this with Python {want} (this is {have}), "
              f"e.g. make constraints PYTHON=python{want}", file=sys.stderr)
        return 2
    requirements = [str(r) for r in runtime_requirements(pyproject)]
    direct = {canonicalize_name(Requirement(r).name) for r in requirements}
    old, _ = read_pins(constraints.read_text()) if constraints.exists() else ({}, [])
    keep = {k: v for k, v in old.items() if k not in direct}
    resolved = _resolve(requirements, keep) if keep else None
    if resolved is None:
        if keep:
            print("the pins kept from deploy/constraints.txt no longer fit: resolving afresh", file=sys.stderr)
        resolved = _resolve(requirements, {})
        if resolved is None:
            print("pip could not resolve pyproject.toml's dependencies (above)", file=sys.stderr)
            return 1
    constraints.write_text(HEADER + "".join(f"{n}=={v}\n" for n, v in resolved))
    new = {canonicalize_name(n): v for n, v in resolved}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, (key, None))[1], new.get(key)
        if before != after:
            print(f"{key}: {before or '-'} -> {after or '-'}")
    print(f"{constraints.relative_to(ROOT)}: {len(resolved)} packages for Python {want}")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        problems = check()
        for p in problems:
            print(p)
        if problems:
            print("deploy/constraints.txt is out of date: run make constraints")
        return 1 if problems else 0
    if argv:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    return write()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
