"""Heavy requests: a large body is parsed, validated and decided in a child process that the time limit can stop.

The engine checks the time limit where it loops, but parsing a large YAML or JSON body and validating it happen
inside libraries that never look at a clock: a 10 MB call took a minute under a 2-second limit. A request whose
body is at least ``HEAVY_BYTES`` therefore runs its pure work (parse, validate, decide: nothing is written) in a
forked child; when the limit passes, the child is killed and the request answered 503 at once, and the worker
goes on. At most ``slots`` heavy requests run at once per worker, so that memory stays within about ``slots``
times the peak of one large call; one more is answered 503 with Retry-After straight away.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from typing import Any, Callable

from rules_engine.errors import RulesError
from rules_engine.limits import TimeLimitExceeded, deadline

HEAVY_BYTES = 1 << 20  # a body this large is parsed in a child process
GRACE = 0.5  # seconds a child has beyond the limit to hand over what it finished


class Busy(Exception):
    """Every heavy slot of this worker is taken."""


class Slots:
    """How many heavy requests may run at once in one worker; a request beyond them is refused, never queued."""

    def __init__(self, count: int):
        self._free = threading.BoundedSemaphore(max(1, count))

    def __enter__(self) -> "Slots":
        if not self._free.acquire(blocking=False):
            raise Busy()
        return self

    def __exit__(self, *exc) -> None:
        self._free.release()


def run_stoppable(function: Callable, args: tuple, seconds: float) -> Any:
    """``function(*args)`` in a forked child under a hard time limit: its value, its RulesError, or
    TimeLimitExceeded once ``seconds`` have passed (the child is killed)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, function, args, seconds), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(seconds + GRACE):
            raise TimeLimitExceeded("the time limit for this request was reached; the work was stopped")
        try:
            ok, value = receive.recv()
        except EOFError:  # the child died without a word (killed for its memory, say)
            raise RulesError("the work of this request ended without an answer; nothing was decided") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if ok:
        return value
    raise value


def _child(send, function: Callable, args: tuple, seconds: float) -> None:
    try:
        with deadline(seconds):
            message = (True, function(*args))
    except RulesError as exc:
        message = (False, _portable(exc))
    except BaseException as exc:  # noqa: BLE001 - the parent answers 500 with an error id
        message = (False, RuntimeError(f"{type(exc).__name__}: {exc}"))
    try:
        send.send(message)
    finally:
        os._exit(0)  # no atexit, no finalisers of the parent's objects


def _portable(exc: RulesError) -> RulesError:
    """The error as it can cross the pipe: itself if it pickles back to its own kind, else a RulesError."""
    try:
        again = pickle.loads(pickle.dumps(exc))
        return exc if type(again) is type(exc) else RulesError(str(exc))
    except Exception:  # noqa: BLE001
        return RulesError(str(exc))
