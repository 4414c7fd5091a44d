"""The default evaluator: the intermediate form turned into Python functions.

Each condition tree becomes the source of one small Python function, compiled
once per ruleset. Only the engine's own tree is turned into code: names are
validated identifiers used as dictionary keys (via ``repr``), and every literal
and parameter value is passed in a constants table, never spelled into the
source. The functions run with no builtins.

Semantics shared with the durable_rules evaluator (see ``durable``):
- a comparison, ``in`` or ``not in`` with a missing (null) operand is false;
- arithmetic with null gives null; division by zero gives null;
- arithmetic is exact: + - * on decimals are exact, and a quotient that does not terminate
  within 28 digits is kept as a Fraction (so a mean of quarterly rates that is exactly 95%
  compares as exactly 95%);
- ``not`` has been pushed down to the comparisons by ``expr.normalize``.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

from . import expr as E

# Inexact is trapped: a sum or product that would need more than 28 digits is redone in fractions.
CONTEXT = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN,
                          traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


_TERMINATES = 10**28  # a quotient whose denominator divides this has at most 28 decimals


def exact(value):
    """A Fraction as the simplest exact type: int, else Decimal if it terminates, else the Fraction."""
    if type(value) is not Fraction:
        return value
    denominator = value.denominator
    if denominator == 1:
        return value.numerator
    if _TERMINATES % denominator == 0:
        digits = str(abs(value.numerator) * (_TERMINATES // denominator)).rjust(29, "0")
        sign = "-" if value < 0 else ""
        text = f"{sign}{digits[:-28]}.{digits[-28:]}".rstrip("0")
        return decimal.Decimal(text)  # plain notation, no exponent: 12.5, never 1.25E+1
    return value


def _ratio(value) -> tuple:
    if type(value) is int:
        return value, 1
    if type(value) is Fraction:
        return value.numerator, value.denominator
    return value.as_integer_ratio()


def _mixed(a, b) -> bool:
    """A Decimal with a Fraction (a threshold with a fill rate), which Python's operators refuse with an exception."""
    return (type(a) is Fraction and type(b) is decimal.Decimal) or (type(a) is decimal.Decimal and type(b) is Fraction)


def _pair(a, b, numerator) -> Any:
    """``numerator(n1, d1, n2, d2) / (d1 * d2)`` of the two values' integer ratios, in its simplest exact type: the
    sum, difference or product of a Decimal and a Fraction without a Fraction made of each (or an exception first)."""
    n1, d1 = a.as_integer_ratio()
    n2, d2 = b.as_integer_ratio()
    return exact(Fraction(numerator(n1, d1, n2, d2), d1 * d2))


def _plus(n1: int, d1: int, n2: int, d2: int) -> int:
    return n1 * d2 + n2 * d1


def _minus(n1: int, d1: int, n2: int, d2: int) -> int:
    return n1 * d2 - n2 * d1


def _times(n1: int, d1: int, n2: int, d2: int) -> int:
    return n1 * n2


def _add(a, b):
    if a is None or b is None:
        return None
    if type(a) is not type(b) and _mixed(a, b):
        return _pair(a, b, _plus)
    try:
        return a + b
    except (TypeError, decimal.Inexact):  # 28 digits do not suffice, or a date
        if isinstance(a, dt.date) or isinstance(b, dt.date):
            return _shift(a, b) if isinstance(a, dt.date) else _shift(b, a)
        return exact(Fraction(a) + Fraction(b))


def _sub(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, dt.date):
        return (a - b).days if isinstance(b, dt.date) else _shift(a, -b)
    if type(a) is not type(b) and _mixed(a, b):
        return _pair(a, b, _minus)
    try:
        return a - b
    except (TypeError, decimal.Inexact):
        return exact(Fraction(a) - Fraction(b))


def _shift(day: dt.date, days):
    """``day`` moved by a whole number of days; null for part of a day or a date outside the calendar."""
    if days != int(days):
        return None
    try:
        return day + dt.timedelta(days=int(days))
    except OverflowError:
        return None


def _mul(a, b):
    if a is None or b is None:
        return None
    if type(a) is not type(b) and _mixed(a, b):
        return _pair(a, b, _times)
    try:
        return a * b
    except (TypeError, decimal.Inexact):
        return exact(Fraction(a) * Fraction(b))


def _div(a, b):
    """Exact division: a Decimal when the quotient terminates within 28 decimals, else a Fraction."""
    if a is None or b is None or b == 0:
        return None
    n1, d1 = _ratio(a)
    n2, d2 = _ratio(b)
    return exact(Fraction(n1 * d2, d1 * n2))


