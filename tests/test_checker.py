"""Issue 14, findings 5, 6, 7 and 9: one semantics from the checker to both evaluators and the allocator.

Each rule file here is small and written for the case; expected values are worked out by hand in the
comments. Every case runs through the CLI, so "no traceback, exit 1 with a position" is what is tested.
"""
from __future__ import annotations

from pathlib import Path
import json

import pytest
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog

BASE = """\
ruleset: t
version: "1"
status: published
title: Test
effective: {{from: 2018-01-01}}
source: {{title: Test}}
budget: {{fte: {budget}, unit: {unit}}}
facts:
  schema: {schema}
parameters:
  once: {{value: [1], description: one}}
{derived}
eligibility:
  - id: e
    description: e
    source: e
    when: '{when}'
priority:
  tiers: []
  default: {{id: all, description: all}}
ranking:
  - {{by: {rank}, order: asc}}
  - {{by: id, order: asc}}
allocation: {{method: {method}, cap: {cap}}}
"""


def schema(fields: dict, required: tuple = ()) -> str:
    applicant = {"type": "object", "required": ["id", *required],
                 "properties": {"id": {"type": "string"}, "requested_fte": {"type": "integer"}, **fields}}
    return json.dumps({"type": "object", "required": ["applicants"],
                       "properties": {"applicants": {"type": "array", "items": applicant}}})


def write(tmp_path, fields: dict, when: str = "true", derived: str = "", rank: str = "tier", cap: str = "requested_fte",
          method: str = "greedy", budget: str = "10", unit: str = "1") -> str:
    text = BASE.format(schema=schema(fields), when=when, derived=derived, rank=rank, cap=cap, method=method,
                       budget=budget, unit=unit)
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def decide(rules: str, applicants: list, tmp_path, engine: str = "python") -> dict:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"applicants": applicants}), encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", "2018-06-20", "--no-log",
                                       "--format", "json", "--engine", engine])
    assert result.exit_code == 0, result.output
    return {d["id"]: d for d in json.loads(result.stdout)["decisions"]}


def refused(rules: str, *words: str) -> str:
    result = CliRunner().invoke(main, ["validate", rules])
    assert result.exit_code == 1 and "internal error" not in result.output, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith(rules + ":") and all(w in result.stderr for w in words), result.stderr
    return first


NUMBER = {"type": "number"}
NESTED = {"z": NUMBER, "q": {"type": "array", "items": {"type": "object", "properties": {
    "k": NUMBER, "w": {"type": "array", "items": {"type": "object", "properties": {"z": NUMBER}}}}}}}


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_nested_aggregate_reads_the_inner_items(tmp_path, engine):
    # q0: inner z 0 + 0 = 0; q1: 1; q2: no items, 0. So one q has sum >= 1 (had z been read from the
    # applicant, 100 per item, q0 and q1 would both count: 2).
    rules = write(tmp_path, NESTED, when="count(q where sum(w, z) >= 1) == 1",
                  derived="derived:\n  n: {description: n, expr: 'count(q where sum(w, z) >= 1)'}\n"
                          "  m: {description: m, expr: 'sum(q, sum(w, z * k))'}")
    qs = [{"k": 5, "w": [{"z": 0}, {"z": 0}]}, {"k": 3, "w": [{"z": 1}]}, {"k": 7, "w": []}]
    decision = decide(rules, [{"id": "A", "requested_fte": 1, "z": 100, "q": qs}], tmp_path, engine)["A"]
    assert decision["eligible"] and decision["derived"]["n"] == 1
    # m: k of the enclosing q item times each inner z: 5*0 + 5*0 + 3*1 + 0 = 3
    assert decision["derived"]["m"] == 3


