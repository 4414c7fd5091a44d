"""Stage 3, compile: a loaded rule file to the intermediate form (``Ruleset``).

Compilation is an ordered list of named stages (as in OPA): structure,
facts schema, parameters, expressions, names and types, consistency, build.
Every stage collects all the problems it can find before failing, and every
problem points at the line and column of the rule file it concerns.

The intermediate form is plain data: frozen dataclasses holding parsed,
normalised condition trees. Evaluators (``pyeval``, ``durable``) take it from
here; nothing downstream looks at the YAML again.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Mapping

from . import expr as E
from .errors import ExpressionError, InputError, Location, Problem, did_you_mean
from .load import Document, load_yaml_document, read_text
from .validate import check_schema, reference_problems, schema_dir, shipped_schema, validate_document

SCHEMA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.json$")


# --- the intermediate form --------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """An eligibility rule or a priority tier: a condition with its documentation."""

    id: str
    description: str
    source: str
    text: str
    condition: Any  # normalised expression tree (no Not nodes)
    reads: tuple  # dotted names the condition reads, in order of appearance
    location: Location
    reason: str = ""


@dataclass(frozen=True)
class Derived:
    name: str
    description: str
    source: str
    text: str
    expr: Any
    kind: str
    location: Location


@dataclass(frozen=True)
class RankKey:
    text: str
    expr: Any
    descending: bool
    description: str = ""


@dataclass(frozen=True)
class RegionSplit:
    field: str
    weight: str
    method: str


@dataclass(frozen=True)
class Allocation:
    method: str
    cap: Any
    cap_text: str
    weight: Any = None
    weight_text: str = ""
    pooling: bool = False
    regions: RegionSplit | None = None
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class Parameter:
    name: str
    value: Any
    description: str
    source: str
    location: Location


@dataclass(frozen=True)
class Ruleset:
    """A compiled rule file: everything needed to evaluate, explain and replay."""

    id: str
    version: str
    title: str
    effective_from: dt.date
    effective_to: dt.date | None
    source: dict
    budget_fte: Decimal
    unit_fte: Decimal
    facts_schema: dict
    facts_schema_text: str
    parameters: dict  # name -> Parameter
    derived: tuple
    eligibility: tuple
    tiers: tuple
    default_tier: Rule
    ranking: tuple
    allocation: Allocation
    label: str
    text: str
    sha256: str
    overrides: tuple = ()  # ((name, text), ...) applied with --set
    applicant_fields: dict = field(default_factory=dict, compare=False, repr=False)
    locations: dict = field(default_factory=dict, compare=False, repr=False)
    lint_ignore: tuple = ()

    @property
    def params(self) -> dict:
        return {name: p.value for name, p in self.parameters.items()}

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.eligibility + self.tiers + (self.default_tier,):
            if rule.id == rule_id:
                return rule
        return None

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


# --- types of names, from the facts schema --------------------------------


@dataclass(frozen=True)
class Kind:
    name: str  # number, string, date, boolean, list, object, null, any
    schema: Any = None  # for list (items schema) and object (schema)
    nullable: bool = False


ANY = Kind("any")
BOOL = Kind("boolean")
NUMBER = Kind("number")


def kind_of_schema(schema: Any, root: dict) -> Kind:
    schema = _deref(schema, root)
    if not isinstance(schema, dict):
        return ANY
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        return Kind(_kind_of_value(values[0]).name if values else "null", None, None in schema["enum"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    if not types:
        return Kind("any", None, True)
    main = types[0]
    if main == "string" and schema.get("format") == "date":
        return Kind("date", None, nullable)
    if main in ("number", "integer"):
        return Kind("number", None, nullable)
    if main == "array":
        return Kind("list", _deref(schema.get("items"), root), nullable)
    if main == "object":
        return Kind("object", schema, nullable)
    return Kind(main, None, nullable)


def _deref(schema: Any, root: dict) -> Any:
    for _ in range(20):
        if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/")):
            return schema
        node: Any = root
        for part in schema["$ref"][2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node
    return schema


def _kind_of_value(value: Any) -> Kind:
    if value is None:
        return Kind("null", None, True)
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, Decimal)):
        return NUMBER
    if isinstance(value, dt.date):
        return Kind("date")
    if isinstance(value, str):
        return Kind("string")
    if isinstance(value, list):
        return Kind("list", {"type": _kind_of_value(value[0]).name} if value else None)
    return ANY


def applicant_schema(facts_schema: dict) -> dict:
    """The schema of one applicant: ``properties.applicants.items``."""
    applicants = _deref(facts_schema.get("properties", {}).get("applicants", {}), facts_schema)
    return _deref(applicants.get("items", {}), facts_schema) if isinstance(applicants, dict) else {}


def region_schema(facts_schema: dict) -> dict:
    regions = _deref(facts_schema.get("properties", {}).get("regions", {}), facts_schema)
    if not isinstance(regions, dict):
        return {}
    return _deref(regions.get("additionalProperties", {}), facts_schema) or {}


# --- scopes and the checker -----------------------------------------------


@dataclass
class Scope:
    """What names mean where an expression is written."""

    root: dict  # the facts schema (for $ref)
    fields: dict  # applicant field -> schema
    derived: dict  # derived name -> Kind
    params: dict  # parameter name -> value
    extras: dict = field(default_factory=dict)  # e.g. {"tier": NUMBER} in ranking
    item: dict | None = None  # fields of a list item inside an aggregate

    def names(self) -> list[str]:
        items = list(self.item or {})
        return items + list(self.fields) + list(self.derived) + list(self.extras) + ["params"]

    def within(self, item_schema: Any) -> "Scope":
        item_schema = _deref(item_schema, self.root)
        props = item_schema.get("properties", {}) if isinstance(item_schema, dict) else {}
        return replace(self, item=dict(props))


def check(node: Any, scope: Scope) -> Kind:
    """The kind of value an expression yields; ExpressionError if it is ill-typed."""
    method = _CHECKS[type(node).__name__]
    return method(node, scope)


def _check_literal(node: E.Literal, scope: Scope) -> Kind:
    return _kind_of_value(node.value)


def _check_list(node: E.ListLit, scope: Scope) -> Kind:
    kinds = {check(i, scope).name for i in node.items} - {"null"}
    if len(kinds) > 1:
        raise ExpressionError("a list must hold values of one kind", node.offset)
    return Kind("list", {"type": kinds.pop()} if kinds else None)


def _check_name(node: E.Name, scope: Scope) -> Kind:
    head, rest = node.path[0], node.path[1:]
    if head == "params":
        return _check_param(node, scope)
    if scope.item is not None and head in scope.item:
        kind = kind_of_schema(scope.item[head], scope.root)
    elif head in scope.fields:
        kind = kind_of_schema(scope.fields[head], scope.root)
    elif head in scope.derived:
        kind = scope.derived[head]
    elif head in scope.extras:
        kind = scope.extras[head]
    else:
        raise ExpressionError(f"unknown field '{head}'{did_you_mean(head, scope.names())}", node.offset)
    for depth, part in enumerate(rest, start=1):
        if kind.name != "object":
            prefix = ".".join(node.path[:depth])
            raise ExpressionError(f"'{prefix}' is not an object, it has no field '{part}'", node.offset)
        props = kind.schema.get("properties", {})
        if part not in props:
            prefix = ".".join(node.path[:depth])
            raise ExpressionError(f"unknown field '{part}' in '{prefix}'{did_you_mean(part, list(props))}", node.offset)
        kind = kind_of_schema(props[part], scope.root)
    return kind


def _check_param(node: E.Name, scope: Scope) -> Kind:
    if len(node.path) != 2:
        raise ExpressionError("write a parameter as params.<name>", node.offset)
    name = node.path[1]
    if name not in scope.params:
        raise ExpressionError(f"unknown parameter '{name}'{did_you_mean(name, list(scope.params))}", node.offset)
    return _kind_of_value(scope.params[name])


def _check_neg(node: E.Neg, scope: Scope) -> Kind:
    _expect_number(check(node.operand, scope), node.offset, "'-'")
    return NUMBER


def _check_arith(node: E.Arith, scope: Scope) -> Kind:
    _expect_number(check(node.left, scope), node.offset, f"'{node.op}'")
    _expect_number(check(node.right, scope), node.offset, f"'{node.op}'")
    return NUMBER


def _expect_number(kind: Kind, offset: int, what: str) -> None:
    if kind.name not in ("number", "any"):
        raise ExpressionError(f"{what} needs numbers, not a {kind.name}", offset)


def _compatible(a: Kind, b: Kind) -> bool:
    return a.name == b.name or "any" in (a.name, b.name) or "null" in (a.name, b.name)


def _check_compare(node: E.Compare, scope: Scope) -> Kind:
    left, right = check(node.left, scope), check(node.right, scope)
    if not _compatible(left, right):
        raise ExpressionError(f"cannot compare a {left.name} with a {right.name}", node.offset)
    if node.op not in ("==", "!=") and left.name in ("boolean", "list", "object"):
        raise ExpressionError(f"'{node.op}' cannot order a {left.name}", node.offset)
    if "null" in (left.name, right.name):
        raise ExpressionError("compare with null using 'is null' or 'is not null'", node.offset)
    return BOOL


def _check_in(node: E.In, scope: Scope) -> Kind:
    operand, options = check(node.operand, scope), check(node.options, scope)
    if options.name != "list" or not isinstance(node.options, (E.ListLit, E.Name)) or (
        isinstance(node.options, E.Name) and node.options.path[0] != "params"
    ):
        raise ExpressionError("'in' needs a list: [a, b, c] or a list parameter", node.offset)
    item = Kind(options.schema.get("type", "any")) if isinstance(options.schema, dict) else ANY
    if not _compatible(operand, item):
        raise ExpressionError(f"cannot look for a {operand.name} in a list of {item.name} values", node.offset)
    return BOOL


def _check_isnull(node: E.IsNull, scope: Scope) -> Kind:
    check(node.operand, scope)
    return BOOL


def _check_bool(node: E.BoolOp, scope: Scope) -> Kind:
    for item in node.items:
        _expect_condition(item, scope)
    return BOOL


def _check_not(node: E.Not, scope: Scope) -> Kind:
    _expect_condition(node.operand, scope)
    return BOOL


def _expect_condition(node: Any, scope: Scope) -> None:
    kind = check(node, scope)
    if kind.name not in ("boolean", "any"):
        raise ExpressionError(f"expected a condition (true or false), found a {kind.name}", getattr(node, "offset", 0))


def _check_aggregate(node: E.Aggregate, scope: Scope) -> Kind:
    source = check(node.source, scope)
    if source.name != "list":
        raise ExpressionError(f"{node.func}() needs a list, not a {source.name}", node.offset)
    inner = scope.within(source.schema) if isinstance(source.schema, dict) and "properties" in (
        _deref(source.schema, scope.root) or {}) else replace(scope, item={})
    if node.where is not None:
        _expect_condition(node.where, inner)
    if node.func == "count":
        return NUMBER
    kind = check(node.item, inner)
    if node.func in ("sum", "mean"):
        _expect_number(kind, node.offset, f"{node.func}()")
        return NUMBER
    return Kind(kind.name, None, True)


_CHECKS: dict[str, Callable] = {
    "Literal": _check_literal, "ListLit": _check_list, "Name": _check_name, "Neg": _check_neg,
    "Arith": _check_arith, "Compare": _check_compare, "In": _check_in, "IsNull": _check_isnull,
    "BoolOp": _check_bool, "Not": _check_not, "Aggregate": _check_aggregate,
}


def reads(node: Any) -> tuple:
    """Dotted names an expression reads outside aggregates, plus each aggregate's source."""
    seen: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, E.Name) and current.dotted not in seen:
            seen.append(current.dotted)
        elif isinstance(current, E.Aggregate):
            stack.append(current.source)
        else:
            stack.extend(reversed(list(E.children(current))))
    return tuple(seen)