def _neg(a):
    return None if a is None else -a


def _sum(values):
    total = 0
    for value in values:
        if value is None:
            return None
        total = _add(total, value)
    return total


def _mean(values):
    """The exact mean, in its simplest exact type (``exact``), which depends on its value only: summed here as one
    integer pair, not as a Fraction (a gcd) and a Decimal-or-Fraction retry at every term (a third of the
    workshops' evaluation at 100,000 applicants)."""
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    numerator, denominator = 0, 1
    for value in values:
        n, d = _ratio(value)
        numerator, denominator = numerator * d + n * denominator, denominator * d
    return exact(Fraction(numerator, denominator * len(values)))


def _mean_div(pairs):
    """``_mean`` of the quotients a / b, summed as one integer pair with no quotient made for each (a Fraction's
    gcd and a Decimal-or-Fraction choice per quarter were half of the workshops' evaluation); null where ``_div``
    or ``_mean`` is: no items, a missing value, a zero divisor."""
    pairs = list(pairs)
    if not pairs:
        return None
    numerator, denominator = 0, 1
    for a, b in pairs:
        if a is None or b is None or b == 0:
            return None
        n1, d1 = a.as_integer_ratio()  # int, Decimal and Fraction all have it, in C for the first two
        n2, d2 = b.as_integer_ratio()
        n, d = n1 * d2, d1 * n2
        numerator, denominator = numerator * d + n * denominator, denominator * d
    return exact(Fraction(numerator, denominator * len(pairs)))


def _min(values):
    values = list(values)
    return None if not values or any(v is None for v in values) else min(values)


def _max(values):
    values = list(values)
    return None if not values or any(v is None for v in values) else max(values)


HELPERS = {"_add": _add, "_sub": _sub, "_mul": _mul, "_div": _div, "_neg": _neg,
           "_sum": _sum, "_mean": _mean, "_mean_div": _mean_div, "_min": _min, "_max": _max}
ARITH = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div"}


def _min_of(*values):
    return None if any(v is None for v in values) else min(values)


def _max_of(*values):
    return None if any(v is None for v in values) else max(values)


def _floor(value):
    return None if value is None else math.floor(value)


def _ceil(value):
    return None if value is None else math.ceil(value)


def _round(value, unit):
    """``value`` to the nearest multiple of ``unit``, halves up, exactly; null for a unit that is not positive."""
    if value is None or unit is None or unit <= 0:
        return None
    steps = Fraction(value) / Fraction(unit)
    return exact(math.floor(steps + Fraction(1, 2)) * Fraction(unit))


def _lottery(seed, applicant_id):
    """The applicant's draw in a lottery with a published seed: the hex sha256 of ``SEED:ID``."""
    if seed is None or applicant_id is None:
        return None
    return hashlib.sha256(f"{seed}:{applicant_id}".encode("utf-8")).hexdigest()


def _days_between(start, end):
    """The days from ``start`` to ``end``: negative when ``end`` comes first."""
    return None if start is None or end is None else (end - start).days


def _year_fraction(start, end):
    """The part of a year from ``start`` to ``end`` counted 30E/360: every month 30 days, a year 360, so that
    1 July to 1 January is exactly one half."""
    if start is None or end is None:
        return None
    days = (360 * (end.year - start.year) + 30 * (end.month - start.month)
            + min(end.day, 30) - min(start.day, 30))
    return exact(Fraction(days, 360))


def _quarter_of(day):
    """The quarter of a date as the facts write it: 2018Q3."""
    return None if day is None else f"{day.year}Q{(day.month - 1) // 3 + 1}"


HELPERS.update({"_days_between": _days_between, "_year_fraction": _year_fraction, "_quarter_of": _quarter_of})
HELPERS.update({"_lottery": _lottery, "_min_of": _min_of, "_max_of": _max_of, "_floor": _floor, "_ceil": _ceil, "_round": _round})
AS_OF = "\x00as_of"  # where the decision date sits in an applicant's values: no field can have this name
CALL = "\x00call"  # the call's data and budget (call.X), likewise
REGION = "\x00region"  # the attributes of the applicant's region (region.X), likewise
HIDDEN = {"call": CALL, "region": REGION}


def _dig(value, key):
    """One step of a dotted path: ``value[key]`` of a mapping, else None."""
    return value.get(key) if type(value) is dict else None


