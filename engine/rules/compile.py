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
import decimal
import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

from . import expr as E
from .checker import (ANY, ERROR, NUMBER, ORDERED, Kind, Scope, applicant_schema, check, deref, describe,
                      kind_of_schema, kind_of_value, reads, region_schema)
from ..errors import ExpressionError, InputError, Location, Problem, did_you_mean
from ..limits import check_deadline
from .group import compile_group
from .load import Document, bounded_decimal, load_yaml_document, read_text
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
    note: str = ""  # the policy owner's note on the reading of the source: for auditors, never in a letter


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
class Step:
    """One allocation step (see ``pipeline``); expressions are bound trees, None where not given."""

    kind: str
    method: str = ""
    fte: Any = None  # reserve and minimum: FTE, computed from parameters at compile time
    fte_expr: Any = None  # its expression, when it is one (over parameters)
    when: Any = None
    when_text: str = ""
    cap: Any = None
    cap_text: str = ""
    weight: Any = None
    weight_text: str = ""
    amount: Any = None
    amount_text: str = ""
    regions: RegionSplit | None = None
    description: str = ""
    source: str = ""
    location: Location | None = None


@dataclass(frozen=True)
class Allocation:
    method: str  # "steps" when the allocation is a list of steps
    cap: Any
    cap_text: str
    weight: Any = None
    weight_text: str = ""
    pooling: bool = False
    regions: RegionSplit | None = None
    description: str = ""
    source: str = ""
    steps: tuple = ()

    @property
    def split(self) -> RegionSplit | None:
        """How the budget is split over regions: the one-method form's regions, or a split step."""
        return self.regions or next((step.regions for step in self.steps if step.regions), None)

    @property
    def reduces(self) -> bool:
        return any(step.kind == "reduce" for step in self.steps)


@dataclass(frozen=True)
class Parameter:
    name: str
    value: Any  # for dated values: the one in force on the decision date
    description: str
    source: str
    location: Location
    values: tuple = ()  # dated values: ((date, value), ...), oldest first


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
    facts_schema_file: str = ""  # the schema file read from disk, if the schema was named (not stored or inline)
    status: str = "published"  # or "draft": never used for an official decision
    budget_expr: Any = None  # the budget's expression, when it is one (over parameters)
    budget_from_call: bool = False  # the budget reads the applicants (sum(applicants, ...)): computed per decision
    author: str = ""  # who wrote it; never one of its approvers
    letter: dict = field(default_factory=dict, compare=False, repr=False)  # sender, appeal route, signature
    translations: dict = field(default_factory=dict, compare=False, repr=False)  # Dutch text -> {lang: text}
    on_invalid: str = "refuse"  # or "exclude": a bad application is ineligible, the call decided for the rest
    group: Any = None  # group.Group: applications decided as one (mergers), or None

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
        self.as_of: dt.date | None = None  # the decision date, which picks dated parameter values
        self.dated: dict = {}  # parameter name -> ((date, value), ...)
        self.budget: Any = None
        self.budget_expr: Any = None
        self.budget_from_call = False
        self.translations: dict = {}  # a Dutch text of the rule file -> {language: its translation}
        self.step_fte: dict = {}  # step index -> FTE of a reserve or minimum step
        self.step_fte_expr: dict = {}  # step index -> its expression, if it is one
        self.group: Any = None  # facts.group, compiled

    def problem(self, path: tuple, message: str, key: bool = False, code: str = "invalid") -> None:
        from .validate import field_path

        self.problems.append(Problem(self.doc.loc(path, key=key), message, field_path(self.doc, path), code))

    def fail_if_any(self) -> None:
        # Unknown keys and a missing status do not stop the later stages: report them with everything else.
        if any(p.code not in ("unknown-key", "missing-status") for p in self.problems):
            raise InputError(self.problems)