# --- positions of expression errors ----------------------------------------


def expression_location(doc: Document, path: tuple, text: str, offset: int) -> Location:
    """Line and column, in the file, of character ``offset`` of the expression at ``path``."""
    start = doc.loc(path)
    lines = doc.text.splitlines(keepends=True)
    if start.line < 1 or start.line > len(lines):
        return start
    base = sum(len(line) for line in lines[: start.line - 1]) + start.col - 1
    if offset >= len(text.rstrip()):  # "found the end": point at the last token, which left it incomplete
        last = re.search(r"\S+\s*$", text)
        offset = last.start() if last else 0
    match = re.match(r"\S+", text[offset:])
    token = match.group() if match else " "
    occurrence = text[:offset].count(token)
    at = base
    for _ in range(occurrence + 1):
        found = doc.text.find(token, at)
        if found < 0:
            return start
        at = found + 1
    found = at - 1
    line = doc.text.count("\n", 0, found) + 1
    col = found - (doc.text.rfind("\n", 0, found) + 1) + 1
    return Location(doc.file, line, col)


# --- the stages -------------------------------------------------------------


class _Context:
    """State passed along the compile stages."""

    def __init__(self, doc: Document, base_dir: Path | None, overrides: Mapping[str, str], schema_text: str | None = None):
        self.doc = doc
        self.schema_text = schema_text
        self.base_dir = base_dir
        self.overrides = dict(overrides)
        self.problems: list[Problem] = []
        self.data = doc.data
        self.facts_schema: dict = {}
        self.facts_schema_text = ""
        self.params: dict = {}
        self.parsed: dict = {}  # path -> tree
        self.derived_kinds: dict = {}
        self.schema_file: Path | None = None

    def problem(self, path: tuple, message: str, key: bool = False, code: str = "invalid") -> None:
        from .validate import field_path

        self.problems.append(Problem(self.doc.loc(path, key=key), message, field_path(self.doc, path), code))

    def fail_if_any(self) -> None:
        # Unknown keys do not stop the later stages: report them with everything else.
        if any(p.code != "unknown-key" for p in self.problems):
            raise InputError(self.problems)