HELPERS["_dig"] = _dig
HELPERS.update({"_type": type, "_Fraction": Fraction})  # for comparing a Fraction by its ratio (``_compare``)


class _Writer:
    """Turns one bound tree (see ``checker``) into a Python expression string."""

    def __init__(self, constants: dict, params: dict, derived: frozenset = frozenset(),
                 fractional: frozenset = frozenset()):
        self.constants = constants
        self.params = params
        self.derived = derived  # the applicant's names that are derived values
        self.fractional = fractional  # those of them that may hold a Fraction (``may_be_fraction``)
        self.shared: dict = {}  # filters computed once in ``derive`` (``_derive_body``) -> the local holding the list
        self.temps = 0
        self.bound: dict = {}  # dotted name of the applicant -> local variable already holding its value

    def const(self, value: Any, raw: bool = False) -> str:
        """The name of a constant holding ``value``; lists become frozensets unless ``raw`` (for traces)."""
        if isinstance(value, list) and not raw:
            value = frozenset(value)
        for name, existing in self.constants.items():
            if type(existing) is type(value) and existing == value:
                return name
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def write(self, node: Any, depth: int = 0) -> str:
        """Code for ``node`` written inside ``depth`` aggregates (their items are ``_i0``, ``_i1``, ...)."""
        return getattr(self, "w_" + type(node).__name__)(node, depth)

    def w_Literal(self, node, depth):
        return self.const(node.value) if node.value is not None else "None"

    def w_ListLit(self, node, depth):
        return self.const([i.value for i in node.items])

    def w_Name(self, node, depth):
        binding = node.binding or ("params" if node.path[0] == "params" else "env")
        if binding == "params":
            return self.const(self.params[node.path[1]])
        if binding == "tier":
            return "tier"
        if binding == "as_of":
            return f"e.get({AS_OF!r})"
        if binding == "applicants":  # the call's eligible applicants, in a budget computed per decision
            return "_applicants"
        if binding in HIDDEN:
            code = f"e.get({HIDDEN[binding]!r})"
            for part in node.path[1:]:
                code = f"_dig({code}, {part!r})"
            return code
        if binding == "env" and node.dotted in self.bound:
            return self.bound[node.dotted]
        source = "e" if binding == "env" else f"_i{binding.split(':')[1]}"
        if binding.startswith("named:"):  # the item itself, then its fields
            code = source
        else:
            code = f"{source}.get({node.path[0]!r})"
        for part in node.path[1:]:
            code = f"_dig({code}, {part!r})"
        return code

    def w_Neg(self, node, depth):
        return f"_neg({self.write(node.operand, depth)})"

    def w_Arith(self, node, depth):
        return f"{ARITH[node.op]}({self.write(node.left, depth)}, {self.write(node.right, depth)})"

    def _operand(self, node, depth) -> tuple[str, str | None]:
        """(code, temp-or-None): constants need no null check."""
        code = self.write(node, depth)
        if isinstance(node, (E.Literal, E.ListLit)) or (isinstance(node, E.Name) and node.path[0] == "params"):
            return code, None
        if code.isidentifier():  # a value already bound to a local: no temporary needed
            return code, f"{code} is not None"
        t = self.temp()
        return t, f"({t} := {code}) is not None"

    def w_Compare(self, node, depth):
        left, lcheck = self._operand(node.left, depth)
        right, rcheck = self._operand(node.right, depth)
        checks = [c for c in (lcheck, rcheck) if c]
        return "(" + " and ".join(checks + [self._compare(node, left, right)]) + ")"

    def _compare(self, node, left: str, right: str) -> str:
        """``left op right``; a value against a number in the rule compares a Fraction (a fill rate that does not
        terminate) by its integer ratio, cross-multiplied: Python compares a Fraction with a Decimal by way of an
        abstract base class check and the Decimal's own conversion, ten times as long."""
        plain = f"{left} {node.op} {right}"
        right_number, left_number = self._number(node.right), self._number(node.left)
        if right_number is not None and may_be_fraction(node.left, self.fractional):
            (n, d), value = map(self.const, right_number), left
            ratio = f"{value}.numerator * {d} {node.op} {n} * {value}.denominator"
        elif left_number is not None and may_be_fraction(node.right, self.fractional):
            (n, d), value = map(self.const, left_number), right
            ratio = f"{n} * {value}.denominator {node.op} {value}.numerator * {d}"
        else:
            return plain
        return f"({plain} if _type({value}) is not _Fraction else {ratio})"

    def _number(self, node) -> tuple[int, int] | None:
        """The integer ratio of a number written in the rule or given as a parameter; None for anything else."""
        if isinstance(node, E.Literal):
            value = node.value
        elif isinstance(node, E.Name) and node.path[0] == "params" and len(node.path) == 2:
            value = self.params.get(node.path[1])
        else:
            return None
        if type(value) is int or (type(value) is decimal.Decimal and value.is_finite()):
            return value.as_integer_ratio()
        return None

    def w_In(self, node, depth):
        value, check = self._operand(node.operand, depth)
        options = self.write(node.options, depth)
        test = f"{value} {'not in' if node.negated else 'in'} {options}"
        return f"({check} and {test})" if check else f"({test})"

    def w_IsNull(self, node, depth):
        return f"({self.write(node.operand, depth)} is {'not ' if node.negated else ''}None)"

    def w_BoolOp(self, node, depth):
        return "(" + f" {node.op} ".join(self.write(i, depth) for i in node.items) + ")"

    def w_Not(self, node, depth):
        return self.write(E.normalize(node), depth)

    def w_Func(self, node, depth):
        if node.func == "lottery":
            return f"_lottery({self.write(node.args[0], depth)}, e.get('id'))"
        name = {"min": "_min_of", "max": "_max_of"}.get(node.func, f"_{node.func}")
        return f"{name}({', '.join(self.write(arg, depth) for arg in node.args)})"

    def w_If(self, node, depth):
        condition = self.write(E.normalize(node.condition), depth)
        return f"({self.write(node.then, depth)} if {condition} else {self.write(node.otherwise, depth)})"

    def w_Aggregate(self, node, depth):
        var = f"_i{depth}"
        local = self.shared.get(_FilterKey.of(node)) if depth == 0 and node.where is not None and self.shared else None
        if local is not None:  # filtered already, into a list this one shares
            source, where = local, ""
            if node.func == "count":
                return f"len({local})"
        else:
            source = self.write(node.source, depth)
            where = f" if {self.write(node.where, depth + 1)}" if node.where is not None else ""
        if node.func == "count":
            return f"len([1 for {var} in ({source} or ()){where}])"
        if node.func == "mean" and isinstance(node.item, E.Arith) and node.item.op == "/":
            pair = f"({self.write(node.item.left, depth + 1)}, {self.write(node.item.right, depth + 1)})"
            return f"_mean_div([{pair} for {var} in ({source} or ()){where}])"
        value = self.write(node.item, depth + 1)
        return f"_{node.func}([{value} for {var} in ({source} or ()){where}])"