def _stage_structure(ctx: _Context) -> None:
    data = ctx.data
    if isinstance(data, dict) and "applicants" in data and "ruleset" not in data:  # one message, not fifteen
        ctx.problems.append(Problem(ctx.doc.loc((), key=False), "this is a facts file (it lists 'applicants'), not a "
                                    "rule file: decide it with 'rules evaluate RULESET FILE --no-log'", "", "facts-file"))
        return
    ctx.problems.extend(validate_document(ctx.doc, shipped_schema("ruleset.schema.json")))
    if "status" not in ctx.data and ctx.schema_text is None:  # texts stored before 'status' existed were in force
        ctx.problems.append(Problem(ctx.doc.loc(()), "missing required key 'status' (draft or published)", "",
                                    "missing-status"))
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
    extension = ctx.data["facts"].get("extend")
    if extension and ctx.schema_text is not None:  # replay: the stored text is the extended schema
        schema, text = json.loads(ctx.schema_text, parse_float=Decimal), ctx.schema_text
    elif isinstance(spec, dict):  # inline: the rule text holds it (and replay keeps the text stored with it)
        schema, text = spec, ctx.schema_text if ctx.schema_text is not None else schema_json(spec)
    else:
        schema, text = _named_schema(ctx, spec)
        if schema is None:
            return
    if extension and ctx.schema_text is None:
        schema = _extended(ctx, schema, extension)
        if schema is None:
            return
        text = schema_json(schema)
    bad_references = reference_problems(schema)
    for path, message in bad_references:
        _schema_problem(ctx, spec, schema, text, path, message)
    if bad_references:
        return
    for message in check_schema(schema):
        ctx.problem(("facts", "schema"), f"the facts schema is not a valid JSON Schema: {message}")
    properties = applicant_schema(schema).get("properties")
    if not properties:
        ctx.problem(("facts", "schema"), "the facts schema must describe applicants: properties.applicants.items.properties")
    for name in sorted(set(properties or {}) & {"tier", "params", "as_of"}):
        ctx.problem(("facts", "schema"), f"applicant field '{name}' has a reserved name (it means the applicant's "
                    "priority tier, the parameters, or the decision date, in expressions): rename the field")
    ctx.facts_schema, ctx.facts_schema_text = schema, text
    ctx.group = compile_group(ctx.data["facts"].get("group"), properties or {},
                              lambda field_schema: kind_of_schema(field_schema, schema),
                              lambda path, message: ctx.problem(("facts", "group") + path, message))


_SCHEMA_JSON = None


def schema_json(schema: dict) -> str:
    """A facts schema as canonical JSON text, its numbers exact (as it is stored in the decision log)."""
    global _SCHEMA_JSON
    if _SCHEMA_JSON is None:
        import msgspec

        _SCHEMA_JSON = msgspec.json.Encoder(decimal_format="number", order="sorted",
                                            enc_hook=lambda value: value.isoformat())
    return _SCHEMA_JSON.encode(schema).decode("utf-8")


def _extended(ctx: _Context, schema: dict, extension: dict) -> dict | None:
    """The schema with the rule file's own applicant fields added (``facts.extend``)."""
    before = len(ctx.problems)
    merged = json.loads(schema_json(schema), parse_float=Decimal)
    target = applicant_schema(merged)
    properties = target.get("properties") if isinstance(target, dict) else None
    if not isinstance(properties, dict):
        ctx.problem(("facts", "extend"), "the facts schema has no applicant fields to extend")
        return None
    fields = extension.get("fields", {})
    clashes = sorted(set(fields) & set(properties))
    for name in clashes:
        ctx.problem(("facts", "extend", "fields", name), f"'{name}' is a field of the facts schema already", key=True)
    for name in extension.get("required", []):
        if name not in fields and name not in properties:
            ctx.problem(("facts", "extend", "required"), f"'{name}' is required but is not a field")
    region_props = _extension_target(ctx, merged, "regions", extension)
    call_props = _extension_target(ctx, merged, "call", extension)
    if len(ctx.problems) > before:
        return None
    properties.update(json.loads(schema_json(fields), parse_float=Decimal))
    if "required" in extension:
        target["required"] = list(dict.fromkeys(list(target.get("required", [])) + list(extension["required"])))
    for props, key in ((region_props, "regions"), (call_props, "call")):
        if props is not None:
            props.update(json.loads(schema_json(extension[key]["fields"]), parse_float=Decimal))
    return merged


