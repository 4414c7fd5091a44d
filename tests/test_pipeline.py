"""Allocation steps: properties, and agreement with a literal one-unit-at-a-time reference.

The references below hand out one unit at a time, as a policy text describes it; the pipeline
computes the same arithmetically. They share no code with ``rules_engine.allocate.pipeline``.
"""
from __future__ import annotations

import datetime as dt
import random
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.allocate.methods import Claim, allocate, round_robin
from rules_engine.api import Asking, evaluate
from rules_engine.decide.decision import to_json
from rules_engine.rules.load import load_yaml_document
from rules_engine.allocate.pipeline import Member, Plan, run

REGIONS = ("A", "B", "C")

members_st = st.lists(st.tuples(st.integers(-3, 12), st.sampled_from(REGIONS), st.booleans(), st.integers(0, 9)),
                      min_size=0, max_size=15)


def make(raw) -> list[Member]:
    return [Member(f"m{i:02d}", cap, i + 1, region) for i, (cap, region, _sel, _amount) in enumerate(raw)]


def literal_round_robin(budget: int, caps: list[int]) -> list[int]:
    """One unit at a time, in order, cycling, skipping whoever is full."""
    got = [0] * len(caps)
    while budget > 0 and any(g < c for g, c in zip(got, caps)):
        for i, cap in enumerate(caps):
            if budget > 0 and got[i] < cap:
                got[i] += 1
                budget -= 1
    return got


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 120), st.lists(st.integers(0, 15), max_size=12))
def test_round_robin_is_the_literal_procedure(budget, caps):
    claims = [Claim(f"c{i:02d}", cap, Fraction(1), i) for i, cap in enumerate(caps)]
    grants = round_robin(budget, claims)
    assert [grants[c.id].units for c in claims] == literal_round_robin(budget, caps)


def test_round_robin_of_a_billion_units_is_arithmetic():
    claims = [Claim(f"c{i:03d}", 10**7 + i, Fraction(1), i) for i in range(200)]
    grants = round_robin(10**9, claims)  # a loop over the units would not end in any reasonable time
    got = [grants[c.id].units for c in claims]
    assert sum(got) == 10**9
    assert max(got) - min(got) <= 1 or all(g == c.cap for g, c in zip(got, claims) if g < max(got))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 80), members_st, st.integers(0, 4), st.sampled_from(["greedy", "round-robin", "equal"]))
def test_totals_are_conserved_and_caps_hold(budget, raw, minimum, method):
    members = make(raw)
    selected = frozenset(m.id for m, r in zip(members, raw) if r[2])
    amounts = {m.id: r[3] for m, r in zip(members, raw)}
    plans = [Plan("reduce", selected=selected, amounts=amounts),
             Plan("split", "dhondt", region_weights={"A": Fraction(3), "B": Fraction(2), "C": Fraction(1)}),
             Plan("minimum", units=minimum), Plan(method), Plan("pool", "round-robin")]
    outcome = run(budget, members, plans)
    reduced = sum(outcome.reduced.values())
    assert reduced == sum(amounts[i] for i in selected)
    assert outcome.allocated + outcome.unallocated == budget + reduced  # nothing made, nothing lost
    for m in members:
        assert 0 <= outcome.granted[m.id] <= max(0, m.cap)  # a negative cap is 0
    open_caps = sum(max(0, m.cap) - outcome.granted[m.id] for m in members)
    assert outcome.unallocated == 0 or open_caps == 0  # the pool leaves nothing that someone could take


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.lists(st.integers(0, 8), max_size=12), st.integers(1, 4))
def test_the_minimum_is_honoured_while_the_budget_allows(budget, caps, minimum):
    members = [Member(f"m{i:02d}", cap, i + 1) for i, cap in enumerate(caps)]
    outcome = run(budget, members, [Plan("minimum", units=minimum)])
    due = [min(minimum, cap) for cap in caps]
    if sum(due) <= budget:
        assert [outcome.granted[m.id] for m in members] == due
    else:  # in rank order: everyone before the first one short got its due, nobody after it got anything
        got = [outcome.granted[m.id] for m in members]
        short = next(i for i, (g, d) in enumerate(zip(got, due)) if g < d)
        assert got[:short] == due[:short] and all(g == 0 for g in got[short + 1:])
        assert outcome.unallocated == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 100), st.lists(st.integers(0, 30), max_size=12))
def test_round_robin_is_within_one_unit_of_equal_where_caps_do_not_bind(budget, caps):
    members = [Member(f"m{i:02d}", cap, i + 1) for i, cap in enumerate(caps)]
    outcome = run(budget, members, [Plan("round-robin")])
    free = [outcome.granted[m.id] for m in members if outcome.granted[m.id] < m.cap]
    if free:
        assert max(free) - min(free) <= 1
        assert all(outcome.granted[m.id] <= max(free) + 0 or outcome.granted[m.id] == m.cap for m in members)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100), st.lists(st.tuples(st.integers(0, 20), st.integers(0, 9)), max_size=12),
       st.sampled_from(["greedy", "equal", "proportional", "round-robin"]))
def test_a_one_step_pipeline_is_the_method(budget, raw, method):
    claims = [Claim(f"c{i:02d}", cap, Fraction(weight), i + 1) for i, (cap, weight) in enumerate(raw)]
    old = allocate(budget, claims, method)
    members = [Member(c.id, c.cap, c.order) for c in claims]
    weights = {c.id: c.weight for c in claims} if method == "proportional" else None
    new = run(budget, members, [Plan(method, weights=weights)])
    assert {c.id: old.grants[c.id].units for c in claims} == new.granted
    assert old.unallocated == new.unallocated


