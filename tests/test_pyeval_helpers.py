"""The generated evaluator's arithmetic helpers, table-tested with values worked out by hand (issue 26: the
mutation run of pyeval showed them pinned only through whole decisions)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from rules_engine.rules import pyeval as P

D = dt.date


@pytest.mark.parametrize("value, expected", [
    (Fraction(4, 2), 2), (Fraction(-1, 2), Decimal("-0.5")), (Fraction(1, 8), Decimal("0.125")),
    (Fraction(-3, 4), Decimal("-0.75")), (Fraction(1, 3), Fraction(1, 3)), (Fraction(0), 0), (7, 7),
    (Fraction(25, 2), Decimal("12.5")),
])
def test_exact_gives_the_simplest_exact_type(value, expected):
    got = P.exact(value)
    assert got == expected and type(got) is type(expected)
    if isinstance(got, Decimal):
        assert str(got) == str(expected)  # plain notation, the sign kept: -0.5, never 5E-1


@pytest.mark.parametrize("function, args, expected", [
    (P._add, (Decimal("0.1"), Fraction(1, 3)), Fraction(13, 30)), (P._add, (None, 1), None), (P._add, (1, None), None),
    (P._add, (D(2018, 1, 31), 1), D(2018, 2, 1)), (P._add, (3, D(2018, 1, 1)), D(2018, 1, 4)),
    (P._sub, (D(2018, 3, 1), D(2018, 2, 1)), 28), (P._sub, (D(2018, 3, 1), 1), D(2018, 2, 28)),
    (P._sub, (Decimal("0.1"), Fraction(1, 3)), Fraction(-7, 30)), (P._sub, (None, 1), None), (P._sub, (1, None), None),
    (P._mul, (None, 2), None), (P._mul, (2, None), None), (P._div, (1, 0), None), (P._div, (None, 2), None),
    (P._div, (2, None), None), (P._mean, ([],), None), (P._mean, ([1, None],), None),
    (P._round, (Decimal("2.5"), 1), 3), (P._round, (Decimal("2.4"), Decimal("0.5")), Decimal("2.5")),
    (P._round, (1, 0), None), (P._round, (1, -1), None), (P._round, (None, 1), None),
    (P._lottery, (None, "A"), None), (P._lottery, ("seed", None), None),
    (P._days_between, (D(2018, 1, 1), D(2017, 12, 1)), -31),
    (P._year_fraction, (D(2018, 7, 1), D(2019, 1, 1)), Decimal("0.5")),
    (P._year_fraction, (D(2018, 1, 31), D(2018, 3, 1)), Fraction(31, 360)),  # 30E/360: 31 Jan counts as 30 Jan
    (P._year_fraction, (D(2017, 10, 15), D(2019, 2, 28)), Fraction(493, 360)),  # 360 * 2 + 30 * -8 + 28 - 15
    (P._year_fraction, (None, D(2019, 1, 1)), None), (P._year_fraction, (D(2019, 1, 1), None), None),
    (P._quarter_of, (D(2018, 12, 31),), "2018Q4"), (P._quarter_of, (D(2018, 4, 1),), "2018Q2"),
    # whole days written as decimals (30.0 in a facts file) are whole days
    (P._add, (D(2018, 1, 1), Decimal("30.0")), D(2018, 1, 31)), (P._sub, (D(2018, 1, 31), Decimal("30")), D(2018, 1, 1)),
    # min and max of values: a missing one makes the answer missing, as every operator with null does
    (P._min_of, (1, None), None), (P._min_of, (None, 2), None), (P._max_of, (3, None), None),
    (P._min_of, (3, Decimal("2.5"), 4), Decimal("2.5")), (P._max_of, (3, Decimal("2.5"), 4), 4),
    # min and max over a list: none for an empty list or one with a missing value
    (P._min, ([],), None), (P._min, ([1, None],), None), (P._min, ([None],), None), (P._min, ([2, 1],), 1),
    (P._max, ([],), None), (P._max, ([1, None],), None), (P._max, ([2, 1],), 2),
])
def test_the_helpers_by_hand(function, args, expected):
    got = function(*args)
    assert got == expected and (got is None) == (expected is None)


def test_a_date_shifted_by_a_fraction_of_a_day_is_no_date():
    assert P._add(D(2018, 1, 1), Decimal("0.5")) is None
    assert P._sub(D(2018, 1, 1), Decimal("1.5")) is None


def test_a_mean_is_the_exact_mean_in_its_simplest_type_whatever_its_terms_are():
    """The mean of quarterly quotients (the workshops' fill rate) as the exact value written in its simplest exact
    type, computed here the textbook way with Fractions; terms of every kind, trailing zeros, negatives."""
    import decimal
    import random

    rng = random.Random(2026)

    def term():
        kind = rng.randrange(4)
        if kind == 0:
            return rng.randint(-50, 500)
        if kind == 1:
            return Decimal(rng.randint(-50_000, 500_000)).scaleb(-rng.randint(0, 4))  # 12.50, 0.0300, ...
        if kind == 2:
            return Fraction(rng.randint(-500, 5_000), rng.randint(1, 997))
        return P._div(Decimal(rng.randint(1, 30_000)) / 100, Decimal(rng.randint(1, 30_000)) / 10)
    with decimal.localcontext(P.CONTEXT):
        for _ in range(2000):
            values = [term() for _ in range(rng.randint(1, 8))]
            expected = P.exact(sum(map(Fraction, values), Fraction(0)) / len(values))
            got = P._mean(values)
            assert (type(got), str(got)) == (type(expected), str(expected)), values
    assert P._mean([Decimal("0.95"), Decimal("0.95")]) == Decimal("0.95") and str(P._mean([Decimal("1.50")])) == "1.5"
    assert P._mean([Fraction(1, 3), Fraction(2, 3)]) == Fraction(1, 2) and P._mean([1, 2]) == Decimal("1.5")
    assert P._mean([]) is None and P._mean([1, None]) is None


def test_a_mean_of_quotients_is_the_mean_of_each_quotient_worked_out_with_fractions():
    """``mean(items, a / b)`` is summed without a quotient made for each item; it must be the exact mean of the
    quotients, computed here the textbook way, and null where a quotient is (a missing value, a zero divisor)."""
    import decimal
    import random

    rng = random.Random(24)

    def number():
        kind = rng.randrange(5)
        if kind == 0:
            return rng.randint(-30, 400)
        if kind == 1:
            return Decimal(rng.randint(-30_000, 400_000)).scaleb(-rng.randint(0, 3))
        if kind == 2:
            return Fraction(rng.randint(-300, 3_000), rng.randint(1, 97))
        return rng.choice([None, 0, Decimal("0.00")]) if rng.random() < 0.1 else Decimal(rng.randint(1, 9999)) / 100

    def textbook(pairs):
        if not pairs or any(a is None or b is None or b == 0 for a, b in pairs):
            return None
        return P.exact(sum((Fraction(a) / Fraction(b) for a, b in pairs), Fraction(0)) / len(pairs))
    with decimal.localcontext(P.CONTEXT):
        for _ in range(3000):
            pairs = [(number(), number()) for _ in range(rng.randint(0, 7))]
            expected, got = textbook(pairs), P._mean_div(pairs)
            assert (type(got), str(got)) == (type(expected), str(expected)), pairs


def test_the_generated_fill_rate_is_a_mean_of_quotients_without_a_quotient_each():
    import datetime as dt

    from rules_engine.api import resolve
    from rules_engine.decide.evaluate import compiled

    from conftest import RULES

    ruleset = resolve("social-workshops@2019.1", RULES, dt.date(2019, 6, 20))
    source = compiled(ruleset).source
    assert "_mean_div([(" in source and "_div(" not in source.replace("_mean_div(", ""), source
    quarters = [{"quarter": q, "contingent_fte": Decimal("30"), "filled_fte": Decimal(f)}
                for q, f in (("2016Q3", "29"), ("2016Q4", "28.5"), ("2017Q1", "30"), ("2017Q2", "27"), ("2017Q3", "1"))]
    env = compiled(ruleset).derive({"quarters": quarters})
    # (29 + 28.5 + 30 + 27) / 30 / 4 = 114.5 / 120 = 229/240 (2017Q3 is outside the reference period)
    assert env["fill_rate"] == Fraction(229, 240) and env["reference_quarters_reported"] == 4


@pytest.mark.parametrize("a, b", [
    (Decimal("0.95"), Fraction(2, 3)), (Fraction(2, 3), Decimal("1.5")), (Fraction(-7, 3), Decimal("0.3")),
    (Decimal("-0.25"), Fraction(1, 4)), (Fraction(1, 6), Decimal("0")), (Decimal("12.50"), Fraction(5, 2)),
])
def test_a_decimal_with_a_fraction_is_worked_out_exactly(a, b):
    """A decimal and a fraction (a fill rate with a threshold) added, subtracted and multiplied: the exact value, in
    its simplest type, as the textbook Fractions give it; either order."""
    for function, textbook in ((P._add, lambda x, y: x + y), (P._sub, lambda x, y: x - y),
                               (P._mul, lambda x, y: x * y)):
        for x, y in ((a, b), (b, a)):
            expected = P.exact(textbook(Fraction(x), Fraction(y)))
            got = function(x, y)
            assert (type(got), got) == (type(expected), expected), (function.__name__, x, y)


def test_a_decimal_with_a_fraction_by_hand():
    assert P._sub(Decimal("0.95"), Fraction(2, 3)) == Fraction(17, 60)  # 57/60 - 40/60
    product = P._mul(Fraction(17, 60), Decimal("30"))
    assert product == Decimal("8.5") and type(product) is Decimal
    assert P._mul(Fraction(2, 3), Decimal("1.5")) == 1 and type(P._mul(Fraction(2, 3), Decimal("1.5"))) is int
    assert P._add(Decimal("0.1"), Fraction(1, 3)) == Fraction(13, 30)


def test_a_derived_value_against_a_number_is_compared_by_its_ratio_a_fact_plainly():
    """Where a Fraction can be (a derived fill rate) the generated comparison tries its ratio; where it cannot (a
    fact) it compares plainly, paying nothing for it."""
    import datetime as dt
    import re

    from rules_engine.api import resolve
    from rules_engine.decide.evaluate import compiled

    from conftest import RULES

    ruleset = resolve("maatwerk-redistribution@2020.1", RULES, dt.date(2020, 6, 20))
    source = compiled(ruleset).source
    by_ratio = re.findall(r"\((\w+) [<>=!]+ \w+ if _type\(\1\) is not _Fraction else \1\.numerator \* \w+ [<>=!]+ "
                          r"\w+ \* \1\.denominator\)", source)
    assert len(by_ratio) == 3, source  # fill_rate < 0.95 where reduction_fte is derived, and in the two steps
    assert re.search(r":= _i0\.get\('contingent_fte'\)\) is not None and _t\d+ > _k\d+\)", source), source
    lde = compiled(resolve("lde", RULES, dt.date(2018, 6, 20))).source
    assert "_Fraction" not in lde, lde  # its assessment_sum is a sum of scores: never a Fraction


def test_a_list_filtered_alike_twice_is_filtered_once_and_gives_the_same_values():
    """The workshops count the reference quarters and average their rates over the same filtered quarters: the
    generated ``derive`` filters them once (a list shared by both), and both values are as worked out by hand,
    also when no quarter, or none of the reference period, is given."""
    import datetime as dt

    from rules_engine.api import resolve
    from rules_engine.decide.evaluate import compiled

    from conftest import RULES

    ruleset = resolve("social-workshops@2019.1", RULES, dt.date(2019, 6, 20))
    fns = compiled(ruleset)
    assert fns.source.count("for _i0 in (e.get('quarters') or ()) if") == 1, fns.source
    q = [{"quarter": "2016Q3", "contingent_fte": Decimal("10"), "filled_fte": Decimal("9")},
         {"quarter": "2016Q4", "contingent_fte": Decimal("0"), "filled_fte": Decimal("0")},  # no contingent: left out
         {"quarter": "2015Q4", "contingent_fte": Decimal("10"), "filled_fte": Decimal("1")},  # outside the period
         {"quarter": "2017Q1", "contingent_fte": Decimal("3"), "filled_fte": Decimal("3")}]
    env = fns.derive({"quarters": q})
    assert env["reference_quarters_reported"] == 2 and env["fill_rate"] == Decimal("0.95")  # (0.9 + 1) / 2
    for quarters in ([], None, q[1:3]):
        env = fns.derive({"quarters": quarters} if quarters is not None else {})
        assert env["reference_quarters_reported"] == 0 and env["fill_rate"] is None, quarters


@pytest.mark.parametrize("text, may", [
    ("a + b - 3", False), ("a / b", True), ("a * 2", True), ("-x", True), ("-a", False), ("x + 1", True),
    ("mean(q, v)", True), ("count(q where v > 1)", False), ("sum(q, v)", False), ("sum(q, v / w)", True),
    ("min(q, v)", False), ("max(q, v / 2)", True), ("floor(a / b)", False), ("ceil(x)", False),
    ("if a > 1 then a / 2 else 0", True), ("if a > 1 then 0 else x", True), ("if x > 1 then a else 0", False),
    ("min(a, b / 2)", True), ("max(a, b)", False), ("round(a, 0.5)", True), ("days_between(d, e)", False),
    ("year_fraction(d, e)", True), ("params.k", False), ("1.5", False),
])
def test_what_may_be_a_fraction(text, may):
    """Which values may be a Fraction, judged from the expression (``x`` a derived value that may be one; the other
    names facts): a comparison of those with a number tries the ratio, the rest compare plainly."""
    from rules_engine.rules import expr as E

    assert P.may_be_fraction(E.parse(text), frozenset({"x"})) is may


def test_a_derived_value_is_judged_from_those_before_it():
    from types import SimpleNamespace as Derived

    from rules_engine.rules import expr as E

    derived = tuple(Derived(name=n, expr=E.parse(t)) for n, t in (("total", "a + b"), ("rate", "total / c"),
                                                                 ("reduced", "floor(rate * c)"), ("half", "rate + 1")))
    assert P.fractional_names(derived) == {"rate", "half"}


def test_decimals_that_need_more_than_28_digits_are_worked_out_exactly():
    """A sum, difference or product of decimals that 28 digits cannot hold is redone exactly: a decimal when it
    terminates within 28 decimals, else a Fraction (worked out by hand)."""
    import decimal

    big, small = Decimal("1E+20"), Decimal("1E-20")
    with decimal.localcontext(P.CONTEXT):
        assert P._add(big, small) == Decimal("100000000000000000000.00000000000000000001")
        assert P._sub(big, small) == Decimal("99999999999999999999.99999999999999999999")
        product = P._mul(Decimal("1.00000000000000000001"), Decimal("1.00000000000000000001"))
        assert product == Fraction(10**40 + 2 * 10**20 + 1, 10**40) and type(product) is Fraction


def test_a_date_and_a_fraction_of_days():
    """A date moved by a Fraction of days: whole days move it, a part of a day gives no date."""
    assert P._add(Fraction(1, 2), D(2018, 1, 1)) is None and P._add(D(2018, 1, 1), Fraction(1, 3)) is None
    assert P._add(D(2018, 1, 1), Fraction(6, 2)) == D(2018, 1, 4)
    assert P._add(Fraction(4, 2), D(2018, 1, 1)) == D(2018, 1, 3)
