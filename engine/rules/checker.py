"""Names and types: the checker that resolves every name of an expression, once.

``check`` walks a parsed tree in the scope where it is written and returns the
same tree with every ``Name`` bound (``Name.binding``) and the kind of value it
yields. The code generators (``pyeval``, ``durable``) and ``lint`` read the
bindings; none of them decides again what a name means.

Bindings:
- ``env``: a field of the applicant or a derived value (both live in the applicant's dict);
- ``params``: a parameter (``params.name``);
- ``tier``: the applicant's priority tier (ranking keys only);
- ``as_of``: the date of the decision;
- ``item:N``: a field of the item of the N-th enclosing aggregate (0 is the outermost), so
  ``count(q where sum(w, z) >= 1)`` reads ``z`` from the items of ``w``, and ``w`` from those of ``q``.
Names are looked up from the innermost aggregate outwards, then among the applicant's fields and
derived values, then the scope's extras.

Kinds are taken from the facts schema. A field whose schema allows several types (``["string",
"number"]``) is ``mixed`` and one with no type at all is ``any``: neither is accepted where a
comparison, arithmetic, an aggregate or a ranking needs to know what the values are.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable

from . import expr as E
from ..errors import ExpressionError, did_you_mean, with_article

ORDERED = ("number", "string", "date")  # kinds whose values can be ranked and compared with < and >
SCALARS = ORDERED + ("boolean",)


@dataclass(frozen=True)
class Kind:
    name: str  # number, string, date, boolean, list, object, null, any (untyped), mixed (several types), error
    schema: Any = None  # for list (items schema) and object (schema)
    nullable: bool = False


ANY = Kind("any")
BOOL = Kind("boolean")
NUMBER = Kind("number")
ERROR = Kind("error")  # an expression already reported as wrong: accepted silently, so one mistake is one message


def deref(schema: Any, root: dict) -> Any:
    """A schema with its local ``$ref`` (``#/...``) followed."""
    for _ in range(20):
        if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/")):
            return schema
        node: Any = root
        for part in schema["$ref"][2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node
    return schema


def kind_of_schema(schema: Any, root: dict) -> Kind:
    """The kind of value a schema describes (``mixed`` when it allows several, ``any`` when it says nothing)."""
    schema = deref(schema, root)
    if not isinstance(schema, dict):
        return ANY
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if "enum" in schema else [schema["const"]]
        kinds = {kind_of_value(v).name for v in values if v is not None}
        name = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "null")
        return Kind(name, None, None in values)
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    names = {_TYPE_KIND.get(t, t) for t in types if t != "null"}
    if not names:
        return Kind("any", None, True)
    if len(names) > 1:
        return Kind("mixed", None, nullable)
    main = names.pop()
    if main == "string" and schema.get("format") == "date":
        return Kind("date", None, nullable)
    if main == "list":
        return Kind("list", deref(schema.get("items"), root), nullable)
    if main == "object":
        return Kind("object", schema, nullable)
    return Kind(main, None, nullable)


_TYPE_KIND = {"integer": "number", "number": "number", "array": "list"}


def kind_of_value(value: Any) -> Kind:
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
        kinds = {kind_of_value(v).name for v in value}
        return Kind("list", {"type": kinds.pop() if len(kinds) == 1 else "mixed"} if value else None)
    return ANY


def applicant_schema(facts_schema: dict) -> dict:
    """The schema of one applicant: ``properties.applicants.items``."""
    applicants = deref(facts_schema.get("properties", {}).get("applicants", {}), facts_schema)
    return deref(applicants.get("items", {}), facts_schema) if isinstance(applicants, dict) else {}


def region_schema(facts_schema: dict) -> dict:
    regions = deref(facts_schema.get("properties", {}).get("regions", {}), facts_schema)
    if not isinstance(regions, dict):
        return {}
    return deref(regions.get("additionalProperties", {}), facts_schema) or {}


@dataclass(frozen=True)
class Scope:
    """What names mean where an expression is written."""

    root: dict  # the facts schema (for $ref)
    fields: dict  # applicant field -> schema
    derived: dict  # derived name -> Kind
    params: dict  # parameter name -> value
    extras: dict = field(default_factory=dict)  # e.g. {"tier": NUMBER} in ranking
    items: tuple = ()  # the item fields of each enclosing aggregate, outermost first
    named: tuple = ()  # per enclosing aggregate: (the item's name, its schema), or None where it has none
    context: dict = field(default_factory=dict)  # call-level names (call, region) -> Kind, where they can be read
    unreadable: dict = field(default_factory=dict)  # call-level names that cannot be read here -> why

    def names(self) -> list[str]:
        inner = [name for props in reversed(self.items) for name in props]
        inner += [entry[0] for entry in reversed(self.named) if entry]
        return inner + list(self.fields) + list(self.derived) + list(self.extras) + ["params", "as_of"] + list(self.context)

    def within(self, item_schema: Any, name: str | None = None) -> "Scope":
        """The scope inside an aggregate over a list whose items have ``item_schema``; a named item's fields
        are read through its name only (``g.fte``), an unnamed item's by their own names (``fte``)."""
        item_schema = deref(item_schema, self.root)
        props = item_schema.get("properties", {}) if isinstance(item_schema, dict) and name is None else {}
        entry = (name, item_schema if item_schema is not None else {}) if name else None
        return replace(self, items=self.items + (dict(props),), named=self.named + (entry,))


def check(node: Any, scope: Scope) -> tuple[Any, Kind]:
    """(the tree with every name bound, the kind of value it yields); ExpressionError if it is ill-typed."""
    return _CHECKS[type(node).__name__](node, scope)


def _check_literal(node: E.Literal, scope: Scope) -> tuple[Any, Kind]:
    return node, kind_of_value(node.value)


def _check_list(node: E.ListLit, scope: Scope) -> tuple[Any, Kind]:
    kinds = {kind_of_value(i.value).name for i in node.items} - {"null"}
    if len(kinds) > 1:
        raise ExpressionError("a list must hold values of one kind", node.offset)
    return node, Kind("list", {"type": kinds.pop()} if kinds else None)


def _check_name(node: E.Name, scope: Scope) -> tuple[Any, Kind]:
    head, rest = node.path[0], node.path[1:]
    if head == "params":
        return replace(node, binding="params"), _check_param(node, scope)
    binding, kind = _lookup(head, node, scope)
    if binding == "call" and rest[:1] == ("budget_fte",) and "call.budget_fte" in scope.unreadable:
        raise ExpressionError(scope.unreadable["call.budget_fte"], node.offset)
    for depth, part in enumerate(rest, start=1):
        prefix = ".".join(node.path[:depth])
        if kind.name != "object":
            raise ExpressionError(f"'{prefix}' is not an object, it has no field '{part}'", node.offset)
        props = kind.schema.get("properties", {})
        if part not in props:
            raise ExpressionError(f"unknown field '{part}' in '{prefix}'{did_you_mean(part, list(props))}", node.offset)
        kind = kind_of_schema(props[part], scope.root)
    return replace(node, binding=binding), kind


def _lookup(head: str, node: E.Name, scope: Scope) -> tuple[str, Kind]:
    for level in range(len(scope.items) - 1, -1, -1):
        entry = scope.named[level] if level < len(scope.named) else None
        if entry and entry[0] == head:
            return f"named:{level}", kind_of_schema(entry[1], scope.root)
        if head in scope.items[level]:
            return f"item:{level}", kind_of_schema(scope.items[level][head], scope.root)
    if head in scope.extras:  # reserved names (tier) mean what the scope says, never a field
        return head, scope.extras[head]
    if head in scope.fields:
        return "env", kind_of_schema(scope.fields[head], scope.root)
    if head in scope.derived:
        return "env", scope.derived[head]
    if head == "as_of":  # the decision date (a reserved name: no field or derived value is called so)
        return "as_of", Kind("date")
    if head in scope.context:  # the call's data and the applicant's region, unless a field has the name
        return head, scope.context[head]
    if head in scope.unreadable:
        raise ExpressionError(scope.unreadable[head], node.offset)
    if head.lower() in DATE_WORDS:
        raise ExpressionError(f"unknown field '{head}' (the date of the decision is 'as_of')", node.offset)
    if head in ("budget_fte", "budget"):
        raise ExpressionError(f"unknown field '{head}' (the budget of the call is 'call.budget_fte')", node.offset)
    readable = "the applicant's fields, the derived values, params.NAME, tier and as_of"
    if scope.context:
        readable += ", " + ", ".join(f"{name}.FIELD" for name in scope.context)
    raise ExpressionError(f"unknown field '{head}'{did_you_mean(head, scope.names())} (readable here: {readable})",
                          node.offset)


# Names people reach for when they mean the decision date.
DATE_WORDS = frozenset({"decision_date", "date", "today", "now", "asof", "as_of_date", "reference_date",
                        "peildatum", "beslissingsdatum", "datum"})


def _check_param(node: E.Name, scope: Scope) -> Kind:
    if len(node.path) != 2:
        raise ExpressionError("write a parameter as params.<name>", node.offset)
    name = node.path[1]
    if name not in scope.params:
        raise ExpressionError(f"unknown parameter '{name}'{did_you_mean(name, list(scope.params))}", node.offset)
    return kind_of_value(scope.params[name])


def _check_neg(node: E.Neg, scope: Scope) -> tuple[Any, Kind]:
    operand, kind = check(node.operand, scope)
    expect_number(kind, node.offset, "'-'")
    return replace(node, operand=operand), NUMBER


def _check_arith(node: E.Arith, scope: Scope) -> tuple[Any, Kind]:
    left, left_kind = check(node.left, scope)
    right, right_kind = check(node.right, scope)
    bound = replace(node, left=left, right=right)
    if "date" in (left_kind.name, right_kind.name) and node.op in "+-":
        return bound, _date_arith(node, left_kind.name, right_kind.name)
    expect_number(left_kind, node.offset, f"'{node.op}'")
    expect_number(right_kind, node.offset, f"'{node.op}'")
    return bound, NUMBER


def _date_arith(node: E.Arith, left: str, right: str) -> Kind:
    """date + days, days + date and date - days give a date; date - date gives the days between."""
    if node.op == "-" and left == right == "date":
        return NUMBER
    if node.op == "+" and {left, right} <= {"date", "number", "error"} and "date" in (left, right) and left != right:
        return Kind("date", None, True)
    if node.op == "-" and left == "date" and right in ("number", "error"):
        return Kind("date", None, True)
    if node.op == "+":
        raise ExpressionError("'+' adds a number of days to a date: date + days", node.offset)
    raise ExpressionError("'-' subtracts days from a date (date - days) or one date from another (date - date)",
                          node.offset)


def expect_number(kind: Kind, offset: int, what: str) -> None:
    if kind.name not in ("number", "error"):
        raise ExpressionError(f"{what} needs numbers, not {describe(kind)}", offset)


def describe(kind: Kind) -> str:
    """A kind in words, for messages."""
    if kind.name == "any":
        return "a value of no declared type (give the field a 'type' in the facts schema)"
    if kind.name == "mixed":
        return "a value of several possible types (give the field one 'type' in the facts schema)"
    return with_article(kind.name)


def _check_compare(node: E.Compare, scope: Scope) -> tuple[Any, Kind]:
    left, left_kind = check(node.left, scope)
    right, right_kind = check(node.right, scope)
    if "null" in (left_kind.name, right_kind.name):
        raise ExpressionError("compare with null using 'is null' or 'is not null'", node.offset)
    if "error" not in (left_kind.name, right_kind.name):
        for kind in (left_kind, right_kind):
            if kind.name not in SCALARS:
                raise ExpressionError(f"cannot compare {describe(kind)}", node.offset)
        if left_kind.name != right_kind.name:
            raise ExpressionError(f"cannot compare {describe(left_kind)} with {describe(right_kind)}", node.offset)
        if node.op not in ("==", "!=") and left_kind.name not in ORDERED:
            raise ExpressionError(f"'{node.op}' cannot order {describe(left_kind)}", node.offset)
    return replace(node, left=left, right=right), BOOL


def _check_in(node: E.In, scope: Scope) -> tuple[Any, Kind]:
    operand, kind = check(node.operand, scope)
    options, options_kind = check(node.options, scope)
    if options_kind.name != "list" or not isinstance(node.options, (E.ListLit, E.Name)) or (
        isinstance(node.options, E.Name) and node.options.path[0] != "params"
    ):
        raise ExpressionError("'in' needs a list: [a, b, c] or a list parameter", node.offset)
    item = Kind(options_kind.schema.get("type", "any")) if isinstance(options_kind.schema, dict) else Kind("null")
    if kind.name != "error":
        if kind.name not in SCALARS:
            raise ExpressionError(f"'in' cannot look for {describe(kind)}", node.offset)
        if item.name not in (kind.name, "null"):
            raise ExpressionError(f"cannot look for {describe(kind)} in a list of {item.name} values", node.offset)
    return replace(node, operand=operand, options=options), BOOL


def _check_isnull(node: E.IsNull, scope: Scope) -> tuple[Any, Kind]:
    operand, _kind = check(node.operand, scope)
    return replace(node, operand=operand), BOOL


def _check_bool(node: E.BoolOp, scope: Scope) -> tuple[Any, Kind]:
    return replace(node, items=tuple(expect_condition(item, scope) for item in node.items)), BOOL


def _check_not(node: E.Not, scope: Scope) -> tuple[Any, Kind]:
    return replace(node, operand=expect_condition(node.operand, scope)), BOOL


def expect_condition(node: Any, scope: Scope) -> Any:
    """The bound tree of a condition; ExpressionError unless it yields true or false."""
    bound, kind = check(node, scope)
    if kind.name not in ("boolean", "error"):
        raise ExpressionError(f"expected a condition (true or false), found {describe(kind)}", getattr(node, "offset", 0))
    return bound


def _check_aggregate(node: E.Aggregate, scope: Scope) -> tuple[Any, Kind]:
    source, source_kind = check(node.source, scope)
    if node.func in ("min", "max") and node.where is None and node.item is not None and source_kind.name != "list":
        return _check_func(E.Func(node.func, (node.source, node.item), node.offset), scope)  # min(a, b) of values
    if source_kind.name != "list":
        raise ExpressionError(f"{node.func}() needs a list, not {describe(source_kind)}", node.offset)
    if node.name and any(entry and entry[0] == node.name for entry in scope.named):
        raise ExpressionError(f"'{node.name}' already names an item of an enclosing list: choose another name",
                              node.offset)
    inner = scope.within(source_kind.schema, node.name)  # a list of plain values has items without fields
    where = expect_condition(node.where, inner) if node.where is not None else None
    if node.func == "count":
        return replace(node, source=source, where=where), NUMBER
    item, kind = check(node.item, inner)
    bound = replace(node, source=source, item=item, where=where)
    if node.func in ("sum", "mean"):
        expect_number(kind, node.offset, f"{node.func}()")
        return bound, NUMBER
    if kind.name not in ORDERED + ("error",):
        raise ExpressionError(f"{node.func}() needs values that can be ordered, not {describe(kind)}", node.offset)
    return bound, Kind(kind.name, None, True)


def _check_func(node: E.Func, scope: Scope) -> tuple[Any, Kind]:
    """min and max of values of one orderable kind; floor, ceil and round of numbers."""
    bound = [check(arg, scope) for arg in node.args]
    kinds = {kind.name for _arg, kind in bound} - {"error"}
    if node.func == "lottery":  # the applicant's draw: sha256 of "SEED:ID", as lowercase hex
        if kinds - {"string"}:
            raise ExpressionError("lottery() needs a seed that is a text (a parameter such as params.lottery_seed)",
                                  node.offset)
        return replace(node, args=tuple(arg for arg, _kind in bound)), Kind("string")
    if node.func in E.DATE_FUNCTIONS:
        return replace(node, args=tuple(arg for arg, _kind in bound)), _date_function(node, bound)
    if node.func in ("min", "max"):
        if len(kinds) > 1 or (kinds and not kinds <= set(ORDERED)):
            raise ExpressionError(f"{node.func}() of values needs values of one kind that can be ordered, not "
                                  + " and ".join(describe(k) for _a, k in bound), node.offset)
        kind = Kind(kinds.pop() if kinds else "error", None, True)
    else:
        for _arg, arg_kind in bound:
            expect_number(arg_kind, node.offset, f"{node.func}()")
        kind = Kind("number", None, True)
    return replace(node, args=tuple(arg for arg, _kind in bound)), kind


def _date_function(node: E.Func, bound: list) -> Kind:
    """days_between and year_fraction of two dates give a number; quarter_of a date gives a text (2018Q3)."""
    for _arg, kind in bound:
        if kind.name not in ("date", "error"):
            needs = "a date" if len(bound) == 1 else "dates"
            raise ExpressionError(f"{node.func}() needs {needs}, not {describe(kind)}", node.offset)
    return Kind("string" if node.func == "quarter_of" else "number", None, True)


def _check_if(node: E.If, scope: Scope) -> tuple[Any, Kind]:
    condition = expect_condition(node.condition, scope)
    then, then_kind = check(node.then, scope)
    otherwise, other_kind = check(node.otherwise, scope)
    kinds = {then_kind.name, other_kind.name} - {"null", "error"}
    if len(kinds) > 1:
        raise ExpressionError(f"both branches of 'if' must give the same kind of value, not {describe(then_kind)} "
                              f"and {describe(other_kind)}", node.offset)
    name = kinds.pop() if kinds else "null"
    if name in ("any", "mixed", "list", "object"):
        raise ExpressionError(f"'if' cannot choose {describe(Kind(name))}", node.offset)
    schema = then_kind.schema if then_kind.name == name else other_kind.schema
    return replace(node, condition=condition, then=then, otherwise=otherwise), Kind(name, schema, True)


_CHECKS: dict[str, Callable] = {
    "Literal": _check_literal, "ListLit": _check_list, "Name": _check_name, "Neg": _check_neg,
    "Arith": _check_arith, "Compare": _check_compare, "In": _check_in, "IsNull": _check_isnull,
    "BoolOp": _check_bool, "Not": _check_not, "Aggregate": _check_aggregate, "Func": _check_func, "If": _check_if,
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
