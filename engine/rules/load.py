"""Stage 1, load: bytes to plain data, with the position of every key and value.

Rule files are small and read by people: they go through ruamel.yaml's
round-trip parser, which knows where everything is. Facts files can be large:
JSON goes through the standard ``json`` module (decimals for numbers), YAML
through ruamel's C loader; positions are only computed (by a second, slow
parse) when something in the facts turns out to be wrong.

Numbers become ``int`` or ``Decimal`` (never ``float``); YAML dates become
``datetime.date``. Anchors and aliases are refused (they have no use in policy
files and are the vehicle of "billion laughs" attacks).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec
from ruamel.yaml import YAML
from ruamel.yaml.comments import TaggedScalar
from ruamel.yaml.constructor import RoundTripConstructor, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import InputError, Location
from ..limits import max_json_bytes
from . import typed
from .typed import Shape

MAX_YAML_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 100
SNIFF_BYTES = 65536
# Numbers in rule files, facts files and expressions: at most this many digits before the decimal point
# and after it. A contingent of 10^15 FTE is not a fact; the bound keeps exact arithmetic fast.
# At most 15 significant digits (as many as Excel keeps): two such numbers are different binary floats
# exactly when they are different decimals, so the compiled schema validator, which compares in
# floats, judges every bound exactly as the exact one does.
MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 20
MAX_SIGNIFICANT_DIGITS = 15
NUMBER_LIMIT_TEXT = (f"numbers may have at most {MAX_SIGNIFICANT_DIGITS} significant digits, "
                     f"{MAX_INTEGER_DIGITS} digits before the decimal point and {MAX_FRACTION_DIGITS} after it")

Path_ = tuple  # a path into a document: keys and list indices


@dataclass(frozen=True)
class Document:
    """A loaded file: its text, its plain data and where each value came from."""

    file: str
    text: str
    data: Any
    positions: dict = field(default_factory=dict, compare=False, repr=False)
    key_positions: dict = field(default_factory=dict, compare=False, repr=False)

    def loc(self, path: Path_ = (), key: bool = False) -> Location:
        """Location of the value (or key) at ``path``, else of its nearest ancestor."""
        path = tuple(path)
        if key and path in self.key_positions:
            return Location(self.file, *self.key_positions[path])
        while path not in self.positions and path:
            path = path[:-1]
        line, col = self.positions.get(path, (1, 1))
        return Location(self.file, line, col)


def number_problem(value: Decimal | int, text: str = "") -> str | None:
    """Why a number is out of the accepted range, or None if it is fine."""
    if isinstance(value, int):
        digits = len(str(abs(value))) if len(text) < 100 else len(text)
        return None if digits <= MAX_INTEGER_DIGITS else f"number '{_cut(text or str(value))}' is too large: {NUMBER_LIMIT_TEXT}"
    if not value.is_finite():
        return f"number '{_cut(text)}' is not finite"
    if value.is_zero():
        return None
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        return f"number '{_cut(text)}' is too large: {NUMBER_LIMIT_TEXT}"
    digits, exponent = value.as_tuple().digits, value.as_tuple().exponent
    significant = "".join(map(str, digits)).strip("0")  # zeros at either end are no significant digits
    exponent += len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if -exponent > MAX_FRACTION_DIGITS:
        return f"number '{_cut(text)}' has too many decimals: {NUMBER_LIMIT_TEXT}"
    if len(significant) > MAX_SIGNIFICANT_DIGITS:
        return f"number '{_cut(text)}' has too many significant digits: {NUMBER_LIMIT_TEXT}"
    return None


def _cut(text: str) -> str:
    return text if len(text) <= 40 else text[:20] + "..." + text[-8:]


def bounded_int(text: str) -> int:
    """An integer from its text, refused (ValueError with the reason) beyond the documented bound."""
    digits = text.lstrip("+-").replace("_", "")
    if len(digits) > MAX_INTEGER_DIGITS:
        raise ValueError(f"number '{_cut(text)}' is too large: {NUMBER_LIMIT_TEXT}")
    return int(text)


def bounded_decimal(text: str) -> Decimal:
    """A decimal from its text, refused (ValueError with the reason) when not finite or beyond the bound."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        finite = "nan" not in text.lower() and "inf" not in text.lower()
        raise ValueError(f"'{_cut(text)}' is not a number" if finite else f"number '{_cut(text)}' is not finite") from None
    problem = number_problem(value, text)
    if problem:
        raise ValueError(problem)
    return value