def test_a_dotted_path_to_a_list_works_in_an_aggregate(tmp_path):
    # sum(a.items, v) = 1.5 + 2 = 3.5 ; cap requested_fte / 3 = 7/3, floor 2 whole units
    fields = {"a": {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"v": NUMBER}}}}}}
    rules = write(tmp_path, fields, derived="derived:\n  s: {description: s, expr: 'sum(a.items, v)'}",
                  cap="requested_fte / 3")
    decision = decide(rules, [{"id": "A", "requested_fte": 7, "a": {"items": [{"v": 1.5}, {"v": 2}]}}], tmp_path)["A"]
    assert decision["derived"]["s"] == 3.5 and decision["allocated_fte"] == 2


def test_a_negative_cap_gets_nothing_and_overspends_nothing(tmp_path):
    # cap requested_fte - 5: A (rank 1) -3 -> 0 units; B 13 - 5 = 8, budget 5 -> 5. Total 5, not 8 - 3.
    rules = write(tmp_path, {}, cap="requested_fte - 5", budget="5")
    decisions = decide(rules, [{"id": "A", "requested_fte": 2}, {"id": "B", "requested_fte": 13}], tmp_path)
    assert decisions["A"]["allocated_fte"] == 0 and decisions["B"]["allocated_fte"] == 5


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_durable_property_names_do_not_collide(tmp_path, engine):
    # a__b is 5 and a.b is 0: the condition holds; one shared property would make it false
    fields = {"a__b": NUMBER, "a": {"type": "object", "properties": {"b": NUMBER}}}
    rules = write(tmp_path, fields, when="a__b > 1 and a.b < 1")
    assert decide(rules, [{"id": "A", "requested_fte": 1, "a__b": 5, "a": {"b": 0}}], tmp_path, engine)["A"]["eligible"]


@pytest.mark.parametrize("name", ["tier", "id", "rank", "sum"])
def test_a_derived_value_cannot_shadow_a_reserved_name(tmp_path, name):
    rules = write(tmp_path, {}, derived=f"derived:\n  {name}: {{description: x, expr: '2'}}")
    assert ":13:3:" in refused(rules, f"'{name}' cannot take this name")


def test_an_applicant_field_cannot_be_named_tier(tmp_path):
    refused(write(tmp_path, {"tier": NUMBER}), "applicant field 'tier' has a reserved name")


@pytest.mark.parametrize("fields, when, rank, words", [
    ({"x": {"type": ["string", "number"]}}, "x > 1", "tier", ["several possible types"]),
    ({"x": {"type": ["string", "number"]}}, "x == 1", "tier", ["several possible types"]),
    ({"x": {"enum": ["a", 1]}}, "x == 1", "tier", ["several possible types"]),
    ({"x": {}}, "x + 1 > 2", "tier", ["no declared type"]),
    ({"x": {}}, "true", "x", ["ranking key", "no declared type"]),
    ({"x": {"type": "object", "properties": {}}}, "true", "x", ["ranking key", "an object"]),
    ({"x": {"type": "string"}}, "x", "tier", ["condition must be true or false", "a string"]),
])
def test_untyped_and_union_typed_fields_are_refused_where_a_type_is_needed(tmp_path, fields, when, rank, words):
    refused(write(tmp_path, fields, when=when, rank=rank), *words)


@pytest.mark.parametrize("terms", [210, 1000])
def test_arithmetic_chains_count_toward_the_depth_limit(tmp_path, terms):
    rules = write(tmp_path, {"x": NUMBER}, when=" + ".join(["x"] * terms) + " > 1")
    assert ":17:12:" in refused(rules, "nested more than 60 levels")


def test_the_deepest_accepted_expression_evaluates_in_both_evaluators(tmp_path):
    # 58 additions of x (= 1) give 59: depth 59 Arith + the comparison = 60 levels, the limit
    rules = write(tmp_path, {"x": NUMBER}, when=" + ".join(["x"] * 59) + " == 59")
    for engine in ("python", "durable"):
        assert decide(rules, [{"id": "A", "requested_fte": 1, "x": 1}], tmp_path, engine)["A"]["eligible"]