def _extension_target(ctx: _Context, merged: dict, key: str, extension: dict) -> dict | None:
    """The properties that ``facts.extend.regions`` (each region's) or ``facts.extend.call`` add to; None
    when the rule file extends neither."""
    if key not in extension:
        return None
    top = merged.setdefault("properties", {})
    if key == "call":
        call = deref(top.setdefault("call", {"type": "object"}), merged)
        target = call if isinstance(call, dict) else None
    else:
        regions = deref(top.get("regions"), merged)
        target = deref(regions.get("additionalProperties"), merged) if isinstance(regions, dict) else None
    if not isinstance(target, dict):
        ctx.problem(("facts", "extend", key), f"the facts schema has no {key} to extend")
        return None
    props = target.setdefault("properties", {})
    for name in sorted(set(extension[key]["fields"]) & set(props)):
        ctx.problem(("facts", "extend", key, "fields", name), f"'{name}' is a field of the facts schema's {key} already",
                    key=True)
    return props


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
    before = len(ctx.problems)
    for name, spec in declared.items():
        if ("value" in spec) == ("values" in spec):
            ctx.problem(("parameters", name), f"parameter '{name}' needs either 'value' or dated 'values', not "
                        + ("both" if "value" in spec else "neither"), key=True)
            continue
        if "value" in spec:
            ctx.params[name] = _param_value(spec["value"])
        else:
            _dated_parameter(ctx, name, spec["values"])
    if len(ctx.problems) > before:
        return
    for name, text in ctx.overrides.items():
        if name not in ctx.params:
            raise InputError.at(Location("--set"), f"unknown parameter '{name}'{did_you_mean(name, list(ctx.params))}",
                                f"--set {name}", "unknown-parameter")
        ctx.params[name] = parse_override(name, text, ctx.params[name])


def _dated_parameter(ctx: _Context, name: str, values: dict) -> None:
    """The value in force on the decision date (else on the first day of the version); all of one kind."""
    dated = sorted((_date(day), _param_value(value)) for day, value in values.items())
    kinds = {kind_of_value(value).name for _day, value in dated}
    if len(kinds) > 1:
        ctx.problem(("parameters", name, "values"), f"the dated values of '{name}' must be of one kind, not "
                    + " and ".join(sorted(kinds)))
        return
    day = ctx.as_of or _date(ctx.data["effective"]["from"])
    in_force = [value for start, value in dated if start <= day]
    if not in_force:
        ctx.problem(("parameters", name, "values"), f"parameter '{name}' has no value in force on {day.isoformat()} "
                    f"(its first value is from {dated[0][0].isoformat()})")
        return
    ctx.params[name] = in_force[-1]
    ctx.dated[name] = tuple(dated)


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
            number = bounded_decimal(text)
        except ValueError as exc:
            raise bad(f"a finite number ({exc})" if "number '" in str(exc) else "a number") from None
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
    places = [("derived", name, "expr") for name in _mapping(data.get("derived"))]
    places += [("eligibility", i, "when") for i in range(len(_sequence(data.get("eligibility"))))]
    places += [("priority", "tiers", i, "when") for i in range(len(_sequence(_mapping(data.get("priority")).get("tiers"))))]
    places += [("ranking", i, "by") for i in range(len(_sequence(data.get("ranking"))))]
    allocation = _mapping(data.get("allocation"))
    places += [("allocation", key) for key in ("cap", "weight") if key in allocation]
    for index, step in enumerate(_sequence(allocation.get("steps"))):
        places += [("allocation", "steps", index, key) for key in STEP_EXPRESSIONS if key in _mapping(step)]
    return places


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list:
    return value if isinstance(value, list) else []


STEP_EXPRESSIONS = ("for", "cap", "weight", "amount")


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


def _check_expressions_anyway(ctx: _Context) -> None:
    """After structural problems, still report the problems inside expressions, so all come at once.

    Best effort: the file does not have the shape the later stages expect, so an expression is
    only parsed where it is a text, and names are only checked when the facts schema and the
    parameters could be read without a problem; what cannot be checked is left alone.
    """
    structural = list(ctx.problems)
    try:
        _stage_facts_schema(ctx)
        _stage_parameters(ctx)
        names_checkable = len(ctx.problems) == len(structural) and bool(ctx.facts_schema)
    except Exception:  # noqa: BLE001 - a malformed file; the structural problems already say why
        names_checkable = False
    ctx.problems[:] = structural
    for path in _expression_places(ctx.data):
        try:
            text = _value_at(ctx.data, path)
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(text, str):
            try:
                ctx.parsed[path] = E.parse(text)
            except ExpressionError as exc:
                ctx.problems.append(Problem(expression_location(ctx.doc, path, text, exc.offset), exc.message,
                                            _dotted(path), "expression"))
    if names_checkable:
        try:
            _stage_names(ctx)
        except Exception:  # noqa: BLE001 - as above
            pass


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