@dataclass(frozen=True)
class Compiled:
    """Python functions for one ruleset."""

    derive: Callable[[dict], None]  # adds derived values to an applicant's dict
    conditions: dict  # rule id -> function(e) -> bool
    assess_one: Callable  # (e, held or None) -> (values read, eligible, tier, tier_rule, outcomes of the rules checked)
    trace: Callable  # (values read, outcomes) -> (checks, tier_checks), as the record shows them
    ranking: tuple  # functions(e) -> value
    cap: Callable  # (e, tier) -> the applicant's cap
    weight: Callable | None
    source: str
    steps: tuple = ()  # per allocation step: {"for"|"cap"|"weight"|"amount": function(e, tier)}


def generate(ruleset) -> Compiled:
    """Generate and compile the Python functions of a compiled ruleset."""
    constants: dict = {}
    writer = _Writer(constants, ruleset.params, frozenset(d.name for d in ruleset.derived),
                     fractional_names(ruleset.derived))
    lines: list[str] = ["def derive(e):"] + _derive_body(writer, ruleset.derived)
    rules = ruleset.eligibility + ruleset.tiers
    for index, rule in enumerate(rules):
        lines.append(f"def cond_{index}(e):\n    return bool({writer.write(rule.condition)})")
    lines += _assess_one(writer, ruleset)
    for index, key in enumerate(ruleset.ranking):
        lines.append(f"def rank_{index}(e, tier):\n    return {writer.write(key.expr)}")
    lines.append(f"def cap(e, tier):\n    return {writer.write(ruleset.allocation.cap)}")
    if ruleset.allocation.weight is not None:
        lines.append(f"def weight(e, tier):\n    return {writer.write(ruleset.allocation.weight)}")
    step_names = []
    for index, step in enumerate(ruleset.allocation.steps):
        trees = {"for": step.when, "cap": step.cap, "weight": step.weight, "amount": step.amount}
        step_names.append({key: f"step_{index}_{key}" for key, tree in trees.items() if tree is not None})
        for key, tree in trees.items():
            if tree is not None:
                code = writer.write(tree)
                lines.append(f"def step_{index}_{key}(e, tier):\n    return {'bool(' + code + ')' if key == 'for' else code}")
    source = "\n".join(lines) + "\n"
    namespace = {"__builtins__": {"len": len, "bool": bool, "None": None, "frozenset": frozenset}, **HELPERS, **constants}
    exec(compile(source, f"<rules {ruleset.id} {ruleset.version}>", "exec"), namespace)  # noqa: S102 - our own tree
    return Compiled(
        derive=namespace["derive"],
        conditions={r.id: namespace[f"cond_{i}"] for i, r in enumerate(rules)},
        assess_one=namespace["assess_one"],
        trace=namespace["trace"],
        ranking=tuple(namespace[f"rank_{i}"] for i in range(len(ruleset.ranking))),
        cap=namespace["cap"],
        weight=namespace.get("weight"),
        source=source,
        steps=tuple({key: namespace[name] for key, name in names.items()} for names in step_names),
    )