def _stage_structure(ctx: _Context) -> None:
    ctx.problems.extend(validate_document(ctx.doc, shipped_schema("ruleset.schema.json")))
    _check_unique_rule_ids(ctx)


def _check_unique_rule_ids(ctx: _Context) -> None:
    seen: dict = {}
    places = [("eligibility", i) for i in range(len(ctx.data.get("eligibility") or []))]
    priority = ctx.data.get("priority") or {}
    places += [("priority", "tiers", i) for i in range(len(priority.get("tiers") or []) if isinstance(priority, dict) else 0)]
    for place in places:
        node: Any = ctx.data
        for part in place:
            node = node[part]
        rule_id = node.get("id") if isinstance(node, dict) else None
        if isinstance(rule_id, str):
            if rule_id in seen:
                ctx.problem(place + ("id",), f"rule id '{rule_id}' is used twice (first at line {seen[rule_id]})")
            seen.setdefault(rule_id, ctx.doc.loc(place + ("id",)).line)


def _stage_facts_schema(ctx: _Context) -> None:
    spec = ctx.data["facts"]["schema"]
    if isinstance(spec, dict):
        schema, text = spec, json.dumps(spec, sort_keys=True, default=str)
    else:
        schema, text = _named_schema(ctx, spec)
        if schema is None:
            return
    bad_references = reference_problems(schema)
    for path, message in bad_references:
        _schema_problem(ctx, spec, schema, text, path, message)
    if bad_references:
        return
    for message in check_schema(schema):
        ctx.problem(("facts", "schema"), f"the facts schema is not a valid JSON Schema: {message}")
    if not applicant_schema(schema).get("properties"):
        ctx.problem(("facts", "schema"), "the facts schema must describe applicants: properties.applicants.items.properties")
    ctx.facts_schema, ctx.facts_schema_text = schema, text