# Names a derived value may not take: what the decision record, the ranking or the language give a meaning.
RESERVED_NAMES = frozenset({"tier", "id", "name", "params", "rank", "eligible", "as_of"} | E.KEYWORDS
                           | set(E.AGGREGATES) | set(E.FUNCTIONS))
# What each place needs its expression to yield.
NEEDS = {"when": ("boolean",), "for": ("boolean",), "cap": ("number",), "weight": ("number",),
         "amount": ("number",), "by": ORDERED + ("boolean",)}
NEED_WORDS = {"when": "a condition must be true or false", "cap": "allocation cap must be a number",
              "for": "a step's 'for' is a condition: it must be true or false",
              "amount": "a reduction's amount must be a number",
              "weight": "allocation weight must be a number",
              "by": "a ranking key must be a number, a text, a date or true/false"}


def _stage_names(ctx: _Context) -> None:
    """Check every expression in its scope, bind every name once, and keep the bound trees."""
    fields = dict(applicant_schema(ctx.facts_schema).get("properties", {}))
    scope = Scope(ctx.facts_schema, fields, {}, ctx.params, **_call_context(ctx))
    for name in ctx.data.get("derived") or {}:
        if name in fields or name in RESERVED_NAMES:
            what = "a field of the facts" if name in fields else "reserved (it has a meaning of its own)"
            ctx.problem(("derived", name), f"derived value '{name}' cannot take this name: it is {what}", key=True)
            continue
        scope.derived[name] = _check_at(ctx, ("derived", name, "expr"), scope)
    ctx.derived_kinds = dict(scope.derived)
    for path in _expression_places(ctx.data):
        if path[0] != "derived":
            extras = {"tier": NUMBER} if path[0] in ("ranking", "allocation") else {}
            _check_at(ctx, path, replace(scope, extras=extras))


def region_field(allocation: dict) -> str | None:
    """The applicant field that names its region: the one-method form's ``regions.field``, or a split step's."""
    regions = allocation.get("regions") if isinstance(allocation, dict) else None
    if isinstance(regions, dict) and isinstance(regions.get("field"), str):
        return regions["field"]
    steps = allocation.get("steps") if isinstance(allocation, dict) else None
    for step in steps if isinstance(steps, list) else ():
        if isinstance(step, dict) and step.get("step") == "split" and isinstance(step.get("field"), str):
            return step["field"]
    return None


def _call_context(ctx: _Context) -> dict:
    """What ``call.X`` and ``region.X`` read: the call's fields and budget, and the applicant's region."""
    props = dict(deref(ctx.facts_schema.get("properties", {}).get("call"), ctx.facts_schema) or {}).get("properties", {})
    call = {"type": "object", "properties": {**props, "budget_fte": {"type": "number"}}}
    context, unreadable = {"call": Kind("object", call)}, {}
    if isinstance(ctx.data["budget"]["fte"], str) and re.search(r"\bapplicants\b", ctx.data["budget"]["fte"]):
        unreadable["call.budget_fte"] = ("call.budget_fte cannot be read here: the budget is computed from the "
                                         "eligible applicants, after these rules have decided who they are")
    if region_field(ctx.data.get("allocation")) is not None:
        context["region"] = Kind("object", region_schema(ctx.facts_schema))
    else:
        unreadable["region"] = ("region.X reads the attributes of the applicant's region, but this ruleset splits by "
                                "no region field (allocation.regions.field, or a split step's field, names it)")
    return {"context": context, "unreadable": unreadable}


def _check_at(ctx: _Context, path: tuple, scope: Scope) -> Kind:
    """The kind of the expression at ``path``; its tree in ``ctx.parsed`` is replaced by the bound one."""
    tree = ctx.parsed.get(path)
    if tree is None:
        return ERROR
    try:
        bound, kind = check(tree, scope)
        needed = NEEDS.get(path[-1])
        if needed and kind.name not in needed + ("error",):
            raise ExpressionError(f"{NEED_WORDS[path[-1]]}, this gives {describe(kind)}", 0)
    except ExpressionError as exc:
        text = _value_at(ctx.data, path)
        ctx.problems.append(Problem(expression_location(ctx.doc, path, text, exc.offset), exc.message,
                                    _dotted(path), "expression"))
        return ERROR
    ctx.parsed[path] = bound
    return kind


