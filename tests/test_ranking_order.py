"""Ranking compares exact numbers through a key that C can compare (issue 24: sorting 100,000 fill rates as
Fractions took a quarter of the workshops' evaluation). The order must be the exact order, ties included."""
from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

from rules_engine.decide.evaluate import _sortable


def _values(rng: random.Random) -> list:
    one = Fraction(1)
    near = [one, one + Fraction(1, 10**20), one - Fraction(1, 10**20), Decimal("1.000000000000000000001"),
            Decimal("0.9999999999999999999999"), Fraction(10**20 + 1, 10**20), 1, Decimal("1.00")]
    out = []
    for _ in range(rng.randint(2, 40)):
        kind = rng.randrange(5)
        if kind == 0:
            out.append(rng.choice(near))
        elif kind == 1:
            out.append(rng.randint(-5, 5))
        elif kind == 2:
            out.append(Decimal(rng.randint(-10**6, 10**6)).scaleb(-rng.randint(0, 6)))
        elif kind == 3:
            out.append(Fraction(rng.randint(-10**6, 10**6), rng.randint(1, 10**6)))
        else:
            out.append(Fraction(rng.randint(1, 10**30), rng.randint(1, 10**30)))
    return out


def test_the_key_orders_exact_numbers_as_their_exact_values_do():
    rng = random.Random(1815)
    for _ in range(2000):
        values = list(enumerate(_values(rng)))
        by_exact = sorted(values, key=lambda pair: Fraction(pair[1]))
        assert sorted(values, key=lambda pair: _sortable(pair[1])) == by_exact  # stable: ties keep their order
        by_exact_down = sorted(values, key=lambda pair: Fraction(pair[1]), reverse=True)
        assert sorted(values, key=lambda pair: _sortable(pair[1]), reverse=True) == by_exact_down


def test_values_beyond_a_float_still_order_exactly():
    big = [Fraction(10**400 + 1), Fraction(10**400), -Fraction(10**400), Decimal("1E-400"), Decimal("2E-400"), 0]
    assert sorted(big, key=_sortable) == sorted(big, key=Fraction)


def test_other_kinds_keep_their_own_order():
    assert sorted(["b", "a", "C"], key=_sortable) == ["C", "a", "b"]
    assert sorted([True, False, 1, 0], key=_sortable) == [False, 0, True, 1]
    assert _sortable(None) == 0
