"""A record's decisions, each written when it is read.

A decision with its trace is some thirty small dicts; a million of them are about 2 GB. The record of a fresh
decision holds the assessed applicants instead, and writes each one's decision when it is asked for: the record's
text is encoded a chunk of decisions at a time (``decision.to_json_parts``), so they are never all held at once.
Read twice, a decision is written twice, the same: it is a pure function of what the applicant was given and what
the allocation gave it. A record read back from the log holds plain lists; both read alike.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any


class Decisions(Sequence):
    """The decisions of ``items``, each written by ``write`` when it is read (indexing, slicing, iterating); by
    ``brief``, when given, without their trace for ``outcomes``."""

    __slots__ = ("_items", "_write", "_brief")

    def __init__(self, items: Sequence, write: Callable[[Any], dict], brief: Callable[[Any], dict] | None = None):
        self._items = items
        self._write = write
        self._brief = brief

    def outcomes(self) -> Iterator[dict]:
        """Each decision without its trace (no rule checked shown): what was decided, for comparing outcomes."""
        return map(self._brief or self._write, self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._write(item) for item in self._items[index]]
        return self._write(self._items[index])

    def __iter__(self) -> Iterator[dict]:
        return map(self._write, self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, Decisions)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment] - equal to a list, so unhashable as one

    def __repr__(self) -> str:
        return f"<{len(self)} decisions, written when read>"

    def __reduce__(self) -> tuple:
        return list, (list(self),)  # copied or sent to another process, it is the list it reads as