def _stage_consistency(ctx: _Context) -> None:
    data = ctx.data
    effective = data["effective"]
    if effective.get("to") and str(effective["to"]) < str(effective["from"]):
        ctx.problem(("effective", "to"), f"the period ends ({effective['to']}) before it starts ({effective['from']})")
    budget, unit = _budget(ctx), data["budget"]["unit"]
    if budget is not None and Fraction(budget) % Fraction(unit) != 0:
        ctx.problem(("budget", "fte"), f"the budget of {format_number(budget)} FTE is not a whole number of units of "
                    f"{unit} FTE")
    _check_allocation(ctx)


MAX_BUDGET = 1_000_000


def _budget(ctx: _Context) -> Decimal | None:
    """The budget in FTE: a number, an expression over parameters (so --set can change it), 0 to 1,000,000,
    or an aggregate over the call's eligible applicants (``sum(applicants, reduction_fte)``), computed
    when the call is decided."""
    spec = ctx.data["budget"]["fte"]
    if isinstance(spec, str) and re.search(r"\bapplicants\b", spec):
        return _call_budget(ctx, spec)
    ctx.budget, ctx.budget_expr = _constant_fte(ctx, ("budget", "fte"), "the budget")
    return ctx.budget


def _call_budget(ctx: _Context, spec: str) -> None:
    path = ("budget", "fte")
    fields = dict(applicant_schema(ctx.facts_schema).get("properties", {}))
    derived = {name: KIND_SCHEMAS[kind.name] for name, kind in ctx.derived_kinds.items() if kind.name in KIND_SCHEMAS}
    item = {"type": "object", "properties": {**fields, **derived}}
    scope = Scope(ctx.facts_schema, {}, {}, ctx.params, extras={"applicants": Kind("list", item)})
    try:
        tree, kind = check(E.parse(spec), scope)
        if kind.name not in ("number", "error"):
            raise ExpressionError(f"the budget must be a number, this gives {describe(kind)}", 0)
    except ExpressionError as exc:
        ctx.problems.append(Problem(expression_location(ctx.doc, path, spec, exc.offset), exc.message, "budget.fte",
                                    "expression"))
        return None
    ctx.budget, ctx.budget_expr, ctx.budget_from_call = Decimal(0), tree, True
    return None


KIND_SCHEMAS = {"number": {"type": "number"}, "string": {"type": "string"}, "boolean": {"type": "boolean"},
                "date": {"type": "string", "format": "date"}}


def _constant_fte(ctx: _Context, path: tuple, what: str) -> tuple[Any, Any]:
    """(value, tree or None) of an FTE given as a number or as an expression over parameters only."""
    spec = _value_at(ctx.data, path)
    if not isinstance(spec, str):
        return Decimal(spec), None
    try:
        tree, kind = check(E.parse(spec), Scope(ctx.facts_schema, {}, {}, ctx.params))
        if kind.name not in ("number", "error"):
            raise ExpressionError(f"{what} must be a number, this gives {describe(kind)}", 0)
    except ExpressionError as exc:
        ctx.problems.append(Problem(expression_location(ctx.doc, path, spec, exc.offset), exc.message, _dotted(path),
                                    "expression"))
        return None, None
    value = constant_value(tree, ctx.params)
    if value is None or not 0 <= value <= MAX_BUDGET:
        ctx.problem(path, f"{what} {spec} comes to {'nothing' if value is None else format_number(value)}: it must "
                    f"be a number of FTE from 0 to {MAX_BUDGET:,}")
        return None, None
    return (Decimal(value) if not isinstance(value, Fraction) else value), tree


def constant_value(tree: Any, params: dict) -> Any:
    """The value of an expression that reads only parameters and constants, computed as evaluation would."""
    from .pyeval import CONTEXT, HELPERS, _Writer

    constants: dict = {}
    code = _Writer(constants, params).write(tree)
    namespace = {"__builtins__": {}, **HELPERS, **constants}
    with decimal.localcontext(CONTEXT):
        return eval(compile(code, "<budget>", "eval"), namespace)  # noqa: S307 - code written from our own tree


def format_number(value: Any) -> str:
    return E.format_decimal(value) if isinstance(value, Decimal) else str(value)