def _mark_error(node, message: str) -> "_BadScalar":
    mark = node.start_mark
    return _BadScalar(message, mark.line + 1, mark.column + 1)


def _decimal_float(loader, node):
    text = loader.construct_scalar(node).replace("_", "")
    try:
        return bounded_decimal(text)
    except ValueError as exc:
        raise _mark_error(node, str(exc)) from None


def _bounded_yaml_int(base):
    def construct(loader, node):
        text = str(loader.construct_scalar(node))
        if len(text.lstrip("+-").replace("_", "")) > MAX_INTEGER_DIGITS:
            raise _mark_error(node, f"number '{_cut(text)}' is too large: {NUMBER_LIMIT_TEXT}")
        return base(loader, node)
    return construct


class _BadScalar(Exception):
    def __init__(self, message: str, line: int, col: int, needle: str = ""):
        super().__init__(message)
        self.message, self.line, self.col, self.needle = message, line, col, needle


class _RTConstructor(RoundTripConstructor):
    pass


class _SafeConstructor(SafeConstructor):
    pass


def _lenient_timestamp(base):
    """A date-like scalar that is no valid date (2018-13-01) stays text, for the schema to report."""
    def construct(loader, node):
        try:
            return base(loader, node)
        except ValueError:
            return loader.construct_scalar(node)
    return construct


def _refuse_tag(loader, node):
    tag = str(getattr(node.tag, "value", node.tag))
    raise _mark_error(node, f"the YAML tag '{tag}' is not allowed: rule and facts files hold plain data "
                            "(mappings, lists, text, numbers, true/false, null and dates)")


def _refuse_merge(constructor):
    """Merge keys (``<<``) copy one mapping into another: refused like anchors, whose companion they are."""
    def flatten(self, node):
        for key_node, _value in node.value:
            if str(getattr(key_node.tag, "value", key_node.tag)) == "tag:yaml.org,2002:merge":
                raise _mark_error(key_node, "merge keys (<<) are not allowed: write the keys out")
        return constructor(self, node)
    return flatten


REFUSED_TAGS = ("set", "omap", "pairs", "binary", "value", "merge")

for _c in (_RTConstructor, _SafeConstructor):
    _c.add_constructor(None, _refuse_tag)
    for _tag in REFUSED_TAGS:
        _c.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)
    _c.add_constructor("tag:yaml.org,2002:float", _decimal_float)
    _c.add_constructor("tag:yaml.org,2002:int", _bounded_yaml_int(_c.yaml_constructors["tag:yaml.org,2002:int"]))
    _c.add_constructor("tag:yaml.org,2002:timestamp", _lenient_timestamp(_c.yaml_constructors["tag:yaml.org,2002:timestamp"]))
    _c.flatten_mapping = _refuse_merge(_c.flatten_mapping)


def _round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _RTConstructor
    yaml.allow_duplicate_keys = False
    return yaml


def _fast_yaml() -> YAML:
    yaml = YAML(typ="safe")
    yaml.Constructor = _SafeConstructor
    yaml.allow_duplicate_keys = False
    return yaml


def read_text(path: str | Path, label: str | None = None, limit: int = MAX_YAML_BYTES) -> str:
    """Read a file as UTF-8 text, refusing binary, oversized and non-UTF-8 input."""
    label = label or str(path)
    return decode(read_bounded(path, label, limit), label, limit)