def may_be_fraction(node: Any, fractional: frozenset) -> bool:
    """May ``node``'s value be a Fraction (a quotient that does not terminate)? Facts and parameters never are (JSON
    and YAML give whole numbers and decimals), nor a sum or difference of what is not (decimals of at most 20 digits
    add up to a decimal), nor a count, a floor or a date; a quotient, a mean, a product (it may need more than 28
    decimals) and the derived values in ``fractional`` may be. Only speed rides on it: a value that is a Fraction
    where this says not is compared as Python compares it, exactly too."""
    if isinstance(node, E.Name):
        return (node.binding or "env") == "env" and len(node.path) == 1 and node.path[0] in fractional
    if isinstance(node, E.Arith):
        return node.op in "*/" or may_be_fraction(node.left, fractional) or may_be_fraction(node.right, fractional)
    if isinstance(node, E.Neg):
        return may_be_fraction(node.operand, fractional)
    if isinstance(node, E.If):
        return may_be_fraction(node.then, fractional) or may_be_fraction(node.otherwise, fractional)
    if isinstance(node, E.Aggregate):  # a count is whole; a sum, min or max is of the kind of its items
        return node.func == "mean" or (node.func in ("sum", "min", "max") and may_be_fraction(node.item, fractional))
    if isinstance(node, E.Func):
        return node.func in ("round", "year_fraction") or (node.func in ("min", "max") and
                                                          any(may_be_fraction(a, fractional) for a in node.args))
    return False


def fractional_names(derived: tuple) -> frozenset:
    """The derived values that may hold a Fraction, each judged from those before it (``may_be_fraction``)."""
    found: set = set()
    for d in derived:
        if may_be_fraction(d.expr, frozenset(found)):
            found.add(d.name)
    return frozenset(found)


def _derive_body(writer: _Writer, derived: tuple) -> list[str]:
    """``derive``'s lines: each derived value in order; a list filtered alike by several of them (the workshops'
    reference quarters, counted and averaged) filtered once, first, into a local they share. Only a filter that
    reads no derived value is shared: it gives the same list wherever it is computed."""
    seen = [key for d in derived for key in _filters(d.expr, writer.derived)]
    writer.shared = {key: f"_s{index}" for index, key in enumerate(dict.fromkeys(k for k in seen if seen.count(k) > 1))}
    lines = []
    for key, local in writer.shared.items():
        source, where = writer.write(key.node.source), writer.write(key.node.where, 1)
        lines.append(f"    {local} = [_i0 for _i0 in ({source} or ()) if {where}]")
    lines += [f"    e[{d.name!r}] = {writer.write(d.expr)}" for d in derived]
    writer.shared = {}
    return lines + ["    return e"]