def _check_allocation(ctx: _Context) -> None:
    alloc = ctx.data["allocation"]
    if "steps" in alloc:
        _check_steps(ctx, alloc)
        return
    if "method" not in alloc:
        ctx.problem(("allocation",), "the allocation needs a 'method' (greedy, proportional, equal, round-robin) "
                    "or a list of 'steps'", key=True)
        return
    if alloc["method"] == "proportional" and "weight" not in alloc:
        ctx.problem(("allocation",), "the proportional method needs a 'weight' (e.g. contingent_fte)")
    if alloc["method"] != "proportional" and "weight" in alloc:
        ctx.problem(("allocation", "weight"), f"'weight' only applies to the proportional method, not to {alloc['method']}", key=True)
    regions = alloc.get("regions")
    if regions:
        _check_regions(ctx, ("allocation", "regions"), regions["field"], regions["weight"])


def _check_regions(ctx: _Context, path: tuple, field_name: str, weight: str) -> None:
    fields = applicant_schema(ctx.facts_schema).get("properties", {})
    if field_name not in fields:
        ctx.problem(path + ("field",), f"unknown applicant field '{field_name}'{did_you_mean(field_name, list(fields))}")
    region_fields = region_schema(ctx.facts_schema).get("properties", {})
    weight_key = "weight" if path[-1] == "regions" else "by"
    if weight not in region_fields:
        ctx.problem(path + (weight_key,), f"'{weight}' is not a field of the regions in the facts schema"
                    f"{did_you_mean(weight, list(region_fields))}")


# Which keys each step takes, beyond step, description and source; the first group is required.
STEP_KEYS = {
    "reserve": ({"fte", "for"}, {"method", "cap", "weight"}),
    "split": ({"field", "by", "method"}, set()),
    "minimum": ({"fte"}, {"for", "cap"}),
    "greedy": (set(), {"for", "cap"}),
    "equal": (set(), {"for", "cap"}),
    "round-robin": (set(), {"for", "cap"}),
    "proportional": ({"weight"}, {"for", "cap"}),
    "pool": ({"method"}, {"for", "cap", "weight"}),
    "reduce": ({"amount"}, {"for"}),
}
STEP_METHODS = {"reserve": ("greedy", "proportional", "equal", "round-robin"),
                "pool": ("greedy", "proportional", "equal", "round-robin"),
                "split": ("hamilton", "dhondt", "sainte-lague")}


def _check_steps(ctx: _Context, alloc: dict) -> None:
    """Each step takes only its own keys, in an order that makes sense; 'steps' replaces the method keys."""
    for key in ("method", "weight", "regions", "pooling"):
        if key in alloc:
            ctx.problem(("allocation", key), f"'{key}' belongs to the one-method form; with 'steps' it goes in "
                        "a step", key=True)
    split_open, seen_split = False, False
    for index, step in enumerate(alloc["steps"]):
        path = ("allocation", "steps", index)
        kind = step["step"]
        _check_step_keys(ctx, path, step)
        if kind in ("reserve", "minimum") and "fte" in step:
            ctx.step_fte[index], ctx.step_fte_expr[index] = _constant_fte(ctx, path + ("fte",), f"the {kind} step's fte")
            unit = ctx.data["budget"]["unit"]
            if ctx.step_fte[index] is not None and Fraction(ctx.step_fte[index]) % Fraction(unit) != 0:
                ctx.problem(path + ("fte",), f"{format_number(ctx.step_fte[index])} FTE is not a whole number of "
                            f"units of {unit} FTE")
        if kind == "split":
            if seen_split:
                ctx.problem(path + ("step",), "there can be only one split step")
            seen_split = split_open = True
            _check_regions(ctx, path, step.get("field", ""), step.get("by", ""))
        elif kind == "pool":
            if not split_open:
                ctx.problem(path + ("step",), "a pool step hands out what the regions of a split could not use: "
                            "it must follow a split")
            split_open = False
        elif kind in ("reserve", "reduce") and split_open:
            ctx.problem(path + ("step",), f"a {kind} step works on the whole budget: put it before the split, or "
                        "after the pool step that closes it")


