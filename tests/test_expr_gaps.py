"""What the expression language's mutation run (docs/mutation.md) showed no test pinned: a bare boolean under
``not``, negative numbers in a list, ``=`` read as ``==``, the parser's nesting limit at its boundary, functions
of several values, the arguments an aggregate takes, a field name after '.', and the text of a tree (as
traces and lint print it). Expected values are worked out from the documented language, not from a run."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rules_engine.errors import ExpressionError
from rules_engine.rules import expr as E

from test_checker import decide, write

BOOLEAN = {"type": "boolean"}
NUMBER = {"type": "number"}


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_not_of_a_bare_boolean_field(tmp_path, engine):
    # `not flag` holds when flag is false; a missing flag is a comparison with null: false, negated or not
    rules = write(tmp_path, {"flag": BOOLEAN}, when="not flag")
    decided = decide(rules, [{"id": "t", "requested_fte": 1, "flag": True}, {"id": "f", "requested_fte": 1, "flag": False},
                             {"id": "n", "requested_fte": 1}], tmp_path, engine)
    assert {k: d["eligible"] for k, d in decided.items()} == {"t": False, "f": True, "n": False}


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_negative_numbers_in_a_list_and_equals_written_once(tmp_path, engine):
    rules = write(tmp_path, {"x": NUMBER}, when="x in [-1, -2.5] or x = 3")
    decided = decide(rules, [{"id": f"a{i}", "requested_fte": 1, "x": x} for i, x in enumerate([-1, 1, -2.5, 2.5, 3])],
                     tmp_path, engine)
    assert [decided[f"a{i}"]["eligible"] for i in range(5)] == [True, False, True, False, True]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_min_and_max_of_several_values(tmp_path, engine):
    # by hand: min(4, 7, 2) = 2, max(4, 7, 2, 1) = 7
    rules = write(tmp_path, {"a": NUMBER, "b": NUMBER, "c": NUMBER},
                  when="min(a, b, c) == 2 and max(a, b, c, 1) == 7")
    decided = decide(rules, [{"id": "x", "requested_fte": 1, "a": 4, "b": 7, "c": 2},
                             {"id": "y", "requested_fte": 1, "a": 4, "b": 7, "c": 3}], tmp_path, engine)
    assert {k: d["eligible"] for k, d in decided.items()} == {"x": True, "y": False}


def test_the_nesting_limit_is_60_levels_of_brackets_after_any_earlier_group():
    E.parse("(" * 60 + "x" + ")" * 60)
    E.parse("(x) * " + "(" * 59 + "x" + ")" * 59)
    with pytest.raises(ExpressionError, match="nested more than 60"):
        E.parse("(x) * " + "(" * 61 + "x" + ")" * 61)  # an earlier group closed does not lend its level
    with pytest.raises(ExpressionError, match="nested more than 60"):
        E.parse("(" * 61 + "x" + ")" * 61)
    # seventy groups side by side are one level each, not seventy
    E.parse(" or ".join(f"x in [{i}]" for i in range(70)))


@pytest.mark.parametrize("text, words", [
    ("sum(quarters, a, b)", "takes a list and a value"),
    ("sum(q in quarters, q.a, q.b)", "takes a list and a value"),
    ("min(a, b, c where a > 1)", "of several values takes no 'where'"),
    ("floor(a, b)", "floor() takes 1 value(s)"),
    ("min(quarters)", "min() needs a value per item"),
    ("count(quarters, a)", "count() takes a list and an optional 'where' condition, no value"),
    ("x.where", "expected a field name after '.', found 'where'"),
    ("x.and", "expected a field name after '.', found 'and'"),
    ("x.5", "expected a field name after '.'"),
    ("count(5 in [1, 2])", "found 'in'"),
])
def test_what_the_parser_refuses_and_says(text, words):
    with pytest.raises(ExpressionError) as refused:
        E.parse(text)
    assert words in str(refused.value)


def test_a_named_aggregate_anywhere_in_an_expression():
    # the item's name is recognised by the token after it, wherever the aggregate starts (here at token 3)
    tree = E.parse("- - sum(q in quarters, q.a) < 0")
    aggregate = next(n for n in E.walk(tree) if isinstance(n, E.Aggregate))
    assert aggregate.name == "q" and aggregate.func == "sum"


@pytest.mark.parametrize("text, shown", [
    ('name == "a\\"b"', 'name == "a\\"b"'),
    ('name == "back\\\\slash"', 'name == "back\\\\slash"'),
    ("x in [-1, 2.50, 1000]", "x in [-1, 2.5, 1000]"),
    ("d >= 2018-06-20 and f == true or g is not null", "((d >= 2018-06-20) and (f == true)) or g is not null"),
    ("not (a < 1)", "not (a < 1)"),
    ("if a > 1 then 2 else null", "if a > 1 then 2 else null"),
    ("sum(q in quarters, q.a where q.b != false)", "sum(q in quarters, q.a where q.b != false)"),
    ("count(quarters)", "count(quarters)"),
    ("-(a + 1) * 2", "-(a + 1) * 2"),
    ("min(a, b, 3)", "min(a, b, 3)"),
])
def test_the_text_of_a_tree_reads_back_as_the_same_tree(text, shown):
    tree = E.parse(text)
    assert E.to_text(tree) == shown
    assert E.to_text(E.parse(E.to_text(tree))) == shown


@pytest.mark.parametrize("value, text", [
    (Decimal("100"), "100"), (Decimal("1.500"), "1.5"), (Decimal("-0.00"), "0"), (Decimal("0.000"), "0"),
    (Decimal("1E+2"), "100"), (Decimal("12.340"), "12.34"), (Decimal("-3.10"), "-3.1"), (Decimal("0.05"), "0.05"),
])
def test_a_decimal_as_plain_text(value, text):
    assert E.format_decimal(value) == text


def test_literal_texts():
    assert [E.literal_text(v) for v in (None, True, False, "x", Decimal("2.0"), dt.date(2019, 4, 1), 7)] == \
        ["null", "true", "false", '"x"', "2", "2019-04-01", "7"]


@pytest.mark.parametrize("unit", ["not b", "-n > 0", "(if b then 1 else 2) > 0", "floor(n) > 0", "(n) > 0",
                                  "n in [1]"])
def test_every_construct_gives_back_its_level_when_it_closes(unit):
    # seventy side by side are one level each; and after one has closed, 61 brackets are still one too many
    E.parse(" and ".join([unit] * 70))
    with pytest.raises(ExpressionError, match="nested more than 60"):
        E.parse(unit + " and " + "(" * 61 + "b" + ")" * 61)


def test_a_comparison_chained_with_a_single_equals_is_refused_as_a_chain():
    with pytest.raises(ExpressionError, match="comparisons cannot be chained"):
        E.parse("x == 1 = 2")


def test_walking_an_aggregate_reaches_its_value_and_its_condition():
    tree = E.parse("sum(q in quarters, q.a + params.x where q.b > params.y)")
    names = {n.dotted for n in E.walk(tree) if isinstance(n, E.Name)}
    assert names == {"quarters", "q.a", "params.x", "q.b", "params.y"}
    assert None not in list(E.walk(E.parse("count(quarters)")))


def test_a_function_name_not_followed_by_a_bracket_is_a_name():
    # the checker then says there is no such field; the parser must not take '+' for the call's '('
    tree = E.parse("floor + 1")
    assert isinstance(tree, E.Arith) and tree.left == E.Name(("floor",), 0)
