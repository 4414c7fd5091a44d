"""Figures rounded for a reader only as far as the rounded number says what the exact one does: on the same side of
every threshold it was held against (94.9996% that misses 95% is 94,9996 %, never 95,00 %), and all or nothing only
when it is exactly that (99.996% of a request is never 100,00 %)."""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Callable

NONE, ALL = Fraction(0), Fraction(1)  # nothing and all of it are said only of what is exactly that


def on_its_side(value: Fraction, places: int, thresholds: tuple, scale: int = 1) -> Decimal:
    """``value`` times ``scale``, rounded to ``places`` decimals or as many more as it takes for the rounded number to
    stand on the same side of every threshold as the value itself: a rate of 94.9996% that misses 95% is written
    94,9996 %, never 95,00 %, and one just over it never as exactly it. Past ``MORE_PLACES`` more, it is cut
    toward its own side of the threshold it reached or crossed (down when below one, up when above); a value that
    is itself a threshold no decimal reaches (2/3) stays rounded half to even, as close as it gets. Exact at any
    size: the rounding is done on the fraction, never on a decimal of limited precision."""
    scaled = Fraction(value) * scale
    for more in range(places, places + MORE_PLACES + 1):
        shown = _at(scaled, more, round)  # round() of a fraction: half to even
        written = Fraction(shown) / scale
        if _same_sides(written, value, thresholds):
            return shown
    if any(value < t <= written for t in thresholds):
        return _at(scaled, more, math.floor)
    if any(written <= t < value for t in thresholds):
        return _at(scaled, more, math.ceil)
    return shown


def _at(value: Fraction, places: int, rounding: Callable[[Fraction], int]) -> Decimal:
    """``value`` rounded by ``rounding`` to ``places`` decimals, as the exact decimal it then is."""
    return Decimal(f"{rounding(value * 10**places)}E-{places}")


MORE_PLACES = 24  # decimals a figure may take beyond its usual ones to stay on its own side of a threshold


def _same_sides(written: Fraction, value: Fraction, thresholds: tuple) -> bool:
    return all((written < t) == (value < t) and (written == t) == (value == t) for t in thresholds)