def read_bounded(path: str | Path, label: str, limit: int, head: int | None = None) -> bytes:
    """The bytes of a file (``-``: standard input), never reading more than ``limit`` + 1 of them.

    A regular file over the limit is refused from its size, before it is read. With ``head``, only
    that many bytes are read (to tell the format before the real limit is known).
    """
    try:
        if str(path) == "-":
            return _read_stream(sys.stdin.buffer, label, limit, head)
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if stat.S_ISREG(os.fstat(stream.fileno()).st_mode) and size > limit:
                raise too_large(label, size, limit)
            return _read_stream(stream, label, limit, head)
    except FileNotFoundError:
        raise InputError.at(Location(label), "file not found", code="not-found") from None
    except IsADirectoryError:
        raise InputError.at(Location(label), "is a directory, expected a file") from None
    except OSError as exc:
        raise InputError.at(Location(label), f"cannot read file: {exc.strerror or exc}") from None


def _read_stream(stream, label: str, limit: int, head: int | None) -> bytes:
    raw = stream.read(min(limit + 1, head) if head else limit + 1)
    if len(raw) > limit:
        raise too_large(label, len(raw), limit, at_least=True)
    return raw


def too_large(label: str, size: int, limit: int, at_least: bool = False) -> InputError:
    size_text = "more than" if at_least else f"{size:,} bytes,"
    return InputError.at(
        Location(label),
        f"file is {size_text} over the limit of {limit:,} bytes for this kind of file"
        + (" (large calls must come as JSON)" if limit == MAX_YAML_BYTES
           else " (RULES_MAX_JSON_BYTES, set by whoever runs the engine)" if limit == max_json_bytes() else ""),
        code="too-large",
    )


def decode(raw: bytes, label: str, limit: int = MAX_YAML_BYTES) -> str:
    """Bytes to text with the checks of ``read_text``."""
    if len(raw) > limit:
        raise too_large(label, len(raw), limit)
    if b"\x00" in raw[:8192] or b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise InputError.at(Location(label, line), "binary data (NUL byte): not a text file", code="binary")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise InputError.at(
            Location(label, line, col), f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x})", code="encoding"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def load_yaml_document(text: str, label: str) -> Document:
    """Parse YAML text with positions (round-trip); a mapping at the top."""
    if not text.strip():
        raise InputError.at(Location(label, 1, 1), "file is empty", code="empty")
    raw = _parse(_round_trip_yaml(), text, label)
    doc = _flatten(raw, label, text)
    if not isinstance(doc.data, dict):
        kind = _kind(doc.data)
        raise InputError.at(Location(label, 1, 1), f"the top level must be a mapping of keys to values, not {kind}")
    return doc


def load_yaml_fast(text: str, label: str) -> Any:
    """Parse YAML text without positions, with the C loader where available."""
    if not text.strip():
        raise InputError.at(Location(label, 1, 1), "file is empty", code="empty")
    data = _parse(_fast_yaml(), text, label)
    _check_tree(data, label, text)
    return data


def _parse(yaml: YAML, text: str, label: str) -> Any:
    try:
        return yaml.load(text)
    except _BadScalar as exc:
        raise InputError.at(Location(label, exc.line, exc.col), exc.message) from None
    except MarkedYAMLError as exc:
        raise _yaml_problem(exc, label) from None
    except YAMLError as exc:
        raise _reader_problem(exc, text, label) from None
    except RecursionError:
        raise InputError.at(Location(label, 1, 1), f"nesting is too deep (more than {MAX_DEPTH} levels)") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar ruamel cannot construct
        raise InputError.at(Location(label, 1, 1), f"YAML: a value cannot be read: {exc}") from None


