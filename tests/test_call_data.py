"""Issue 20, item 5: call-level data in expressions: ``call.budget_fte``, the call's own fields, and the
attributes of the applicant's region (``region.unemployment_rate``), with the regions' and the call's schema
extended in the rule file (``facts.extend``). Expected values by hand, in the comments.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rules_cli.cli import main

RULES = """\
ruleset: regional
version: "1"
status: published
title: Regional
effective: {{from: 2018-01-01}}
source: {{title: Test}}
budget: {{fte: {budget}, unit: 1}}
facts:
  schema: {schema}
  extend:
    fields: {{contingent_fte: {{type: number}}}}
    regions:
      fields: {{unemployment_rate: {{type: number}}}}
    call:
      fields: {{round: {{type: integer}}}}
eligibility:
  - id: e
    description: e
    source: e
    when: '{when}'
priority:
  tiers: []
  default: {{id: all, description: all}}
ranking:
  - {{by: '{rank}', order: desc}}
  - {{by: id, order: asc}}
allocation:
  cap: '{cap}'
  {allocation}
"""
SCHEMA = {"type": "object", "required": ["applicants", "regions"], "properties": {
    "call": {"type": "object", "properties": {"name": {"type": "string"}}},
    "applicants": {"type": "array", "items": {"type": "object", "required": ["id", "requested_fte", "province"],
                                              "properties": {"id": {"type": "string"},
                                                             "requested_fte": {"type": "integer"},
                                                             "province": {"type": "string"}}}},
    "regions": {"type": "object", "additionalProperties": {"type": "object", "required": ["weight"],
                                                            "properties": {"weight": {"type": "number"}}}}}}
SPLIT = "steps:\n    - {step: split, field: province, by: weight, method: hamilton}\n    - {step: greedy}"


def rules(tmp_path, when="true", rank="requested_fte", cap="requested_fte", budget="10", allocation=SPLIT) -> str:
    path = tmp_path / "regional.yaml"
    path.write_text(RULES.format(schema=json.dumps(SCHEMA), when=when, rank=rank, cap=cap, budget=budget,
                                 allocation=allocation), encoding="utf-8")
    return str(path)


def facts(tmp_path, applicants, regions, call=None) -> str:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"call": call or {"name": "c", "round": 2}, "applicants": applicants,
                                "regions": regions}), encoding="utf-8")
    return str(path)


def evaluate(rules_path, facts_path, engine="python") -> dict:
    result = CliRunner().invoke(main, ["evaluate", rules_path, facts_path, "--as-of", "2018-06-20", "--no-log",
                                       "--format", "json", "--engine", engine])
    assert result.exit_code == 0, result.output
    return {d["id"]: d for d in json.loads(result.stdout)["decisions"]}


REGIONS = {"Antwerpen": {"weight": 1, "unemployment_rate": 0.08}, "Limburg": {"weight": 1, "unemployment_rate": 0.05}}
APPLICANTS = [{"id": "A", "requested_fte": 3, "province": "Antwerpen", "contingent_fte": 1},
              {"id": "B", "requested_fte": 4, "province": "Limburg", "contingent_fte": 3},
              {"id": "C", "requested_fte": 2, "province": "Limburg", "contingent_fte": 1}]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_a_province_attribute_in_a_condition_and_a_score(tmp_path, engine):
    # Eligible where the province's unemployment is at least 6%, or the contingent is below 2: A (8%), C (1 FTE);
    # B (5%, 3 FTE) is not. Ranked by requested_fte * rate, highest first: A 3 * 0.08 = 0.24, C 2 * 0.05 = 0.10.
    # Budget 10 split 1:1 -> 5 each; Antwerpen: A gets 3; Limburg: C gets 2.
    path = rules(tmp_path, when="region.unemployment_rate >= 0.06 or contingent_fte < 2",
                 rank="requested_fte * region.unemployment_rate")
    decisions = evaluate(path, facts(tmp_path, APPLICANTS, REGIONS), engine)
    assert [decisions[i]["eligible"] for i in "ABC"] == [True, False, True]
    assert decisions["A"]["rank_keys"]["requested_fte * region.unemployment_rate"] == pytest.approx(0.24)
    assert [decisions[i]["allocated_fte"] for i in "AC"] == [3, 2]
    # the trace names the value read, as read
    values = decisions["B"]["reasons"][0]["values"]
    assert values["region.unemployment_rate"] == 0.05 and values["contingent_fte"] == 3


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_the_budget_and_the_calls_own_fields(tmp_path, engine):
    # Eligible from round 2 on (the call says round 2): all three. Nobody may have more than a third of the
    # budget: cap = min(requested, floor(call.budget_fte / 3)) = min(requested, 3) with a budget of 10 (or 9).
    # Greedy in one pot, highest request first: B 3, A 3, C 2 = 8 of 10.
    path = rules(tmp_path, when="call.round >= 2", cap="min(requested_fte, floor(call.budget_fte / 3))",
                 allocation="method: greedy")
    decisions = evaluate(path, facts(tmp_path, APPLICANTS, REGIONS), engine)
    assert [decisions[i]["allocated_fte"] for i in "BAC"] == [3, 3, 2]
    # round 1: nobody is eligible
    decisions = evaluate(path, facts(tmp_path, APPLICANTS, REGIONS, {"name": "c", "round": 1}), engine)
    assert not any(d["eligible"] for d in decisions.values())


def test_a_budget_set_for_the_run_is_the_one_read(tmp_path):
    # --set cannot change a literal budget, but a test case's budget can: rules test with budget_fte 6 gives
    # cap min(requested, floor(6 / 3) = 2): B 2, A 2, C 2.
    folder = tmp_path / "rules" / "regional"
    folder.mkdir(parents=True)
    rules(folder, cap="min(requested_fte, floor(call.budget_fte / 3))", allocation="method: greedy")
    case = folder / "tests"
    case.mkdir()
    (case / "regional.yaml").write_text(json.dumps({"cases": [{
        "name": "a third of the budget each", "as_of": "2018-06-20", "budget_fte": 6,
        "call": {"round": 2}, "regions": REGIONS, "applicants": APPLICANTS,
        "expect": {"A": {"allocated_fte": 2}, "B": {"allocated_fte": 2}, "C": {"allocated_fte": 2}}}]}))
    result = CliRunner().invoke(main, ["test", str(folder), "--rules-dir", str(tmp_path / "rules")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("allocation, when, words", [
    (SPLIT, "call.nope > 1", "unknown field 'nope' in 'call'"),
    (SPLIT, "region.nope > 1", "unknown field 'nope' in 'region'"),
    ("method: greedy", "region.unemployment_rate > 1",
     "region.X reads the attributes of the applicant's region, but this ruleset splits by no region"),
    (SPLIT, "call > 1", "cannot compare an object"),
    (SPLIT, "budget_fte > 1", "call.budget_fte"),
])
def test_call_data_mistakes_are_refused(tmp_path, allocation, when, words):
    path = rules(tmp_path, when=when, allocation=allocation)
    result = CliRunner().invoke(main, ["validate", path])
    assert result.exit_code == 1 and "internal error" not in result.output, result.output
    assert result.stderr.startswith(path + ":") and words in result.stderr, result.stderr


def test_the_budget_cannot_be_read_where_it_is_computed_from_the_applicants(tmp_path):
    path = rules(tmp_path, when="call.budget_fte > 1", budget="'sum(applicants, requested_fte)'",
                 allocation="method: greedy")
    result = CliRunner().invoke(main, ["validate", path])
    assert result.exit_code == 1 and "the budget is computed from the eligible applicants" in result.stderr, result.output


def test_an_applicant_field_called_region_keeps_its_meaning(tmp_path):
    # A facts schema whose applicants have a field 'region' (a text): 'region' is that field, as before.
    schema = json.loads(json.dumps(SCHEMA))
    schema["properties"]["applicants"]["items"]["properties"]["region"] = {"type": "string"}
    path = tmp_path / "r.yaml"
    path.write_text(RULES.format(schema=json.dumps(schema), when='region == "x"', rank="requested_fte",
                                 cap="requested_fte", budget="10", allocation=SPLIT), encoding="utf-8")
    applicants = [{**a, "region": "x" if a["id"] == "A" else "y"} for a in APPLICANTS]
    decisions = evaluate(str(path), facts(tmp_path, applicants, REGIONS))
    assert [decisions[i]["eligible"] for i in "ABC"] == [True, False, False]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_a_region_attribute_named_like_a_derived_value_is_the_region_s(tmp_path, engine):
    # a derived value 'unemployment_rate' (0) does not hide region.unemployment_rate: A's province is at 8%, the
    # others' at 5%: only A is eligible
    path = rules(tmp_path, when="region.unemployment_rate >= 0.06 and unemployment_rate == 0")
    text = open(path, encoding="utf-8").read().replace(
        "eligibility:", "derived:\n  unemployment_rate: {description: u, source: u, expr: '0'}\neligibility:")
    open(path, "w", encoding="utf-8").write(text)
    decisions = evaluate(path, facts(tmp_path, APPLICANTS, REGIONS), engine)
    assert [decisions[i]["eligible"] for i in "ABC"] == [True, False, False]