def test_the_statement_of_reasons_names_the_cap_that_held(tmp_path):
    # cap = requested_fte - 1: A asks 2, may get 1, and gets 1 of a budget of 10; the cap, not the request, held
    rules = write(tmp_path, {}, cap="requested_fte - 1")
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"applicants": [{"id": "A", "requested_fte": 2}]}), encoding="utf-8")
    log = tmp_path / "log.sqlite"
    result = CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", "2018-06-20", "--log", str(log)])
    assert result.exit_code == 0, result.output
    text = CliRunner().invoke(main, ["explain", "1", "A", "--for", "auditor", "--lang", "en", "--log", str(log)]).stdout
    assert "capped by this applicant's maximum: 1 FTE (requested_fte - 1)" in text
    assert "capped by the request" not in text


def test_a_ranking_that_is_not_total_never_depends_on_file_order(tmp_path):
    # ranking by tier only (everyone tier 1): B and A tie; budget 1, greedy: A (the lower id) gets it,
    # whichever comes first in the file
    text = BASE.format(schema=schema({}), when="true", derived="", rank="tier", cap="requested_fte", method="greedy",
                       budget="1", unit="1").replace("  - {by: id, order: asc}\n", "")
    rules = tmp_path / "t.yaml"
    rules.write_text(text, encoding="utf-8")
    for order in (["B", "A"], ["A", "B"]):
        decisions = decide(str(rules), [{"id": i, "requested_fte": 1} for i in order], tmp_path)
        assert decisions["A"]["allocated_fte"] == 1 and decisions["B"]["allocated_fte"] == 0, order


GROW = {"contingent_fte": NUMBER, "b": {"type": "boolean"}, "d": {"type": "string", "format": "date"}}


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_small_initiatives_grow_towards_5_fte(tmp_path, engine):
    # cap = max(0, min(requested, floor(5 - contingent))): A 2.4 asks 4 -> floor(2.6) = 2; B 4.5 asks 3 -> 0;
    # C 6 asks 2 -> floor(-1) = -1 -> 0. Budget 10, greedy: A 2, B 0, C 0.
    rules = write(tmp_path, GROW, cap="'max(0, min(requested_fte, floor(5 - contingent_fte)))'")
    facts = [{"id": "A", "requested_fte": 4, "contingent_fte": 2.4}, {"id": "B", "requested_fte": 3, "contingent_fte": 4.5},
             {"id": "C", "requested_fte": 2, "contingent_fte": 6}]
    decisions = decide(rules, facts, tmp_path, engine)
    assert [decisions[i]["allocated_fte"] for i in "ABC"] == [2, 0, 0]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_conditionals_rounding_and_the_decision_date(tmp_path, engine):
    derived = ("derived:\n  r: {description: r, expr: 'round(contingent_fte, 0.5)'}\n"
               "  c: {description: c, expr: 'ceil(contingent_fte) + floor(-contingent_fte)'}\n"
               "  k: {description: k, expr: 'if b then contingent_fte else 0 - contingent_fte'}")
    rules = write(tmp_path, GROW, derived=derived, when="if b then as_of >= d else as_of < d")
    # as_of is 2018-06-20. A: b, d 2018-06-01 -> holds. B: not b, d 2018-01-01 -> as_of < d fails.
    facts = [{"id": "A", "requested_fte": 1, "contingent_fte": 1.25, "b": True, "d": "2018-06-01"},
             {"id": "B", "requested_fte": 1, "contingent_fte": -1.25, "b": False, "d": "2018-01-01"},
             {"id": "C", "requested_fte": 1, "contingent_fte": 1.2, "b": False, "d": "2019-01-01"}]
    decisions = decide(rules, facts, tmp_path, engine)
    assert [decisions[i]["eligible"] for i in "ABC"] == [True, False, True]
    # round half up to 0.5: 1.25 -> 1.5; -1.25 -> -2.5 + 0.5 = -2 steps -> -1; 1.2 -> 1
    assert [decisions[i]["derived"]["r"] for i in "ABC"] == [1.5, -1, 1]
    # ceil(x) + floor(-x) is 0 for whole x and -1 otherwise (1.25, -1.25 and 1.2 are all not whole)
    assert [decisions[i]["derived"]["c"] for i in "ABC"] == [0, 0, 0]
    assert [decisions[i]["derived"]["k"] for i in "ABC"] == [1.25, 1.25, -1.2]