def _filters(tree: Any, derived: frozenset) -> list[tuple]:
    """The filters of the aggregates outside any other in ``tree`` that read no derived value, each as a key
    (its list, its condition, the item's name) with the aggregate that holds it."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, E.Aggregate):
            if node.where is not None and not any(isinstance(n, E.Name) and (n.binding or "env") == "env" and
                                                  n.path[0] in derived for part in (node.source, node.where)
                                                  for n in E.walk(part)):
                found.append(_FilterKey.of(node))
            continue
        stack.extend(E.children(node))
    return found


@dataclass(frozen=True)
class _FilterKey:
    """A filter's list and condition as text, and the item's name: equal keys filter alike. The aggregate it was
    found in (``node``) is not compared: two aggregates of one filter differ in their function and item."""

    source: str
    where: str
    name: str | None
    node: Any = field(compare=False)

    @staticmethod
    def of(node: Any) -> "_FilterKey":
        return _FilterKey(E.to_text(node.source), E.to_text(node.where), node.name, node)


def _assess_one(writer: _Writer, ruleset) -> list[str]:
    """Two functions per ruleset: ``assess_one`` checks every rule, reading each value once, and keeps what they
    read and what held as two tuples; ``trace`` writes the trace from those tuples when the record is written
    (a million applicants' traces are never all held as dicts at once).

    ``held`` is None for this evaluator; another evaluator (durable_rules) passes the outcomes it
    found, and the function only keeps them beside the values.
    """
    lines = ["def assess_one(e, held):"]
    read: dict = {}  # each name the rules read (but parameters) -> the local that holds its value
    for name in dict.fromkeys(n for r in ruleset.eligibility + ruleset.tiers for n in r.reads):
        if not name.startswith("params."):
            code = writer.write(_name(name, ruleset))
            read[name] = writer.bound[name] = f"n{len(read)}"
            lines.append(f"    {read[name]} = {code}")
    values = "".join(f"{local}, " for local in read.values())
    flags = [f"c{index}" for index in range(len(ruleset.eligibility))]
    for flag, rule in zip(flags, ruleset.eligibility):
        lines.append(f"    {flag} = held[{rule.id!r}] if held is not None else bool({writer.write(rule.condition)})")
    passed = "".join(f"{flag}, " for flag in flags)
    lines += [f"    v = ({values})", f"    if not ({' and '.join(flags)}):",
              f"        return v, False, None, None, ({passed})"]
    for number, rule in enumerate(ruleset.tiers, start=1):
        lines.append(f"    t{number} = held.get({rule.id!r}, False) if held is not None else "
                     f"bool({writer.write(rule.condition)})")
        passed += f"t{number}, "
        lines.append(f"    if t{number}:\n        return v, True, {number}, {rule.id!r}, ({passed})")
    lines.append(f"    return v, True, {len(ruleset.tiers) + 1}, {ruleset.default_tier.id!r}, ({passed})")
    writer.bound = {}
    return lines + _trace(writer, ruleset, read)


def _trace(writer: _Writer, ruleset, read: dict) -> list[str]:
    """``trace(v, p)``: (checks, tier_checks) as the record shows them, from ``assess_one``'s values (the locals of
    ``read``) and outcomes; a tier is shown only if it was checked (up to the first that held)."""
    values = "".join(f"{local}, " for local in read.values())
    lines = ["def trace(v, p):"] + ([f"    {values}= v"] if values else [])
    checks = ", ".join(_check(writer, ruleset, rule, f"p[{index}]", read)
                       for index, rule in enumerate(ruleset.eligibility))
    lines += [f"    checks = [{checks}]", "    tiers = []"]
    for offset, rule in enumerate(ruleset.tiers):
        index = len(ruleset.eligibility) + offset
        check = _check(writer, ruleset, rule, f"p[{index}]", read)
        lines.append(f"    if len(p) > {index}:\n        tiers.append({check})")
    lines.append("    return checks, tiers")
    return lines


def _check(writer: _Writer, ruleset, rule, flag: str, read: dict) -> str:
    values = ", ".join(f"{name!r}: {_trace_value(writer, ruleset, name, read)}" for name in rule.reads)
    return f"{{'rule': {rule.id!r}, 'passed': {flag}, 'values': {{{values}}}}}"


def _trace_value(writer: _Writer, ruleset, dotted: str, read: dict) -> str:
    """Code for the value a rule read, as the trace shows it: the local that holds it (parameters as declared)."""
    path = tuple(dotted.split("."))
    if path[0] == "params":
        return writer.const(ruleset.params[path[1]], raw=True)
    return read[dotted]


def _name(dotted: str, ruleset) -> E.Name:
    """A name a rule read at the top level: the applicant's, the decision date, or the call's (call.X, region.X,
    where no field or derived value has that name)."""
    path = tuple(dotted.split("."))
    if dotted == "as_of":
        return E.Name(path, binding="as_of")
    if path[0] in HIDDEN and path[0] not in ruleset.applicant_fields and path[0] not in {d.name for d in ruleset.derived}:
        return E.Name(path, binding=path[0])
    return E.Name(path, binding="env")
