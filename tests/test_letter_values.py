"""Issue 26: how a letter writes one value, pinned where the letter's mutation run showed nothing did.

Expected texts are as a reader writes them (Dutch of Belgium, British English), by hand.
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from rules_engine.rules.compile import compile_file
from rules_engine.tell.letter import Formatter, label

from conftest import rule_file

LDE = compile_file(rule_file("lde"))


@pytest.mark.parametrize("lang, value, text", [
    ("nl", True, "ja"), ("nl", False, "nee"), ("en", True, "yes"), ("en", False, "no"),
    ("nl", "2018-06-20", "20 juni 2018"), ("en", "2018-06-20", "20 June 2018"),
    ("nl", "2018-13-45", "2018-13-45"),  # shaped like a date, but none: as given
    ("nl", "2018/06/20", "2018/06/20"),  # slashes and digits, but no fraction: it crashed the letter
    ("nl", "1/0", "1/0"), ("nl", "1/3", "0,3333"), ("nl", "-2/4", "-0,5"),
    ("nl", "2018-6-200", "2018-6-200"), ("nl", "2018-06-2", "2018-06-2"),
    ("nl", None, "\u2013"),
])
def test_a_plain_value(lang, value, text):
    assert Formatter(lang, LDE).value("x", value) == text


@pytest.mark.parametrize("value, nl, en", [
    (Fraction(1, 3), "0,3333", "0.3333"),  # no fraction in a letter: four decimals, rounded half to even
    (Fraction(2, 3), "0,6667", "0.6667"),
    (Decimal("1234.5"), "1.234,5", "1,234.5"),
    (7, "7", "7"),
])
def test_a_number(value, nl, en):
    assert Formatter("nl", LDE).number(value) == nl and Formatter("en", LDE).number(value) == en
    assert Formatter.number_in("nl", value) == nl


@pytest.mark.parametrize("name, lang, text", [
    ("assessment.extra_points", "nl", "extra points"),  # no x-label: the last part of its name, in words
    ("requested_fte", "nl", "gevraagde bijkomende VTE"),
    ("requested_fte", "en", "additional FTE requested"),
])
def test_the_label_of_a_figure(name, lang, text):
    from rules_engine.rules.checker import applicant_schema
    labels = applicant_schema(LDE.facts_schema)["properties"].get(name.split(".")[0], {}).get("x-label")
    if "." in name or labels is None:
        assert label(LDE, name, lang) == text
    else:
        assert label(LDE, name, lang) == labels[lang] == text


def test_a_letter_quotes_a_text_of_slashes_and_digits_as_given(tmp_path):
    # A rule that reads a text such as a file reference '2018/06/20' ended the letter in an internal error
    # (the text was taken for a fraction p/q and split into three numbers).
    import datetime as dt
    import json

    from rules_engine.decide.decision import decide
    from rules_engine.rules.compile import compile_file as compile_path
    from rules_engine.rules.facts import parse_facts
    from rules_engine.tell.letter import as_letter_text, letter
    from test_checker import write

    rules = write(tmp_path, {"ref": {"type": "string"}}, when='ref != "x"')
    ruleset = compile_path(rules)
    facts = parse_facts(json.dumps({"applicants": [{"id": "A", "requested_fte": 1, "ref": "2018/06/20"}]}).encode(),
                        "f.json", ruleset)
    record = decide(ruleset, facts, dt.date(2018, 6, 20), kind="simulation")
    text = " ".join(as_letter_text(letter(record, ruleset, "A", "nl")).split())
    assert "ref: 2018/06/20" in text


@pytest.mark.parametrize("value, nl", [
    (Fraction(99996, 100000), "99,996 %"),  # not all of it: never written as 100,00 %
    (Fraction(1, 3), "33,33 %"),
    (Fraction(4, 100000), "0,004 %"),  # not nothing: never written as 0,00 %
    (Fraction(1), "100,00 %"), (Fraction(0), "0,00 %"),
])
def test_a_rate_is_all_or_nothing_only_when_it_is(value, nl):
    assert Formatter("nl", LDE).rate(value) == nl


@pytest.mark.parametrize("value, nl", [
    (Fraction(1, 30000), "0,00003"),  # a share that is not nothing is never written as 0
    (Fraction(-1, 30000), "-0,00003"),
    (Fraction(1, 3), "0,3333"),
])
def test_a_number_is_nothing_only_when_it_is(value, nl):
    assert Formatter("nl", LDE).number(value) == nl


def test_a_rate_a_hair_over_all_of_it_keeps_every_decimal_it_needs():
    # 10^-40 over 100%: twenty-six decimals and three digits before them, more than a decimal context of 28 holds
    assert Formatter("nl", LDE).rate(Fraction(1) + Fraction(1, 10**40)) == "100," + "0" * 25 + "1 %"


def test_a_number_keeps_the_decimals_it_needs_past_ten():
    # 10^-12 is not nothing: twelve decimals, past the ten a written number was cut to
    assert Formatter("nl", LDE).number(Fraction(1, 10**12)) == "0,000000000001"