def _check_step_keys(ctx: _Context, path: tuple, step: dict) -> None:
    kind = step["step"]
    required, optional = STEP_KEYS[kind]
    for key in sorted(set(step) - required - optional - {"step", "description", "source", "note"}):
        takers = sorted(k for k, (req, opt) in STEP_KEYS.items() if key in req | opt)
        ctx.problem(path + (key,), f"'{key}' does not apply to a {kind} step (it does to: {', '.join(takers)})",
                    key=True)
    for key in sorted(required - set(step)):
        ctx.problem(path, f"a {kind} step needs '{key}'", key=True)
    method = step.get("method")
    if method is not None and kind in STEP_METHODS and method not in STEP_METHODS[kind]:
        ctx.problem(path + ("method",), f"a {kind} step's method is one of {', '.join(STEP_METHODS[kind])}, "
                    f"not {method}")
    if "weight" in step and kind != "proportional" and step.get("method") != "proportional":
        ctx.problem(path + ("weight",), "'weight' only applies to proportional handing out", key=True)
    if kind != "proportional" and step.get("method") == "proportional" and "weight" not in step:
        ctx.problem(path, f"a {kind} step by proportional needs a 'weight'", key=True)


STAGES: tuple = (
    ("structure", _stage_structure),
    ("facts-schema", _stage_facts_schema),
    ("parameters", _stage_parameters),
    ("expressions", _stage_expressions),
    ("names", _stage_names),
    ("consistency", _stage_consistency),
)


def compile_document(doc: Document, base_dir: Path | None = None, overrides: Mapping[str, str] | None = None,
                     schema_text: str | None = None, as_of: dt.date | None = None) -> Ruleset:
    """Run the compile stages on a loaded rule file; InputError lists every problem.

    ``schema_text`` replaces the facts schema file the rule file names (replay uses the stored text).
    """
    ctx = _Context(doc, base_dir, overrides or {}, schema_text)
    ctx.as_of = as_of
    for name, stage in STAGES:
        check_deadline()
        stage(ctx)
        if name == "structure" and any(p.code not in ("unknown-key", "missing-status") for p in ctx.problems):
            _check_expressions_anyway(ctx)
        ctx.fail_if_any()
    if ctx.problems:
        raise InputError(ctx.problems)
    return _build(ctx)


_CACHE: "OrderedDict[tuple, Ruleset]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 64


def compile_text(text: str, label: str, base_dir: Path | None = None, overrides: Mapping[str, str] | None = None,
                 schema_text: str | None = None, as_of: dt.date | None = None) -> Ruleset:
    """Compile rule-file text; ``label`` names it in messages.

    Compiled rulesets are kept by the sha256 of their text (with the label, folder, overrides and
    stored schema): a service pays no compile per request, and a rule file changed on disk is a new
    text, compiled on first use. A facts schema file the text names is read again and compared, so a
    changed schema file is picked up too.
    """
    key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), label, str(base_dir),
           tuple(sorted((overrides or {}).items())), schema_text, as_of)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and _schema_unchanged(hit):
        return hit
    ruleset = compile_document(load_yaml_document(text, label), base_dir, overrides, schema_text, as_of)
    with _CACHE_LOCK:
        _CACHE[key] = ruleset
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ruleset


def _schema_unchanged(ruleset: Ruleset) -> bool:
    if not ruleset.facts_schema_file:
        return True
    try:
        return read_text(ruleset.facts_schema_file) == ruleset.facts_schema_text
    except InputError:
        return False


def compile_file(path: str | Path, overrides: Mapping[str, str] | None = None, as_of: dt.date | None = None) -> Ruleset:
    """Compile a rule file from disk (as of a decision date, which picks dated parameter values)."""
    path = Path(path)
    return compile_text(read_text(path), str(path), path.parent, overrides, as_of=as_of)


def _rule(ctx: _Context, path: tuple, spec: dict) -> Rule:
    tree = E.normalize(ctx.parsed[path + ("when",)]) if "when" in spec else E.Literal(True)
    return Rule(spec["id"], _say(ctx, spec["description"]), spec.get("source", ""), spec.get("when", "true"), tree,
                reads(tree), ctx.doc.loc(path), _say(ctx, spec.get("reason", "")), spec.get("note", ""))


def _say(ctx: _Context, value: Any) -> str:
    """A text of the policy owner: the Dutch one; its other languages ({nl: ..., en: ...}) kept as translations."""
    if isinstance(value, dict):
        dutch = str(value.get("nl", ""))
        for lang, text in value.items():
            if lang != "nl":
                ctx.translations.setdefault(dutch, {})[str(lang)] = str(text)
        return dutch
    return "" if value is None else str(value)


