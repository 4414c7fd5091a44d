"""The draft editor's form over a rule text (issue 21, item 3): conditions, their descriptions, the cap and
the parameters' descriptions are fields; what the form changes is written into the text with everything else
as it was; a problem of the text is shown under the field it comes from, at its position in that field."""
from __future__ import annotations

import pytest

from rules_engine.rules.compile import compile_file, compile_text
from rules_service.editor import apply, changes_in_words, field_problems, fields

from conftest import RULES

SHIPPED = (RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_text(encoding="utf-8")


def test_the_form_shows_each_condition_and_the_cap():
    shown = fields(compile_text(SHIPPED, "x.yaml", None, {}))
    rules = {r["field"]: r for r in shown["rules"]}
    assert list(rules) == ["complete_reference_period", "min_fill_rate"]
    assert rules["min_fill_rate"]["when"] == "fill_rate >= params.min_fill_rate"
    assert rules["min_fill_rate"]["description"] == ("Het contingent was gemiddeld voor minstens 95% ingevuld over de "
                                                     "referteperiode")
    assert shown["cap"] == "requested_fte"
    described = {p["name"]: p["description"] for p in shown["parameters"]}
    assert described["min_fill_rate"].endswith("(inclusief 95%)")


def test_a_changed_condition_and_description_change_only_their_lines():
    changed = apply(SHIPPED, {"when:min_fill_rate": "fill_rate > params.min_fill_rate",
                              "desc:min_fill_rate": "Het contingent was gemiddeld voor meer dan 95% ingevuld",
                              "pdesc:min_fill_rate": "Minimale invullingsgraad (exclusief)", "cap": "requested_fte * 2"})
    before, after = SHIPPED.splitlines(), changed.splitlines()
    assert len(before) == len(after)
    differing = [(a, b) for a, b in zip(before, after) if a != b]
    assert differing == [
        ("    description: Minimale invullingsgraad van het contingent over de referteperiode (inclusief 95%)",
         "    description: Minimale invullingsgraad (exclusief)"),
        ("    description: Het contingent was gemiddeld voor minstens 95% ingevuld over de referteperiode",
         "    description: Het contingent was gemiddeld voor meer dan 95% ingevuld"),
        ("    when: fill_rate >= params.min_fill_rate", "    when: fill_rate > params.min_fill_rate"),
        ("  cap: requested_fte", "  cap: requested_fte * 2")]


def test_a_condition_that_looks_like_a_boolean_stays_a_text():
    changed = apply(SHIPPED, {"when:min_fill_rate": "true"})
    assert "    when: 'true'\n" in changed  # quoted: YAML would read a bare true as a boolean, not a condition


def test_a_problem_is_shown_under_its_field_at_its_place_in_the_field():
    typo = apply(SHIPPED, {"when:min_fill_rate": "fill_rate >= params.min_fil_rate"})
    from rules_engine import api

    problems = api.check_text(typo, "<draft>").problems
    shown = field_problems(typo, problems)
    # by hand: 'params.min_fil_rate' starts at the 14th character of 'fill_rate >= params.min_fil_rate'
    assert [(p["field"], p["position"]) for p in shown] == [("when:min_fill_rate", 14)]
    assert "min_fil_rate" in shown[0]["message"]
    cap = apply(SHIPPED, {"cap": "requested_fte +"})
    shown = field_problems(cap, api.check_text(cap, "<draft>").problems)
    assert [(p["field"], p["position"]) for p in shown] == [("cap", 15)]  # at the 15th character: the + without its value


def test_a_problem_of_no_field_is_kept_with_its_line():
    broken = SHIPPED.replace("  unit: 1\n", "  unit: one\n")
    from rules_engine import api

    shown = field_problems(broken, api.check_text(broken, "<draft>").problems)
    assert shown and shown[0]["field"] == "" and shown[0]["line"] == broken.splitlines().index("  unit: one") + 1


def test_a_text_yaml_cannot_read_keeps_its_problem_at_its_line():
    from rules_engine import api
    from rules_engine.errors import InputError

    broken = SHIPPED.replace("  unit: 1\n", "  unit: [1\n")
    try:
        api.check_text(broken, "<draft>")
        problems = []
    except InputError as exc:
        problems = exc.problems
    else:
        problems = api.check_text(broken, "<draft>").problems
    shown = field_problems(broken, problems)
    assert shown and all(p["field"] == "" and p["line"] > 0 for p in shown)
    assert field_problems("- a list\n- not a mapping\n", problems) == [{**p} for p in shown]


@pytest.mark.parametrize("before, after, said", [
    ("0.95", "0.95555", "95,00 % → 95,555 %"),  # a threshold is said as written, never rounded to 95,56 %
    ("0.95555", "0.95556", "95,555 % → 95,556 %"),  # a change is never said as no change
    ("0.95", "0.90", "95,00 % → 90,00 %"),
])
def test_a_changed_threshold_is_said_exactly(before, after, said):
    path = RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml"
    text = path.read_text(encoding="utf-8")
    assert "    value: 0.95\n" in text
    old, new = (compile_file(path) if value == "0.95" else
                compile_text(text.replace("    value: 0.95\n", f"    value: {value}\n"), str(path), path.parent)
                for value in (before, after))
    assert any(line.endswith(": " + said) for line in changes_in_words(old, new, "nl")), changes_in_words(old, new, "nl")
