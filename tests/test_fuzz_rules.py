"""Generated rule files and facts: whatever ``validate`` accepts evaluates, or fails with a positioned error.

Issue 14, item 3. Hypothesis writes a facts schema (numbers, integers, text, enums, dates, booleans,
objects, lists of objects holding lists, fields of several types and untyped fields), expressions
over it (mostly well typed, sometimes not), a rule file that uses them in every place an expression
may stand (derived values, eligibility, tiers, ranking, cap and weight, under each allocation method,
with or without a regional split) and facts for it (nulls, empty lists, extreme but bounded numbers).

The only outcomes allowed: the engine's own errors, each at a file and line, or a decision. Both
evaluators must then agree on every applicant (durable_rules may refuse a value it cannot hold).

Longer runs: RULES_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_rules.py
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.rules.compile import compile_text
from rules_engine.decide.decision import decide
from rules_engine.errors import EvaluationError, InputError, RulesError
from rules_engine.rules.facts import parse_facts

EXAMPLES = int(os.environ.get("RULES_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=list(HealthCheck))

NUM = {"type": "number"}
FIELDS = {
    "n": NUM, "i": {"type": "integer", "minimum": 0}, "m": {"type": ["number", "null"]},
    "s": {"type": "string"}, "e": {"enum": ["a", "b", "c"]}, "d": {"type": "string", "format": "date"},
    "b": {"type": "boolean"}, "u": {"type": ["string", "number"]}, "a": {},
    "o": {"type": "object", "properties": {"x": NUM, "y": {"type": "string"}}},
    "q": {"type": "array", "items": {"type": "object", "properties": {
        "k": NUM, "t": {"type": "string"},
        "w": {"type": "array", "items": {"type": "object", "properties": {"z": NUM}}}}}},
    "region": {"enum": ["R1", "R2", "R3"]},
}
SCHEMA = {"type": "object", "required": ["applicants"], "properties": {
    "applicants": {"type": "array", "items": {"type": "object", "required": ["id", "requested_fte", "region"],
                                              "properties": {"id": {"type": "string"},
                                                             "requested_fte": {"type": "integer", "minimum": 0},
                                                             **FIELDS}}},
    "regions": {"type": "object", "additionalProperties": {"type": "object", "properties": {"weight": NUM}}}}}

# atoms of each kind at the applicant level, inside q's items (item:0) and inside w's items (item:1)
ATOMS = {
    "number": ["n", "i", "m", "o.x", "requested_fte", "params.p", "3", "0.5", "-2", "count(q)", "dn", "call.budget_fte"],
    "string": ["s", "e", "o.y", '"a"', "id"],
    "date": ["d", "2018-06-20", "params.day", "as_of"],
    "boolean": ["b", "true", "false", "db"],
    "bad": ["u", "a", "o", "q", "params.names", "null", "z", "k", "tier"],
}
IN_Q = {"number": ["k"], "string": ["t"]}
IN_W = {"number": ["z"]}


@functools.lru_cache(maxsize=None)
def expressions(kind: str, depth: int, scope: tuple = (), derived: bool = True):
    """Expressions of ``kind`` (number, string, date, boolean); about one leaf in forty of the wrong kind."""
    atoms = [a for a in ATOMS.get(kind, ATOMS["number"]) if derived or a not in ("dn", "db")]
    for extra in (IN_Q, IN_W)[:len(scope)]:
        atoms += extra.get(kind, [])
    leaf = st.sampled_from(atoms)
    wrong = st.sampled_from(ATOMS["bad"] + ATOMS["string"] + ATOMS["number"])
    leaves = st.tuples(st.integers(0, 39), leaf, wrong).map(lambda t: t[2] if t[0] == 0 else t[1])
    if depth <= 0:
        return leaves
    sub = lambda k, inner=scope: expressions(k, depth - 1, inner, derived)  # noqa: E731
    if kind == "number":
        branches = [
            st.builds(lambda a, op, b: f"({a} {op} {b})", sub("number"), st.sampled_from("+-*/"), sub("number")),
            st.builds(lambda a: f"-{a}", sub("number")),
            st.builds(lambda f, v, c: f"{f}(q, {v} where {c})", st.sampled_from(["sum", "mean", "min", "max"]),
                      sub("number", ("q",)), sub("boolean", ("q",))),
            st.builds(lambda c: f"count(q where {c})", sub("boolean", ("q",))),
            st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["min", "max"]), sub("number"), sub("number")),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(["floor", "ceil"]), sub("number")),
            st.builds(lambda a, u: f"round({a}, {u})", sub("number"), st.sampled_from(["0.5", "1", "0", "-1", "n"])),
            st.builds(lambda c, a, b: f"(if {c} then {a} else {b})", sub("boolean"), sub("number"), sub("number")),
            st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["days_between", "year_fraction"]),
                      sub("date"), sub("date")),
            st.builds(lambda a, b: f"({a} - {b})", sub("date"), sub("date")),
            st.builds(lambda f, t: f"{f}(x in q, x.k where x.t == {t})", st.sampled_from(["sum", "mean", "min", "max"]),
                      sub("string")),
            st.builds(lambda n: f"count(x in q where x.k >= {n})", sub("number")),
            st.builds(lambda n: f"sum(x in q, sum(y in x.w, y.z * x.k - {n}))", sub("number")),
        ]
        if scope == ("q",):
            branches.append(st.builds(lambda v: f"sum(w, {v})", sub("number", ("q", "w"))))
        return st.one_of(leaves, leaves, *branches)
    if kind == "boolean":
        compare = [st.builds(lambda a, op, b: f"{a} {op} {b}", sub(k), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
                             sub(k)) for k in ("number", "number", "string", "date")]
        return st.one_of(
            leaves, *compare,
            st.builds(lambda a, op, b: f"({a} {op} {b})", sub("boolean"), st.sampled_from(["and", "or"]), sub("boolean")),
            st.builds(lambda a: f"not ({a})", sub("boolean")),
            st.builds(lambda a, neg: f"{a} is {'not ' if neg else ''}null", sub("number"), st.booleans()),
            st.builds(lambda a, neg: f"{a} {'not in' if neg else 'in'} params.names", sub("string"), st.booleans()),
            st.builds(lambda a: f"{a} in [1, 2.5, -3]", sub("number")),
        )
    if kind == "date":
        return st.one_of(leaves, leaves, st.builds(lambda a, op, n: f"({a} {op} {n})", sub("date"), st.sampled_from("+-"),
                                                   sub("number")))
    if kind == "string":
        return st.one_of(leaves, leaves, st.builds(lambda a: f"quarter_of({a})", sub("date")))
    return leaves


def rule_file(draw) -> str:
    method = draw(st.sampled_from(["greedy", "equal", "proportional"]))
    split = draw(st.sampled_from([None, "hamilton", "dhondt", "sainte-lague"]))
    unit = draw(st.sampled_from([Decimal("1"), Decimal("0.5"), Decimal("0.001")]))
    budget = unit * draw(st.sampled_from([1, 7, 100, 999]))
    ranking = [draw(st.one_of(expressions("number", 1), expressions("string", 0), st.sampled_from(["tier", "d"])))
               for _ in range(draw(st.integers(0, 2)))]
    lines = [
        "ruleset: fuzz", 'version: "1"', "status: published", "title: Fuzz", "effective: {from: 2018-01-01}", "source: {title: Fuzz}",
        f"budget: {{fte: {budget}, unit: {unit}}}", f"facts: {{schema: {json.dumps(SCHEMA)}}}",
        "parameters:", "  p: {value: 0.9, description: p}", "  day: {value: 2018-01-01, description: d}",
        '  names: {value: ["a", "b"], description: n}',
        "derived:", f"  dn: {{description: dn, expr: {json.dumps(draw(expressions('number', 2, (), False)))}}}",
        f"  db: {{description: db, expr: {json.dumps(draw(expressions('boolean', 2, (), False)))}}}",
        "eligibility:",
    ]
    for index in range(draw(st.integers(1, 3))):
        lines.append(f"  - {{id: e{index}, description: e, source: s, when: {json.dumps(draw(expressions('boolean', 3)))}}}")
    tiers = [f"    - {{id: t{index}, description: t, source: s, when: {json.dumps(draw(expressions('boolean', 2)))}}}"
             for index in range(draw(st.integers(0, 2)))]
    lines += ["priority:", "  tiers:" if tiers else "  tiers: []", *tiers]
    lines += ["  default: {id: rest, description: rest}", "ranking:"]
    lines += [f"  - {{by: {json.dumps(key)}, order: {draw(st.sampled_from(['asc', 'desc']))}}}" for key in ranking]
    lines.append("  - {by: id, order: asc}")
    allocation = f"allocation: {{method: {method}, cap: {json.dumps(draw(expressions('number', 2)))}"
    if method == "proportional":
        allocation += f", weight: {json.dumps(draw(expressions('number', 1)))}"
    if split:
        allocation += f", regions: {{field: region, weight: weight, method: {split}}}, pooling: {draw(st.booleans())}"
    return "\n".join(lines + [allocation + "}"]) + "\n"


numbers = st.one_of(st.integers(-5, 50), st.decimals(min_value=-10**6, max_value=10**6, places=3),
                    st.sampled_from([Decimal("0"), Decimal("999999999999999"), Decimal("0.00000000000000000001"),
                                     Decimal("-0.5")]))


def applicant(draw, index: int) -> dict:
    maybe = lambda strategy: draw(st.one_of(st.none(), strategy))  # noqa: E731
    item = lambda: {"k": draw(numbers), "t": draw(st.sampled_from(["a", "b", ""])),  # noqa: E731
                    "w": [{"z": draw(numbers)} for _ in range(draw(st.integers(0, 2)))]}
    return {"id": f"A{index}", "requested_fte": draw(st.integers(0, 20)), "region": draw(st.sampled_from(["R1", "R2", "R3"])),
            "n": draw(numbers), "i": draw(st.integers(0, 10**6)), "m": maybe(numbers), "s": draw(st.text(max_size=3)),
            "e": draw(st.sampled_from(["a", "b", "c"])), "d": draw(st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))).isoformat(),
            "b": draw(st.booleans()), "u": draw(st.one_of(st.text(max_size=2), numbers)), "a": draw(st.one_of(numbers, st.text(max_size=2))),
            "o": {"x": draw(numbers), "y": draw(st.text(max_size=2))}, "q": [item() for _ in range(draw(st.integers(0, 3)))]}


@st.composite
def cases(draw):
    applicants = [applicant(draw, i) for i in range(draw(st.integers(0, 6)))]
    regions = {r: {"weight": draw(st.integers(0, 5))} for r in ("R1", "R2", "R3")}
    facts = json.dumps({"applicants": applicants, "regions": regions}, default=str)
    return rule_file(draw), facts.encode()


@FUZZ
@given(cases(), st.booleans())
def test_what_validate_accepts_evaluates_or_fails_with_a_position(case, with_durable):
    text, facts_bytes = case
    try:
        ruleset = compile_text(text, "fuzz.yaml")
    except InputError as exc:
        assert exc.problems and all(p.location.file == "fuzz.yaml" and p.location.line >= 1 for p in exc.problems)
        return
    try:
        facts = parse_facts(facts_bytes, "facts.json", ruleset, "json")
    except InputError as exc:  # a generated value the schema refuses (e.g. a text for a number)
        assert all(p.location.file == "facts.json" for p in exc.problems)
        return
    record = decide(ruleset, facts, dt.date(2018, 6, 20))
    assert sum(Decimal(str(d["allocated_fte"])) for d in record["decisions"]) <= Decimal(str(record["budget_fte"]))
    if with_durable:
        pytest.importorskip("durable.engine")
        try:
            other = decide(ruleset, facts, dt.date(2018, 6, 20), "durable")
        except EvaluationError:
            return
        outcome = lambda r: [(d["id"], d["eligible"], d["tier"], d["rank"], d["allocated_fte"]) for d in r["decisions"]]  # noqa: E731
        assert outcome(other) == outcome(record)


def test_the_generator_makes_valid_rule_files_too():
    """The fuzz test is only worth something if many generated files pass validate and get decided."""
    accepted = []

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(cases())
    def probe(case):
        try:
            compile_text(case[0], "fuzz.yaml")
            accepted.append(1)
        except RulesError:
            pass
    probe()
    assert len(accepted) >= 20
