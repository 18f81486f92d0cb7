"""The desk's heap around a report's build: freed memory given back to the system (issue 14).

The desk builds a report in its own long-running process (a million borrowers: the input directory, then
:func:`monitor.reports.build_report` and the forms). glibc's allocator keeps what a build frees: it raises its
threshold for mapping large blocks apart to the largest block freed (up to 32 MiB), so that numpy's columns of a
million borrowers end up in the heap's arenas (one per thread that allocated: the build's readers), where a freed
column stays resident and the next phase starts from it. :func:`lean_heap` fixes the threshold at 1 MiB (a column
of a million borrowers mapped apart and returned when freed: page faults traded for memory; 128 KiB cost ~5 s more
CPU at a million for 0.03 GiB less) and caps the arenas at two, then returns the heap's free pages
(``malloc_trim``). At 1,000,000 borrowers the report's build (every file read in the desk's process) peaked
1.82 GiB over its start with the trim alone, 1.71 with the arenas capped, 1.51 with both and the threshold
(bench/RESULTS.md, 2026-12-07 14:05). Process-wide and lasting: the fold's large arrays are mapped apart too;
nothing where the C library has no such calls."""

from __future__ import annotations

import ctypes

__all__ = ["lean_heap"]

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_M_ARENA_MAX = -8
_THRESHOLD = 1 << 20
_ARENAS = 2


def lean_heap() -> bool:
    """Large blocks mapped apart, two arenas at most, the free pages returned now; False where not glibc."""
    try:
        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return False
    mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)
    mallopt(_M_ARENA_MAX, _ARENAS)
    trim(0)
    return True
