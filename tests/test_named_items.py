"""Issue 20, item 5: named items in aggregates, ``sum(g in grants, count(q in quarters where q.quarter == g.quarter))``.

The implicit form (a name looked up in the innermost list's items) stays; a name gives each list's item a
handle, so that an inner list's field can no longer hide the outer one. Expected values by hand.
"""
from __future__ import annotations

import pytest

from rules_engine.rules import expr as E
from tests.test_checker import decide, refused, write

NUMBER = {"type": "number"}
QUARTER = {"type": "object", "properties": {"quarter": {"type": "string"}, "filled_fte": NUMBER}}
FIELDS = {
    "grants": {"type": "array", "items": {"type": "object", "properties": {"quarter": {"type": "string"},
                                                                         "fte": NUMBER}}},
    "quarters": {"type": "array", "items": QUARTER},
    "scores": {"type": "array", "items": NUMBER},
}
# A: grants in 2018Q1 (2 FTE) and 2018Q2 (1 FTE); quarters reported 2018Q1 and 2018Q3.
#    Grants with a matching quarter: only 2018Q1 -> 1; their FTE: 2.
# B: a grant in 2018Q4; quarters 2018Q4 twice -> count of matches 2 for the one grant; no grant unmatched.
# C: no grants -> 0 matches.
APPLICANTS = [
    {"id": "A", "requested_fte": 1, "scores": [1, 2, 3],
     "grants": [{"quarter": "2018Q1", "fte": 2}, {"quarter": "2018Q2", "fte": 1}],
     "quarters": [{"quarter": "2018Q1", "filled_fte": 5}, {"quarter": "2018Q3", "filled_fte": 6}]},
    {"id": "B", "requested_fte": 1, "scores": [],
     "grants": [{"quarter": "2018Q4", "fte": 3}],
     "quarters": [{"quarter": "2018Q4", "filled_fte": 1}, {"quarter": "2018Q4", "filled_fte": 2}]},
    {"id": "C", "requested_fte": 1, "scores": [4], "grants": [], "quarters": []},
]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_the_outer_item_is_reachable_by_its_name(tmp_path, engine):
    # matched = number of grants with at least one quarter of the same quarter: A 1, B 1, C 0.
    # pairs = sum over grants of the number of quarters matching it: A 1, B 2, C 0.
    # matched_fte = sum of the FTE of the matched grants: A 2, B 3, C 0.
    derived = ("derived:\n"
               "  matched: {description: m, expr: 'count(g in grants where count(q in quarters where q.quarter == g.quarter) > 0)'}\n"
               "  pairs: {description: p, expr: 'sum(g in grants, count(q in quarters where q.quarter == g.quarter))'}\n"
               "  matched_fte: {description: f, expr: 'sum(g in grants, g.fte where count(quarters where quarter == g.quarter) > 0)'}\n"
               "  top: {description: t, expr: 'max(s in scores, s * 2)'}")
    rules = write(tmp_path, FIELDS, derived=derived, when="pairs >= 1")
    decisions = decide(rules, APPLICANTS, tmp_path, engine)
    assert [decisions[i]["derived"]["matched"] for i in "ABC"] == [1, 1, 0]
    assert [decisions[i]["derived"]["pairs"] for i in "ABC"] == [1, 2, 0]
    assert [decisions[i]["derived"]["matched_fte"] for i in "ABC"] == [2, 3, 0]
    # max of each score doubled: A 6, B no scores (null), C 8
    assert [decisions[i]["derived"]["top"] for i in "ABC"] == [6, None, 8]
    assert [decisions[i]["eligible"] for i in "ABC"] == [True, True, False]


def test_the_implicit_form_still_shadows_as_documented(tmp_path):
    # Without names, 'quarter' inside the inner count is the inner item's: q.quarter == q.quarter, always
    # true, so every grant counts all quarters: A 2 grants x 2 quarters = 4, B 1 x 2 = 2.
    derived = "derived:\n  pairs: {description: p, expr: 'sum(grants, count(quarters where quarter == quarter))'}"
    rules = write(tmp_path, FIELDS, derived=derived)
    decisions = decide(rules, APPLICANTS, tmp_path)
    assert [decisions[i]["derived"]["pairs"] for i in "AB"] == [4, 2]


@pytest.mark.parametrize("text", [
    "sum(g in grants, count(q in quarters where q.quarter == g.quarter))",
    "count(g in grants where g.fte > 1)",
    "max(s in scores, s)",
])
def test_named_items_print_as_written(text):
    assert E.to_text(E.parse(text)) == text


@pytest.mark.parametrize("when, words", [
    ("count(g in grants where g.nope > 1) > 0", "unknown field 'nope' in 'g'"),
    ("count(g in grants where g > 1) > 0", "cannot compare an object"),
    ("count(g in 3) > 0", "count() needs a list"),
    ("sum(g in grants, g.fte) + g.fte > 0", "unknown field 'g'"),
    ("count(params in grants) > 0", "'params' cannot name an item"),
    ("count(g in grants where count(g in quarters) > 0) > 0", "'g' already names an item"),
])
def test_named_item_mistakes_are_refused(tmp_path, when, words):
    refused(write(tmp_path, FIELDS, when=when), words)


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_three_lists_deep_each_item_keeps_its_name(tmp_path, engine):
    # per grant of more than 1 FTE, per quarter, the scores below that quarter's filled FTE:
    # A: one grant of 2 FTE (the other is 1); quarters filled 5 and 6; scores 1, 2, 3 are below both: 3 + 3 = 6.
    # B: its grant (3 FTE) has quarters filled 1 and 2, but B has no scores: 0. C: no grants: 0.
    derived = ("derived:\n  nested: {description: n, expr: 'sum(g in grants, sum(q in quarters, "
               "count(s in scores where s < q.filled_fte and g.fte > 1)))'}")
    rules = write(tmp_path, FIELDS, derived=derived, when="nested >= 0")
    decisions = decide(rules, APPLICANTS, tmp_path, engine)
    assert [decisions[i]["derived"]["nested"] for i in "ABC"] == [6, 0, 0]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_an_item_field_named_like_a_field_of_the_applicant_is_the_item_s(tmp_path, engine):
    # the applicant's x is 5; inside count(...) the bare x is each item's x (0 and 2): one item above 1
    fields = {"x": NUMBER, "items": {"type": "array", "items": {"type": "object", "properties": {"x": NUMBER}}}}
    rules = write(tmp_path, fields, when="x > 0 and count(items where x > 1) == 1")
    decided = decide(rules, [{"id": "A", "requested_fte": 1, "x": 5, "items": [{"x": 0}, {"x": 2}]},
                             {"id": "B", "requested_fte": 1, "x": 5, "items": [{"x": 3}, {"x": 2}]}], tmp_path, engine)
    assert [decided[i]["eligible"] for i in "AB"] == [True, False]