def _yaml_problem(exc: MarkedYAMLError, label: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    if "'\\t'" in problem or "\\t" in problem:
        problem = "tab character: YAML indentation must use spaces"
    elif "escape code" in problem and col > 2:  # the scanner marks the hex digits: point at the backslash
        col -= 2
    elif "duplicate key" in problem:
        problem = problem.replace("found duplicate key", "duplicate key").split(" with value")[0]
    elif "mapping values are not allowed" in problem or "but got ':'" in problem:
        problem += ("; a text that holds ': ' must be quoted, or YAML reads a new key there: "
                    "description: \"hoogste eerst: laagste laatst\"")
    return InputError.at(Location(label, line, col), f"YAML syntax: {problem}", code="syntax")


def _reader_problem(exc: YAMLError, text: str, label: str) -> InputError:
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        before = text[:position]
        line = before.count("\n") + 1
        col = position - (before.rfind("\n") + 1) + 1
        return InputError.at(Location(label, line, col), "unacceptable character in YAML (control character)")
    return InputError.at(Location(label, 1, 1), f"YAML: {exc}")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "an empty document"
    return f"a single value ({type(value).__name__})"


def _flatten(root: Any, label: str, text: str) -> Document:
    positions: dict = {(): (1, 1)}
    key_positions: dict = {}
    try:
        data = _plain(root, (), positions, key_positions, set(), label)
    except InputError as exc:
        if "aliases" in str(exc):
            raise _alias_error(label, (exc.problems[0].location.line, exc.problems[0].location.col), text) from None
        raise
    return Document(label, text, data, positions, key_positions)


def _plain(node: Any, path: tuple, pos: dict, kpos: dict, seen: set, label: str) -> Any:
    if len(path) > MAX_DEPTH:
        raise InputError.at(Location(label, *pos.get(path, (1, 1))), f"nesting is too deep (more than {MAX_DEPTH} levels)")
    if isinstance(node, (dict, list)):
        if id(node) in seen:
            raise _alias_error(label, pos.get(path, (1, 1)))
        seen.add(id(node))
    if isinstance(node, dict):
        return _plain_map(node, path, pos, kpos, seen, label)
    if isinstance(node, list):
        return _plain_seq(node, path, pos, kpos, seen, label)
    return _scalar(node, label, pos.get(path, (1, 1)))


def _plain_map(node: dict, path: tuple, pos: dict, kpos: dict, seen: set, label: str) -> dict:
    out = {}
    lc = getattr(node, "lc", None)
    for key, value in node.items():
        child = path + (str(key),)
        if isinstance(key, str) and _SURROGATE.search(key):
            where = lc.key(key) if lc is not None and lc.key(key) is not None else (0, 0)
            raise InputError.at(Location(label, where[0] + 1, where[1] + 1), "a key holds a lone surrogate code "
                                "point (\\ud800 to \\udfff): not valid Unicode text")
        if lc is not None and lc.key(key) is not None and lc.value(key) is not None:
            kl, kc = lc.key(key)
            vl, vc = lc.value(key)
            kpos[child] = (kl + 1, kc + 1)
            pos[child] = (vl + 1, vc + 1)
        out[str(key) if not isinstance(key, str) else key] = _plain(value, child, pos, kpos, seen, label)
    return out


def _plain_seq(node: list, path: tuple, pos: dict, kpos: dict, seen: set, label: str) -> list:
    out = []
    lc = getattr(node, "lc", None)
    for index, value in enumerate(node):
        child = path + (index,)
        if lc is not None and lc.item(index) is not None:
            line, col = lc.item(index)
            pos[child] = (line + 1, col + 1)
        out.append(_plain(value, child, pos, kpos, seen, label))
    return out


def _scalar(value: Any, label: str = "", where: tuple = (1, 1)) -> Any:
    if isinstance(value, TaggedScalar):  # an explicit plain tag such as !!str: the value as text
        value = str(value.value)
    if isinstance(value, bool) or value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dt.datetime):
        return value.date() if (value.hour, value.minute, value.second) == (0, 0, 0) else value
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise InputError.at(Location(label, *where), "text holds a lone surrogate code point (\\ud800 to "
                                "\\udfff): not valid Unicode text")
        return str(value)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\(?:u[dD][89a-fA-F]|U0000[dD][89a-fA-F])")


def _alias_error(label: str, fallback: tuple, text: str | None = None) -> InputError:
    """Anchors and aliases are refused; point at the first alias (*name) if the text is at hand."""
    line, col = fallback
    if text is not None:
        try:
            for event in YAML(typ="safe", pure=True).parse(text):
                if type(event).__name__ == "AliasEvent":
                    line, col = event.start_mark.line + 1, event.start_mark.column + 1
                    break
        except YAMLError:
            pass
    return InputError.at(Location(label, line, col), "anchors and aliases (&name, *name) are not allowed")


