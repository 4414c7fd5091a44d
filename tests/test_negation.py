"""Issue 26: negation and the checker's type rules, against Python's own comparisons as the oracle.

``not (a OP b)`` is pushed down to the negated comparison before either evaluator sees it; a
comparison with a missing value is false, negated or not (docs/rule-files.md). Each case is a small
rule file decided through the CLI by both evaluators, on values chosen at the boundaries.
"""
from __future__ import annotations

import datetime as dt
import json
import operator
from decimal import Decimal

import pytest

from rules_engine.rules import expr as E

from test_checker import decide, refused, write

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
NUMBERS = [None, Decimal("1.999999999"), Decimal("2"), Decimal("2.0"), Decimal("2.000000001"), Decimal("-2"), 0]
DATES = [None, dt.date(2015, 3, 31), dt.date(2015, 4, 1), dt.date(2015, 4, 2)]
BOOLEANS = [None, True, False]
KINDS = {"number": ({"type": "number"}, NUMBERS, "2", Decimal("2")),
         "date": ({"type": "string", "format": "date"}, DATES, "2015-04-01", dt.date(2015, 4, 1)),
         "boolean": ({"type": "boolean"}, BOOLEANS, "true", True)}


def oracle(op: str, a, b) -> bool:
    """not (a OP b), with a comparison of a missing value false, negated or not."""
    if a is None or b is None:
        return False
    return not OPS[op](a, b)


def cases(kind: str):
    ops = ("==", "!=") if kind == "boolean" else tuple(OPS)
    for op in ops:
        yield pytest.param(kind, op, id=f"{kind}-{op}")


def _json(value):
    return value.isoformat() if isinstance(value, dt.date) else float(value) if isinstance(value, Decimal) else value


@pytest.mark.parametrize("engine", ["python", "durable"])
@pytest.mark.parametrize("kind, op", [c for kind in KINDS for c in cases(kind)])
def test_not_of_a_comparison_is_the_negated_comparison(tmp_path, kind, op, engine):
    field, values, literal_text, literal = KINDS[kind]
    rules = write(tmp_path, {"x": field, "y": field}, when=f"not (x {op} y) and not (x {op} {literal_text}) or x is null")
    applicants, expected = [], {}
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            held = {"id": f"a{i}{j}", "requested_fte": 1}
            held.update({k: _json(v) for k, v in (("x", a), ("y", b)) if v is not None})
            applicants.append(held)
            expected[held["id"]] = (oracle(op, a, b) and oracle(op, a, literal)) or a is None
    decided = decide(rules, applicants, tmp_path, engine)
    got = {k: d["eligible"] for k, d in decided.items()}
    assert got == expected


@pytest.mark.parametrize("text, normal", [
    ("not (requested_fte < 2)", "requested_fte >= 2"),
    ("not (x <= 1)", "x > 1"),
    ("not (x > 1)", "x <= 1"),
    ("not (x >= 1)", "x < 1"),
    ("not (x == 1)", "x != 1"),
    ("not (x != 1)", "x == 1"),
    ("not true", "false"),
    ("not false", "true"),
    ("not not (x < 1)", "x < 1"),
    ("not (x < 1 or y is null)", "(x >= 1) and y is not null"),
])
def test_negation_normal_form(text, normal):
    assert E.to_text(E.normalize(E.parse(text))) == normal


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_a_negated_boolean_literal_decides(tmp_path, engine):
    yes = decide(write(tmp_path, {}, when="not false"), [{"id": "A", "requested_fte": 1}], tmp_path, engine)
    no = decide(write(tmp_path, {}, when="not true"), [{"id": "A", "requested_fte": 1}], tmp_path, engine)
    assert yes["A"]["eligible"] is True and no["A"]["eligible"] is False


BOOL = {"type": "boolean"}
TEXT = {"type": "string"}
NUMBER = {"type": "number"}


@pytest.mark.parametrize("fields, when", [
    ({"b": BOOL, "c": BOOL}, "b != c"),
    ({"b": BOOL}, "b == true"),
    ({"t": TEXT}, 't in ["x", "y"]'),
    ({"n": NUMBER}, "n in [1, 2]"),
    ({"n": NUMBER, "m": NUMBER}, "max(n, m) > 1"),
])
def test_the_checker_accepts(tmp_path, fields, when):
    from click.testing import CliRunner

    from rules_cli.cli import main

    result = CliRunner().invoke(main, ["validate", write(tmp_path, fields, when=when)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("fields, when, words", [
    ({"n": NUMBER}, 'n in ["1", "2"]', "cannot look for a number in a list of string values"),
    ({"b": BOOL, "c": BOOL}, "min(b, c) == true", "min"),
    ({"b": BOOL, "c": BOOL}, "max(b, c) == true", "max"),
    ({"b": BOOL, "n": NUMBER}, "b < n", "cannot compare a boolean with a number"),
    ({"b": BOOL}, "b > false", ">"),
    ({"t": TEXT, "n": NUMBER}, "t == n", "cannot compare a string with a number"),
])
def test_the_checker_refuses_at_the_position(tmp_path, fields, when, words):
    refused(write(tmp_path, fields, when=when), words)


def test_a_number_in_a_list_of_texts_would_have_made_everyone_ineligible(tmp_path):
    # what the check prevents: the same rule with the list as numbers decides as a reader expects
    decided = decide(write(tmp_path, {"n": NUMBER}, when="n in [1, 2]"),
                     [{"id": "A", "requested_fte": 1, "n": 1}, {"id": "B", "requested_fte": 1, "n": 3}], tmp_path)
    assert json.loads(json.dumps({k: d["eligible"] for k, d in decided.items()})) == {"A": True, "B": False}