def _build(ctx: _Context) -> Ruleset:
    data = ctx.data
    doc = ctx.doc
    declared = data.get("parameters") or {}
    params = {name: Parameter(name, ctx.params[name], _say(ctx, spec["description"]), spec.get("source", ""),
                              doc.loc(("parameters", name), key=True), ctx.dated.get(name, ()))
              for name, spec in declared.items()}
    derived = tuple(
        Derived(name, _say(ctx, spec["description"]), spec.get("source", ""), spec["expr"], ctx.parsed[("derived", name, "expr")],
                ctx.derived_kinds.get(name, ANY).name, doc.loc(("derived", name), key=True))
        for name, spec in (data.get("derived") or {}).items()
    )
    eligibility = tuple(_rule(ctx, ("eligibility", i), spec) for i, spec in enumerate(data["eligibility"]))
    tiers = tuple(_rule(ctx, ("priority", "tiers", i), spec) for i, spec in enumerate(data["priority"]["tiers"]))
    default = _rule(ctx, ("priority", "default"), data["priority"]["default"])
    ranking = tuple(RankKey(k["by"], ctx.parsed[("ranking", i, "by")], k["order"] == "desc",
                            _say(ctx, k.get("description", "")))
                    for i, k in enumerate(data["ranking"]))
    alloc = data["allocation"]
    regions = alloc.get("regions")
    allocation = Allocation(
        alloc.get("method", "steps"), ctx.parsed[("allocation", "cap")], alloc["cap"],
        ctx.parsed.get(("allocation", "weight")), alloc.get("weight", ""), bool(alloc.get("pooling", False)),
        RegionSplit(regions["field"], regions["weight"], regions["method"]) if regions else None,
        _say(ctx, alloc.get("description", "")), alloc.get("source", ""),
        tuple(_step(ctx, index, spec) for index, spec in enumerate(alloc.get("steps") or [])),
    )
    effective = data["effective"]
    return Ruleset(
        id=data["ruleset"], version=str(data["version"]), title=data["title"],
        effective_from=_date(effective["from"]), effective_to=_date(effective["to"]) if effective.get("to") else None,
        source=dict(data["source"]), budget_fte=ctx.budget, unit_fte=Decimal(data["budget"]["unit"]),
        facts_schema=ctx.facts_schema, facts_schema_text=ctx.facts_schema_text, parameters=params,
        derived=derived, eligibility=eligibility, tiers=tiers, default_tier=default, ranking=ranking,
        allocation=allocation, label=doc.file, text=doc.text,
        sha256=hashlib.sha256(doc.text.encode("utf-8")).hexdigest(),
        overrides=tuple(sorted(ctx.overrides.items())),
        applicant_fields=dict(applicant_schema(ctx.facts_schema).get("properties", {})),
        locations={"facts": doc.loc(("facts", "schema")), "ranking": doc.loc(("ranking",), key=True),
                   "effective": doc.loc(("effective",), key=True), "cap": doc.loc(("allocation", "cap"))},
        lint_ignore=tuple((data.get("lint") or {}).get("ignore", [])),
        facts_schema_file=str(ctx.schema_file or ""),
        status=data.get("status", "published"),
        budget_expr=ctx.budget_expr,
        budget_from_call=ctx.budget_from_call,
        author=data.get("author", ""),
        letter=_plain(data.get("letter") or {}),
        translations=ctx.translations,
        on_invalid=str(data["facts"].get("on_invalid", "refuse")),
        group=ctx.group,
    )


def _plain(value: Any) -> Any:
    """ruamel's mappings and texts as plain dicts and strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value) if isinstance(value, str) else value


def _step(ctx: _Context, index: int, spec: dict) -> Step:
    path = ("allocation", "steps", index)
    parsed = {key: ctx.parsed.get(path + (key,)) for key in STEP_EXPRESSIONS}
    regions = RegionSplit(spec["field"], spec["by"], spec["method"]) if spec["step"] == "split" else None
    return Step(spec["step"], spec.get("method", ""), ctx.step_fte.get(index), ctx.step_fte_expr.get(index),
                E.normalize(parsed["for"]) if parsed["for"] is not None else None, spec.get("for", ""),
                parsed["cap"], spec.get("cap", ""), parsed["weight"], spec.get("weight", ""),
                parsed["amount"], spec.get("amount", ""), regions, _say(ctx, spec.get("description", "")),
                spec.get("source", ""), ctx.doc.loc(path))


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
