"""The pages' problems with a rule text in Dutch (a Dutch page has no English): the engine's messages for the
mistakes people make while typing a condition, each made for real and read back in Dutch written by hand."""
from __future__ import annotations

import pytest

from rules_engine import api
from rules_service.dutch import in_dutch

from conftest import RULES

SHIPPED = (RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_text(encoding="utf-8")
CONDITION = "when: fill_rate >= params.min_fill_rate"


@pytest.mark.parametrize("typed, dutch", [
    ("fill_rate >= params.min_fil_rate", "onbekende parameter 'min_fil_rate', bedoelt u 'min_fill_rate'?"),
    ("fill_rate >= params.nothing_like_it", "onbekende parameter 'nothing_like_it'"),
    ("fill_rate >=", "hier hoort een waarde, maar er staat het einde van de uitdrukking"),
    ("fill_rate >= params.min_fill_rate)", "onverwacht: ')'"),
    ("fill_rate >= params.min_fill_rate >= 0", "vergelijkingen kunnen niet aan elkaar geschakeld worden; verbind ze met 'and'"),
    ("fill_rate >= 'hoog'", "een getal kan niet vergeleken worden met een tekst"),
    ("fill_rate", "een voorwaarde moet waar of onwaar zijn, dit geeft een getal"),
    ("fill_rate >= params.min_fill_rate and name * 2 > 1", "'*' werkt met getallen, niet met een tekst"),
    ("fill_rate >= avg(quarters, filled_fte)", None),
])
def test_a_mistyped_condition_is_told_in_dutch(typed, dutch):
    text = SHIPPED.replace(CONDITION, f"when: {typed}")
    problems = api.check_text(text, "<draft>").problems
    assert len(problems) == 1
    said = in_dutch(problems[0].message)
    if dutch is None:  # an unknown function: its list of functions is kept, the sentence is Dutch
        assert said.startswith("onbekende functie 'avg'; de functies zijn ")
    else:
        assert said == dutch


def test_a_message_of_unknown_shape_is_kept_as_it_is():
    assert in_dutch("something new went wrong") == "something new went wrong"
