"""Worker processes that each own some parts of the events and run policies over them.

``PartPool(parts, jobs, as_of, defaults, hold)`` starts ``jobs`` processes
(spawn: a fresh interpreter, nothing inherited), gives worker ``w`` the parts
``w, w + jobs, ...`` and keeps them until ``close``. ``run(policies)`` sends
every worker the same list of policies; each runs all of them over each of
its parts (a part is read once per call, or once for the pool's life with
``hold=True``, as ``monitor tune`` does over many rounds) and sends back plain
data. The results are sorted by (policy, part): the same whatever ``jobs``.
With ``jobs=1`` everything runs in the calling process.
"""

from __future__ import annotations

import gc
import multiprocessing
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from monitor._errors import MonitorError
from monitor.backtest._worker import Part, PolicySource, load_part, run_policy

__all__ = ["PartPool"]

# (part index, its event files)
PartFiles = tuple[int, tuple[str, ...]]


class _Runner:
    """What one worker does: its parts, loaded when needed, and the policies run over them."""

    def __init__(self, parts: Sequence[PartFiles], as_of: int | None, defaults: dict[str, int], hold: bool,
                 rules: bool) -> None:
        self.parts = list(parts)
        self.as_of = as_of
        self.defaults = defaults
        self.hold = hold
        self.rules = rules
        self.cache: dict[int, Part] = {}

    def run(self, policies: Sequence[tuple[int, PolicySource]]) -> list[dict[str, Any]]:
        out = []
        for index, paths in self.parts:
            part = self.cache.get(index)
            if part is None:
                part = load_part(index, paths)
                if self.hold:
                    self.cache[index] = part
            for pi, source in policies:
                out.append(run_policy(part, source, pi, self.as_of, self.defaults, rules=self.rules))
            del part
        return out


def _serve(conn: Connection, parts: list[PartFiles], as_of: int | None, defaults: dict[str, int], hold: bool,
           rules: bool) -> None:
    gc.disable()  # millions of long-lived objects and no cycles: the collector would only rescan them
    runner = _Runner(parts, as_of, defaults, hold, rules)
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            conn.send(("ok", runner.run(msg)))
        except MonitorError as exc:
            conn.send(("input", str(exc)))
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises
            conn.send(("bug", traceback.format_exc()))


class PartPool:
    """See the module docstring."""

    def __init__(self, parts: Sequence[PartFiles], jobs: int, as_of: int | None, defaults: dict[str, int], *,
                 hold: bool = False, rules: bool = True) -> None:
        self.jobs = max(1, min(jobs, len(parts)))
        self._local: _Runner | None = None
        self._procs: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        if self.jobs == 1:
            self._local = _Runner(parts, as_of, defaults, hold, rules)
            return
        ctx = multiprocessing.get_context("spawn")
        for w in range(self.jobs):
            mine = [p for i, p in enumerate(parts) if i % self.jobs == w]
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, mine, as_of, defaults, hold, rules), daemon=True,
                               name=f"monitor-backtest-{w}")
            proc.start()
            child.close()
            self._procs.append((proc, parent))

    def run(self, policies: Sequence[tuple[int, PolicySource]]) -> list[dict[str, Any]]:
        """Every policy over every part; results sorted by (policy, part)."""
        if self._local is not None:
            results = self._local.run(policies)
        else:
            for _proc, conn in self._procs:
                conn.send(list(policies))
            results = []
            failure: tuple[str, str] | None = None
            for proc, conn in self._procs:
                try:
                    kind, payload = conn.recv()
                except EOFError:
                    code = proc.exitcode
                    failure = failure or ("died", f"a backtest process died (exit code {code}; out of memory?): "
                                                  "try more --shards or fewer --jobs")
                    continue
                if kind == "ok":
                    results.extend(payload)
                else:
                    failure = failure or (kind, payload)
            if failure is not None:
                self.close()
                kind, text = failure
                if kind == "input":
                    raise MonitorError(text)
                if kind == "bug":
                    raise RuntimeError(f"a backtest process failed:\n{text}")
                raise MonitorError(text)
        results.sort(key=lambda r: (r["policy"], r["part"]))
        return results

    def close(self) -> None:
        for proc, conn in self._procs:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            conn.close()
        for proc, _conn in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        self._procs = []

    def __enter__(self) -> PartPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
