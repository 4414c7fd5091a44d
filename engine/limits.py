"""Time limits: a deadline for the work of one request, checked where the engine loops.

The engine's work is bounded by its input (numbers, expressions and units are bounded at input), but
a large call is legitimately slow: a service gives each request a deadline, and the engine stops at
the next check after it has passed, raising ``TimeLimitExceeded``; the worker is free again at once.
Without a deadline (the command line) the checks cost one comparison.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Iterator

from .errors import RulesError

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("rules_deadline", default=None)


class TimeLimitExceeded(RulesError):
    """The work took longer than the time limit it was given."""


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Run the body with a time limit of ``seconds`` (None: no limit)."""
    token = _DEADLINE.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    """Raise TimeLimitExceeded if the current deadline has passed."""
    limit = _DEADLINE.get()
    if limit is not None and time.monotonic() > limit:
        raise TimeLimitExceeded("the time limit for this request was reached; the work was stopped")
