"""A figure rounded for a reader never says all, nothing or a threshold it is not: the tables of the command line and
the realisation pages too (a fill rate of 99.996% was '100.00%', a realisation that fell short said as complete)."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from rules_engine.tell.render import cell, percent
from rules_engine.tell.rounding import on_its_side


@pytest.mark.parametrize("rate, shown", [
    (Fraction(99996, 100000), "99.996%"),  # short of all of it
    (Fraction(4, 100000), "0.004%"),  # more than nothing
    (Fraction(1), "100.00%"), (Fraction(0), "0.00%"), (Decimal("0.9731"), "97.31%"),
    (Fraction(2, 3), "66.67%"), (Decimal("0.12345"), "12.34%"),  # half to even, as before
    (Fraction(-4, 100000), "-0.004%"),
])
def test_a_table_rate_is_all_or_nothing_only_when_it_is(rate, shown):
    assert percent(rate) == shown


def test_a_hair_below_a_threshold_that_no_decimal_reaches_is_cut_down():
    # 2/3 has no decimal form: 10^-40 below it, rounding to 26 decimals gives ...667, above it, at every width the
    # loop tries; the figure is then cut down, to ...666 (26 sixes), below it as the value is
    value = Fraction(2, 3) - Fraction(1, 10**40)
    assert on_its_side(value, 2, (Fraction(2, 3),)) == Decimal("0." + "6" * 26)


def test_a_hair_above_one_threshold_and_below_another_is_cut_toward_the_one_it_is_above():
    # 10^-40 above 1/3 and below all of it (1): as a percentage 33.333..., rounded at any width up to the 26th
    # decimal, is under 1/3; cut up, 33.33...34 (25 threes and a four), over 1/3 and still under 100%
    value = Fraction(1, 3) + Fraction(1, 10**40)
    assert on_its_side(value, 2, (Fraction(1, 3), Fraction(1)), scale=100) == Decimal("33." + "3" * 25 + "4")


@pytest.mark.parametrize("value, shown", [
    (Fraction(2, 3), "0." + "6" * 25 + "7"),  # the value is the threshold, which no decimal reaches: the closest
    (Fraction(1, 3), "0." + "3" * 26),
])
def test_a_value_that_is_a_threshold_no_decimal_reaches_is_rounded_half_to_even(value, shown):
    assert str(on_its_side(value, 2, (value,))) == shown


def test_a_value_of_fifty_digits_a_hair_below_a_threshold_is_cut_with_all_its_decimals():
    # 10^53 + 1/2 as the threshold, 10^-40 below it: fifty-four digits before the point and twenty-six after, the
    # eighty a figure may have
    threshold = Fraction(10**53) + Fraction(1, 2)
    assert str(on_its_side(threshold - Fraction(1, 10**40), 2, (threshold,))) == "1" + "0" * 53 + ".4" + "9" * 25


def test_a_value_that_is_a_threshold_no_decimal_reaches_beside_others_is_still_rounded_half_to_even():
    # 1/3 as a threshold beside nothing and all of it: it is on its own side of 0 and of 1 at every width, so only
    # the one no decimal reaches is never met, and the figure stays the closest, not cut up
    assert str(on_its_side(Fraction(1, 3), 2, (Fraction(0), Fraction(1, 3), Fraction(1)))) == "0." + "3" * 26


@pytest.mark.parametrize("places", [1, 3])
def test_a_hair_takes_at_most_the_usual_decimals_and_24_more(places):
    # 10^-40 below 1/2: no width up to places + 24 tells it apart, so it is cut down at exactly that width
    assert str(on_its_side(Fraction(1, 2) - Fraction(1, 10**40), places, (Fraction(1, 2),))) == \
        "0.4" + "9" * (places + 23)


@pytest.mark.parametrize("value, shown", [
    (Fraction(1, 30000), "0.00003"),  # a quota above nothing is never 0.0000
    (Fraction(2, 3), "0.6667"), (Fraction(1, 8), "0.125"), (Fraction(-1, 30000), "-0.00003"),
])
def test_a_table_cell_of_a_fraction_is_nothing_only_when_it_is(value, shown):
    assert cell(value) == shown
