"""The second evaluator: the same intermediate form run by durable_rules (Rete).

Each eligibility rule and tier becomes a durable_rules rule over a fact per
applicant. The guards below are for the engine's known traps:

- no rule matching a fact raises MessageNotHandledException: every ruleset
  gets a catch-all rule;
- ``post`` fires one rule, ``assert_fact`` fires all, synchronously: we assert;
- facts stay in memory until retracted: assert, then retract, per applicant;
- an ``$or`` fires once per true branch: fired rules are collected in a set;
- a bare ``$nex`` also matches the engine's own state fact: every fact and
  every rule is tagged ``"_t": "applicant"``;
- not thread-safe, and every ``Host`` leaks timer threads: one Host per
  process, one lock, each ruleset registered once under its content hash;
- more than 64 conditions matching one fact fail (error 303): rulesets are
  cut into chunks of at most 50 rules, ``$and``/``$or`` into groups of 32;
- at most about 250 properties per fact: only the fields rules read are sent;
- no Decimal, no exponent floats, int64 only, numbers compared with strings
  compare as strings, nan never matches: values are converted, and a value
  that durable_rules cannot represent faithfully is a clear error, never a
  silent difference.

Operands that are not a field or a constant (arithmetic, aggregates) are
computed in Python beforehand, like derived values, and sent as hidden fields.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Sequence

from ..rules import expr as E
from ..rules.compile import Ruleset
from ..errors import EvaluationError
from ..limits import check_deadline

TAG = {"_t": "applicant"}
MAX_RULES_PER_SET = 50
MAX_SIBLINGS = 32
MAX_PROPERTIES = 240
INT64 = 2**63 - 1

_lock = threading.Lock()
_host = None
_registered: dict[str, "Plan"] = {}
_fired: set = set()


def _import():
    try:
        from durable import engine as durable_engine
    except ImportError as exc:  # the optional extra is not installed, or the Python is too new
        raise EvaluationError(
            "the durable engine needs durable-rules: pip install '.[durable]' (it runs on Python 3.10 to 3.12); "
            f"import failed: {exc}"
        ) from None
    return durable_engine


@dataclass(frozen=True)
class Plan:
    """A ruleset translated for durable_rules: chunk names, fields to send, lifted operands."""

    names: tuple
    fields: tuple  # (property name, dotted path) pairs read from the applicant env
    lifted: tuple  # (property name, expression tree) computed in Python
    comparisons: tuple  # (property, property or None, constant) pairs to guard against float rounding
    definitions: tuple

    @property
    def paths(self) -> dict:
        return dict(self.fields)


class _Translator:
    def __init__(self, params: dict):
        self.params = params
        self.fields: dict[str, str] = {}
        self.lifted: dict[str, Any] = {}
        self.comparisons: list = []

    def prop(self, node: Any) -> str:
        """The fact property holding a name's value, or a lifted expression's."""
        if isinstance(node, E.Name) and node.binding in ("env", ""):
            name = property_name(node.path)
            self.fields[name] = node.dotted
            return name
        key = E.to_text(node)
        for name, tree in self.lifted.items():
            if E.to_text(tree) == key:
                return name
        name = f"x_{len(self.lifted)}"
        self.lifted[name] = node
        return name

    def constant(self, node: Any) -> tuple[bool, Any]:
        if isinstance(node, E.Literal):
            return True, node.value
        if isinstance(node, E.Name) and node.path[0] == "params":
            return True, self.params[node.path[1]]
        return False, None

    def cond(self, node: Any) -> dict:
        return getattr(self, "c_" + type(node).__name__, self.c_lifted)(node)

    def c_lifted(self, node: Any) -> dict:
        """A condition durable_rules cannot express (an 'if'): computed in Python, matched as true."""
        prop = self.prop(node)
        return _group("$and", [{"$ex": {prop: 1}}, {prop: True}])

    def c_Literal(self, node: E.Literal) -> dict:
        return dict(TAG) if node.value is True else {"_t": "__never__"}

    def c_BoolOp(self, node: E.BoolOp) -> dict:
        return _group("$and" if node.op == "and" else "$or", [self.cond(i) for i in node.items])

    def c_IsNull(self, node: E.IsNull) -> dict:
        return {"$ex" if node.negated else "$nex": {self.prop(node.operand): 1}}

    def c_In(self, node: E.In) -> dict:
        prop = self.prop(node.operand)
        ok, options = self.constant(node.options)
        if not ok:
            options = [i.value for i in node.options.items]
        for option in options:
            self.comparisons.append((prop, None, option))
        if node.negated:
            tests = [{"$neq": {prop: to_durable(o, prop)}} for o in options]
            return _group("$and", [{"$ex": {prop: 1}}] + tests)
        tests = [{prop: to_durable(o, prop)} for o in options] or [{"_t": "__never__"}]
        return _group("$and", [{"$ex": {prop: 1}}, _group("$or", tests)])

    def c_Compare(self, node: E.Compare) -> dict:
        op, left, right = node.op, node.left, node.right
        if self.constant(left)[0] and not self.constant(right)[0]:
            op, left, right = E.FLIPPED[op], right, left
        left_prop = self.prop(left)
        is_const, value = self.constant(right)
        checks = [{"$ex": {left_prop: 1}}]
        if is_const:
            self.comparisons.append((left_prop, None, value))
            target = to_durable(value, left_prop)
        else:
            right_prop = self.prop(right)
            self.comparisons.append((left_prop, right_prop, None))
            checks.append({"$ex": {right_prop: 1}})
            target = {"$m": right_prop}
        test = {left_prop: target} if op == "==" else {_OPS[op]: {left_prop: target}}
        return _group("$and", checks + [test])


_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


def property_name(path: tuple) -> str:
    """The fact property of a dotted name; one-to-one, so ``a__b`` and ``a.b`` never share a property.

    Each ``_`` of a name part is written ``_u``, and parts are joined by ``_d``.
    """
    return "f_" + "_d".join(part.replace("_", "_u") for part in path)


def _group(op: str, items: list) -> dict:
    """``{op: items}``, nested so that no list has more than MAX_SIBLINGS members."""
    if len(items) == 1:
        return items[0]
    while len(items) > MAX_SIBLINGS:
        items = [{op: items[i:i + MAX_SIBLINGS]} if len(items[i:i + MAX_SIBLINGS]) > 1 else items[i]
                 for i in range(0, len(items), MAX_SIBLINGS)]
    return {op: items}


def to_durable(value: Any, where: str = "") -> Any:
    """A value as durable_rules can hold it; EvaluationError if it cannot."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, dt.date):
        return value.toordinal()
    if isinstance(value, int):
        if abs(value) > INT64:
            raise EvaluationError(f"{where}: {value} is beyond the 64-bit integers durable_rules can compare")
        return value
    if isinstance(value, (Decimal, Fraction)):
        if value == int(value) and abs(value) <= 2**53:
            return int(value)
        number = float(value)
        if not math.isfinite(number) or "e" in repr(number):
            raise EvaluationError(f"{where}: {value} cannot be represented by durable_rules "
                                  "(it only takes plain decimal notation between 0.0001 and 10^16)")
        return number
    raise EvaluationError(f"{where}: a {type(value).__name__} cannot be sent to durable_rules")


