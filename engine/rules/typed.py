"""A facts schema as a msgspec type: JSON facts parsed and checked against their schema in one pass, in C.

For a large call, checking the parsed facts against their schema (jsonschema-rs, which must first convert every
exact decimal) and counting their keys (to find a key written twice) cost as much as parsing them. Most facts
schemas say only what msgspec's types can say exactly: closed objects with required and optional fields, arrays,
maps with named keys, strings with lengths, integers with bounds, numbers, booleans, nulls, enums of texts. For
such a schema, ``shape_for`` builds a decoder whose type is the schema, and ``parse`` gives the facts only when
they are what the schema allows; anything else (a value the type refuses, a key written twice or unknown, a
number out of its bounds) gives None, and the caller takes the general way, which says what is wrong and where.

So the typed way may refuse more than the schema does (JSON's ``1.0`` for an integer), never less: a schema with
any keyword this module has no exact counterpart for (``anyOf``, ``multipleOf``, an object open to other keys, a
bound that is not a whole number, a pattern other than plain ones) has no shape, and its facts are checked as
before. ``tests/test_typed_facts.py`` holds it against jsonschema on the shipped schemas and on mutated facts.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from typing import Annotated, Any, Callable, Literal, Optional, TypedDict, Union

import msgspec

try:
    from typing import NotRequired
except ImportError:  # Python 3.10: typing_extensions has it (pydantic and referencing need it); else no optional field
    try:
        from typing_extensions import NotRequired
    except ImportError:
        NotRequired = None

# Keywords that say nothing about validity (annotations, and this project's own ``x-`` words).
_ANNOTATIONS = frozenset({"title", "description", "examples", "$comment", "default", "deprecated", "readOnly",
                          "writeOnly", "$id", "$schema", "$anchor", "$defs"})
_MAX_NESTING = 16  # a schema nested deeper (or referring to itself) is left to the general way
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# A pattern read the same by Python's ``re`` and by the ECMA-262 regular expressions JSON Schema names: letters,
# digits, classes, groups, alternatives and counts; no escapes, no dot, no flags; a final $ is the text's end.
_PLAIN_PATTERN = re.compile(r"\^?(?:[A-Za-z0-9 _,:/-]|\[\^?[A-Za-z0-9 _,:/-]+\]|\((?!\?)|\)|\||[?*+]"
                            r"|\{[0-9]+(?:,[0-9]*)?\})*\$?\Z")


class _Declined(Exception):
    """The schema says something that has no exact msgspec counterpart."""


@dataclass(frozen=True)
class Shape:
    """A facts schema as a msgspec decoder, with what the type cannot check (numbers' bounds, patterns, dates) and
    the count of the keys in what it parsed."""

    decoder: msgspec.json.Decoder
    walk: Callable[[list], int]  # the keys in these values and under them; raises _Refused on a value out of bounds


class _Refused(Exception):
    """Parsed, the facts hold a value the schema does not allow (a number out of its bounds, a text off its
    pattern)."""


_SHAPES: dict[str, Shape | None] = {}


def shape_for(schema: Any) -> Shape | None:
    """The shape of a facts schema; None when some keyword of it has no exact counterpart."""
    key = json.dumps(schema, sort_keys=True, default=str)
    if key not in _SHAPES:
        if len(_SHAPES) > 64:
            _SHAPES.clear()
        _SHAPES[key] = _build(schema)
    return _SHAPES[key]


def _build(schema: Any) -> Shape | None:
    if not isinstance(schema, dict) or schema.get("$schema", _DRAFT) != _DRAFT:
        return None
    try:
        node = _Node.of(schema, schema, 0)
        if not isinstance(node, _Object):
            return None
        return Shape(msgspec.json.Decoder(node.type, float_hook=Decimal), node.walk)
    except (_Declined, TypeError, ValueError):  # TypeError, ValueError: a union msgspec cannot tell apart
        return None


_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def parse(shape: Shape, text: str) -> tuple[Any, int] | None:
    """The facts in ``text`` and the number of keys they hold, when ``shape`` takes them; None otherwise."""
    try:
        data = shape.decoder.decode(text)
        return data, shape.walk([data])
    except (msgspec.ValidationError, msgspec.DecodeError, _Refused, RecursionError):
        return None


class _Node:
    type: Any
    needs_walk: bool = True

    @staticmethod
    def of(schema: Any, root: dict, depth: int) -> _Node:
        schema = _resolved(schema, root)
        if depth > _MAX_NESTING or not isinstance(schema, dict):
            raise _Declined
        types = schema.get("type")
        if types == "object":
            return _Object(schema, root, depth) if schema.get("additionalProperties") is False \
                else _Map(schema, root, depth)
        if types == "array":
            return _Array(schema, root, depth)
        return _Scalar(schema)

    def walk(self, values: list) -> int:
        raise NotImplementedError


def _resolved(schema: Any, root: dict) -> Any:
    """``schema`` with a local reference (``#/$defs/name``) followed; a reference beside other words declined."""
    for _ in range(_MAX_NESTING):
        if not (isinstance(schema, dict) and "$ref" in schema):
            return schema
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or "~" in ref or "%" in ref \
                or set(schema) - _ANNOTATIONS - {"$ref"}:
            raise _Declined
        node: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                raise _Declined
            node = node[part]
        schema = node
    raise _Declined


def _only(schema: dict, allowed: set) -> None:
    if {k for k in schema if not k.startswith("x-")} - _ANNOTATIONS - allowed:
        raise _Declined


def _count(value: Any) -> int | None:
    """A schema's count (``minItems`` and the like): a whole number, else declined."""
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise _Declined
    return value


def _meta(**bounds: Any) -> Any:
    given = {k: v for k, v in bounds.items() if v is not None}
    return msgspec.Meta(**given) if given else None


def _annotated(inner: Any, meta: Any) -> Any:
    return Annotated[inner, meta] if meta is not None else inner


class _Object(_Node):
    """A closed object (``additionalProperties: false``): a TypedDict, its optional fields NotRequired."""

    def __init__(self, schema: dict, root: dict, depth: int) -> None:
        _only(schema, {"type", "properties", "required", "additionalProperties"})
        properties, required = schema.get("properties", {}), schema.get("required", [])
        if not isinstance(properties, dict) or not isinstance(required, list) or \
                not set(required) <= set(properties) or len(set(required)) != len(required):
            raise _Declined
        self.fields = {name: (_Node.of(sub, root, depth + 1), name in required) for name, sub in properties.items()}
        if NotRequired is None and len(required) < len(properties):
            raise _Declined
        self.type = TypedDict(f"Object{depth}", {  # type: ignore[misc]
            name: node.type if needed else NotRequired[node.type] for name, (node, needed) in self.fields.items()})
        self.below = [(itemgetter(name) if needed else name, node)
                      for name, (node, needed) in self.fields.items() if node.needs_walk]

    def walk(self, values: list) -> int:
        keys = sum(map(len, values))
        for get, node in self.below:
            found = list(map(get, values)) if callable(get) else [v[get] for v in values if get in v]
            keys += node.walk(found)
        return keys


class _Map(_Node):
    """An object of any keys (or keys from an enum of texts), each value of one schema."""

    def __init__(self, schema: dict, root: dict, depth: int) -> None:
        _only(schema, {"type", "additionalProperties", "propertyNames", "minProperties", "maxProperties"})
        names = schema.get("propertyNames")
        if names is not None:
            _only(names, {"enum"})
            if not isinstance(names.get("enum"), list) or not all(type(n) is str for n in names["enum"]) \
                    or not names["enum"]:
                raise _Declined
        # an object open to anything (no additionalProperties, or true) is declined there: true is no schema
        self.value = _Node.of(schema.get("additionalProperties", True), root, depth + 1)
        keys = Literal[tuple(names["enum"])] if names is not None else str  # type: ignore[misc]
        meta = _meta(min_length=_count(schema.get("minProperties")), max_length=_count(schema.get("maxProperties")))
        self.type = _annotated(dict[keys, self.value.type], meta)  # type: ignore[valid-type]

    def walk(self, values: list) -> int:
        keys = sum(map(len, values))
        if self.value.needs_walk:
            keys += self.value.walk(list(chain.from_iterable(map(dict.values, values))))
        return keys


class _Array(_Node):
    def __init__(self, schema: dict, root: dict, depth: int) -> None:
        _only(schema, {"type", "items", "minItems", "maxItems"})
        if "items" not in schema:
            raise _Declined
        self.item = _Node.of(schema["items"], root, depth + 1)
        meta = _meta(min_length=_count(schema.get("minItems")), max_length=_count(schema.get("maxItems")))
        self.type = _annotated(list[self.item.type], meta)  # type: ignore[name-defined]
        self.needs_walk = self.item.needs_walk

    def walk(self, values: list) -> int:
        return self.item.walk(list(chain.from_iterable(values)))


_NUMBER = (int, Decimal)


class _Scalar(_Node):
    """A text, whole number, number, boolean or null (or several of them), or an enum of texts."""

    def __init__(self, schema: dict) -> None:
        _only(schema, {"type", "enum", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
                       "exclusiveMinimum", "exclusiveMaximum"})
        kinds = schema.get("type", "string" if "enum" in schema else None)
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= {"string", "integer", "number", "boolean",
                                                                          "null"}:
            raise _Declined
        self.kinds = frozenset(kinds)
        if "enum" in schema and self.kinds != {"string"}:
            raise _Declined  # an enum of texts allows no null and no number, whatever "type" adds
        self.low, self.high = _bound(schema, "minimum", "exclusiveMinimum"), _bound(schema, "maximum",
                                                                                   "exclusiveMaximum")
        self.date = _date_format(schema)
        self.pattern = _pattern(schema) if "string" in self.kinds else None
        self.type = self._type(schema)
        # what the type does not check: a number's bounds, a date, a mix of text and number; and a pattern,
        # which msgspec would try by a call into Python for every text (half a second for 600,000 quarters)
        self.needs_walk = self.date or self.loose or self.pattern is not None or \
            ("number" in self.kinds and (self.low, self.high) != (None, None))

    def _type(self, schema: dict) -> Any:
        text = _text_type(schema) if "string" in self.kinds else None
        whole = _annotated(int, _meta(ge=_inclusive(self.low, 0), gt=_inclusive(self.low, 1),
                                      le=_inclusive(self.high, 0), lt=_inclusive(self.high, 1))) \
            if "integer" in self.kinds and "number" not in self.kinds else None
        number = Union[int, Decimal] if "number" in self.kinds else None
        parts = [t for t in (text, whole, number, bool if "boolean" in self.kinds else None) if t is not None]
        self.loose = text is not None and number is not None  # msgspec takes no union of a text and a Decimal
        if self.loose:
            if set(schema) & {"enum", "minLength", "maxLength", "pattern", "format"}:
                raise _Declined
            return Any
        kind = Union[tuple(parts)] if len(parts) > 1 else parts[0] if parts else None
        if kind is None:
            return None
        return Optional[kind] if "null" in self.kinds else kind

    def walk(self, values: list) -> int:
        if self.loose:
            allowed = {str} | ({int, Decimal} if "number" in self.kinds else set()) | \
                ({bool} if "boolean" in self.kinds else set()) | ({type(None)} if "null" in self.kinds else set())
            if not all(type(v) in allowed for v in values):
                raise _Refused
        numbers = [v for v in values if type(v) in _NUMBER] if len(self.kinds - {"number"}) else values
        if numbers and not self._within(numbers):
            raise _Refused
        if self.pattern is None and not self.date:
            return 0
        texts = [v for v in values if type(v) is str] if len(self.kinds) > 1 else values
        distinct = dict.fromkeys(texts)  # each text tried once: 600,000 quarters are a few dozen texts
        if self.pattern is not None and not all(map(self.pattern.search, distinct)):
            raise _Refused
        if self.date and not all(map(_is_date, distinct)):
            raise _Refused
        return 0

    def _within(self, numbers: list) -> bool:
        low, high = self.low, self.high
        if low is not None and not (min(numbers) > low[0] if low[1] else min(numbers) >= low[0]):
            return False
        return high is None or (max(numbers) < high[0] if high[1] else max(numbers) <= high[0])


def _bound(schema: dict, inclusive: str, exclusive: str) -> tuple[int, bool] | None:
    """A bound as (whole number, exclusive?); a bound that is not a whole number, or both given, declined."""
    if inclusive in schema and exclusive in schema:
        raise _Declined
    for word, strict in ((inclusive, False), (exclusive, True)):
        if word in schema:
            value = schema[word]
            if type(value) is float and value.is_integer():  # a whole float is exactly its int
                value = int(value)
            if type(value) is not int:
                raise _Declined
            return value, strict
    return None


def _inclusive(bound: tuple[int, bool] | None, strict: int) -> int | None:
    return bound[0] if bound is not None and bound[1] == bool(strict) else None


def _text_type(schema: dict) -> Any:
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values or not all(type(v) is str for v in values) \
                or set(schema) & {"minLength", "maxLength", "pattern", "format"}:
            raise _Declined
        return Literal[tuple(values)]  # type: ignore[misc]
    return _annotated(str, _meta(min_length=_count(schema.get("minLength")),
                                 max_length=_count(schema.get("maxLength"))))


def _pattern(schema: dict) -> re.Pattern | None:
    """A plain pattern, compiled to be searched for as JSON Schema does; a final $ is the end of the text (in
    Python it would also take a newline before it)."""
    pattern = schema.get("pattern")
    if pattern is None:
        return None
    if not isinstance(pattern, str) or not _PLAIN_PATTERN.match(pattern):
        raise _Declined
    try:
        return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)
    except re.error:
        raise _Declined from None


def _date_format(schema: dict) -> bool:
    form = schema.get("format")
    if form is None:
        return False
    if form != "date" or "string" not in (schema.get("type") if isinstance(schema.get("type"), list)
                                          else [schema.get("type")]):
        raise _Declined
    return True


def _is_date(text: str) -> bool:
    """A full date as RFC 3339 writes it (what JSON Schema's ``date`` format is)."""
    if not _DATE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
