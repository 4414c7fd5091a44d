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


# The operator's limits on one call, set in the environment of the command or the service (README, "Limits"):
# a call as large as the machine's memory allows decides once they are raised. They apply to facts as they come
# in, never to facts read back from the decision log (a record replays whatever the limits are today).
MAX_APPLICANTS = 1_000_000
MAX_JSON_BYTES = 512 * 1024 * 1024
# WeasyPrint lays a letter out in about a tenth of a second and holds a megabyte for it until the PDF is written
MAX_LETTERS = 500


def max_applicants() -> int:
    """The most applicants one call may hold: ``RULES_MAX_APPLICANTS``, else 1,000,000."""
    return _setting("RULES_MAX_APPLICANTS", MAX_APPLICANTS)


def max_json_bytes() -> int:
    """The largest JSON facts file or body, in bytes: ``RULES_MAX_JSON_BYTES``, else 512 MiB."""
    return _setting("RULES_MAX_JSON_BYTES", MAX_JSON_BYTES)


def max_letters() -> int:
    """The most letters one PDF may hold: ``RULES_MAX_LETTERS``, else 500."""
    return _setting("RULES_MAX_LETTERS", MAX_LETTERS)


def _setting(name: str, default: int) -> int:
    import os

    value = os.environ.get(name, "").strip()
    if not value:
        return default
    digits = value.replace("_", "")
    if not digits.isdigit() or int(digits) < 1 or len(digits) > 18:
        raise RulesError(f"{name}={value!r}: give a whole number of at least 1 (such as 2000000), or leave it unset "
                         f"for {default:,}")
    return int(digits)
