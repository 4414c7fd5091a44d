"""Issue 26: golden letters, one per situation, in Dutch and English, each read and checked by hand once.

A change to a letter's wording shows here as a diff to review: set RULES_WRITE_GOLDEN=1 to write the new
letters, read them, and commit them with the change. The numbers in them are the hand-computed ones of
test_letter_truth.py and test_steps_units.py.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from rules_engine.api import Asking, evaluate
from rules_engine.tell.letter import as_letter_text, letter

from conftest import EXAMPLES, RULES
from test_letter_truth import FACTS, _variant

GOLDEN = Path(__file__).parent / "golden" / "letters"
CAP_A_0 = "  cap: 'if id == \"A\" then 0 else requested_fte'\n"
INELIGIBLE = {"applicants": [*FACTS["applicants"], {**FACTS["applicants"][0], "id": "D", "name": "Initiatief D",
                                                    "realisation_rate": 0.85}]}

SMALL = {  # name: (allocation, facts)
    "greedy": ("  method: greedy\n" + CAP_A_0, FACTS),
    "greedy-plain": ("  method: greedy\n  cap: requested_fte\n", FACTS),  # A 3, B the 1 left, C nothing
    "proportional": ("  method: proportional\n  weight: requested_fte\n  cap: requested_fte\n", FACTS),
    "round-robin": ("  method: round-robin\n  cap: requested_fte\n", FACTS),
    "ineligible": ("  method: greedy\n  cap: requested_fte\n", INELIGIBLE),
}
CASES = [  # (file, round, applicant, language)
    ("greedy-cap-0.nl.txt", "greedy", "A", "nl"), ("greedy-cap-0.en.txt", "greedy", "A", "en"),
    ("greedy-budget-left.nl.txt", "greedy", "C", "nl"),
    ("greedy-budget-empty.nl.txt", "greedy-plain", "C", "nl"), ("greedy-budget-left.en.txt", "greedy", "C", "en"),
    ("proportional-remainder.nl.txt", "proportional", "A", "nl"),
    ("proportional-rounded.en.txt", "proportional", "B", "en"),
    ("round-robin-turn.nl.txt", "round-robin", "A", "nl"), ("round-robin-turn.en.txt", "round-robin", "A", "en"),
    ("ineligible.nl.txt", "ineligible", "D", "nl"), ("ineligible.en.txt", "ineligible", "D", "en"),
    ("sheltered-region-pool.nl.txt", "sheltered-workshops", "BW-040", "nl"),
    ("lde-2019-cap-1.nl.txt", "lde@2019.1", "LDE-004", "nl"),
    ("lde-2019-steps.nl.txt", "lde@2019.1", "LDE-079", "nl"),
    ("social-2019-steps-turn.nl.txt", "social-workshops", "SW-006", "nl"),
    ("social-2019-steps-turn.en.txt", "social-workshops", "SW-006", "en"),
    ("maatwerk-reduction.nl.txt", "maatwerk-redistribution", "MB-002", "nl"),
]
SHIPPED = {"sheltered-workshops": ("sheltered-workshops-2018.yaml", dt.date(2018, 6, 20)),
           "lde@2019.1": ("lde-2018.yaml", dt.date(2019, 6, 20)),
           "social-workshops": ("social-workshops-2018.yaml", dt.date(2019, 6, 20)),
           "maatwerk-redistribution": ("maatwerk-2020.yaml", dt.date(2020, 3, 1))}


def _letter(tmp_path, name: str, applicant: str, lang: str) -> str:
    if name in SMALL:
        allocation, facts = SMALL[name]
        spec, rules, day = str(_variant(tmp_path, allocation)), tmp_path / "rules", dt.date(2018, 6, 20)
    else:
        facts_file, day = SHIPPED[name]
        spec, rules, facts = name, RULES, EXAMPLES / facts_file
    ruleset, record, _ = evaluate(spec, facts, day, rules, asking=Asking(simulate=True, logging=False))
    record = dict(record, decision_id="0" * 64)  # the letter names the decision; its id here is a placeholder
    return as_letter_text(letter(record, ruleset, applicant, lang))


@pytest.mark.parametrize("file, name, applicant, lang", CASES, ids=[c[0] for c in CASES])
def test_golden_letter(tmp_path, file, name, applicant, lang):
    text = _letter(tmp_path, name, applicant, lang)
    path = GOLDEN / file
    if os.environ.get("RULES_WRITE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
