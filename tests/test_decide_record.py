"""Issue 26: what ``decide`` writes into a record, pinned field by field where the mutation run of
``engine/decide.py`` showed nothing did: the JSON layout, the engine chosen, a budget computed from the
call (rounding, bounds, its message), missing caps and weights, a region's totals, the ideal share in
units of 2. Expected values by hand, in the comments.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from rules_engine.rules.compile import compile_text
from rules_engine.decide.decision import decide, outcomes_for, to_json, to_json_bytes
from rules_engine.errors import EvaluationError
from rules_engine.decide.evaluate import python_outcomes
from rules_engine.rules.facts import parse_facts

AS_OF = dt.date(2018, 6, 20)
NUM = {"type": "number"}


def ruleset(budget="10", unit="1", method="greedy", cap="requested_fte", weight=None, regions=None,
            fields=None, required=("id",)):
    """A small published ruleset; ``regions`` adds a Hamilton split by the field 'province' on 'weight'."""
    applicant = {"type": "object", "required": list(required),
                 "properties": {"id": {"type": "string"}, "requested_fte": NUM, "province": {"type": "string"},
                                "m": NUM, "w": NUM, **(fields or {})}}
    schema = {"type": "object", "required": ["applicants"], "properties": {
        "applicants": {"type": "array", "items": applicant},
        "regions": {"type": "object", "additionalProperties": {"type": "object", "properties": {"weight": NUM}}}}}
    allocation = {"method": method, "cap": cap}
    if weight:
        allocation["weight"] = weight
    if regions:
        allocation["regions"] = {"field": "province", "weight": "weight", "method": "hamilton"}
    text = "\n".join([
        "ruleset: t", 'version: "1"', "status: published", "title: T", "effective: {from: 2018-01-01}",
        "source: {title: T}", f"budget: {{fte: {budget}, unit: {unit}}}", f"facts: {{schema: {json.dumps(schema)}}}",
        "eligibility: [{id: e, description: e, source: e, when: 'true'}]",
        "priority: {tiers: [], default: {id: all, description: all}}",
        "ranking: [{by: id, order: asc}]", f"allocation: {json.dumps(allocation)}", ""])
    return compile_text(text, "t.yaml")


def run(rs, applicants, regions=None) -> dict:
    data = {"applicants": applicants, **({"regions": regions} if regions is not None else {})}
    return decide(rs, parse_facts(json.dumps(data).encode(), "f.json", rs), AS_OF, kind="simulation")


def by_id(record) -> dict:
    return {d["id"]: d for d in record["decisions"]}


def test_the_json_layout_one_key_per_line_and_one_list_item_per_line():
    # the layout the docstring promises, written out by hand: keys in their order, two spaces, lists under a
    # key one item per line, anything inside compact; an empty list stays on its line
    value = {"b": Decimal("608.01"), "a": [1, {"x": [2, 3]}], "c": {"z": [3]}, "d": []}
    expected = '{\n  "b": 608.01,\n  "a": [\n    1,\n    {"x":[2,3]}\n  ],\n  "c": {"z":[3]},\n  "d": []\n}'
    assert to_json(value) == expected
    assert to_json_bytes(value) == expected.encode()
    assert to_json(value, sort_keys=True).splitlines()[1] == '  "a": ['
    assert to_json(value, indent=None) == '{"b":608.01,"a":[1,{"x":[2,3]}],"c":{"z":[3]},"d":[]}'


def test_each_engine_name_picks_its_evaluator():
    from rules_engine.decide.durable import durable_outcomes
    assert outcomes_for("python") is python_outcomes
    assert outcomes_for("durable") is durable_outcomes
    for wrong in ("pythons", "a", "zzz", "durablf", "durabld"):
        with pytest.raises(ValueError):
            outcomes_for(wrong)


def test_a_budget_from_the_call_is_rounded_down_to_whole_units():
    # budget = sum(applicants, requested_fte * 1.1): A 2 and B 1 -> 3.3 FTE; units of 0.5: floor(3.3 / 0.5) = 6
    # units = 3 FTE. Greedy by id: A 2, B 1.
    rs = ruleset(budget="'sum(applicants, requested_fte * 1.1)'", unit="0.5")
    record = run(rs, [{"id": "A", "requested_fte": 2}, {"id": "B", "requested_fte": 1}])
    assert record["budget_fte"] == 3 and record["allocated_fte"] == 3
    assert [d["allocated_fte"] for d in record["decisions"]] == [2, 1]


@pytest.mark.parametrize("requested, allowed", [(1_000_000, True), (1_000_001, False), (0, True)])
def test_a_budget_from_the_call_may_be_0_to_a_million(requested, allowed):
    rs = ruleset(budget="'sum(applicants, requested_fte)'")
    applicants = [{"id": "A", "requested_fte": requested}]
    if allowed:
        assert run(rs, applicants)["budget_fte"] == requested
    else:
        with pytest.raises(EvaluationError, match="comes to 1000001 FTE for this call: it must be from 0 to 1,000,000"):
            run(rs, applicants)


def test_a_negative_budget_from_the_call_names_its_value():
    rs = ruleset(budget="'sum(applicants, requested_fte * 1.1)'", unit="0.5")
    with pytest.raises(EvaluationError, match=r"comes to -3\.3 FTE for this call"):
        run(rs, [{"id": "A", "requested_fte": -3}])


def test_a_cap_that_is_null_gives_nothing():
    # cap = m; A has no m (null): 0, though the budget is not used up; B m 2: 2.
    rs = ruleset(cap="m")
    record = by_id(run(rs, [{"id": "A", "requested_fte": 3}, {"id": "B", "requested_fte": 3, "m": 2}]))
    assert record["A"]["allocated_fte"] == 0 and record["B"]["allocated_fte"] == 2


def test_a_weight_that_is_null_counts_as_zero():
    # proportional by w, budget 4: A has no w (null, so 0), B w 1, C w 1: B 2, C 2, A 0.
    rs = ruleset(budget="4", method="proportional", weight="w")
    record = by_id(run(rs, [{"id": "A", "requested_fte": 4}, {"id": "B", "requested_fte": 4, "w": 1},
                            {"id": "C", "requested_fte": 4, "w": 1}]))
    assert [record[i]["allocated_fte"] for i in "ABC"] == [0, 2, 2]


def test_a_region_without_weight_gets_no_share_and_an_empty_region_allocates_zero():
    # Regions X (weight 3), Y (no weight: 0) and Z (weight 1, nobody applies). Budget 4 by Hamilton over 3 : 0 : 1:
    # X 3, Y 0, Z 1. X's applicant asks 5: 3. Y's asks 2: 0. Z's share goes unused: allocated 0 there.
    rs = ruleset(budget="4", regions=True)
    record = run(rs, [{"id": "A", "requested_fte": 5, "province": "X"}, {"id": "B", "requested_fte": 2, "province": "Y"}],
                 regions={"X": {"weight": 3}, "Y": {}, "Z": {"weight": 1}})
    assert by_id(record)["A"]["allocated_fte"] == 3 and by_id(record)["B"]["allocated_fte"] == 0
    assert {name: (r["budget_fte"], r["allocated_fte"]) for name, r in record["regions"].items()} == \
        {"X": (3, 3), "Y": (0, 0), "Z": (1, 0)}


def test_a_request_that_is_missing_counts_as_zero_among_the_eligible():
    # requested_fte is optional in this schema: A asks 2, B asks nothing (missing): 2 requested in all.
    rs = ruleset(cap="2")
    record = run(rs, [{"id": "A", "requested_fte": 2}, {"id": "B"}])
    assert record["requested_fte_eligible"] == 2


def test_the_ideal_share_is_in_fte_with_units_of_two():
    # proportional, unit 2 FTE, budget 6 (3 units), weights 1 and 2: ideal shares 1 and 2 units = 2 and 4 FTE.
    rs = ruleset(budget="6", unit="2", method="proportional", weight="w")
    record = by_id(run(rs, [{"id": "A", "requested_fte": 10, "w": 1}, {"id": "B", "requested_fte": 10, "w": 2}]))
    assert record["A"]["allocation"]["ideal_fte"] == 2 and record["B"]["allocation"]["ideal_fte"] == 4
    assert record["A"]["allocated_fte"] == 2 and record["B"]["allocated_fte"] == 4


@pytest.mark.parametrize("path, field", [
    ("applicants[3] (id X).quarters[1].quarter", "quarters[1].quarter"),
    ("applicants[3].requested_fte", "requested_fte"),
    ("applicants[3].quarters[1].quarter", "quarters[1].quarter"),
    ("applicants[3]", "applicants[3]"),
    ("applicants[0] (id A).B).requested_fte", "requested_fte"),  # an id may hold ')' and '.'
    ("applicants[12] (id x (y).z).quarters[0].filled_fte", "quarters[0].filled_fte"),
])
def test_the_field_a_problem_is_about(path, field):
    from rules_engine.decide.decision import _field
    assert _field(path) == field


def _maatwerk_excluding(tmp_path):
    from conftest import RULES
    text = (RULES / "maatwerk-redistribution" / "maatwerk-redistribution-2020.yaml").read_text(encoding="utf-8")
    return compile_text(text.replace("  schema: sheltered-workshops.facts.schema.json\n",
                                     "  schema: sheltered-workshops.facts.schema.json\n  on_invalid: exclude\n"),
                        str(tmp_path / "m.yaml"))


def test_an_excluded_application_in_a_reduction_has_every_field_of_a_decision_in_its_place(tmp_path):
    # A reduce ruleset: an excluded application's decision has the same keys, in the same order, as a decided
    # one, with reduced_fte and change_fte 0; a request or name that is not what the schema says is not repeated.
    from conftest import EXAMPLES
    from ruamel.yaml import YAML

    rs = _maatwerk_excluding(tmp_path)
    data = json.loads(json.dumps(YAML(typ="safe").load((EXAMPLES / "maatwerk-2020.yaml").read_text(encoding="utf-8")),
                                 default=str))
    data["applicants"][0]["requested_fte"] = "3"  # text, not a number
    data["applicants"][1]["requested_fte"] = True
    data["applicants"][1]["name"] = 7
    record = decide(rs, parse_facts(json.dumps(data).encode(), "f.json", rs), dt.date(2020, 3, 1), kind="simulation")
    decided, first, second = record["decisions"][0], record["decisions"][-2], record["decisions"][-1]
    assert list(first) == list(decided) and list(second) == list(decided)
    assert (first["reduced_fte"], first["change_fte"], first["requested_fte"], first["name"]) == \
        (0, 0, None, data["applicants"][0]["name"])
    assert (second["requested_fte"], second["name"], second["allocated_fte"]) == (None, None, 0)
    assert record["applicants"] == len(data["applicants"])


def test_an_excluded_application_without_a_reduction_has_no_reduction_fields(tmp_path):
    from conftest import RULES
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    rs = compile_text(text.replace("  schema: lde.facts.schema.json\n", "  schema: lde.facts.schema.json\n  on_invalid: exclude\n"),
                      str(tmp_path / "l.yaml"))
    from conftest import example
    from ruamel.yaml import YAML
    data = json.loads(json.dumps(YAML(typ="safe").load(example("lde").read_text(encoding="utf-8")), default=str))
    data["applicants"][0]["requested_fte"] = 0
    record = decide(rs, parse_facts(json.dumps(data).encode(), "f.json", rs), AS_OF, kind="simulation")
    excluded = record["decisions"][-1]
    assert "reduced_fte" not in excluded and list(excluded) == list(record["decisions"][0])[:len(excluded)]
    assert excluded["requested_fte"] == 0  # a number stays


def test_an_engine_name_read_from_the_command_line_picks_its_evaluator():
    from rules_engine.decide.durable import durable_outcomes
    built = "".join(["dur", "able"])  # a string made at run time, as argv's are: equal, not the same object
    assert outcomes_for(built) is durable_outcomes


def test_deciding_leaves_the_garbage_collector_as_it_found_it():
    import gc
    rs = ruleset()
    assert gc.isenabled()
    run(rs, [{"id": "A", "requested_fte": 1}])
    assert gc.isenabled()
    gc.disable()
    try:
        run(rs, [{"id": "A", "requested_fte": 1}])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_record_rebuilt_from_before_formats_or_kinds_names_no_format():
    rs = ruleset()
    facts = parse_facts(json.dumps({"applicants": [{"id": "A", "requested_fte": 1}]}).encode(), "f.json", rs)
    assert list(decide(rs, facts, AS_OF, kind="simulation"))[0] == "format"
    assert "format" not in decide(rs, facts, AS_OF, kind="simulation", record_format=None)
    assert "format" not in decide(rs, facts, AS_OF, kind=None)


def test_a_budget_from_the_call_just_below_zero_is_refused():
    rs = ruleset(budget="'sum(applicants, requested_fte * 0.5)'", unit="0.5")
    with pytest.raises(EvaluationError, match=r"comes to -0\.5 FTE"):
        run(rs, [{"id": "A", "requested_fte": -1}])
