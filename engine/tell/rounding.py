"""Figures rounded for a reader only as far as the rounded number says what the exact one does: on the same side of
every threshold it was held against (94.9996% that misses 95% is 94,9996 %, never 95,00 %), and all or nothing only
when it is exactly that (99.996% of a request is never 100,00 %)."""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

NONE, ALL = Fraction(0), Fraction(1)  # nothing and all of it are said only of what is exactly that


def on_its_side(value: Fraction, places: int, thresholds: tuple, scale: int = 1) -> Decimal:
    """``value`` times ``scale``, rounded to ``places`` decimals or as many more as it takes for the rounded number to
    stand on the same side of every threshold as the value itself: a rate of 94.9996% that misses 95% is written
    94,9996 %, never 95,00 %, and one just over it never as exactly it. Past ``MORE_PLACES`` more, it is cut
    toward the threshold's other side (down when below one, up when above), which keeps it on its own."""
    with localcontext(prec=80):  # a large value with many decimals still fits: quantize never raises
        exact = Decimal(value.numerator) * scale / Decimal(value.denominator)
        for more in range(places, places + MORE_PLACES + 1):
            shown = exact.quantize(Decimal(1).scaleb(-more))
            if _same_sides(Fraction(shown) / scale, value, thresholds):
                return shown
        below = any(value < t and Fraction(shown) / scale >= t for t in thresholds)
        return exact.quantize(Decimal(1).scaleb(-more), rounding=ROUND_FLOOR if below else ROUND_CEILING)


MORE_PLACES = 24  # decimals a figure may take beyond its usual ones to stay on its own side of a threshold


def _same_sides(written: Fraction, value: Fraction, thresholds: tuple) -> bool:
    return all((written < t) == (value < t) and (written == t) == (value == t) for t in thresholds)
