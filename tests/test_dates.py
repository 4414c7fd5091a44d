"""Issue 20, item 5: date arithmetic in the language, the same in both evaluators.

Every expected value is worked out by hand in the comments (calendar arithmetic; 30E/360 for the
part of a year, as documented in docs/rule-files.md).
"""
from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from tests.test_checker import decide, refused, write
from tests.test_expr import run

DATES = {"d": {"type": "string", "format": "date"}, "g": {"type": "string", "format": "date"},
         "n": {"type": "number"}}
D = dt.date


@pytest.mark.parametrize("text, env, expected", [
    # January has 31 days, February 2018 has 28: 31 + 28 = 59
    ("days_between(d, g)", {"d": D(2018, 1, 1), "g": D(2018, 3, 1)}, 59),
    ("days_between(d, g)", {"d": D(2018, 3, 1), "g": D(2018, 1, 1)}, -59),
    ("days_between(d, g)", {"d": D(2020, 2, 28), "g": D(2020, 3, 1)}, 2),  # 2020 is a leap year
    ("days_between(d, g)", {"d": None, "g": D(2020, 3, 1)}, None),
    # 30E/360: (360 * (y2 - y1) + 30 * (m2 - m1) + (d2 - d1)) / 360, a day 31 counted as 30
    ("year_fraction(d, g)", {"d": D(2018, 7, 1), "g": D(2019, 1, 1)}, Fraction(1, 2)),  # 180 / 360
    ("year_fraction(d, g)", {"d": D(2018, 4, 1), "g": D(2019, 1, 1)}, Fraction(3, 4)),  # 270 / 360
    ("year_fraction(d, g)", {"d": D(2018, 1, 31), "g": D(2018, 3, 31)}, Fraction(1, 6)),  # 60 / 360
    ("year_fraction(d, g)", {"d": D(2018, 1, 1), "g": D(2018, 1, 1)}, 0),
    ("year_fraction(d, g)", {"d": D(2019, 1, 1), "g": D(2018, 7, 1)}, Fraction(-1, 2)),
    ("year_fraction(d, g)", {"d": D(2018, 1, 1), "g": None}, None),
    ("quarter_of(d)", {"d": D(2018, 7, 1)}, "2018Q3"),
    ("quarter_of(d)", {"d": D(2018, 3, 31)}, "2018Q1"),
    ("quarter_of(d)", {"d": D(2018, 12, 31)}, "2018Q4"),
    ("quarter_of(d)", {"d": D(2018, 4, 1)}, "2018Q2"),
    ("quarter_of(d)", {"d": None}, None),
    ("d + n", {"d": D(2018, 1, 31), "n": 30}, D(2018, 3, 2)),  # 28 days to 28 February, 2 more
    ("n + d", {"d": D(2018, 12, 31), "n": 1}, D(2019, 1, 1)),
    ("d - n", {"d": D(2018, 3, 1), "n": 1}, D(2018, 2, 28)),
    ("d - n", {"d": D(2018, 3, 1), "n": -1}, D(2018, 3, 2)),
    ("g - d", {"d": D(2018, 1, 1), "g": D(2018, 3, 1)}, 59),
    ("d + n", {"d": D(2018, 1, 1), "n": 0.5}, None),  # half a day is no date
    ("d + n", {"d": D(9999, 12, 31), "n": 1}, None),  # beyond the calendar
    ("d - n", {"d": D(1, 1, 1), "n": 1}, None),
    ("d + n", {"d": None, "n": 1}, None),
])
def test_date_functions_and_arithmetic(text, env, expected):
    from decimal import Decimal
    if isinstance(env.get("n"), float):
        env = {**env, "n": Decimal(str(env["n"]))}
    result = run(text, env)
    assert result == expected and type(result) is not bool


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_a_pro_rata_year_in_both_evaluators(tmp_path, engine):
    # Eligible when the contingent started at least half a year before 2019 and within 200 days of
    # the decision date (2018-06-20): A from 2018-07-01: year_fraction to 2019-01-01 = 180/360 = 0.5,
    # days_between(2018-06-20, 2018-07-01) = 11 -> eligible. B from 2018-07-02: 179/360 < 0.5 -> not.
    # C from 2018-01-01: 360/360 = 1, days_between = -170 -> eligible (|-170| is not asked: -170 <= 200).
    # The cap: requested * part of the year, floored: A 4 * 0.5 = 2; C 3 * 1 = 3.
    rules = write(tmp_path, DATES, when="year_fraction(g, 2019-01-01) >= 0.5 and days_between(as_of, g) <= 200",
                  cap="'floor(requested_fte * year_fraction(g, 2019-01-01))'")
    facts = [{"id": "A", "requested_fte": 4, "g": "2018-07-01"}, {"id": "B", "requested_fte": 4, "g": "2018-07-02"},
             {"id": "C", "requested_fte": 3, "g": "2018-01-01"}]
    decisions = decide(rules, facts, tmp_path, engine)
    assert [decisions[i]["eligible"] for i in "ABC"] == [True, False, True]
    assert [decisions[i]["allocated_fte"] for i in "AC"] == [2, 3]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_dates_shifted_and_quarters_compared(tmp_path, engine):
    # as_of is 2018-06-20. A: d 2018-05-22 + 30 = 2018-06-21 > as_of, quarter 2018Q2 -> eligible.
    # B: d 2018-05-21 + 30 = 2018-06-20, not after as_of -> not eligible.
    # C: d 2018-07-01 + 30 = 2018-07-31 > as_of, but quarter 2018Q3 -> not eligible.
    rules = write(tmp_path, DATES, when='d + 30 > as_of and quarter_of(d) == "2018Q2"')
    facts = [{"id": "A", "requested_fte": 1, "d": "2018-05-22"}, {"id": "B", "requested_fte": 1, "d": "2018-05-21"},
             {"id": "C", "requested_fte": 1, "d": "2018-07-01"}]
    decisions = decide(rules, facts, tmp_path, engine)
    assert [decisions[i]["eligible"] for i in "ABC"] == [True, False, False]


@pytest.mark.parametrize("when, words", [
    ("days_between(d, 3) > 0", "days_between() needs dates, not a number"),
    ("year_fraction(n, d) > 0", "year_fraction() needs dates, not a number"),
    ('quarter_of("2018-01-01") == "2018Q1"', "quarter_of() needs a date, not a string"),
    ("days_between(d) > 0", "days_between() takes 2 value(s): days_between(from, to)"),
    ("quarter_of(d) > 3", "cannot compare a string with a number"),
    ("d * 2 > 0", "'*' needs numbers, not a date"),
    ("d + g > as_of", "'+' adds a number of days to a date"),
    ("2 - d > as_of", "'-' subtracts days from a date"),
    ("d + 1 > 3", "cannot compare a date with a number"),
    ("-d > as_of", "'-' needs numbers, not a date"),
])
def test_date_mistakes_are_refused_at_their_place(tmp_path, when, words):
    refused(write(tmp_path, DATES, when=when), words)
