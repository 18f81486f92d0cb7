"""The simulated portfolio the backtest and tune benches share, simulated once and cached.

``portfolio(borrowers, months, seed)`` returns the events file and its outcomes file,
simulated with ``monitor simulate`` (the command users run) into the system temp
directory under a name that holds the size, the seed and a digest of the simulator's
source, so that a changed simulator never reuses an older portfolio. ``--events FILE``
in the benches takes a file made elsewhere instead (its outcomes beside it).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["portfolio", "simulator_digest"]


def simulator_digest() -> str:
    """12 hex digits of the simulator's source (monitor/simulate.py and monitor/_sim_*.py)."""
    h = hashlib.sha256()
    for path in sorted([ROOT / "monitor" / "simulate.py", *(ROOT / "monitor").glob("_sim_*.py")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _outcomes(events: Path) -> Path:
    from monitor.simulate import outcomes_path

    return outcomes_path(events)


def portfolio(borrowers: int, months: int, seed: int, events: Path | None = None) -> tuple[Path, Path]:
    """(events, outcomes): ``events`` if given, else the cached simulation (made first if missing)."""
    if events is not None:
        outcomes = _outcomes(events)
        for p in (events, outcomes):
            if not p.is_file():
                raise SystemExit(f"{p}: no such file")
        return events, outcomes
    path = Path(tempfile.gettempdir()) / f"monitor-bench-{borrowers}x{months}-s{seed}-{simulator_digest()}.jsonl"
    if not (path.is_file() and _outcomes(path).is_file()):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            part = Path(tmp) / path.name
            subprocess.run([sys.executable, "-m", "monitor", "simulate", "--borrowers", str(borrowers),
                            "--months", str(months), "--seed", str(seed), "--out", str(part)], cwd=ROOT, check=True)
            shutil.move(str(_outcomes(part)), _outcomes(path))
            shutil.move(str(part), path)
        print(f"simulated {path} in {time.perf_counter() - started:.1f} s")
    return path, _outcomes(path)
