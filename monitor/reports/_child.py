"""A started child process of the same interpreter, as the report's build uses them (:mod:`._started`,
:mod:`._signals`): its answer is what it wrote to its standard output, loaded by :mod:`marshal` (a private pipe to a
child running this same interpreter, never a file or a socket); an answer that cannot be loaded, or a child that
ended with an error, gives None, and the caller reads the file itself."""

from __future__ import annotations

import marshal
import subprocess
from typing import Any

__all__ = ["Child", "answer"]


def answer(proc: subprocess.Popen[bytes], send: bytes | None = None) -> Any:
    """What ``proc`` wrote to its standard output, loaded by :mod:`marshal`, once it has ended (``send``, if given,
    is written to its standard input first); None when it ended with an error or wrote something else."""
    with proc:
        if send is None:
            data = proc.stdout.read() if proc.stdout is not None else b""
        else:
            try:
                data, _ = proc.communicate(send)
            except OSError:
                data = b""
        code = proc.wait()
    if code != 0:
        return None
    try:
        return marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        return None


class Child:
    """A started process whose answer may not be wanted (an earlier error): :meth:`close`, or the end of a ``with``
    block, ends it."""

    _proc: subprocess.Popen[bytes] | None = None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            with proc:
                proc.wait()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