def plan(ruleset: Ruleset) -> Plan:
    """Translate a ruleset's conditions into durable_rules rulesets (not yet registered)."""
    translator = _Translator(ruleset.params)
    rules = list(ruleset.eligibility + ruleset.tiers)
    bodies = {r.id: translator.cond(r.condition) for r in rules}
    definitions = []
    digest = hashlib.sha256(json.dumps(bodies, sort_keys=True).encode()).hexdigest()[:16]
    for start in range(0, max(len(rules), 1), MAX_RULES_PER_SET):
        chunk = rules[start:start + MAX_RULES_PER_SET]
        definition = {f"r_{r.id}": {"all": [{"m": _group("$and", [dict(TAG), bodies[r.id]])}]} for r in chunk}
        definition["catch_all"] = {"all": [{"m": dict(TAG)}]}
        definitions.append((f"rules_{ruleset.id}_{digest}_{start // MAX_RULES_PER_SET}", definition))
    if len(translator.fields) + len(translator.lifted) > MAX_PROPERTIES:
        raise EvaluationError(f"ruleset {ruleset.id} reads more than {MAX_PROPERTIES} values per applicant: "
                              "durable_rules cannot hold that many properties on one fact")
    return Plan(tuple(name for name, _ in definitions), tuple(sorted(translator.fields.items())),
                tuple(translator.lifted.items()), tuple(translator.comparisons), tuple(definitions))


