"""One tree of errors for the whole engine.

Every problem the engine reports about user input carries a ``Location``
(file, line, column) and, where it applies, the dotted path of the field it
concerns. Stages raise ``Problem``s; the CLI prints them as
``file:line:col: message`` and exits 1.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True, order=True)
class Location:
    """A position in an input file; line and col are 1-based, 0 means unknown."""

    file: str
    line: int = 0
    col: int = 0
    cell: str = ""  # in a spreadsheet: sheet!A1 (line and col are then its row and column)

    def __str__(self) -> str:
        if self.cell:
            return f"{self.file}:{self.cell}"
        if self.line and self.col:
            return f"{self.file}:{self.line}:{self.col}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, at a location."""

    location: Location
    message: str
    path: str = ""
    code: str = "invalid"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.location}: {where}{self.message}"

    def sort_key(self) -> tuple:
        return (self.location.file, self.location.line, self.location.col, self.path, self.message)


class RulesError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1


class InputError(RulesError):
    """One or more problems with user input (rule files, facts, expressions, tests)."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = sorted(set(problems), key=Problem.sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):  # it crosses a process boundary (the service's heavy requests) as itself
        return type(self), (self.problems,)

    @classmethod
    def at(cls, location: Location, message: str, path: str = "", code: str = "invalid") -> "InputError":
        return cls([Problem(location, message, path, code)])


class ExpressionError(RulesError):
    """A parse or type error in one condition expression; ``offset`` is 0-based."""

    def __init__(self, message: str, offset: int = 0):
        self.message = message
        self.offset = offset
        super().__init__(message)

    def __reduce__(self):
        return type(self), (self.message, self.offset)


class EvaluationError(RulesError):
    """Evaluation could not proceed (e.g. a value durable_rules cannot represent)."""


class GovernanceError(RulesError):
    """Refused by the rules of governance: a draft, a version out of its period, too few approvals."""


class LookupFailure(RulesError):
    """A ruleset, version, decision or applicant that was asked for does not exist."""


class TooLarge(RulesError):
    """More was asked for at once than the operator's limit allows in one answer."""


class KeyReused(RulesError):
    """An idempotency key sent again with another request."""


class LogError(RulesError):
    """The decision log is unusable: not a log, a newer format, locked, corrupt."""


class AuditFailure(RulesError):
    """The decision log does not verify: a record was altered, removed or inserted."""


def did_you_mean(name: str, candidates: Sequence[str]) -> str:
    """A ``did you mean 'x'?`` suffix, or '' when nothing is close (or ``name`` is no text: a YAML key of null)."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def printable(text: str, limit: int = 60) -> str:
    """Text safe to print in a message: control characters escaped, long text cut."""
    return escape_text(text[:limit]) + ("..." if len(text) > limit else "")


def escape_text(text: str) -> str:
    """Text safe to put in a table or a message: newlines, escapes (ANSI) and other control characters
    written as ``\\n``, ``\\x1b``..., so no value can start a line of its own or move the cursor."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def with_article(word: str) -> str:
    """``word`` with its indefinite article: 'an approval', 'a publication'."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"