def _check_tree(data: Any, label: str, text: str | None = None) -> None:
    """Refuse aliases and excessive depth in data loaded without positions."""
    seen: set = set()
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise InputError.at(Location(label, 1, 1), f"nesting is too deep (more than {MAX_DEPTH} levels)")
        if id(node) in seen:
            raise _alias_error(label, (1, 1), text)
        seen.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)


_MSGSPEC_JSON = msgspec.json.Decoder(float_hook=Decimal)
_MSGSPEC_WRITER = msgspec.json.Encoder(decimal_format="number")


def _no_duplicates(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateJSONKey(key)
            seen.add(key)
    return out


class _DuplicateJSONKey(Exception):
    pass


def load_json_fast(text: str, label: str) -> Any:
    """Parse JSON with exact, bounded decimals; errors carry line and column."""
    return load_json_checked(text, label, None)[0]


def load_json_checked(text: str, label: str, shape: Shape | None, raw: bytes | None = None) -> tuple[Any, bool]:
    """Parse JSON as ``load_json_fast`` does; and True when the data was read as ``shape`` (a facts schema as a
    type, rules/typed.py), which found it to be what its schema allows, so that it need not be checked again.
    ``raw``: the UTF-8 bytes ``text`` was decoded from, when the caller has them (scanned as they are)."""
    if not text.strip():
        raise InputError.at(Location(label, 1, 1), "file is empty", code="empty")
    # A number out of bounds has a token of 16 or more digits and dots, or an exponent: only then is every
    # number checked one by one (in Python); otherwise the C parser's own numbers are within the bounds.
    careful = _suspicious_numbers(raw if raw is not None else text)
    found = None if careful or shape is None else typed.parse(shape, text)
    data = found[0] if found is not None and _keys_once(text, found[0], found[1]) else None
    checked = data is not None
    if data is None and not careful:
        data = _quick_json(text)
    if data is None:
        data = _strict_json(text, label, careful)
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(data, text, label)
    return data, checked


def _quick_json(text: str) -> Any:
    """The data, parsed in C (msgspec, decimals exact); None when the careful path must say what is wrong or might
    differ: a syntax error, or a key written twice, which msgspec takes silently (twice as fast as the standard
    library's parser with a duplicate check in Python)."""
    try:
        data = _MSGSPEC_JSON.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return None
    keys = _check_depth(data, "", quiet=True)
    return data if keys is not None and _keys_once(text, data, keys) else None


def _keys_once(text: str, data: Any, keys: int) -> bool:
    """Is every key of ``text`` in ``data`` (which holds ``keys`` keys), none written twice or left out?

    Every key is followed by a colon outside strings, so when the text has exactly as many colons as the data has
    keys, no key was written twice. With colons in texts, the data written again (one colon a key, and the
    colons of its texts) has as many as the text unless an entry was dropped, or a colon was written as an
    escape (then the careful path decides)."""
    colons = text.count(":")
    if keys == colons:
        return True
    escaped = "\\u003a" in text or "\\u003A" in text
    return not escaped and _MSGSPEC_WRITER.encode(data).count(b":") == colons


def _strict_json(text: str, label: str, careful: bool) -> Any:
    """The standard library's parser, each key and (``careful``) each number checked: every problem at its place."""
    try:
        data = json.loads(text, parse_float=_json_number(bounded_decimal) if careful else Decimal,
                          parse_int=_json_number(bounded_int) if careful else None,
                          parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError.at(Location(label, exc.lineno, exc.colno), f"JSON syntax: {exc.msg}", code="syntax") from None
    except _DuplicateJSONKey as exc:
        raise _json_duplicate(text, label, str(exc.args[0])) from None
    except _BadScalar as exc:
        raise InputError.at(find_text(text, label, exc.needle or exc.message.split("'")[1]), exc.message) from None
    except RecursionError:
        raise InputError.at(Location(label, 1, 1), f"nesting is too deep (more than {MAX_DEPTH} levels)") from None
    _check_depth(data, label)  # JSON has no aliases, but its depth is bounded as YAML's is
    return data


# Each digit and dot as 'd', each e or E as 'e', all else a space: a number out of bounds then shows as 16 d's or as
# "de" (an exponent). Dots and exponents outside numbers only make the check careful, never skip it; two C passes
# instead of a regular expression tried at every character (0.17 s for 28 MB).
_NUMBER_SHAPES = bytes(ord("d") if chr(c) in "0123456789." else ord("e") if chr(c) in "eE" else 32 for c in range(256))


def _suspicious_numbers(text: str | bytes) -> bool:
    """Could a number in this JSON text (or its UTF-8 bytes) be out of bounds (more than 15 digits, or an
    exponent)?"""
    shapes = (text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")).translate(_NUMBER_SHAPES)
    return b"d" * 16 in shapes or b"de" in shapes


def _check_depth(data: Any, label: str, quiet: bool = False) -> int | None:
    """Refuse nesting deeper than MAX_DEPTH, looking at containers only, a level at a time; the number of keys
    in all mappings. ``quiet``: None instead of refusing."""
    level, depth, keys = [data], 0, 0
    while level:
        if depth > MAX_DEPTH:
            if quiet:
                return None
            raise InputError.at(Location(label, 1, 1), f"nesting is too deep (more than {MAX_DEPTH} levels)")
        below = []
        for node in level:
            if type(node) is dict:
                keys += len(node)
                node = node.values()
            elif type(node) is not list:
                continue
            below += [v for v in node if type(v) is dict or type(v) is list]
        level, depth = below, depth + 1
    return keys


def _json_number(parse):
    def number(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise _BadScalar(str(exc), 1, 1, needle=text) from None
    return number


def _check_strings(data: Any, text: str, label: str) -> None:
    """Refuse lone surrogates (JSON's \\ud800), which no UTF-8 output can hold."""
    stack = [data]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else node if isinstance(node, list) else [node]
        for item in items:
            for value in (item if isinstance(item, tuple) else (item,)):
                if isinstance(value, str) and _SURROGATE.search(value):
                    match = _SURROGATE_ESCAPE.search(text)
                    raise InputError.at(find_text(text, label, match.group() if match else value),
                                        "text holds a lone surrogate code point (\\ud800 to \\udfff): not valid "
                                        "Unicode text")
                if isinstance(value, (dict, list)):
                    stack.append(value)


def find_text(text: str, label: str, needle: str) -> Location:
    """The line and column of the first occurrence of ``needle``, for errors the parser gives no position."""
    at = max(text.find(needle), 0)
    before = text[:at]
    return Location(label, before.count("\n") + 1, at - (before.rfind("\n") + 1) + 1)


def _no_constant(name: str) -> Any:
    raise _BadScalar(f"'{name}' is not a number this engine accepts", 1, 1)


def _json_duplicate(text: str, label: str, key: str) -> InputError:
    needle = json.dumps(key)
    first = text.find(needle)
    second = text.find(needle, first + 1) if first >= 0 else -1
    at = second if second >= 0 else max(first, 0)
    before = text[:at]
    line, col = before.count("\n") + 1, at - (before.rfind("\n") + 1) + 1
    return InputError.at(Location(label, line, col), f"duplicate key '{key}'", code="syntax")


def load_positions(text: str, label: str) -> Document:
    """The slow path: a facts file's positions. For JSON, found on demand by walking the text to each path
    asked for (``jsonpos``); for YAML, by parsing it again with positions."""
    from .jsonpos import json_positions

    found = json_positions(text)
    if found is not None:
        return Document(label, text, None, *found)
    try:
        return _flatten(_round_trip_yaml().load(text), label, text)
    except (YAMLError, _BadScalar, RecursionError, InputError):
        return Document(label, text, None)