@pytest.mark.parametrize("when, words", [
    ('min(1, "a") > 0', "min() of values needs values of one kind"),
    ('floor("a") > 0', "floor() needs numbers"),
    ("round(contingent_fte) > 0", "round() takes 2 value(s)"),
    ("if 1 then true else false", "expected a condition"),
    ('(if b then 1 else "x") == 1', "both branches of 'if'"),
    ("if b then 1", "'else'"),
    ("as_of > 3", "cannot compare a date with a number"),
])
def test_the_new_expressions_are_type_checked(tmp_path, when, words):
    refused(write(tmp_path, GROW, when=when), words)


def test_as_of_is_a_reserved_field_name(tmp_path):
    refused(write(tmp_path, {"as_of": NUMBER}), "applicant field 'as_of' has a reserved name")


def test_ties_broken_by_a_published_lottery(tmp_path):
    import hashlib

    seed = "lde-2019"
    text = BASE.format(schema=schema({}), when="true", derived="", rank="tier", cap="requested_fte", method="greedy",
                       budget="2", unit="1").replace("  - {by: id, order: asc}\n",
                                                     "  - {by: lottery(params.seed), order: asc}\n")
    text = text.replace("parameters:\n", f"parameters:\n  seed: {{value: {seed}, description: the published seed}}\n")
    rules = tmp_path / "t.yaml"
    rules.write_text(text, encoding="utf-8")
    ids = ["A", "B", "C", "D", "E"]
    decisions = decide(str(rules), [{"id": i, "requested_fte": 1} for i in ids], tmp_path)
    draws = {i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in ids}  # independently
    expected = sorted(ids, key=lambda i: draws[i])
    assert sorted(ids, key=lambda i: decisions[i]["rank"]) == expected
    assert all(decisions[i]["rank_keys"]["lottery(params.seed)"] == draws[i] for i in ids)  # each draw in the trace
    assert {i for i in ids if decisions[i]["allocated_fte"] == 1} == set(expected[:2])


def test_dated_parameter_values_follow_the_decision_date(tmp_path):
    rules = write(tmp_path, {"n": NUMBER}, when="n >= params.rate")
    text = Path(rules).read_text(encoding="utf-8").replace(
        "parameters:\n", "parameters:\n  rate: {description: r, values: {2018-01-01: 0.90, 2019-01-01: 0.95}}\n")
    Path(rules).write_text(text, encoding="utf-8")
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"applicants": [{"id": "A", "requested_fte": 1, "n": 0.92}]}), encoding="utf-8")
    log = tmp_path / "log.sqlite"

    def run(day, *extra):
        return CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", day, "--log", str(log),
                                         "--format", "json", *extra])
    early, late = run("2018-06-20"), run("2019-06-01")
    assert early.exit_code == 0 and late.exit_code == 0, early.output + late.output
    # 0.92 >= 0.90 in 2018; 0.92 < 0.95 from 2019 on; each record names the value it used
    assert json.loads(early.stdout)["parameters"]["rate"] == 0.9 and json.loads(early.stdout)["decisions"][0]["eligible"]
    assert json.loads(late.stdout)["parameters"]["rate"] == 0.95 and not json.loads(late.stdout)["decisions"][0]["eligible"]
    assert "2 identical" in CliRunner().invoke(main, ["replay", "--all", "--log", str(log)]).stdout
    assert json.loads(early.stdout)["kind"] == "simulation"  # a file named by its path never decides officially
    before = run("2017-06-01", "--simulate")  # a simulation may try the date, but no rate was in force then
    assert before.exit_code == 1 and "parameter 'rate' has no value in force on 2017-06-01" in before.stderr


def test_dated_values_are_of_one_kind(tmp_path):
    rules = write(tmp_path, {"n": NUMBER}, when="n >= params.rate")
    text = Path(rules).read_text(encoding="utf-8").replace(
        "parameters:\n", "parameters:\n  rate: {description: r, values: {2018-01-01: 0.90, 2019-01-01: high}}\n")
    Path(rules).write_text(text, encoding="utf-8")
    refused(rules, "the dated values of 'rate' must be of one kind")