def test_a_reserve_flows_on_and_a_later_step_sees_what_it_gave():
    members = [Member("a", 4, 1, "X"), Member("b", 3, 2, "Y"), Member("c", 10, 3, "Y")]
    outcome = run(10, members, [Plan("reserve", "greedy", units=6, selected=frozenset({"b", "c"})), Plan("greedy")])
    # reserve 6 for b and c in rank order: b 3, c 3; nothing of it left. Then 4 more: a 4, b full, c 0.
    assert outcome.granted == {"a": 4, "b": 3, "c": 3} and outcome.unallocated == 0
    assert [t.budget for t in outcome.steps] == [6, 4]
    small = run(10, members[:2], [Plan("reserve", "greedy", units=6, selected=frozenset({"b"})), Plan("greedy")])
    # b can only take 3 of the 6 reserved: the other 3 flow on; a then takes 4 of 7; 3 stay unallocated
    assert small.granted == {"a": 4, "b": 3} and small.steps[1].budget == 7 and small.unallocated == 3


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ruleset_id, facts, as_of", [
    ("maatwerk-redistribution", "examples/maatwerk-2020.yaml", dt.date(2020, 3, 1)),
    ("social-workshops", "examples/social-workshops-2018.yaml", dt.date(2019, 6, 20)),
    ("lde", "examples/lde-2018.yaml", dt.date(2019, 6, 20)),
])
def test_shuffled_facts_give_the_same_bytes(ruleset_id, facts, as_of):
    data = dict(load_yaml_document((ROOT / facts).read_text(encoding="utf-8"), facts).data)
    shuffled = dict(data, applicants=random.Random(5).sample(data["applicants"], len(data["applicants"])))
    records = [evaluate(ruleset_id, facts_data, as_of, ROOT / "rules", asking=Asking(logging=False))[1]
               for facts_data in (data, shuffled)]
    for record in records:  # the two files differ, so do their hashes; nothing else may
        del record["decision_id"], record["facts_sha256"]
    assert to_json(records[0]) == to_json(records[1])


def test_a_minimum_tops_up_what_earlier_steps_gave():
    members = [Member("a", 5, 1), Member("b", 5, 2), Member("c", 5, 3)]
    plans = [Plan("reserve", "greedy", units=1, selected=frozenset({"b"})), Plan("minimum", units=2)]
    outcome = run(5, members, plans)
    # the reserve gives b 1; the minimum of 2 then gives a 2, b 1 more (to 2), c the last 1
    assert outcome.granted == {"a": 2, "b": 2, "c": 1}


def _maatwerk_variant(tmp_path, budget: str, steps: str) -> Path:
    text = (ROOT / "rules" / "maatwerk-redistribution" / "maatwerk-redistribution-2020.yaml").read_text("utf-8")
    text = text.replace("budget:\n  fte: 0\n", f"budget:\n  fte: {budget}\n")
    text = text[:text.index("  steps:\n")] + "  steps:\n" + steps
    folder = tmp_path / "rules" / "maatwerk-redistribution"
    folder.mkdir(parents=True)
    (folder / "variant.yaml").write_text(text, encoding="utf-8")
    return folder / "variant.yaml"


def _first_case_facts(tmp_path) -> Path:
    from rules_engine.rules.load import load_yaml_document

    path = ROOT / "rules" / "maatwerk-redistribution" / "tests" / "maatwerk-redistribution-2020.yaml"
    case = load_yaml_document(path.read_text("utf-8"), str(path)).data["cases"][0]
    facts = tmp_path / "facts.json"
    facts.write_bytes(to_json({"regions": case["regions"], "applicants": case["applicants"]}).encode())
    return facts


def test_a_budget_summed_over_the_call(tmp_path):
    """The hand-computed redistribution case, with its budget written as sum(applicants, reduction_fte) and no
    reduce step: the eligible reductions are 10 (r1) and 4 (r2; x1 is not eligible): 14 FTE, of which the
    recipients g1 and g2 take 3 and 2."""
    rules = _maatwerk_variant(tmp_path, '"sum(applicants, reduction_fte)"',
                              "    - {step: round-robin, for: fill_rate > params.recipient_threshold}\n")
    record = evaluate(str(rules), _first_case_facts(tmp_path), dt.date(2020, 3, 1), ROOT / "rules",
                      asking=Asking(logging=False))[1]
    assert record["budget_fte"] == 14 and record["allocated_fte"] == 5 and record["unallocated_fte"] == 9
    grants = {d["id"]: d["allocated_fte"] for d in record["decisions"]}
    assert grants["g1"] == 3 and grants["g2"] == 2 and grants["r1"] == 0


def test_a_budget_over_the_call_is_rounded_down_to_whole_units(tmp_path):
    # contingents of the eligible: 100 + 24 + 50 + 18 + 40 * 4 = 352; / 100 = 3.52: 3 whole FTE
    rules = _maatwerk_variant(tmp_path, '"sum(applicants, contingent_fte) / 100"', "    - {step: greedy}\n")
    record = evaluate(str(rules), _first_case_facts(tmp_path), dt.date(2020, 3, 1), ROOT / "rules",
                      asking=Asking(logging=False))[1]
    assert record["budget_fte"] == 3 and record["allocated_fte"] == 3


def test_a_budget_over_the_call_is_type_checked_at_its_position(tmp_path):
    from rules_engine.api import validate_paths

    rules = _maatwerk_variant(tmp_path, '"sum(applicants, name)"', "    - {step: greedy}\n")
    problems = [str(p) for p in validate_paths([rules]).problems]
    assert len(problems) == 1 and "budget.fte: sum() needs numbers" in problems[0]
    assert problems[0].startswith(f"{rules}:21:9:")  # budget: is line 20 of the shipped file, fte: line 21
