"""The text of a large list written by several processes at once: the later spans by forked copies of this process.

Writing a large call's decisions (each built from its assessment, then encoded) is most of the time after deciding,
and it is the same pure function for every decision. Each forked process writes its span of the list to an
anonymous temporary file while this one writes the first span; their text follows, in order. The parts are the
bytes one process would write: a span's text does not depend on who writes it. A process that fails (killed, out
of memory) is replaced by writing its span here, so the text is the same whatever happens to them.

Only a process that has no other threads may fork safely: with any other thread running, one process writes it
all. The command line uses this; the service does not.
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

BLOCK = 1 << 24  # a forked process's text is read back this many bytes at a time


@dataclass
class _Child:
    pid: int
    text: IO[bytes]
    start: int
    stop: int


def spans(n: int, jobs: int, least: int) -> list[tuple[int, int]]:
    """``range(n)`` cut into at most ``jobs`` contiguous spans of about equal length, each at least ``least``
    long (a fork costs more than writing a few items), in order."""
    count = max(1, min(jobs, n // max(least, 1)))
    bounds = [n * i // count for i in range(count + 1)]
    return list(zip(bounds, bounds[1:]))


def written(write: Callable[[int, int], Iterator[bytes]], n: int, jobs: int, least: int) -> Iterator[bytes]:
    """The parts ``write(0, n)`` would give, the spans after the first written by forked processes meanwhile."""
    alone = hasattr(os, "fork") and threading.active_count() == 1  # a thread could hold a lock the copy needs
    cut = spans(n, jobs, least) if alone else [(0, n)]
    if len(cut) == 1:
        yield from write(0, n)
        return
    children = [_fork(write, start, stop) for start, stop in cut[1:]]
    try:
        yield from write(*cut[0])
        for (start, stop), child in zip(cut[1:], children):
            yield from _text_of(child, write) if child is not None else write(start, stop)
    finally:
        for child in children:
            if child is not None:
                _end(child)


def _fork(write: Callable[[int, int], Iterator[bytes]], start: int, stop: int) -> _Child | None:
    """A copy of this process writing ``start`` to ``stop`` to a file of its own; None when none can be made (no
    room for a file, no process to spare): the span is then written here."""
    try:
        text = tempfile.TemporaryFile()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        text.close()
        return None
    if pid == 0:  # the copy: write the span, and leave without running anything of the parent's (no atexit)
        code = 1
        try:
            for part in write(start, stop):
                text.write(part)
            text.flush()
            code = 0
        finally:
            os._exit(code)
    return _Child(pid, text, start, stop)


def _text_of(child: _Child, write: Callable[[int, int], Iterator[bytes]]) -> Iterator[bytes]:
    """What ``child`` wrote, once it has finished well; else its span written here."""
    _, status = os.waitpid(child.pid, 0)
    child.pid = 0
    if os.waitstatus_to_exitcode(status) != 0:
        yield from write(child.start, child.stop)
        return
    child.text.seek(0)
    while block := child.text.read(BLOCK):
        yield block


def _end(child: _Child) -> None:
    """A child no longer needed (the reader stopped early, or it is done): stopped, reaped, its file gone."""
    if child.pid:
        try:
            os.kill(child.pid, 9)
            os.waitpid(child.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    child.text.close()