def test_the_budget_may_be_a_parameter_an_expression_or_zero(tmp_path):
    rules = write(tmp_path, {}, budget="'params.budget * 2'")
    text = Path(rules).read_text(encoding="utf-8").replace(
        "parameters:\n", "parameters:\n  budget: {value: 1.5, description: half the budget}\n")
    Path(rules).write_text(text, encoding="utf-8")
    applicants = [{"id": i, "requested_fte": 2} for i in "AB"]
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"applicants": applicants}), encoding="utf-8")

    def run(*extra):
        result = CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", "2018-06-20", "--no-log",
                                           "--format", "json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)
    plain = run()  # 1.5 * 2 = 3 FTE: A 2, B 1
    assert plain["budget_fte"] == 3 and [d["allocated_fte"] for d in plain["decisions"]] == [2, 1]
    nothing = run("--set", "budget=0")  # a round where nothing is freed
    assert nothing["budget_fte"] == 0 and nothing["allocated_fte"] == 0 and nothing["kind"] == "dry-run"
    assert nothing["dry_run"]["would_be"] == "simulation"
    for bad, words in (("requested_fte", "unknown field 'requested_fte'"), ("0 - params.budget", "from 0 to 1,000,000"),
                       ("params.budget", "not a whole number of units")):
        Path(rules).write_text(text.replace("'params.budget * 2'", f"'{bad}'"), encoding="utf-8")
        refused(rules, words)


def test_a_rule_file_extends_a_shipped_facts_schema(tmp_path):
    from conftest import RULES, example
    from ruamel.yaml import YAML

    text = (RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_text(encoding="utf-8")
    extension = ("facts:\n  schema: sheltered-workshops.facts.schema.json\n"
                 "  extend:\n    fields:\n      city: {type: string, minLength: 1}\n    required: [city]\n")
    assert "facts:\n  schema: sheltered-workshops.facts.schema.json\n" in text
    text = text.replace("facts:\n  schema: sheltered-workshops.facts.schema.json\n", extension)
    text = text.replace("ranking:\n", "ranking:\n  - {by: city, order: asc}\n", 1)
    rules = tmp_path / "sheltered-city.yaml"
    rules.write_text(text, encoding="utf-8")
    data = YAML(typ="safe").load(example("sheltered-workshops").read_text(encoding="utf-8"))
    without = tmp_path / "without.json"
    without.write_text(json.dumps(data, default=str), encoding="utf-8")
    refusal = CliRunner().invoke(main, ["evaluate", str(rules), str(without), "--as-of", "2018-06-20", "--no-log"])
    assert refusal.exit_code == 1 and "missing required key 'city'" in refusal.stderr
    for index, applicant in enumerate(data["applicants"]):
        applicant["city"] = "Gent" if index % 2 else "Aalst"
    facts = tmp_path / "with.json"
    facts.write_text(json.dumps(data, default=str), encoding="utf-8")
    log = tmp_path / "log.sqlite"
    result = CliRunner().invoke(main, ["evaluate", str(rules), str(facts), "--as-of", "2018-06-20", "--log", str(log),
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "1 identical" in CliRunner().invoke(main, ["replay", "--all", "--log", str(log)]).stdout
    clash = text.replace("      city: {type: string, minLength: 1}", "      province: {type: string}")
    rules.write_text(clash.replace("required: [city]", "required: [province]"), encoding="utf-8")
    refused(str(rules), "'province' is a field of the facts schema already")


def test_an_inline_schema_with_decimal_bounds_is_stored_exactly_and_replays(tmp_path):
    rules = write(tmp_path, {"n": {"type": "number", "minimum": 0.5}})
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"applicants": [{"id": "A", "requested_fte": 1, "n": 0.75}]}), encoding="utf-8")
    log = tmp_path / "log.sqlite"
    result = CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", "2018-06-20", "--log", str(log)])
    assert result.exit_code == 0, result.output
    with DecisionLog(log, create=False) as opened:
        stored = json.loads(opened.blob(opened.get("1").schema_sha256))
    assert stored["properties"]["applicants"]["items"]["properties"]["n"]["minimum"] == 0.5  # a number, not "0.5"
    assert "1 identical" in CliRunner().invoke(main, ["replay", "--all", "--log", str(log)]).stdout