def _schema_problem(ctx: _Context, spec: Any, schema: dict, text: str, path: tuple, message: str) -> None:
    """A problem inside the facts schema: at its place in the rule file, or in the schema file it names."""
    dotted = "facts.schema" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    if isinstance(spec, dict):
        ctx.problems.append(Problem(ctx.doc.loc(("facts", "schema") + path), message, dotted, "schema-reference"))
        return
    file = str(ctx.schema_file or spec)
    value = _value_at(schema, path) if path else None
    found = re.search(re.escape(json.dumps(path[-1])) + r"\s*:\s*" + re.escape(json.dumps(value)), text) if path else None
    at = found.start() if found else -1
    line, col = (text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)) if at >= 0 else (1, 1)
    ctx.problems.append(Problem(Location(file, line, col), message, dotted, "schema-reference"))


def _named_schema(ctx: _Context, name: str) -> tuple[dict | None, str]:
    if ctx.schema_text is not None:  # replay: the schema text stored with the decision
        return json.loads(ctx.schema_text, parse_float=Decimal), ctx.schema_text
    if not SCHEMA_NAME.match(name):
        ctx.problem(("facts", "schema"), f"'{name}' is not a schema file name: give a plain file name such as lde.facts.schema.json")
        return None, ""
    folders = ([ctx.base_dir] if ctx.base_dir else []) + [schema_dir()]
    for folder in folders:
        candidate = folder / name
        if candidate.is_file():
            text = read_text(candidate)
            ctx.schema_file = candidate
            try:
                return json.loads(text, parse_float=Decimal), text
            except json.JSONDecodeError as exc:
                ctx.problems.append(Problem(Location(str(candidate), exc.lineno, exc.colno), f"JSON syntax: {exc.msg}"))
                return None, ""
    known = sorted(p.name for p in schema_dir().glob("*.json"))
    ctx.problem(("facts", "schema"), f"facts schema '{name}' not found next to the rule file or among the shipped schemas"
                + did_you_mean(name, known))
    return None, ""


