"""Ranking compares exact numbers through a key that C can compare (issue 24: sorting 100,000 fill rates as
Fractions took a quarter of the workshops' evaluation). The order must be the exact order, ties included."""
from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

from rules_engine.decide.evaluate import _sort_key


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
        assert sorted(values, key=lambda pair: _sort_key(True, pair[1])) == by_exact  # stable: ties keep their order
        by_exact_down = sorted(values, key=lambda pair: Fraction(pair[1]), reverse=True)
        assert sorted(values, key=lambda pair: _sort_key(True, pair[1]), reverse=True) == by_exact_down


def test_values_beyond_a_float_still_order_exactly():
    big = [Fraction(10**400 + 1), Fraction(10**400), -Fraction(10**400), Decimal("1E-400"), Decimal("2E-400"), 0]
    assert sorted(big, key=lambda v: _sort_key(True, v)) == sorted(big, key=Fraction)


def test_other_kinds_keep_their_own_order():
    assert sorted(["b", "a", "C"], key=lambda v: _sort_key(True, v)) == ["C", "a", "b"]
    assert sorted([True, False, 1, 0], key=lambda v: _sort_key(True, v)) == [False, 0, True, 1]
    assert _sort_key(True, None) == (True, 0)


def test_a_missing_value_goes_last_either_way_as_ranking_asks():
    values = [None, Fraction(2, 3), None, Decimal("0.5"), 1]
    assert sorted(values, key=lambda v: _sort_key(v is None, v)) == [Decimal("0.5"), Fraction(2, 3), 1, None, None]
    down = sorted(values, key=lambda v: _sort_key(v is not None, v), reverse=True)
    assert down == [1, Fraction(2, 3), Decimal("0.5"), None, None]