def test_a_failed_rule_is_explained_with_its_reason(tmp_path):
    rules = write(tmp_path, {"n": NUMBER}, when="n >= 1")
    text = Path(rules).read_text(encoding="utf-8").replace(
        "    source: e\n", "    source: e\n    reason: Het project vangt nog geen trajecten op.\n", 1)
    Path(rules).write_text(text, encoding="utf-8")
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"applicants": [{"id": "A", "requested_fte": 1, "n": 0},
                                                {"id": "B", "requested_fte": 1, "n": 2}]}), encoding="utf-8")
    log = tmp_path / "log.sqlite"
    assert CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", "2018-06-20", "--log", str(log)]).exit_code == 0
    failed = CliRunner().invoke(main, ["explain", "1", "A", "--log", str(log)]).stdout
    passed = CliRunner().invoke(main, ["explain", "1", "B", "--log", str(log)]).stdout
    assert "Waarom niet: Het project vangt nog geen trajecten op." in failed
    assert "Waarom niet" not in passed


EVENTS = {"events": {"type": "array", "items": {"type": "object", "properties": {
    "kind": {"type": "string"}, "date": {"type": "string", "format": "date"}}}}}


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_a_date_inside_a_list_given_as_text_is_a_date(tmp_path, engine):
    """Issue 20, finding 1: a date in a list item, arriving as text (JSON, quoted YAML, XLSX), ended in
    'internal error: TypeError' in both evaluators. A counts 2 events from 2018 on, B 1, C none."""
    rules = write(tmp_path, EVENTS, when="count(events where date >= 2018-01-01) >= 2")
    applicants = [{"id": "A", "requested_fte": 1, "events": [{"kind": "x", "date": "2018-01-01"},
                                                             {"kind": "y", "date": "2019-05-31"}]},
                  {"id": "B", "requested_fte": 1, "events": [{"kind": "x", "date": "2017-12-31"},
                                                             {"kind": "y", "date": "2018-02-01"}]},
                  {"id": "C", "requested_fte": 1, "events": []}]
    decided = decide(rules, applicants, tmp_path, engine)
    assert {k: d["eligible"] for k, d in decided.items()} == {"A": True, "B": False, "C": False}


@pytest.mark.parametrize("engine", ["python", "durable"])
@pytest.mark.parametrize("form", ["yaml-quoted", "xlsx-text", "xlsx-date-cells"])
def test_a_date_inside_a_list_in_every_format(tmp_path, engine, form):
    """Issue 20, done when: the crash of finding 1 as a test in the three formats (a quoted YAML date, a workbook
    whose dates are text, one whose dates are date cells) and both evaluators: A 2 events from 2018, B 1, C 0."""
    import datetime as dt

    from openpyxl import Workbook

    rules = write(tmp_path, EVENTS, when="count(events where date >= 2018-01-01) >= 2")
    events = {"A": [("x", "2018-01-01"), ("y", "2019-05-31")], "B": [("x", "2017-12-31"), ("y", "2018-02-01")], "C": []}
    if form == "yaml-quoted":
        facts = tmp_path / "facts.yaml"
        lines = ["applicants:"]
        for who, items in events.items():
            listed = ", ".join('{kind: %s, date: "%s"}' % item for item in items)
            lines += [f"  - id: {who}", "    requested_fte: 1", f"    events: [{listed}]"]
        facts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        facts = tmp_path / "facts.xlsx"
        book = Workbook()
        book.active.title = "applicants"
        book.active.append(["id", "requested_fte"])
        sheet = book.create_sheet("events")
        sheet.append(["applicant", "kind", "date"])
        for who, items in events.items():
            book["applicants"].append([who, 1])
            for kind, day in items:
                sheet.append([who, kind, day if form == "xlsx-text" else dt.date.fromisoformat(day)])
        book.save(facts)
    result = CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", "2018-06-20", "--no-log",
                                       "--format", "json", "--engine", engine])
    assert result.exit_code == 0, result.output
    decided = {d["id"]: d["eligible"] for d in json.loads(result.stdout)["decisions"]}
    assert decided == {"A": True, "B": False, "C": False}


