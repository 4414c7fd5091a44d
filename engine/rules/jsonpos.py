"""Where a value sits in a JSON text, found when a message needs it.

A facts file that fails validation needs the line and column of each problem. Building positions for a
whole document (a round-trip YAML parse, in Python) took 97 s and 2.3 GB for a 100,000-applicant call with
one bad value. Here a path is found by walking the text to it: the values before it on the way are
skipped by the standard library's C scanner, and what was found is kept for the next path.
"""
from __future__ import annotations

import json
import re
from json.decoder import scanstring
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SCAN = json.JSONDecoder().scan_once


class JsonPositions:
    """A mapping of paths (tuples of keys and indices) to (line, column) in a JSON text, computed on demand;
    with ``keys``, the position of the path's last key rather than of its value."""

    def __init__(self, text: str, keys: bool = False):
        self.text = text
        self.keys = keys
        self._values: dict = {(): self._skip(0)}  # path -> offset of its value
        self._keys: dict = {}  # path -> offset of its key
        self._items: dict = {}  # path of an array -> offsets of its items found so far, and where the scan stopped

    def __contains__(self, path: Any) -> bool:
        return self._offset(tuple(path)) is not None

    def get(self, path: Any, default: Any = None) -> Any:
        offset = self._offset(tuple(path))
        return default if offset is None else self._line_col(offset)

    def __getitem__(self, path: Any) -> tuple:
        found = self.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def _line_col(self, offset: int) -> tuple:
        return self.text.count("\n", 0, offset) + 1, offset - self.text.rfind("\n", 0, offset)

    def _offset(self, path: tuple) -> int | None:
        if self._value(path) is None:
            return None
        return self._keys.get(path) if self.keys else self._values[path]

    def _value(self, path: tuple) -> int | None:
        if path in self._values:
            return self._values[path]
        if not path:
            return None
        parent = self._value(path[:-1])
        if parent is None or parent >= len(self.text):
            return None
        part, opener = path[-1], self.text[parent]
        try:
            if isinstance(part, str) and opener == "{":
                return self._member(path, parent)
            if isinstance(part, int) and not isinstance(part, bool) and opener == "[":
                return self._item(path, parent)
        except (ValueError, StopIteration, IndexError):  # not JSON after all: no position, as for any unknown path
            return None
        return None

    def _member(self, path: tuple, start: int) -> int | None:
        text, i = self.text, self._skip(start + 1)
        while text[i] != "}":
            if text[i] != '"':
                raise ValueError("not JSON")
            key, after = scanstring(text, i + 1)
            colon = self._skip(after)
            value = self._skip(colon + 1)
            self._values.setdefault(path[:-1] + (key,), value)
            self._keys.setdefault(path[:-1] + (key,), i)
            if key == path[-1]:
                return value
            i = self._next(value, "}")
        return None

    def _item(self, path: tuple, start: int) -> int | None:
        text, index = self.text, path[-1]
        offsets, i = self._items.setdefault(path[:-1], ([], self._skip(start + 1)))
        if index < len(offsets):
            return offsets[index]
        while i is not None and text[i] != "]":
            offsets.append(i)
            self._values[path[:-1] + (len(offsets) - 1,)] = i
            i = self._next(i, "]")
            self._items[path[:-1]] = (offsets, i)
            if len(offsets) > index:
                return offsets[index]
        return None

    def _next(self, value: int, closer: str) -> int:
        """The start of what follows the value at ``value`` in an object or array."""
        _, end = _SCAN(self.text, value)
        i = self._skip(end)
        if self.text[i] == ",":
            return self._skip(i + 1)
        if self.text[i] != closer:
            raise ValueError("not JSON")
        return i

    def _skip(self, i: int) -> int:
        return _WHITESPACE.match(self.text, i).end()


def json_positions(text: str) -> tuple[JsonPositions, JsonPositions] | None:
    """Positions of values and of keys for a JSON text, or None if the text is not a JSON object or array."""
    start = _WHITESPACE.match(text, 0).end()
    if text[start:start + 1] not in ("{", "["):
        return None
    first = _WHITESPACE.match(text, start + 1).end()
    if text[start] == "{" and text[first:first + 1] not in ('"', "}"):  # a YAML flow mapping: {applicants: ...}
        return None
    return JsonPositions(text), JsonPositions(text, keys=True)
