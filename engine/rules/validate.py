"""Stage 2, validate: JSON Schema checks with every error at its line and column.

jsonschema's errors carry the path of the value they concern; the loaded
``Document`` knows where each path is, so no schema keyword tracks positions.
Facts are checked fast (a compiled validator) and only when that fails,
checked again slowly for a complete list of problems with positions.
"""
from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema_rs

from ..errors import InputError, Problem, did_you_mean, printable
from .load import Document, load_positions

SCHEMA_PACKAGE = "rules_engine.schemas"


def schema_dir() -> Path:
    """Folder of the shipped JSON Schemas, installed or in a source checkout."""
    try:
        folder = Path(str(resources.files(SCHEMA_PACKAGE)))
        if (folder / "ruleset.schema.json").exists():
            return folder
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "schemas"


@functools.lru_cache(maxsize=None)
def shipped_schema(name: str) -> dict:
    """A JSON Schema shipped with the engine, by file name."""
    # decimals, as in every facts schema: a bound such as 0.001 is then exactly 0.001, not the binary
    # float just above it
    return json.loads((schema_dir() / name).read_text(encoding="utf-8"), parse_float=Decimal)


_FAST: dict = {}


def _fast(schema: dict):
    """jsonschema-rs's ``is_valid`` for a schema, built once; None if it cannot take the schema."""
    validator = _fast_validator(schema)
    return validator.is_valid if validator is not None else None


def _fast_validator(schema: dict):
    key = json.dumps(schema, sort_keys=True, default=str)
    if key not in _FAST:
        try:
            fast = jsonschema_rs.validator_for(copy.deepcopy(schema), validate_formats=True, retriever=shipped_only)
        except Exception:  # a schema the fast validator cannot compile: the slow path does all the work
            fast = None
        if len(_FAST) > 64:
            _FAST.clear()
        _FAST[key] = fast
    return _FAST[key]


def _failing_items(schema: dict, view: Any) -> list[int] | None:
    """The indices of the applicants that break ``schema``, when every error is inside one (so the slow
    validator, which writes the messages, need only see those); None when some error is not."""
    validator = _fast_validator(schema)
    if validator is None or not isinstance(view, dict) or not isinstance(view.get("applicants"), list) \
            or len(view["applicants"]) < SPARSE_FROM:
        return None
    try:
        paths = [list(error.instance_path) for error in validator.iter_errors(view)]
    except Exception:  # a value the fast validator cannot take
        return None
    if not paths or any(len(p) < 2 or p[0] != "applicants" or not isinstance(p[1], int) for p in paths):
        return None
    return sorted({p[1] for p in paths})


SPARSE_FROM = 200  # below this many applicants, the slow validator sees them all


def _slow(schema: dict):
    """A jsonschema validator: slower, but its errors say where and why. Imported only when needed."""
    from jsonschema import Draft202012Validator
    from referencing import Registry

    return _Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER,
                      registry=Registry(retrieve=_retrieve_resource))


def ecma_pattern(pattern: str) -> str:
    """A JSON Schema (ECMA-262) pattern for Python's ``re``: ``$`` matches at the very end only.

    Python's ``$`` also matches before a final newline, so ``^[a-z]+$`` would accept "abc\\n" where
    JSON Schema (and jsonschema-rs) refuse it: an id with a newline could forge a row in a table.
    """
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append("(?!\\n)$")
            continue
        out.append(char)
    return "".join(out)