def test_a_date_inside_a_list_that_is_no_date_is_refused_at_its_place(tmp_path):
    rules = write(tmp_path, EVENTS, when="count(events where date >= 2018-01-01) >= 1")
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"applicants": [{"id": "A", "requested_fte": 1, "events": [
        {"kind": "x", "date": "2018-01-01"}, {"kind": "y", "date": "2018-02-30"}]}]}, indent=1), encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", rules, str(facts), "--as-of", "2018-06-20", "--no-log"])
    assert result.exit_code == 1 and "internal error" not in result.output
    assert "events[1].date: must be a date" in result.output and "facts.json:13:14" in result.output


def test_one_bad_application_is_excluded_and_the_call_decided(tmp_path):
    """Issue 20, finding 3: with facts: {on_invalid: exclude} a bad application is ineligible with its problem,
    the rest are decided; without it the call is refused, as before."""
    import datetime as dt

    from ruamel.yaml import YAML

    from rules_engine.api import Asking, evaluate
    from rules_engine.tell.letter import as_letter_text, letter

    from conftest import RULES

    AS_OF = dt.date(2018, 6, 20)

    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    folder = tmp_path / "rules" / "lde"
    folder.mkdir(parents=True)
    rules = folder / "lde-2018.yaml"
    rules.write_text(text.replace("  schema: lde.facts.schema.json\n",
                                  "  schema: lde.facts.schema.json\n  on_invalid: exclude\n"), encoding="utf-8")
    data = json.loads(json.dumps(YAML(typ="safe").load((RULES.parent / "examples" / "lde-2018.yaml").read_text(
        encoding="utf-8")), default=str))
    data["applicants"][3]["requested_fte"] = 0  # below the schema's minimum of 1
    facts = tmp_path / "call.json"
    facts.write_text(json.dumps(data), encoding="utf-8")
    ruleset, record, _ = evaluate(str(rules), facts, AS_OF, tmp_path / "rules", asking=Asking(logging=False))
    assert record["applicants"] == len(data["applicants"])
    bad = record["decisions"][-1]
    assert bad["id"] == data["applicants"][3]["id"] and bad["eligible"] is False and bad["allocated_fte"] == 0
    assert bad["reasons"][0]["rule"] == "facts" and bad["reasons"][0]["values"]["field"] == "requested_fte"
    assert record["allocated_fte"] == 155  # the others share the whole budget
    words = " ".join(as_letter_text(letter(record, ruleset, bad["id"], "nl")).split())
    assert "dit gegeven ontbreekt of is ongeldig: gevraagde bijkomende VTE." in words and "must be" not in words
    refused = CliRunner().invoke(main, ["evaluate", "lde", str(facts), "--as-of", "2018-06-20", "--no-log",
                                        "--rules-dir", str(RULES)])
    assert refused.exit_code == 1 and "requested_fte" in refused.output  # the shipped rule file refuses the call
    log = tmp_path / "log.sqlite"
    logged = CliRunner().invoke(main, ["evaluate", str(rules), str(facts), "--as-of", "2018-06-20", "--log", str(log),
                                       "--rules-dir", str(tmp_path / "rules")])
    assert logged.exit_code == 0, logged.output
    assert "1 identical" in CliRunner().invoke(main, ["replay", "--all", "--log", str(log)]).stdout
    shown = CliRunner().invoke(main, ["explain", "1", bad["id"], "--for", "auditor", "--log", str(log)])
    assert shown.exit_code == 0 and "internal error" not in shown.output