def _stage_parameters(ctx: _Context) -> None:
    declared = ctx.data.get("parameters") or {}
    for name, spec in declared.items():
        value = spec["value"]
        ctx.params[name] = _param_value(value)
    for name, text in ctx.overrides.items():
        if name not in ctx.params:
            raise InputError.at(Location("--set"), f"unknown parameter '{name}'{did_you_mean(name, list(ctx.params))}",
                                f"--set {name}", "unknown-parameter")
        ctx.params[name] = parse_override(name, text, ctx.params[name])


def _param_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else value
        except ValueError:
            return value
    return value


def parse_override(name: str, text: str, current: Any) -> Any:
    """A ``--set name=value`` value, typed like the parameter's declared value."""
    def bad(kind: str) -> InputError:
        return InputError.at(Location("--set"), f"parameter '{name}' needs {kind}, not '{text}'", f"--set {name}", "bad-type")
    if isinstance(current, bool):
        if text.lower() not in ("true", "false"):
            raise bad("true or false")
        return text.lower() == "true"
    if isinstance(current, (int, Decimal)):
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise bad("a number") from None
        if not number.is_finite():
            raise bad("a finite number")
        return int(number) if isinstance(current, int) and number == number.to_integral_value() and "." not in text else number
    if isinstance(current, dt.date):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise bad("a date (YYYY-MM-DD)") from None
    if isinstance(current, list):
        items = [t.strip() for t in text.split(",") if t.strip()]
        return [parse_override(name, t, current[0]) for t in items] if current else items
    return text


def _expression_places(data: dict) -> list[tuple]:
    places = [("derived", name, "expr") for name in (data.get("derived") or {})]
    places += [("eligibility", i, "when") for i in range(len(data.get("eligibility") or []))]
    places += [("priority", "tiers", i, "when") for i in range(len((data.get("priority") or {}).get("tiers") or []))]
    places += [("ranking", i, "by") for i in range(len(data.get("ranking") or []))]
    places += [("allocation", key) for key in ("cap", "weight") if key in (data.get("allocation") or {})]
    return places


