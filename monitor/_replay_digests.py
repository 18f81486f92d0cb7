"""The replay's input digests (``files.json``) on a thread that takes only a core the replay leaves free.

``monitor replay`` hashes its inputs (SHA-256, ~0.6 s of CPU a GB) beside the work: on a thread of the parent
while the processes split the input and replay the shards. Both cores are busy for most of the run, so at
normal priority the thread takes its seconds from the processes' (the split is slower by about half the
digests' CPU), while a core waits elsewhere: the parent's serial steps between the split and the shards, a
process done with its shards before the other, the merge. The thread therefore runs under ``SCHED_IDLE``
(Linux): it gets a core only when no other thread wants it, so the digests fill the gaps instead of
lengthening the split. When the digests are waited for (the end of the replay, or an error), the thread is
given the normal policy back, so that the wait is never longer than the work left.

Giving the normal policy back to a thread under ``SCHED_IDLE`` needs ``CAP_SYS_NICE`` or an ``RLIMIT_NICE`` of
20 or more: without either, the thread is not lowered at all (it would crawl on a machine loaded by others).
Either way the digests are the same bytes; only when they are taken changes. The replay lowers the thread only
when forked processes do the work (its parent's main thread mostly waits for them): a thread under ``SCHED_IDLE``
may be preempted while it holds the interpreter lock, and a main thread that works would then wait for it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from monitor.jsonl import file_digest

__all__ = ["Digests", "can_restore"]

_CAP_SYS_NICE = 23


def can_restore() -> bool:
    """Whether this process may give a thread under ``SCHED_IDLE`` the normal policy back (Linux)."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    try:
        import resource

        if resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20:
            return True
    except (ImportError, AttributeError, OSError, ValueError):
        pass
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_SYS_NICE & 1)
    except (OSError, ValueError):
        pass
    return False


class Digests:
    """``file_digest`` of files, in order, on one thread under ``SCHED_IDLE`` until waited for (see the module)."""

    def __init__(self, idle: bool | None = None) -> None:
        self.idle = can_restore() if idle is None else idle
        self._lock = threading.Lock()
        self._tid: int | None = None  # the thread's id while it is under SCHED_IDLE
        self._raised = False  # waited for: the thread keeps (or gets back) the normal policy
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="digest", initializer=self._lower)
        self._futures: list[Future[dict[str, Any]]] = []

    def _lower(self) -> None:
        if not self.idle:
            return
        with self._lock:
            if self._raised:
                return
            try:
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # (0: this thread)
            except OSError:
                return
            self._tid = threading.get_native_id()

    def raise_priority(self) -> None:
        """The thread back under the normal policy (and never lowered again)."""
        with self._lock:
            self._raised = True
            tid, self._tid = self._tid, None
            if tid is not None:
                try:
                    os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
                except OSError:  # (the thread has ended)
                    pass

    def submit(self, path: Path, count_lines: bool) -> None:
        self._futures.append(self._pool.submit(file_digest, path, count_lines))

    def results(self) -> list[dict[str, Any]]:
        """The digests in the order submitted (raises what ``file_digest`` raised)."""
        self.raise_priority()
        return [f.result() for f in self._futures]

    def close(self) -> None:
        self.raise_priority()
        self._pool.shutdown(wait=False, cancel_futures=True)