def _register(p: Plan) -> None:
    global _host
    durable_engine = _import()
    if _host is None:
        _host = durable_engine.Host()
    for name, definition in p.definitions:
        if name in _registered:
            continue
        runnable = {}
        for rule_name, rule in definition.items():
            runnable[rule_name] = dict(rule, run=_action(rule_name))
        _host.register_rulesets({name: runnable})
        _registered[name] = p


def _action(rule_name: str):
    rule_id = rule_name[2:] if rule_name.startswith("r_") else None

    def run(c):
        if rule_id is not None:
            _fired.add((c.m["_id"], rule_id))
    return run


def _fact(index: int, env: dict, p: Plan, lifted_values: dict) -> dict:
    fact: dict = {"_t": "applicant", "_id": index}
    for prop, dotted in p.fields:
        value = _lookup(env, dotted)
        if value is not None:
            fact[prop] = to_durable(value, f"applicant {env.get('id')}: {dotted}")
    for prop, value in lifted_values.items():
        if value is not None:
            fact[prop] = to_durable(value, f"applicant {env.get('id')}: {prop}")
    _guard_rounding(fact, env, p, lifted_values)
    return fact


def _lookup(env: dict, dotted: str) -> Any:
    value: Any = env
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _exact(prop: str, env: dict, p: Plan, lifted_values: dict) -> Any:
    dotted = p.paths.get(prop)
    return _lookup(env, dotted) if dotted is not None else lifted_values.get(prop)


def _guard_rounding(fact: dict, env: dict, p: Plan, lifted_values: dict) -> None:
    """Refuse a comparison that float rounding could decide differently from exact decimals."""
    for left, right, constant in p.comparisons:
        if left not in fact or (right is not None and right not in fact):
            continue
        exact_left = _exact(left, env, p, lifted_values)
        exact_right = _exact(right, env, p, lifted_values) if right is not None else constant
        if not isinstance(exact_left, (int, Decimal, Fraction)) or not isinstance(exact_right, (int, Decimal, Fraction)):
            continue
        if exact_left != exact_right and float(exact_left) == float(exact_right):
            raise EvaluationError(
                f"applicant {env.get('id')}: {exact_left} and {exact_right} differ but are the same binary float; "
                "durable_rules cannot compare them exactly (use --engine python)")


def durable_outcomes(ruleset: Ruleset, envs: Sequence[dict]) -> list[dict]:
    """Which conditions hold, per applicant, as decided by durable_rules."""
    p = plan(ruleset)
    lifted_fns = _lifted_functions(ruleset, p) if p.lifted else {}
    rule_ids = [r.id for r in ruleset.eligibility + ruleset.tiers]
    out = []
    with _lock:
        _register(p)
        durable_engine = _import()
        for index, env in enumerate(envs):
            if index % 256 == 0:
                check_deadline()
            fact = _fact(index, env, p, {k: fn(env) for k, fn in lifted_fns.items()})
            _fired.clear()
            for name in p.names:
                _host.assert_fact(name, fact)
                try:
                    _host.retract_fact(name, fact)
                except durable_engine.MessageNotHandledException:
                    pass
            out.append({rule_id: (index, rule_id) in _fired for rule_id in rule_ids})
    return out


def _lifted_functions(ruleset: Ruleset, p: Plan) -> dict:
    from ..rules.pyeval import HELPERS, _Writer

    constants: dict = {}
    writer = _Writer(constants, ruleset.params)
    source = "\n".join(f"def {name}(e):\n    return {writer.write(tree)}" for name, tree in p.lifted)
    namespace = {"__builtins__": {"len": len}, **HELPERS, **constants}
    exec(compile(source, f"<lifted {ruleset.id}>", "exec"), namespace)  # noqa: S102 - our own tree
    return {name: namespace[name] for name, _ in p.lifted}