def _value_at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _stage_expressions(ctx: _Context) -> None:
    for path in _expression_places(ctx.data):
        text = _value_at(ctx.data, path)
        try:
            ctx.parsed[path] = E.parse(text)
        except ExpressionError as exc:
            ctx.problems.append(Problem(expression_location(ctx.doc, path, text, exc.offset), exc.message,
                                        _dotted(path), "expression"))


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def _stage_names(ctx: _Context) -> None:
    fields = dict(applicant_schema(ctx.facts_schema).get("properties", {}))
    scope = Scope(ctx.facts_schema, fields, {}, ctx.params)
    for name in ctx.data.get("derived") or {}:
        path = ("derived", name, "expr")
        if name in fields or name == "params":
            ctx.problem(("derived", name), f"derived value '{name}' has the name of a field of the facts", key=True)
            continue
        kind = _check_at(ctx, path, scope)
        scope.derived[name] = kind or ANY
    ctx.derived_kinds = dict(scope.derived)
    for path in _expression_places(ctx.data):
        if path[0] == "derived":
            continue
        extras = {"tier": NUMBER} if path[0] == "ranking" else {}
        kind = _check_at(ctx, path, replace(scope, extras=extras))
        if kind and path[-1] == "when" and kind.name not in ("boolean", "any"):
            ctx.problem(path, f"a condition must be true or false, this gives a {kind.name}")
        if kind and path[0] == "allocation" and kind.name not in ("number", "any"):
            ctx.problem(path, f"allocation {path[-1]} must be a number, this gives a {kind.name}")


def _check_at(ctx: _Context, path: tuple, scope: Scope) -> Kind | None:
    tree = ctx.parsed.get(path)
    if tree is None:
        return None
    try:
        return check(tree, scope)
    except ExpressionError as exc:
        text = _value_at(ctx.data, path)
        ctx.problems.append(Problem(expression_location(ctx.doc, path, text, exc.offset), exc.message,
                                    _dotted(path), "expression"))
        return None


def _stage_consistency(ctx: _Context) -> None:
    data = ctx.data
    effective = data["effective"]
    if effective.get("to") and str(effective["to"]) < str(effective["from"]):
        ctx.problem(("effective", "to"), f"the period ends ({effective['to']}) before it starts ({effective['from']})")
    budget, unit = data["budget"]["fte"], data["budget"]["unit"]
    if Decimal(budget) % Decimal(unit) != 0:
        ctx.problem(("budget", "fte"), f"the budget of {budget} FTE is not a whole number of units of {unit} FTE")
    _check_allocation(ctx)


def _check_allocation(ctx: _Context) -> None:
    alloc = ctx.data["allocation"]
    if alloc["method"] == "proportional" and "weight" not in alloc:
        ctx.problem(("allocation",), "the proportional method needs a 'weight' (e.g. contingent_fte)")
    if alloc["method"] != "proportional" and "weight" in alloc:
        ctx.problem(("allocation", "weight"), f"'weight' only applies to the proportional method, not to {alloc['method']}", key=True)
    regions = alloc.get("regions")
    if not regions:
        return
    fields = applicant_schema(ctx.facts_schema).get("properties", {})
    if regions["field"] not in fields:
        ctx.problem(("allocation", "regions", "field"),
                    f"unknown applicant field '{regions['field']}'{did_you_mean(regions['field'], list(fields))}")
    region_fields = region_schema(ctx.facts_schema).get("properties", {})
    if regions["weight"] not in region_fields:
        ctx.problem(("allocation", "regions", "weight"),
                    f"'{regions['weight']}' is not a field of the regions in the facts schema"
                    f"{did_you_mean(regions['weight'], list(region_fields))}")


STAGES: tuple = (
    ("structure", _stage_structure),
    ("facts-schema", _stage_facts_schema),
    ("parameters", _stage_parameters),
    ("expressions", _stage_expressions),
    ("names", _stage_names),
    ("consistency", _stage_consistency),
)


def compile_document(doc: Document, base_dir: Path | None = None, overrides: Mapping[str, str] | None = None,
                     schema_text: str | None = None) -> Ruleset:
    """Run the compile stages on a loaded rule file; InputError lists every problem.

    ``schema_text`` replaces the facts schema file the rule file names (replay uses the stored text).
    """
    ctx = _Context(doc, base_dir, overrides or {}, schema_text)
    for _name, stage in STAGES:
        stage(ctx)
        ctx.fail_if_any()
    if ctx.problems:
        raise InputError(ctx.problems)
    return _build(ctx)


def compile_text(text: str, label: str, base_dir: Path | None = None, overrides: Mapping[str, str] | None = None,
                 schema_text: str | None = None) -> Ruleset:
    """Compile rule-file text; ``label`` names it in messages."""
    return compile_document(load_yaml_document(text, label), base_dir, overrides, schema_text)


