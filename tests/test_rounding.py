"""A figure rounded for a reader never says all, nothing or a threshold it is not: the tables of the command line and
the realisation pages too (a fill rate of 99.996% was '100.00%', a realisation that fell short said as complete)."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from rules_engine.tell.render import percent


@pytest.mark.parametrize("rate, shown", [
    (Fraction(99996, 100000), "99.996%"),  # short of all of it
    (Fraction(4, 100000), "0.004%"),  # more than nothing
    (Fraction(1), "100.00%"), (Fraction(0), "0.00%"), (Decimal("0.9731"), "97.31%"),
    (Fraction(2, 3), "66.67%"), (Decimal("0.12345"), "12.34%"),  # half to even, as before
    (Fraction(-4, 100000), "-0.004%"),
])
def test_a_table_rate_is_all_or_nothing_only_when_it_is(rate, shown):
    assert percent(rate) == shown
