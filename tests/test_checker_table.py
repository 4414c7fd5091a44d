"""The checker's type rules as a table (issue 26): for each expression, the kind of value it gives, or the
mistake it is refused for. The expected column is the language as docs/rule-files.md describes it: + and -
on numbers; date + days, days + date and date - days a date, date - date the days between; 'in' a list of
literals or a list parameter, of the same kind; min/max of orderable values; both branches of an 'if' of
one kind; an aggregate over a list."""
from __future__ import annotations

import pytest

from rules_engine.errors import ExpressionError
from rules_engine.rules.checker import Scope, check
from rules_engine.rules.expr import parse

FIELDS = {
    "n": {"type": "number"}, "m": {"type": "integer"}, "d": {"type": "string", "format": "date"},
    "e": {"type": "string", "format": "date"}, "b": {"type": "boolean"}, "s": {"type": "string"},
    "q": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"},
                                                                     "t": {"type": "string"},
                                                                     "w": {"type": "string", "format": "date"}}}},
    "l": {"type": "array", "items": {"type": "number"}},
    "zs": {"type": "array", "items": {"type": "number"}},  # a field whose name sorts after 'params'
}
SCOPE = Scope(root={}, fields=FIELDS, derived={}, params={"quarters": ["2018Q1", "2018Q2"], "limits": [1, 2],
                                                          "one": 1})


def kind(text: str) -> str:
    return check(parse(text), SCOPE)[1].name


@pytest.mark.parametrize("text, expected", [
    ("n + m", "number"), ("n - m", "number"), ("n * m", "number"), ("n / m", "number"),
    ("d + 1", "date"), ("1 + d", "date"), ("d + n", "date"), ("n + d", "date"), ("d - 1", "date"), ("d - n", "date"),
    ("d - e", "number"), ("e - d", "number"), ("d - 2018-01-01", "number"), ("2019-01-01 - d", "number"),
    ("if b then n else m", "number"), ("if b then d else e", "date"), ("if b then s else null", "string"),
    ("if b then null else d", "date"), ("if b then null else null", "null"), ("if b then b else false", "boolean"),
    ("min(q, x)", "number"), ("max(q, w)", "date"), ("min(q, t)", "string"), ("min(n, m)", "number"),
    ("max(d, e)", "date"), ("sum(q, x)", "number"), ("count(l)", "number"),
    ("count(q where x > 1)", "number"), ("sum(g in q, g.x)", "number"),
    ("s in ['a', 'b']", "boolean"), ("n in [1, 2]", "boolean"), ("s in params.quarters", "boolean"),
    ("n in params.limits", "boolean"), ("d in [2018-01-01, 2018-02-01]", "boolean"), ("s in ['a', null]", "boolean"),
    ("days_between(d, e)", "number"), ("year_fraction(d, e)", "number"), ("quarter_of(d)", "string"),
    ("d + days_between(d, e)", "date"),
])
def test_the_kind_an_expression_gives(text, expected):
    assert kind(text) == expected


@pytest.mark.parametrize("text, words", [
    ("d + e", "'+' adds a number of days to a date"), ("b + d", "'+' adds a number of days"),
    ("s + d", "'+' adds a number of days"), ("n - d", "'-' subtracts days from a date"),
    ("1 - d", "'-' subtracts days from a date"), ("d - b", "'-' subtracts days from a date"),
    ("d - s", "'-' subtracts days from a date"), ("d * 2", "'*'"), ("2 / d", "'/'"), ("b + 1", "'+'"),
    ("s + 1", "'+'"), ("q + 1", "'+'"),
    ("if b then n else d", "both branches of 'if' must give the same kind"),
    ("if b then s else n", "both branches of 'if' must give the same kind"),
    ("if b then q else null", "'if' cannot choose"),
    ("min(q, b)", "needs values that can be ordered"), ("max(l, q)", ""),
    ("sum(n, n)", "needs a list"), ("count(n)", "needs a list"), ("count(b)", "needs a list"),
    ("count(d)", "needs a list"), ("sum(s, n)", "needs a list"), ("sum(q, t)", "sum()"),
    ("n in zs", "'in' needs a list"),
    ("n in 3", "'in' needs a list"), ("n in l", "'in' needs a list"), ("n in params.one", "'in' needs a list"),
    ("n in ['a', 'b']", ""), ("s in [1, 2]", ""), ("n in params.quarters", ""), ("q in [1]", "'in' cannot look for"),
    ("days_between(d, n)", "days_between() needs dates"), ("quarter_of(n)", "quarter_of() needs a date"), ("year_fraction(n, m)", "year_fraction() needs dates"),
    ("sum(g in q, sum(g in q, g.x))", "already names an item"),
])
def test_a_mistake_is_refused_with_its_reason(text, words):
    with pytest.raises(ExpressionError) as caught:
        kind(text)
    assert words in caught.value.message


WIDER = dict(FIELDS, u={}, o={"type": "object", "properties": {"a": {"type": "number"}}},
             mx={"type": ["number", "string"]})
WIDE = Scope(root={}, fields=WIDER, derived={}, params=SCOPE.params)


@pytest.mark.parametrize("text, words, at", [
    # an 'if' chooses a value of one declared scalar kind; the message points at the 'if'
    ("if b then u else null", "'if' cannot choose a value of no declared type", 0),
    ("if b then o else null", "'if' cannot choose an object", 0),
    ("if b then mx else null", "'if' cannot choose a value of several possible types", 0),
    ("1 + (if b then mx else null)", "'if' cannot choose", 5),
    # 'in' looks for a value of the list's kind, in a list of literals or a list parameter
    ("s in [1]", "cannot look for a string in a list of number values", 2),
    ("n in ['a']", "cannot look for a number in a list of string values", 2),
    ("d in ['2018-01-01']", "cannot look for a date in a list of string values", 2),
    ("n in params.quarters", "cannot look for a number in a list of string values", 2),
    ("s in params.limits", "cannot look for a string in a list of number values", 2),
    ("n in l", "'in' needs a list: [a, b, c] or a list parameter", 2),
    ("q in [1]", "'in' cannot look for a list", 2),
    # a condition where a number stands: the message points at the number
    ("b and n", "expected a condition (true or false), found a number", 6),
    ("not n", "expected a condition (true or false), found a number", 4),
    ("n or b", "expected a condition (true or false), found a number", 0),
    ("if n then 1 else 2", "expected a condition (true or false), found a number", 3),
])
def test_what_is_refused_and_where(text, words, at):
    with pytest.raises(ExpressionError) as refused:
        check(parse(text), WIDE)
    assert words in str(refused.value) and refused.value.offset == at


@pytest.mark.parametrize("text", ["n in []", "n in [null]", "b in [true, false]", "s in ['a', null]",
                                  "(if b then null else n) > 1", "(if b then n else null) > 1"])
def test_what_is_a_condition(text):
    assert check(parse(text), WIDE)[1].name == "boolean"
