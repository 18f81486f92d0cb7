"""``borrowers.jsonl`` read by a started process of the same interpreter while the build reads the rest.

The field walk over a million lines is numpy work under the interpreter lock of whoever runs it: run by a
fresh process (``python -I``, the same ``monitor`` package: its directory is put first on the child's path, and
``monitor.reports`` is made a bare package there, so that the child imports the reader's modules only), it
takes the second core instead of the lock from the build's threads. The child runs
:func:`monitor.reports._replay.read_borrowers` itself and writes its columns and the team table (in code order) to
its standard output by :mod:`marshal` (a private pipe to a child of the same interpreter); the parent makes the
same :class:`~monitor.reports._replay.Borrowers` and :class:`~monitor.reports._ids.Codes` of them. An
:class:`~monitor._errors.InputError` of the child is raised in the parent with the same message; when the child
cannot be started or ends otherwise, the file is read in the parent (whose error, if any, is the one raised).
"""

from __future__ import annotations

import gc
import marshal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

import monitor
from monitor._errors import InputError
from monitor.reports._child import Child, answer
from monitor.reports._ids import Codes
from monitor.reports._replay import Borrowers, SchedRows, read_borrowers, scan_schedule

__all__ = ["BorrowersRead", "ScheduleRead", "serve"]

# the child: this package first on its path, and monitor.reports as a bare package (its __init__ imports every
# section and the model, a third of a second of CPU; the reader needs _replay and what it imports only)
_BOOT = ("import os, sys, types; sys.path.insert(0, sys.argv[1]); "
         "pkg = types.ModuleType('monitor.reports'); pkg.__path__ = [os.path.join(sys.argv[1], 'monitor', 'reports')]; "
         "sys.modules['monitor.reports'] = pkg; "
         "from monitor.reports._started import serve; sys.exit(serve(*sys.argv[2:]))")


class BorrowersRead(Child):
    """``borrowers.jsonl`` being read by a started process: :meth:`result` waits for it (and fills ``teams``, which
    must be empty until then); :meth:`close` (or the end of a ``with`` block) ends the process when the result is
    not wanted (an earlier error)."""

    def __init__(self, path: Path, start: bool = True) -> None:
        self.path = path
        self._got: Borrowers | None = None
        self._proc = _start(str(path)) if start else None  # (not started: read here by result())

    def result(self, teams: Codes) -> Borrowers:
        if self._got is not None:
            return self._got
        got = self._wait()
        if got is None or got[0] != "ok":  # not read there: read here (an error is raised here, as it would be)
            self._got = read_borrowers(self.path, teams)
            return self._got
        _, width, ids, tier, due, team, values = got
        if teams.values:
            raise ValueError("BorrowersRead.result: the team table must be empty")
        teams.values.extend(values)
        teams.index.update((v.encode("utf-8"), i) for i, v in enumerate(values))
        self._got = Borrowers(np.frombuffer(ids, dtype=width).copy(), np.frombuffer(tier, dtype=np.int8).copy(),
                              np.frombuffer(due, dtype=np.int32).copy(), np.frombuffer(team, dtype=np.int32).copy())
        return self._got

    def _wait(self) -> Any:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        got = answer(proc)
        if type(got) is tuple and len(got) == 2 and got[0] == "error" and type(got[1]) is str:
            raise InputError(got[1])
        if type(got) is not tuple or len(got) != 7 or got[0] != "ok":
            return None
        return got


def _start(*args: str) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(Path(monitor.__file__).resolve().parent.parent), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None


class ScheduleRead(Child):
    """The lines of ``schedule_history.jsonl`` from ``start`` on (:func:`~monitor.reports._replay.scan_schedule`)
    read by a started process from :meth:`start` on; :meth:`rows` waits for them (None: the child could not start
    or ended otherwise, read them here). Its errors come back as a message in the rows, raised by
    :func:`~monitor.reports._replay.read_schedule` where it would have raised it."""

    def __init__(self, path: Path, start: int, cut: int, started: bool = True) -> None:
        self.args = (str(path), str(start), str(cut))
        self.started = started  # False: no process, rows() gives None (read here)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._proc is None and self.started:
            self._proc = _start("schedule", *self.args)

    def rows(self) -> SchedRows | None:
        proc, self._proc = self._proc, None
        got = answer(proc) if proc is not None else None
        if type(got) is not tuple or len(got) != 9 or got[0] != "ok":
            return None
        _, width, bid, t, due, team, insp, added, error = got
        return SchedRows(np.frombuffer(bid, dtype=width).copy(), np.frombuffer(t, dtype=np.int64).copy(),
                         np.frombuffer(due, dtype=np.int32).copy(), np.frombuffer(team, dtype=np.int32).copy(),
                         np.frombuffer(insp, dtype=np.bool_).copy(), added, error)


def serve(path: str, *args: str) -> int:
    """The child: ``read_borrowers(path)`` to standard output (marshal), or its InputError's message; or, after
    ``schedule``, ``scan_schedule`` of the path, start and cut that follow."""
    gc.disable()  # numpy arrays and a few strings: nothing for the collector
    if path == "schedule" and len(args) == 3:
        r = scan_schedule(Path(args[0]), int(args[1]), int(args[2]))
        sys.stdout.buffer.write(marshal.dumps(("ok", r.bid.dtype.str, r.bid.tobytes(), r.t.tobytes(), r.due.tobytes(),
                                               r.team.tobytes(), r.insp.tobytes(), r.added, r.error)))
        sys.stdout.buffer.flush()
        return 0
    teams = Codes()
    try:
        b = read_borrowers(Path(path), teams)
    except InputError as exc:
        out: tuple[Any, ...] = ("error", str(exc))
    else:
        out = ("ok", b.ids.dtype.str, b.ids.tobytes(), b.tier.astype(np.int8).tobytes(),
               b.due.astype(np.int32).tobytes(), b.team.astype(np.int32).tobytes(), list(teams.values))
    sys.stdout.buffer.write(marshal.dumps(out))
    sys.stdout.buffer.flush()
    return 0
