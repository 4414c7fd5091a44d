"""The statement of reasons as a letter to the applicant (the default of 'rules explain REF APPLICANT')."""
from __future__ import annotations

import re

import pytest

from rules_cli.cli import main

from conftest import RULES

ROOT = RULES.parent


@pytest.fixture
def logged(runner, tmp_path):
    log = tmp_path / "log.sqlite"
    for ruleset, facts, as_of in [("sheltered-workshops", "sheltered-workshops-2018.yaml", "2018-06-20"),
                                  ("maatwerk-redistribution", "maatwerk-2020.yaml", "2020-03-01")]:
        result = runner.invoke(main, ["evaluate", ruleset, str(ROOT / "examples" / facts), "--as-of", as_of,
                                      "--rules-dir", str(RULES), "--log", str(log)])
        assert result.exit_code == 0, result.output
    return log


def explain(runner, log, *args):
    result = runner.invoke(main, ["explain", "--log", str(log), *args], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_letter_has_no_code_no_fractions_and_dutch_numbers(runner, logged):
    text = explain(runner, logged, "1", "BW-005")  # eligible at exactly 95%
    assert "95,00 %" in text
    assert "params." not in text and "_" not in text.replace("Beschutte werkplaats", "")
    assert not re.search(r"\d+/\d+", text)  # no fraction
    assert not re.search(r"Decimal\(|Fraction\(", text)
    assert re.search(r"\d+,\d\d %", text)  # the fill rate as a Dutch percentage, e.g. 97,31 %
    assert "1. Komt u in aanmerking?" in text and "3. Uw plaats in de rangschikking" in text
    assert "20 juni 2018" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_letter_names_the_missing_quarter_and_goes_straight_to_the_outcome(runner, logged):
    text = explain(runner, logged, "1", "BW-008")  # BW-008 lacks 2017Q1
    assert "Er ontbreekt: 2017Q1." in text
    assert "niet voldaan" in text and "2. Wat u krijgt" in text and "Voorrang" not in text


def test_a_failed_rule_gives_its_reason_in_the_policy_owners_words(runner, logged):
    text = words(explain(runner, logged, "2", "MB-006"))
    assert "Waarom niet: Zonder volledige referteperiode wordt een maatwerkbedrijf niet verminderd" in text
    assert "Er ontbreekt: 2019Q1." in text


def test_the_letter_of_a_reduction_says_what_is_taken(runner, logged):
    text = words(explain(runner, logged, "2", "MB-029"))
    assert "Uw contingent wordt verminderd met 17 VTE" in text


def test_in_english_and_for_auditors(runner, logged):
    english = explain(runner, logged, "1", "BW-001", "--lang", "en")
    assert "1. Are you eligible?" in english and "20 June 2018" in english and re.search(r"\d+\.\d\d %", english)
    auditor = explain(runner, logged, "1", "BW-001", "--for", "auditor")
    assert "params.min_fill_rate" in auditor and "Voorwaarde:" in auditor


def test_the_letter_as_json_has_its_sections(runner, logged):
    import json

    data = json.loads(explain(runner, logged, "1", "BW-001", "--format", "json"))
    assert data["for"] == "applicant" and data["language"] == "nl"
    assert [s["title"] for s in data["sections"]][1] == "1. Komt u in aanmerking?"
