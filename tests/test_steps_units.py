"""Issue 26: what the record says of an allocation, in units other than 1 FTE, computed by hand.

A small LDE round of three initiatives (A, B and C, ranked in that order, each asking 3 FTE) under
allocations written for each case; every expected number is worked out in the comment beside it.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from rules_engine.api import Asking, evaluate

from conftest import EXAMPLES, RULES

LDE = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")


def _applicant(id_, score_each, rate, province="Limburg"):
    return {"id": id_, "name": f"Initiatief {id_}", "province": province, "contingent_fte": 10, "requested_fte": 3,
            "realisation_rate": rate, "merged_on": None,
            "assessment": {k: score_each for k in ("guidance_actions", "transition_vision", "realised_transition",
                                                   "regular_cooperation")}}


FACTS = {"applicants": [_applicant("C", 2, 0.92), _applicant("A", 3, 0.95), _applicant("B", 2, 0.95)]}  # A, B, C


def decide(tmp_path, budget: str, allocation: str) -> dict:
    text = LDE.replace("budget:\n  fte: 155\n  unit: 1\n", f"budget:\n{budget}")
    assert text != LDE
    text = text[:text.index("\nallocation:\n")] + "\nallocation:\n" + allocation + text[text.index("\nlint:\n"):]
    folder = tmp_path / "rules" / "lde"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lde-2018.yaml").write_text(text, encoding="utf-8")
    _ruleset, record, _ = evaluate(str(folder / "lde-2018.yaml"), FACTS, dt.date(2018, 6, 20), tmp_path / "rules",
                                   asking=Asking(simulate=True, logging=False))
    return record


def by_id(record: dict) -> dict:
    return {d["id"]: d for d in record["decisions"]}


def test_a_cap_is_rounded_down_to_whole_units(tmp_path):
    # unit 0.5: a cap of 1.25 FTE is 2.5 units, so 2 units = 1 FTE each (never 3 = 1.5); 4 FTE = 8 units:
    # A, B and C take 2 units each, 2 units (1 FTE) stay
    record = decide(tmp_path, "  fte: 4\n  unit: 0.5\n", "  cap: '1.25'\n  steps:\n    - step: greedy\n")
    got = by_id(record)
    assert [got[k]["allocated_fte"] for k in "ABC"] == [1, 1, 1]
    assert all(got[k]["allocation"]["cap_fte"] == 1 and got[k]["allocation"]["capped"] for k in "ABC")
    assert record["unallocated_fte"] == 1 and record["steps"][0]["left_fte"] == 1
    assert record["steps"][0] == {"step": 1, "kind": "greedy", "budget_fte": 4, "allocated_fte": 3, "left_fte": 1}


def test_round_robin_in_half_fte_names_each_turn(tmp_path):
    # 4 FTE = 8 half units over 3 applicants with caps of 6 units: two full rounds (6 units), then the last
    # 2 units go to A (turn 1) and B (turn 2): A 3 units = 1.5 FTE, B 1.5, C 1
    record = decide(tmp_path, "  fte: 4\n  unit: 0.5\n", "  cap: requested_fte\n  steps:\n    - step: round-robin\n")
    got = by_id(record)
    assert [got[k]["allocated_fte"] for k in "ABC"] == [Decimal("1.5"), Decimal("1.5"), 1]
    assert got["A"]["allocation"]["steps"] == [{"step": 1, "kind": "round-robin", "fte": Decimal("1.5"), "turn": 1}]
    assert got["B"]["allocation"]["steps"] == [{"step": 1, "kind": "round-robin", "fte": Decimal("1.5"), "turn": 2}]
    assert got["C"]["allocation"]["steps"] == [{"step": 1, "kind": "round-robin", "fte": 1}]
    assert not any(got[k]["allocation"]["capped"] for k in "ABC")
    assert record["steps"][0]["left_fte"] == 0 and record["unallocated_fte"] == 0


def test_a_reduction_in_half_fte(tmp_path):
    # C gives up 0.5 FTE (1 unit); the budget of 1 FTE plus that unit is 3 units; greedy with caps of 1 FTE
    # (2 units): A 2 units (1 FTE), B the last unit (0.5 FTE), C nothing: its change is -0.5
    record = decide(tmp_path, "  fte: 1\n  unit: 0.5\n",
                    "  cap: '1'\n  steps:\n    - {step: reduce, amount: '0.5', for: id == \"C\"}\n    - step: greedy\n")
    got = by_id(record)
    assert record["reduced_fte"] == Decimal("0.5")
    assert got["C"]["reduced_fte"] == Decimal("0.5") and got["C"]["change_fte"] == Decimal("-0.5")
    assert got["A"]["reduced_fte"] == 0 and got["A"]["change_fte"] == 1
    assert [got[k]["allocated_fte"] for k in "ABC"] == [1, Decimal("0.5"), 0]
    assert record["steps"][0] == {"step": 1, "kind": "reduce", "budget_fte": Decimal("0.5"),
                                  "reduced_fte": Decimal("0.5"), "left_fte": Decimal("1.5")}
    assert record["steps"][1]["left_fte"] == 0


def test_a_proportional_ideal_is_in_fte_not_units(tmp_path):
    # 2.5 FTE = 5 half units over three equal weights: each ideal 5/3 units = 5/6 FTE; floors 1 unit each,
    # the 2 left by largest remainder (equal: rank order) to A and B
    record = decide(tmp_path, "  fte: 2.5\n  unit: 0.5\n", "  method: proportional\n  weight: '1'\n  cap: requested_fte\n")
    got = by_id(record)
    assert all(got[k]["allocation"]["ideal_fte"] == Fraction(5, 6) for k in "ABC")
    assert [got[k]["allocated_fte"] for k in "ABC"] == [1, 1, Decimal("0.5")]
    assert got["A"]["allocation"]["floor_fte"] == Decimal("0.5") and got["A"]["allocation"]["remainder_turn"] == 1


@pytest.mark.parametrize("allocation", [
    "  method: proportional\n  weight: 'if id == \"A\" then 0 else 1'\n  cap: requested_fte\n",
    "  cap: requested_fte\n  steps:\n    - {step: proportional, weight: 'if id == \"A\" then 0 else 1'}\n",
], ids=["method", "step"])
def test_a_weight_of_0_gets_nothing(tmp_path, allocation):
    # weights 0, 1, 1 (A has none): 4 FTE shared by B and C, 2 each; A 0 (never the 4/3 of a weight read as 1)
    record = decide(tmp_path, "  fte: 4\n  unit: 1\n", allocation)
    assert [by_id(record)[k]["allocated_fte"] for k in "ABC"] == [0, 2, 2]


def test_a_budget_from_the_call_that_comes_to_0_decides_nothing_without_refusing(tmp_path):
    record = decide(tmp_path, "  fte: 'sum(applicants, contingent_fte) - sum(applicants, contingent_fte)'\n  unit: 1\n",
                    "  method: greedy\n  cap: requested_fte\n")
    assert record["budget_fte"] == 0 and record["allocated_fte"] == 0 and record["eligible"] == 3


def test_region_totals_are_the_sums_of_their_applicants():
    _ruleset, record, _ = evaluate("social-workshops", EXAMPLES / "social-workshops-2018.yaml", dt.date(2019, 6, 20),
                                   RULES, asking=Asking(logging=False))
    assert len(record["regions"]) == 5
    for name, region in record["regions"].items():
        mine = [d for d in record["decisions"] if d["region"] == name]
        assert region["allocated_fte"] == sum((d["allocated_fte"] for d in mine), Decimal(0)), name
        assert region["applicants"] == len(mine) and region["eligible"] == sum(d["eligible"] for d in mine)
    assert sum(Fraction(r["allocated_fte"]) for r in record["regions"].values()) == Fraction(record["allocated_fte"])


def test_a_pool_in_half_fte_records_its_round(tmp_path):
    """The 2019 social-workshops steps in half FTE: 2.5 FTE = 5 units; D'Hondt over Antwerpen (weight 1) and
    Limburg (weight 0) gives Antwerpen all 5. A (Antwerpen, asking 1 FTE = 2 units) gets its minimum of 2 units;
    Limburg has nothing. The pool of the 3 units left goes round-robin to B and C (Limburg), ranked B (99%) before
    C (97%): B, C, B: B 1 FTE, C 0.5 FTE, in one round of the pool of 1.5 FTE."""
    from helpers import workshop, write_facts

    text = (RULES / "social-workshops" / "social-workshops-2019.yaml").read_text(encoding="utf-8")
    text = text.replace("  fte: 149\n  unit: 1\n", "  fte: 2.5\n  unit: 0.5\n")
    folder = tmp_path / "rules" / "social-workshops"
    folder.mkdir(parents=True)
    (folder / "social-workshops-2019.yaml").write_text(text, encoding="utf-8")
    facts = write_facts(tmp_path / "facts.json",
                        [workshop("A", "Antwerpen", 10, 1, "0.98"), workshop("B", "Limburg", 10, 3, "0.99"),
                         workshop("C", "Limburg", 10, 3, "0.97")],
                        {"Antwerpen": {"nwwz": 1}, "Limburg": {"nwwz": 0}})
    _ruleset, record, _ = evaluate(str(folder / "social-workshops-2019.yaml"), facts, dt.date(2019, 6, 20),
                                   tmp_path / "rules", asking=Asking(simulate=True, logging=False))
    got = by_id(record)
    assert [got[k]["allocated_fte"] for k in "ABC"] == [1, 1, Decimal("0.5")]
    assert record["steps"][-1] == {"step": 4, "kind": "pool", "budget_fte": Decimal("1.5"),
                                   "allocated_fte": Decimal("1.5"), "left_fte": 0, "rounds_fte": [Decimal("1.5")]}
    assert record["pool"] == {"rounds_fte": [Decimal("1.5")], "pooled_fte": Decimal("1.5")}
    assert record["regions"]["Antwerpen"]["allocated_fte"] == 1 and record["regions"]["Limburg"]["allocated_fte"] == Decimal("1.5")
    limburg = record["regions"]["Limburg"]  # a weight of 0 is 0, and so is its share of the budget
    assert limburg["weight"] == 0 and limburg["quota_fte"] == 0 and limburg["budget_fte"] == 0
    assert record["regions"]["Antwerpen"]["quota_fte"] == Decimal("2.5")


def test_the_reduction_stands_before_what_is_allocated(tmp_path):
    record = decide(tmp_path, "  fte: 1\n  unit: 0.5\n",
                    "  cap: '1'\n  steps:\n    - {step: reduce, amount: '0.5', for: id == \"C\"}\n    - step: greedy\n")
    keys = list(record)
    assert keys.index("reduced_fte") + 1 == keys.index("allocated_fte")  # the record's bytes, as replay expects
    decision = list(by_id(record)["C"])
    assert decision.index("allocated_fte") + 1 == decision.index("reduced_fte")
    assert decision.index("reduced_fte") + 1 == decision.index("change_fte")
    assert decision[decision.index("change_fte") + 1:] == ["reasons", "tier_checks", "rank_keys", "derived", "allocation"]
    assert by_id(record)["C"]["allocation"]["steps"][0] == {"step": 1, "kind": "reduce", "reduced_fte": Decimal("0.5")}


def test_steps_that_take_nothing_leave_no_reduction_in_the_decision(tmp_path):
    """Only a ruleset with a reduce step has reduced_fte and change_fte in its decisions; steps that only give
    write a decision as a method does, with what each step gave in its allocation."""
    record = decide(tmp_path, "  fte: 4\n  unit: 0.5\n", "  cap: '1'\n  steps:\n    - step: greedy\n")
    decision = by_id(record)["A"]
    assert list(decision) == ["id", "name", "region", "eligible", "tier", "tier_rule", "rank", "requested_fte",
                              "allocated_fte", "reasons", "tier_checks", "rank_keys", "derived", "allocation"]
    assert decision["allocation"] == {"cap_fte": 1, "capped": True, "steps": [{"step": 1, "kind": "greedy", "fte": 1}]}


def test_step_totals_and_entries_are_named_by_what_the_step_did(tmp_path):
    # round-robin as before: 4 FTE in half units, A 1.5, B 1.5, C 1; a step that gives says allocated_fte
    record = decide(tmp_path, "  fte: 4\n  unit: 0.5\n", "  cap: requested_fte\n  steps:\n    - step: round-robin\n")
    assert record["steps"] == [{"step": 1, "kind": "round-robin", "budget_fte": 4, "allocated_fte": 4, "left_fte": 0}]
    # C gives up 1 FTE (2 units), A and B take it; the reduce step's entry for C says reduced_fte
    reduced = decide(tmp_path, "  fte: 0\n  unit: 0.5\n",
                     "  cap: '0.5'\n  steps:\n    - {step: reduce, amount: '1', for: id == \"C\"}\n    - step: greedy\n")
    got = by_id(reduced)
    assert got["C"]["allocation"]["steps"] == [{"step": 1, "kind": "reduce", "reduced_fte": 1}]
    assert got["A"]["allocation"]["steps"] == [{"step": 2, "kind": "greedy", "fte": Decimal("0.5")}]
    assert reduced["reduced_fte"] == 1 and got["C"]["reduced_fte"] == 1  # 2 units of 0.5
    # the 2 units freed go to A and B, 1 each (cap 0.5 FTE); C, ranked last, gets none of them
    assert reduced["steps"][0]["reduced_fte"] == 1 and reduced["steps"][1]["allocated_fte"] == 1
    assert got["B"]["allocated_fte"] == Decimal("0.5") and got["C"]["allocated_fte"] == 0


def test_an_ineligible_applicant_gives_up_nothing(tmp_path):
    _ruleset, record, _ = evaluate("maatwerk-redistribution", EXAMPLES / "maatwerk-2020.yaml", dt.date(2020, 3, 1),
                                   RULES, asking=Asking(logging=False))
    out = [d for d in record["decisions"] if not d["eligible"]]
    assert out and all(d["reduced_fte"] == 0 and d["change_fte"] == 0 and d["allocated_fte"] == 0 for d in out)


def test_whole_units_are_the_floor_of_the_exact_quotient_of_any_number_by_any_unit():
    """An amount in whole units, rounded down, none below 0 (and none for no amount): worked out with Fractions."""
    import math
    import random
    from decimal import Decimal
    from fractions import Fraction

    from rules_engine.decide.steps import whole_units

    rng = random.Random(5)

    def number():
        return rng.choice([rng.randint(-20, 50), Decimal(rng.randint(-2000, 5000)).scaleb(-rng.randint(0, 3)),
                           Fraction(rng.randint(-200, 500), rng.randint(1, 13)), None, 0, True])
    for _ in range(3000):
        value = number()
        unit = rng.choice([1, Decimal("0.5"), Decimal("0.1"), Decimal("2"), Fraction(1, 3), Decimal("0.25")])
        expected = max(0, math.floor(Fraction(value or 0) / Fraction(unit)))
        got = whole_units(value, unit)
        assert got == expected and type(got) is int, (value, unit)
    assert whole_units(Decimal("2.99"), Decimal("0.5")) == 5 and whole_units(Decimal("-0.1"), 1) == 0


def test_a_region_with_a_share_and_no_applicant_has_allocated_nothing(tmp_path):
    """2019 social workshops, 149 FTE by D'Hondt over Antwerpen (weight 3) and Limburg (weight 1): Antwerpen 112,
    Limburg 37 (the 149th quotient is Antwerpen's 3/112 = 0.02679; Limburg's 38th, 1/38 = 0.02632, and
    Antwerpen's 113th, 3/113 = 0.02655, fall below it). Limburg's share has no workshop to go to: its own figure
    says 0 FTE allocated, and A gets what it asked (5) from Antwerpen's share."""
    from helpers import workshop, write_facts

    facts = write_facts(tmp_path / "facts.json", [workshop("A", "Antwerpen", 10, 5, "0.98")],
                        {"Antwerpen": {"nwwz": 3}, "Limburg": {"nwwz": 1}})
    _ruleset, record, _ = evaluate("social-workshops@2019.1", facts, dt.date(2019, 6, 20), RULES,
                                   asking=Asking(logging=False))
    limburg = record["regions"]["Limburg"]
    assert limburg["applicants"] == 0 and limburg["budget_fte"] == 37
    assert limburg["allocated_fte"] == 0 and str(limburg["allocated_fte"]) == "0"
    assert record["regions"]["Antwerpen"]["allocated_fte"] == 5
