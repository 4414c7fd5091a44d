"""Facts files (the applications of a call): load fast, validate, coerce dates.

JSON is read with the standard library (decimals for numbers); YAML with
ruamel's C loader. Both are validated against the ruleset's facts schema with
a compiled validator; only when that fails is the file parsed again with
positions, to report every problem at its line.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable

from .checker import deref, kind_of_schema, region_schema
from .compile import Ruleset
from .group import check_groups, merge
from ..errors import InputError, Location, Problem, printable
from ..limits import max_applicants, max_json_bytes
from .load import (MAX_YAML_BYTES, SNIFF_BYTES, find_text, decode, load_json_checked, load_positions,
                   load_yaml_fast, read_bounded, too_large)
from .typed import shape_for
from .validate import validate_facts


FORMATS = ("json", "yaml", "xlsx")
MAX_XLSX_BYTES = 50 * 1024 * 1024  # a compressed workbook; what it unpacks to is bounded in xlsx


@dataclass(frozen=True)
class Facts:
    """A validated facts file."""

    label: str
    sha256: str
    applicants: list
    regions: dict | None
    call: dict
    raw: bytes = field(default=b"", compare=False, repr=False)  # kept for the log: empty when nothing is logged
    format: str = "json"  # the parser the bytes went through: "json" or "yaml"
    excluded: tuple = ()  # (applicant as given, its problems) of the applications excluded (on_invalid: exclude)
    warnings: tuple = ()  # what was read other than as given (a number stored as text in a workbook), at its cell
    groups: dict = field(default_factory=dict, compare=False)  # head id -> its members' ids (facts.group)


def format_of(label: str, head: bytes) -> str:
    """``json`` or ``yaml``: by the file's extension, else by its first non-blank byte (``{`` or ``[``)."""
    name = label.lower()
    if name.endswith((".xlsx", ".xlsm")) or head[:4] == b"PK\x03\x04":
        return "xlsx"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[") else "yaml"


def limit_of(fmt: str, limited: bool = True) -> int:
    """The size limit of facts in ``fmt``; facts read back from the log (not ``limited``) have none of their own:
    they were accepted when logged, and their stored copy is bounded when it is unpacked."""
    if fmt == "json":
        return max_json_bytes() if limited else 1 << 62
    return {"xlsx": MAX_XLSX_BYTES}.get(fmt, MAX_YAML_BYTES)


def read_facts_bytes(path: str | Path) -> tuple[bytes, str]:
    """The bytes of a facts file (``-``: standard input) and their format, within that format's size limit.

    The format is known before the file is read whole, so the limit that applies is the limit of the
    parser that will read it (a ``.yaml`` file that holds JSON is YAML, and is limited as YAML).
    """
    label = str(path)
    if label != "-":
        known = label.lower().endswith((".json", ".yaml", ".yml", ".xlsx", ".xlsm"))
        head = b"" if known else read_bounded(path, label, max_json_bytes(), head=SNIFF_BYTES)
        fmt = format_of(label, head)
        return read_bounded(path, label, limit_of(fmt)), fmt
    head = sys.stdin.buffer.read(SNIFF_BYTES)
    fmt = format_of(label, head)
    raw = head + sys.stdin.buffer.read(limit_of(fmt) + 1 - len(head))
    if len(raw) > limit_of(fmt):
        raise too_large("<stdin>", len(raw), limit_of(fmt), at_least=True)
    return raw, fmt


def load_facts(path: str | Path, ruleset: Ruleset) -> Facts:
    """Read, parse and validate a facts file for ``ruleset``."""
    raw, fmt = read_facts_bytes(path)
    return parse_facts(raw, "<stdin>" if str(path) == "-" else str(path), ruleset, fmt)


def load_data(raw: bytes, label: str, fmt: str | None = None, limited: bool = True) -> tuple[Any, str, str]:
    """Facts bytes to (plain data, text, format), within the format's limits (``limited``: facts coming in, not
    read back from the log); a mapping at the top."""
    return _load(raw, label, fmt, limited, None)[:3]


def _load(raw: bytes, label: str, fmt: str | None, limited: bool, schema: dict | None) -> tuple[Any, str, str, bool]:
    """``load_data``, and whether the data was read as ``schema``'s type and found to be what it allows."""
    fmt = fmt or format_of(label, raw[:SNIFF_BYTES])
    text = decode(raw, label, limit_of(fmt, limited))
    checked = False
    if fmt == "json":
        data, checked = load_json_checked(text, label, shape_for(schema) if schema is not None else None, raw)
    else:
        data = load_yaml_fast(text, label)
    if not isinstance(data, dict):
        raise InputError.at(Location(label, 1, 1), "a facts file must be a mapping with an 'applicants' list")
    if limited and isinstance(data.get("applicants"), list) and len(data["applicants"]) > max_applicants():
        where = find_text(text, label, '"applicants"' if fmt == "json" else "applicants:")
        raise InputError.at(where, f"{len(data['applicants']):,} applicants, over the limit of {max_applicants():,} "
                            "a call (RULES_MAX_APPLICANTS, set by whoever runs the engine)", "applicants", "too-large")
    return data, text, fmt, checked


def parse_facts(raw: bytes, label: str, ruleset: Ruleset, fmt: str | None = None, limited: bool = True) -> Facts:
    """Parse and validate facts from bytes (a file, a request body, or as stored in the decision log: then not
    ``limited`` by today's settings).

    A workbook is checked at its cells, then decided as its JSON twin: the JSON is what is logged.
    """
    if (fmt or format_of(label, raw[:SNIFF_BYTES])) == "xlsx":
        warnings: list = []
        facts = parse_facts(workbook_json(raw, label, ruleset.facts_schema, warnings), label, ruleset, "json", limited)
        return dataclasses.replace(facts, warnings=tuple(warnings))
    data, text, fmt, checked = _load(raw, label, fmt, limited, ruleset.facts_schema)
    excluded: list = []
    exclude = ruleset.on_invalid == "exclude"
    checks = [lambda d: validate_facts(d, text, label, ruleset.facts_schema, from_yaml=fmt == "yaml",
                                       checked=checked),
              lambda d: check_unique_by(d["applicants"], ruleset.applicant_fields, ruleset.facts_schema, text, label),
              lambda d: coerce_all(d["applicants"], date_paths(ruleset), text, label),
              lambda d: check_regions(ruleset, d["applicants"], d.get("regions"), text, label),
              lambda d: coerce_call_dates(d, ruleset, text, label)]
    if ruleset.group is not None:
        checks.append(lambda d: check_groups(d["applicants"], ruleset.group,
                                             lambda path: load_positions(text, label).loc(path)))
    for check in checks:
        data = _excluding(check, data, excluded) if exclude else (check(data), data)[1]
    applicants, groups = grouped(data["applicants"], ruleset)
    return Facts(label, hashlib.sha256(raw).hexdigest(), applicants, data.get("regions"), data.get("call") or {},
                 raw, fmt, tuple(excluded), groups=groups)


def grouped(applicants: list, ruleset: Ruleset) -> tuple[list, dict]:
    """The applications as decided (a group's head with the group's sums, its members left out) and the groups."""
    return merge(applicants, ruleset.group) if ruleset.group is not None else (applicants, {})


APPLICANT_PATH = re.compile(r"applicants\[(\d+)\]")


def _excluding(check: Any, data: dict, excluded: list) -> dict:
    """Run ``check``; the applications its problems are about are set aside (with them), the rest go on. A problem
    of the call as a whole (not of one application) still refuses it."""
    try:
        check(data)
        return data
    except InputError as exc:
        by_index: dict = {}
        for problem in exc.problems:
            found = APPLICANT_PATH.match(problem.path or "")
            if not found or int(found.group(1)) >= len(data["applicants"]):
                raise
            by_index.setdefault(int(found.group(1)), []).append(problem)
    excluded += [(data["applicants"][i], problems) for i, problems in sorted(by_index.items())]
    rest = dict(data, applicants=[a for i, a in enumerate(data["applicants"]) if i not in by_index])
    check(rest)  # what is left passes; if not, its problem is the call's
    return rest


def workbook_json(raw: bytes, label: str, schema: dict | None = None, warnings: list | None = None) -> bytes:
    """The facts of a workbook as compact JSON, after checking them at their cells against the facts ``schema``
    (a ruleset's, or a shipped one such as the settlements'). A number
    stored as text ('6', '95,5') in a column the schema says is a number is read as that number, and ``warnings``
    gets a line naming its cell."""
    import msgspec

    from .validate import json_view, validate_document
    from .xlsx import read_facts_workbook

    layout: list = []
    doc = read_facts_workbook(raw, label, layout)
    if schema is None and layout:
        raise InputError(layout)
    if schema is not None:
        _drop_empty_optional(doc.data.get("applicants") or [], schema)
        _drop_empty_regions(doc.data.get("regions") or {}, schema)
        found = _numbers_from_text(doc, schema)
        if warnings is not None:
            warnings += found
        problems = layout + validate_document(doc, schema)
        if problems:
            raise InputError(problems)
    return msgspec.json.Encoder(decimal_format="number").encode(json_view(doc.data))


def unique_by_fields(fields: dict, root: dict) -> list[tuple[str, str]]:
    """(list field, key) pairs where the facts schema says ``"x-unique-by": key``: no two items may share it."""
    out = []
    for name, schema in fields.items():
        kind = kind_of_schema(schema, root)
        declared = deref(schema, root) if isinstance(schema, dict) else {}
        if kind.name == "list" and isinstance(declared, dict) and isinstance(declared.get("x-unique-by"), str):
            out.append((name, declared["x-unique-by"]))
    return out


def check_unique_by(applicants: list, fields: dict, root: dict, text: str, label: str) -> None:
    """Refuse an applicant whose list holds two items with the same key (a quarter given twice).

    JSON Schema cannot say this; the engine's own keyword ``x-unique-by`` on an array does.
    """
    rules = [(name, key) for name, key in unique_by_fields(fields, root) if not _each_once(applicants, name, key)]
    if not rules:
        return
    found = []
    for index, applicant in enumerate(applicants):
        for name, key in rules:
            items = applicant.get(name) or ()
            keys = [item.get(key) for item in items if type(item) is dict]
            if len(set(keys)) == len(keys) == len(items):
                continue  # each key once: most applicants, seen at once
            seen: dict = {}
            for position, item in enumerate(items):
                value = item.get(key) if isinstance(item, dict) else None
                if value is not None and value in seen:
                    found.append((index, applicant.get("id"), name, position, key, value, seen[value]))
                seen.setdefault(value, position)
    if found:
        doc = load_positions(text, label)
        raise InputError(Problem(doc.loc(("applicants", i, name, pos, key)),
                                 f"'{printable(str(value))}' is given twice (first at {name}[{first}]): each {key} once",
                                 f"applicants[{i}] (id {printable(str(aid))}).{name}[{pos}].{key}", "duplicate")
                         for i, aid, name, pos, key, value, first in found)


def _each_once(applicants: list, name: str, key: str) -> bool:
    """Does every applicant's list ``name`` give each ``key`` once (and each of its items one)? Looked at in C,
    for all applicants at once: each list's keys as a set as long as the list, none of them null (a set of
    (applicant, key) pairs over all lists cost twice as much: a tuple made and hashed for each item). False leaves
    it to the check of each applicant, which says where."""
    try:
        lists = [applicant.get(name) or () for applicant in applicants]
        keys = list(map(frozenset, map(partial(map, itemgetter(key)), lists)))
        return list(map(len, keys)) == list(map(len, lists)) and not any(map(frozenset.__contains__, keys,
                                                                            repeat(None)))
    except (KeyError, TypeError, AttributeError):
        return False


def _drop_empty_optional(applicants: list, root: dict) -> None:
    """An empty cell of a column the schema does not require is no value at all (not null), in place: a column
    left empty because it does not apply is how spreadsheets are filled in."""
    from .checker import applicant_schema, deref

    schema = applicant_schema(root)
    required = set(schema.get("required") or ())
    items = {name: deref(deref(field, root).get("items", {}), root) for name, field in
             (schema.get("properties") or {}).items() if isinstance(deref(field, root), dict)
             and deref(field, root).get("type") == "array"}
    for applicant in applicants:
        _drop_none(applicant, required)
        for name, item_schema in items.items():
            needed = set(item_schema.get("required") or ()) if isinstance(item_schema, dict) else set()
            for item in applicant.get(name) or []:
                _drop_none(item, needed)


def _drop_none(mapping: Any, keep: set) -> None:
    """Remove, in place, the keys of ``mapping`` whose value is None, except those in ``keep``."""
    if isinstance(mapping, dict):
        for key in [k for k, v in mapping.items() if v is None and k not in keep]:
            del mapping[key]


NUMBER_TEXT = re.compile(r"\s*-?\d+(?:[.,]\d+)?\s*")


def _numbers_from_text(doc: Any, root: dict) -> list[str]:
    """Texts that are numbers, in number columns, as numbers (in place); a warning for each, at its cell."""
    from .checker import applicant_schema, deref

    warnings = []

    def visit(value: Any, schema: Any, path: tuple) -> Any:
        schema = deref(schema, root) if isinstance(schema, dict) else {}
        kinds = schema.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if isinstance(value, dict):
            for key in list(value):
                value[key] = visit(value[key], (schema.get("properties") or {}).get(key, {}), path + (key,))
        elif isinstance(value, list):
            return [visit(item, schema.get("items", {}), path + (i,)) for i, item in enumerate(value)]
        elif isinstance(value, str) and {"number", "integer"} & set(kinds) and NUMBER_TEXT.fullmatch(value):
            number = Decimal(value.strip().replace(",", "."))
            warnings.append(f"{doc.loc(path)}: '{value}' is text in a number column; read as {number}")
            return int(number) if number == number.to_integral_value() and "integer" in kinds else number
        return value
    schema = applicant_schema(root)
    for index, applicant in enumerate(doc.data.get("applicants") or []):
        visit(applicant, schema, ("applicants", index))
    return warnings


def _drop_empty_regions(regions: dict, root: dict) -> None:
    from .checker import region_schema

    needed = set(region_schema(root).get("required") or ())
    for values in regions.values():
        _drop_none(values, needed)


def date_paths(ruleset: Ruleset) -> tuple:
    """Paths of the applicant fields declared as dates, wherever they sit: in objects, and in the items of
    lists (``*``), nested too: ``("quarters", "*", "settled_on")``."""
    return tuple(_date_paths(ruleset.applicant_fields, ruleset.facts_schema, ()))


def _date_paths(properties: dict, root: dict, prefix: tuple) -> Iterable[tuple]:
    if len(prefix) > 8:  # the facts' own nesting is limited long before this
        return
    for name, schema in properties.items():
        kind = kind_of_schema(schema, root)
        if kind.name == "date":
            yield prefix + (name,)
        elif kind.name == "object":
            yield from _date_paths(kind.schema.get("properties", {}), root, prefix + (name,))
        elif kind.name == "list":
            item = kind_of_schema(kind.schema, root)
            if item.name == "date":
                yield prefix + (name, "*")
            elif item.name == "object":
                yield from _date_paths(item.schema.get("properties", {}), root, prefix + (name, "*"))


def coerce_all(applicants: list, paths: tuple, text: str, label: str) -> list:
    """Date fields given as text (JSON) become dates; one that is no usable date is reported at its place."""
    if all(len(path) == 1 for path in paths):
        bad = _coerce_fields(applicants, paths)
    else:
        bad = [(index, path) for index, applicant in enumerate(applicants) for path in coerce_dates(applicant, paths)]
    if bad:
        doc = load_positions(text, label)
        raise InputError(Problem(doc.loc(("applicants", i) + path), "not a date this engine can use (YYYY-MM-DD, "
                                 "years 0001 to 9999)", f"applicants[{i}]{_dotted(path)}", "format")
                         for i, path in bad)
    return applicants


def _coerce_fields(applicants: list, paths: tuple) -> list:
    """``coerce_dates`` of fields of the applicants themselves (not inside a list or object), a field at a time:
    only the applicants that give one as text are visited. The places that hold no date, in the order of
    ``coerce_dates`` (by applicant, then by field)."""
    bad = []
    for order, (key,) in enumerate(paths):
        for index, applicant in [(i, a) for i, a in enumerate(applicants) if isinstance(a, dict)
                                 and isinstance(a.get(key), str)]:
            try:
                applicant[key] = dt.date.fromisoformat(applicant[key])
            except ValueError:
                bad.append((index, order, (key,)))
    return [(index, path) for index, _, path in sorted(bad)]


def coerce_call_dates(data: dict, ruleset: Ruleset, text: str, label: str) -> dict:
    """The date fields of the call's own data and of each region, given as text, become dates (as the
    applicants' do), so that call.X and region.X compare as dates; one that is no date is reported at its place."""
    root = ruleset.facts_schema
    call_schema = deref(root.get("properties", {}).get("call"), root)
    bad = []
    if isinstance(data.get("call"), dict) and isinstance(call_schema, dict):
        paths = tuple(_date_paths(call_schema.get("properties", {}), root, ()))
        bad += [("call",) + path for path in coerce_dates(data["call"], paths)]
    region_paths = tuple(_date_paths(region_schema(root).get("properties", {}), root, ()))
    for name, region in (data.get("regions") or {}).items() if region_paths else ():
        bad += [("regions", name) + path for path in coerce_dates(region, region_paths)]
    if bad:
        doc = load_positions(text, label)
        raise InputError(Problem(doc.loc(path), "not a date this engine can use (YYYY-MM-DD, years 0001 to 9999)",
                                 path[0] + _dotted(path[1:]), "format") for path in bad)
    return data


def coerce_dates(applicant: dict, paths: tuple) -> list:
    """Turn the date texts at ``paths`` into dates, in place (``*``: every item of a list); returns the
    places (with the items' indices) that hold no valid date."""
    bad: list = []
    for path in paths:
        _coerce(applicant, path, (), bad)
    return bad


def _coerce(holder: Any, path: tuple, done: tuple, bad: list) -> None:
    key, rest = path[0], path[1:]
    if key == "*":
        places = list(enumerate(holder)) if isinstance(holder, list) else []
    else:
        places = [(key, holder[key])] if isinstance(holder, dict) and key in holder else []
    for place, value in places:
        if rest:
            _coerce(value, rest, done + (place,), bad)
        elif isinstance(value, str):
            try:
                holder[place] = dt.date.fromisoformat(value)
            except ValueError:
                bad.append(done + (place,))


def _dotted(path: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def check_regions(ruleset: Ruleset, applicants: list, regions: Any, text: str, label: str) -> None:
    split = ruleset.allocation.split
    if split is None:
        return
    if not isinstance(regions, dict) or not regions:
        raise InputError.at(Location(label, 1, 1), f"this ruleset splits the budget over regions: the facts need "
                            f"'regions:' with '{split.weight}' per region", "regions")
    missing = [(i, a) for i, a in enumerate(applicants) if a.get(split.field) not in regions]
    if missing:
        doc = load_positions(text, label)
        raise InputError(
            Problem(doc.loc(("applicants", i, split.field)), f"no entry for '{a.get(split.field)}' under regions",
                    f"applicants[{i}] (id {a.get('id')}).{split.field}", "regions")
            for i, a in missing
        )