def compile_file(path: str | Path, overrides: Mapping[str, str] | None = None) -> Ruleset:
    """Compile a rule file from disk."""
    path = Path(path)
    return compile_text(read_text(path), str(path), path.parent, overrides)


def _rule(ctx: _Context, path: tuple, spec: dict) -> Rule:
    tree = E.normalize(ctx.parsed[path + ("when",)]) if "when" in spec else E.Literal(True)
    return Rule(spec["id"], spec["description"], spec.get("source", ""), spec.get("when", "true"), tree,
                reads(tree), ctx.doc.loc(path), spec.get("reason", ""))


def _build(ctx: _Context) -> Ruleset:
    data = ctx.data
    doc = ctx.doc
    declared = data.get("parameters") or {}
    params = {name: Parameter(name, ctx.params[name], spec["description"], spec.get("source", ""),
                              doc.loc(("parameters", name), key=True)) for name, spec in declared.items()}
    derived = tuple(
        Derived(name, spec["description"], spec.get("source", ""), spec["expr"], ctx.parsed[("derived", name, "expr")],
                ctx.derived_kinds.get(name, ANY).name, doc.loc(("derived", name), key=True))
        for name, spec in (data.get("derived") or {}).items()
    )
    eligibility = tuple(_rule(ctx, ("eligibility", i), spec) for i, spec in enumerate(data["eligibility"]))
    tiers = tuple(_rule(ctx, ("priority", "tiers", i), spec) for i, spec in enumerate(data["priority"]["tiers"]))
    default = _rule(ctx, ("priority", "default"), data["priority"]["default"])
    ranking = tuple(RankKey(k["by"], ctx.parsed[("ranking", i, "by")], k["order"] == "desc", k.get("description", ""))
                    for i, k in enumerate(data["ranking"]))
    alloc = data["allocation"]
    regions = alloc.get("regions")
    allocation = Allocation(
        alloc["method"], ctx.parsed[("allocation", "cap")], alloc["cap"],
        ctx.parsed.get(("allocation", "weight")), alloc.get("weight", ""), bool(alloc.get("pooling", False)),
        RegionSplit(regions["field"], regions["weight"], regions["method"]) if regions else None,
        alloc.get("description", ""), alloc.get("source", ""),
    )
    effective = data["effective"]
    return Ruleset(
        id=data["ruleset"], version=str(data["version"]), title=data["title"],
        effective_from=_date(effective["from"]), effective_to=_date(effective["to"]) if effective.get("to") else None,
        source=dict(data["source"]), budget_fte=Decimal(data["budget"]["fte"]), unit_fte=Decimal(data["budget"]["unit"]),
        facts_schema=ctx.facts_schema, facts_schema_text=ctx.facts_schema_text, parameters=params,
        derived=derived, eligibility=eligibility, tiers=tiers, default_tier=default, ranking=ranking,
        allocation=allocation, label=doc.file, text=doc.text,
        sha256=hashlib.sha256(doc.text.encode("utf-8")).hexdigest(),
        overrides=tuple(sorted(ctx.overrides.items())),
        applicant_fields=dict(applicant_schema(ctx.facts_schema).get("properties", {})),
        locations={"facts": doc.loc(("facts", "schema")), "ranking": doc.loc(("ranking",), key=True),
                   "effective": doc.loc(("effective",), key=True)},
        lint_ignore=tuple((data.get("lint") or {}).get("ignore", [])),
    )


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def item_fields(ruleset: Ruleset, node: E.Aggregate) -> set:
    """Names that refer to the list item inside an aggregate over an applicant's list field."""
    source = node.source
    if not isinstance(source, E.Name) or source.path[0] == "params":
        return set()
    schema: Any = {"type": "object", "properties": ruleset.applicant_fields}
    for part in source.path:
        kind = kind_of_schema(schema, ruleset.facts_schema)
        if kind.name != "object":
            return set()
        schema = kind.schema.get("properties", {}).get(part)
    kind = kind_of_schema(schema, ruleset.facts_schema)
    items = _deref(kind.schema, ruleset.facts_schema) if kind.name == "list" else None
    return set(items.get("properties", {})) if isinstance(items, dict) else set()
