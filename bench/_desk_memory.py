"""The desk's memory while it builds a report, counted with the processes the build starts (issue 14).

The report's build starts readers (``python -I``: borrowers.jsonl, the schedule, the evidence, the current signals)
and its write may start the workbook's writer: their memory is the desk machine's too. :class:`Tree` samples, every
``every`` seconds on a thread of its own, each descendant process of this one (``/proc/<pid>/task/*/children``,
recursively) and keeps

* each child's peak resident set (``VmHWM``, read while it runs; a child that ends between two samples is missed:
  the readers live seconds at 100,000 borrowers and more at a million),
* the peak of this process's resident set plus the children's proportional set sizes (``Pss`` of
  ``smaps_rollup``) at the same sample.

A descendant whose command line is this process's own is skipped: between ``fork`` and ``exec`` a started child is
this process's pages (a forked writer would be this process's command line too; the desk's write forks none).

The growth figures (:meth:`Tree.figures`): ``counted`` = this process's peak (``VmHWM`` reset before) minus its
resident set before, plus the sum of every child's peak (an upper bound: the children's peaks need not coincide,
and each counts its interpreter's shared pages); ``sampled`` = the sampled peak of this process's resident set plus
the children's PSS, minus this process's resident set before (a lower bound: a peak between samples is missed)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["Tree", "children", "field", "tree"]


def field(path: str, name: bytes) -> int | None:
    """A ``kB`` figure of a /proc file in bytes (None: the process is gone)."""
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.startswith(name):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (of every one of its threads)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            out += [int(x) for x in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and every process it started, and those they started (depth first)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


class Tree:
    """Samples this process's descendants from :meth:`start` to :meth:`stop` (see the module docstring)."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.me = os.getpid()
        self.cmd = Path(f"/proc/{self.me}/cmdline").read_bytes()
        self.children: dict[int, tuple[int, str]] = {}  # pid -> (peak VmHWM, command line)
        self.peak_sum = 0  # this process's VmRSS + the children's Pss, the largest sample
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="desk-memory", daemon=True)

    def start(self) -> Tree:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _descendants(self) -> list[int]:
        return tree(self.me)[1:]

    def _run(self) -> None:
        while not self._stop.is_set():
            total = field(f"/proc/{self.me}/status", b"VmRSS:") or 0
            for pid in self._descendants():
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if cmd == self.cmd:
                    continue  # between fork and exec: this process's pages
                hwm = field(f"/proc/{pid}/status", b"VmHWM:")
                pss = field(f"/proc/{pid}/smaps_rollup", b"Pss:")
                if hwm is not None and hwm > self.children.get(pid, (0, ""))[0]:
                    self.children[pid] = (hwm, cmd.replace(b"\0", b" ").decode("utf-8", "replace")[:2000])
                total += pss or 0
            self.peak_sum = max(self.peak_sum, total)
            self.samples += 1
            self._stop.wait(self.every)

    def figures(self, rss_before: int, self_peak: int) -> dict[str, int]:
        """``counted`` and ``sampled`` growth (bytes; see the module docstring), and the children's peaks' sum."""
        kids = sum(h for h, _ in self.children.values())
        return {"counted": self_peak - rss_before + kids, "sampled": max(self.peak_sum - rss_before, 0),
                "self": self_peak - rss_before, "children": kids, "started": len(self.children)}

    def describe(self) -> str:
        """Each started process's peak, by what it reads or writes."""
        def role(cmd: str) -> str:
            for key, name in ((" schedule ", "schedule"), ("--evidence", "evidence"), ("_sigread", "current signals"),
                              ("_sheetxml", "workbook"), ("_started import serve", "borrowers")):
                if key in cmd:
                    return name
            return cmd[:60]
        return "; ".join(f"{role(cmd)} {h / (1 << 30):.3f} GiB" for h, cmd in sorted(self.children.values(), reverse=True))