def _pattern(validator, pattern, instance, schema):
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not re.search(ecma_pattern(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.lru_cache(maxsize=1)
def _validator_class():
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": _pattern})


def _Validator(*args, **kwargs):  # noqa: N802 - a class, made on first use
    return _validator_class()(*args, **kwargs)


DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.json$")


def shipped_only(uri: str) -> dict:
    """The contents of a schema reference: a shipped schema by its plain file name, nothing else.

    Both validators get this as their way of fetching a schema, so neither ever reads the network
    or a file a rule file names; ``reference_problems`` refuses such references before that.
    """
    name = uri.split("#", 1)[0]
    if SCHEMA_FILE.match(name) and (schema_dir() / name).is_file():
        return shipped_schema(name)
    raise LookupError(f"schema '{uri}' is not one of the shipped schemas; nothing is fetched")


def _retrieve_resource(uri: str):
    from referencing import Resource
    from referencing.exceptions import NoSuchResource

    try:
        return Resource.from_contents(shipped_only(uri))
    except LookupError:
        raise NoSuchResource(ref=uri) from None


REFERENCE_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


def reference_problems(schema: Any) -> list[tuple[tuple, str]]:
    """(path, message) for each reference that leaves the schema and the shipped schemas.

    A facts schema may refer to itself (``#/...``) or to a shipped schema by its plain file name;
    ``$id`` may only be a plain file name (a URL would make relative references remote), and
    ``$schema`` only the 2020-12 draft.
    """
    problems = []
    stack: list[tuple[tuple, Any]] = [((), schema)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, list):
            stack.extend((path + (i,), item) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            message = _reference_problem(key, value) if path[-1:] != ("properties",) else None
            if message:
                problems.append((path + (key,), message))
            stack.append((path + (key,), value))
    return sorted(problems, key=lambda p: [str(x) for x in p[0]])


def _reference_problem(key: str, value: Any) -> str | None:
    if key in REFERENCE_KEYS:
        target = str(value)
        if target.startswith("#") or SCHEMA_FILE.match(target.split("#", 1)[0]) and _is_shipped(target):
            return None
        return (f"{key} '{printable(target)}' points outside this schema: a facts schema may only refer to itself "
                "('#/...') or to a shipped schema by its file name; nothing is fetched")
    if key == "$id" and not (isinstance(value, str) and SCHEMA_FILE.match(value)):
        return f"$id '{printable(str(value))}' must be a plain file name such as my.facts.schema.json"
    if key == "$schema" and value != DRAFT:
        return f"$schema '{printable(str(value))}' is not supported: use {DRAFT} or leave it out"
    return None


def _is_shipped(target: str) -> bool:
    try:
        shipped_only(target)
    except LookupError:
        return False
    return True


def json_view(value: Any) -> Any:
    """Plain data as JSON would have it: dates become ISO strings."""
    if isinstance(value, dict):
        return {k: json_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_view(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def check_schema(schema: dict) -> list[str]:
    """Problems with a JSON Schema itself (a facts schema a rule file names)."""
    try:
        if jsonschema_rs.meta.is_valid(json_view(schema)):
            return []
    except Exception:  # let jsonschema decide
        pass
    from jsonschema import Draft202012Validator

    try:
        Draft202012Validator.check_schema(schema)
    except Exception as exc:  # jsonschema.SchemaError, with a message of its own
        return [getattr(exc, "message", str(exc))]
    return []


def validate_document(doc: Document, schema: dict) -> list[Problem]:
    """Every way ``doc.data`` breaks ``schema``, each at its position."""
    view = json_view(doc.data)
    fast = _fast(schema)
    if fast is not None:
        try:
            if fast(view):
                return []
        except Exception:  # a value the fast validator cannot take: let jsonschema report
            pass
    errors = sorted(_slow_errors(schema, view), key=lambda e: list(map(str, e.absolute_path)))
    problems: list[Problem] = []
    for error in errors:
        problems.extend(_problems(doc, _best(error)))
    return problems


def _slow_errors(schema: dict, view: Any) -> list:
    """The slow validator's errors, with their messages; for a large call whose errors are all inside applicants,
    found on those applicants only, and their paths given back their places in the whole call."""
    failing = _failing_items(schema, view)
    if failing is None:
        return list(_slow(schema).iter_errors(view))
    reduced = {**view, "applicants": [view["applicants"][i] for i in failing]}
    errors = []
    for error in _slow(schema).iter_errors(reduced):
        path = error.relative_path  # a top-level error's path; its sub-errors' paths are built on it
        if len(path) >= 2 and path[0] == "applicants" and isinstance(path[1], int):
            path[1] = failing[path[1]]
            errors.append(error)
        # anything else (minItems of the shorter list) is the reduction's, not the call's: the fast validator
        # found every error of the call inside an applicant
    return errors


def validate_facts(data: Any, text: str, label: str, schema: dict, from_yaml: bool = True,
                   checked: bool = False) -> None:
    """Check facts against their schema; raise InputError listing every problem.

    YAML may hold dates, which the schema sees as ISO text; JSON cannot, so it is checked as it is. ``checked``:
    the data was read as the schema's type (rules/typed.py), which found it valid; only what no schema says is
    left (the applicants' ids told apart).
    """
    if checked:
        _check_unique_ids(data, text, label)
        return
    fast = _fast(schema)
    view = json_view(data) if from_yaml else data
    if fast is not None:
        try:
            valid = fast(view)
        except Exception:  # a value the fast path cannot take (e.g. a huge number): go slow
            valid = False
        if valid:
            _check_unique_ids(data, text, label)
            return
    doc = load_positions(text, label)
    doc = Document(label, text, data, doc.positions, doc.key_positions)
    problems = validate_document(doc, schema)
    if problems:
        raise InputError(problems)
    _check_unique_ids(data, text, label, doc)


def _check_unique_ids(data: dict, text: str, label: str, doc: Document | None = None) -> None:
    """Applicant ids are unique as a reader sees them: no invisible or control character in one, and no two that
    look alike (Unicode NFKC and the confusables of Unicode TR39: 'LDE-001' and 'LDE‑001' with U+2011)."""
    if _plain_and_unique([applicant.get("id") for applicant in data.get("applicants", [])]):
        return
    seen: dict = {}
    problems = []
    for index, applicant in enumerate(data.get("applicants", [])):
        key = applicant.get("id")
        # isprintable() is False for every Cc, Cf, Zl and Zp character (and for some others, which the full check
        # then lets pass): most ids are looked at in C
        hidden = _hidden_character(key) if isinstance(key, str) and not key.isprintable() else None
        if hidden:
            problems.append((index, f"applicant id {ascii(key)} contains {hidden}: an id is what people read and "
                                    "type, so it may hold no invisible or control character", "id-character"))
            continue
        look = skeleton(key) if isinstance(key, str) else key
        if look in seen:
            first = seen[look]
            same = data["applicants"][first].get("id") == key
            what = f"duplicate applicant id '{key}'" if same else \
                f"applicant id {ascii(key)} looks the same as {ascii(data['applicants'][first].get('id'))}"
            problems.append((index, f"{what} (first at applicants[{first}])", "duplicate-id"))
        seen.setdefault(look, index)
    if not problems:
        return
    doc = doc or load_positions(text, label)
    raise InputError(Problem(doc.loc(("applicants", index, "id")), message, f"applicants[{index}].id", code)
                     for index, message, code in problems)


def _plain_and_unique(ids: list) -> bool:
    """Are these ids all printable ASCII text that look different? Looked at in C, joined, for a large call;
    False leaves it to the check of each id, which says what is wrong."""
    if not all(type(key) is str for key in ids):
        return False
    joined = "\n".join(ids)
    if not joined.isascii() or joined.count("\n") != len(ids) - 1 or not joined.replace("\n", "").isprintable():
        return False
    looks = joined.translate(_ASCII_PROTOTYPES).split("\n") if ids else []
    return len(set(looks)) == len(looks)


def _hidden_character(text: str) -> str | None:
    """The first control or format character (Unicode Cc, Cf: NUL, zero-width, bidi overrides) in ``text``."""
    import unicodedata

    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            name = unicodedata.name(char, "a control character")
            return f"U+{ord(char):04X} ({name})"
    return None


def skeleton(text: str) -> str:
    """What ``text`` looks like: NFKC, then each character replaced by its prototype among its Unicode
    confusables (TR39), so that two ids with the same skeleton cannot be told apart by eye."""
    import unicodedata

    if text.isascii():  # NFKC and NFD leave ASCII as it is: most ids, and the confusables data is not loaded
        return text.translate(_ASCII_PROTOTYPES)
    return unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).translate(_prototypes()))


@functools.lru_cache(maxsize=1)
def _prototypes() -> dict:
    """Character -> the one that stands for all that look like it: the confusables data pairs each character
    with the one it maps to; every such pair is joined, and a group is written as its lowest character."""
    from confusable_homoglyphs import confusables

    parent: dict = {}

    def root(char: str) -> str:
        while parent.get(char, char) != char:
            char = parent[char]
        return char
    for char, mapped in confusables.confusables_data.items():
        if len(char) == 1 and len(mapped) == 1 and len(mapped[0]["c"]) == 1:
            a, b = root(char), root(mapped[0]["c"])
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {ord(char): root(char) for char in parent if root(char) != char}


# The ASCII characters that look like another one, each to its prototype in ``_prototypes`` (a test checks they
# agree); every other ASCII character stands for itself.
_ASCII_PROTOTYPES = str.maketrans({"I": "1", "O": "0", "`": "'", "l": "1", "|": "1"})


def _best(error):
    if error.context:
        from jsonschema.exceptions import best_match

        return best_match(error.context) or error
    return error


def _problems(doc: Document, error) -> Iterable[Problem]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed), key=str):
            name = f"'{key}'" if isinstance(key, str) else json.dumps(key, default=str)  # YAML's ~ or 1 as a key
            # the positioned document holds every key as text
            yield Problem(doc.loc(path + (key if isinstance(key, str) else str(key),), key=True),
                          f"unknown key {name}{did_you_mean(key, allowed)}; allowed here: {', '.join(allowed)}",
                          field_path(doc, path + (key,)), "unknown-key")
        return
    if error.validator == "propertyNames" or "propertyNames" in error.relative_schema_path:
        name = error.instance
        yield Problem(doc.loc(path + (name,), key=True), f"'{name}' is not allowed as a name here: {_message(error)}",
                      field_path(doc, path + (name,)), "bad-name")
        return
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield Problem(doc.loc(path), f"missing required key '{missing}'", field_path(doc, path), "missing")
        return
    yield Problem(doc.loc(path), _message(error), field_path(doc, path), error.validator)


def _message(error) -> str:
    kind, arg, value = error.validator, error.validator_value, error.instance
    if kind == "type":
        types = arg if isinstance(arg, list) else [arg]
        return f"must be {' or '.join(_TYPE_WORDS.get(t, t) for t in types)}, not {_describe(value)}"
    if kind == "enum":
        return f"must be one of {', '.join(map(str, arg))}, not {_describe(value)}" + (
            did_you_mean(value, [str(a) for a in arg]) if isinstance(value, str) else "")
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return f"must be {sign} {_num(arg)}, not {_describe(value)}"
    if kind in ("minLength", "minItems", "minProperties"):
        return "must not be empty" if arg == 1 else f"must have at least {arg} items"
    if kind in ("maxLength", "maxItems"):
        return f"is too long (at most {arg})"
    if kind == "format":
        return f"must be a {arg} (YYYY-MM-DD), not {_describe(value)}" if arg == "date" else f"must be a {arg}"
    if kind == "pattern":
        return _PATTERN_WORDS.get(arg, f"must match the pattern {arg}") + f", not {_describe(value)}"
    return error.message


_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a text", "object": "a mapping",
               "array": "a list", "boolean": "true or false", "null": "null"}
_PATTERN_WORDS = {
    "^[a-z_][a-z0-9_]*$": "must be a lower-case name of letters, digits and _",
    "^[a-z][a-z0-9-]*$": "must be a lower-case id of letters, digits and -",
    "^[0-9]{4}Q[1-4]$": "must be a quarter such as 2016Q3",
    "^[0-9A-Za-z][0-9A-Za-z._-]*$": "must be a version such as 2018.1 (letters, digits, '.', '_' and '-')",
}


def _num(value: Any) -> str:
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return text if len(text) <= 24 else f"{Decimal(value):.6E}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{printable(value)}'"
    if isinstance(value, (int, Decimal, float)):
        return _num(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def field_path(doc: Document, path: tuple) -> str:
    """``applicants[3] (id BW-004).requested_fte`` style text for a path."""
    out = ""
    node = doc.data
    for part in path:
        if isinstance(part, int) and not isinstance(node, dict):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str) and len(path) > 1:
                out += f" (id {printable(node['id'])})"
        else:
            name = part if isinstance(part, str) else json.dumps(part, default=str)  # YAML's ~ or 1 as a key
            out += f".{name}" if out else name
            node = node.get(part) if isinstance(node, dict) else None
    return out
