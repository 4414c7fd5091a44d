"""Validation: the broken-file corpus (one fault per file), schemas, positions."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from rules_engine.api import validate_paths
from rules_engine.rules.compile import compile_file
from rules_engine.errors import InputError
from rules_engine.rules.facts import load_facts

from conftest import EXAMPLES, RULES, rule_file

BROKEN = Path(__file__).parent / "broken"
CORPUS = sorted((BROKEN / "rules").glob("*.yaml")) + sorted((BROKEN / "facts").glob("*.yaml"))


def expectation(path: Path) -> tuple[str, list[str], str | None]:
    header = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.match(r"# expect: (\d+:\d+) \| (.*)", header)
    assert match, f"{path} has no '# expect:' header"
    parts = [p.strip() for p in match.group(2).split(" | ")]
    ruleset = next((p.split()[1] for p in parts if p.startswith("ruleset ")), None)
    return match.group(1), [p for p in parts if not p.startswith("ruleset ")], ruleset


def problems_of(path: Path, ruleset: str | None) -> list[str]:
    try:
        if ruleset is None:
            compile_file(path)
        else:
            load_facts(path, compile_file(rule_file(ruleset)))
    except InputError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_broken_file_is_reported_at_its_position(path):
    position, keywords, ruleset = expectation(path)
    problems = problems_of(path, ruleset)
    assert problems, f"{path.name}: no problem reported"
    at = [p for p in problems if p.startswith(f"{path}:{position}:")]
    assert at, f"{path.name}: expected a problem at {position}, got:\n" + "\n".join(problems)
    assert any(all(k in p for k in keywords) for p in at), f"{path.name}: {keywords} not in {at}"


def test_shipped_rules_are_valid():
    result = validate_paths([RULES])
    assert result.problems == []
    assert {r.id for r in result.rulesets} == {"lde", "maatwerk-redistribution", "sheltered-workshops", "social-workshops"}


def test_all_problems_are_reported_at_once(tmp_path):
    text = rule_file("lde").read_text(encoding="utf-8")
    text = text.replace("    description: Het project heeft", "    descripton: x\n    description: Het project heeft")
    text = text.replace("when: assessment_sum >= params.min_assessment_sum", "when: asessment_sum >= 6")
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    problems = problems_of(path, None)
    assert len(problems) == 2
    assert "unknown key 'descripton'" in problems[1] or "unknown key 'descripton'" in problems[0]
    assert any("did you mean 'assessment_sum'" in p for p in problems)


def test_overlapping_versions_fail(tmp_path):
    folder = tmp_path / "lde"
    folder.mkdir()
    text = rule_file("lde").read_text(encoding="utf-8").replace("  to: 2018-12-31\n", "")  # open-ended
    (folder / "a.yaml").write_text(text, encoding="utf-8")
    (folder / "b.yaml").write_text(text.replace('version: "2018.1"', 'version: "2019.1"')
                                   .replace("from: 2018-06-15", "from: 2019-01-01"), encoding="utf-8")
    problems = validate_paths([tmp_path]).problems
    assert len(problems) == 1 and "overlaps 2018.1" in str(problems[0])
    assert str(problems[0]).startswith(f"{folder / 'b.yaml'}:")


def test_facts_problems_all_reported_with_applicant_id(tmp_path):
    facts = tmp_path / "f.yaml"
    facts.write_text((BROKEN / "facts" / "requested-zero.yaml").read_text(encoding="utf-8")
                     .replace("province: Antwerpen", "province: Antwerp"), encoding="utf-8")
    problems = problems_of(facts, "lde")
    assert len(problems) == 2
    assert any("applicants[0] (id A-1).province: must be one of" in p and "did you mean 'Antwerpen'" in p
               for p in problems)


def test_facts_schema_can_be_inline(tmp_path):
    import datetime as dt
    import json

    from rules_engine.decide.decision import decide
    from rules_engine.rules.facts import load_facts

    from conftest import ROOT, example

    schema = json.loads((ROOT / "schemas" / "lde.facts.schema.json").read_text(encoding="utf-8"))
    text = rule_file("lde").read_text(encoding="utf-8").replace(
        "facts:\n  schema: lde.facts.schema.json\n", "facts:\n  schema: " + json.dumps(schema) + "\n")
    path = tmp_path / "inline.yaml"
    path.write_text(text, encoding="utf-8")
    ruleset = compile_file(path)
    assert decide(ruleset, load_facts(example("lde"), ruleset), dt.date(2018, 6, 20))["allocated_fte"] == 155
    broken = text.replace('"minimum": 1, "maximum": 100000', '"minimum": "one"')
    path.write_text(broken, encoding="utf-8")
    assert any("not a valid JSON Schema" in p for p in problems_of(path, None))


def test_expression_problems_come_with_schema_problems(tmp_path):
    text = rule_file("lde").read_text(encoding="utf-8")
    text = text.replace("  - by: id\n    order: asc", "  - by: id\n    order: up") if "  - by: id" in text else text
    text = text.replace("    order: desc\n    description: Hogere", "    order: down\n    description: Hogere")
    text = text.replace("when: realisation_rate >= params.min_realisation_rate", "when: decision_date > 3")
    path = tmp_path / "lde" / "lde.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    problems = [str(p) for p in validate_paths([path]).problems]
    assert any("order: must be one of asc, desc, not 'down'" in p for p in problems)  # the schema's
    assert any("unknown field 'decision_date' (the date of the decision is 'as_of')" in p for p in problems)


def test_every_shipped_rule_file_names_its_schema_for_editors():
    """An editor with the YAML language server completes keys and flags mistakes from this line."""
    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "rules").glob("*/*.yaml")) + sorted((root / "rules").glob("*/tests/*.yaml"))
    assert len(files) >= 14
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.name == ("testcase.schema.json" if path.parent.name == "tests" else "ruleset.schema.json")
        assert target.is_file(), path


def test_the_rule_file_schema_describes_every_key_and_its_examples_are_valid():
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "ruleset.schema.json").read_text("utf-8"))
    seen = 0

    def visit(node, path):
        nonlocal seen
        for key, sub in (node.get("properties") or {}).items():
            assert "description" in sub or "$ref" in sub and "description" in _def(sub), f"{path}.{key}"
            for example in sub.get("examples", []):
                jsonschema.Draft202012Validator({**sub, "$defs": schema["$defs"]}).validate(example)
                seen += 1
            visit(sub, f"{path}.{key}")
        for child in ("items", "additionalProperties"):
            if isinstance(node.get(child), dict):
                visit(node[child], path + child)

    def _def(sub):
        return schema["$defs"][sub["$ref"].rsplit("/", 1)[1]]

    visit(schema, "")
    for name, definition in schema["$defs"].items():
        visit(definition, f"#{name}")
    assert seen > 50


def test_messages_that_say_what_would_help(tmp_path):
    """Issue 20, finding 5: a facts file given to validate, 95%, an unknown name, --rules-dir."""
    from click.testing import CliRunner

    from rules_cli.cli import main

    facts = CliRunner().invoke(main, ["validate", str(EXAMPLES / "lde-2018.yaml")])
    assert facts.exit_code == 1 and "this is a facts file" in facts.output and facts.output.count("\n") == 2
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    folder = tmp_path / "rules" / "lde"
    folder.mkdir(parents=True)
    (folder / "lde-2018.yaml").write_text(text.replace("when: realisation_rate >= params.min_realisation_rate",
                                                       "when: realisation_rate >= 90%"), encoding="utf-8")
    rate = CliRunner().invoke(main, ["validate", "--rules-dir", str(tmp_path / "rules")])
    assert rate.exit_code == 1 and "write a percentage as a fraction: 0.9 for 90%" in rate.output
    (folder / "lde-2018.yaml").write_text(text.replace("when: realisation_rate >= params.min_realisation_rate",
                                                       "when: budget_fte > 0"), encoding="utf-8")
    unknown = CliRunner().invoke(main, ["validate", "--rules-dir", str(tmp_path / "rules")])
    assert "unknown field 'budget_fte'" in unknown.output and "(the budget of the call is 'call.budget_fte')" in unknown.output


def test_draft_alternatives_of_one_version_validate_together(tmp_path):
    # Two drafts of lde 2019.1 side by side (a policy owner's alternatives): both valid. A draft that repeats
    # a published version is still refused, as is a draft whose period overlaps a published one; and a
    # bare id refuses to pick between the twins (issue 18).
    folder = tmp_path / "lde"
    folder.mkdir()
    shutil.copy(rule_file("lde"), folder / "lde-2018.yaml")
    draft = (RULES / "lde" / "lde-2019.yaml").read_text(encoding="utf-8")
    (folder / "lde-2019-a.yaml").write_text(draft, encoding="utf-8")
    (folder / "lde-2019-b.yaml").write_text(draft.replace("value: 20\n", "value: 10\n", 1), encoding="utf-8")
    assert validate_paths([tmp_path]).problems == []
    (folder / "lde-2019-c.yaml").write_text(draft.replace('version: "2019.1"', 'version: "2018.1"'), encoding="utf-8")
    problems = validate_paths([tmp_path]).problems
    assert len(problems) == 1 and "version 2018.1 of 'lde' also in" in str(problems[0])
    (folder / "lde-2019-c.yaml").write_text(draft.replace("from: 2019-01-01", "from: 2018-12-01"), encoding="utf-8")
    problems = validate_paths([tmp_path]).problems
    assert len(problems) == 1 and "overlaps 2018.1" in str(problems[0])


@pytest.mark.parametrize("old, new, where", [
    ("    description: Het project heeft", "    description: Het project: heeft", "74:29"),
    ("    description: Sterkere kwalitatieve begeleiding eerst",
     "    description: {nl: Sterkere begeleiding (hoogste eerst: laagste laatst)}", "98:58"),
])
def test_an_unquoted_colon_in_a_text_suggests_quotes(tmp_path, old, new, where):
    path = tmp_path / "lde.yaml"
    path.write_text(rule_file("lde").read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        compile_file(path)
    message = str(caught.value.problems[0])
    assert message.startswith(f"{path}:{where}: YAML syntax") and "a text that holds ': ' must be quoted" in message


def test_an_ascii_id_looks_like_what_the_confusables_data_says():
    """An ASCII id's skeleton is found without loading the confusables data; it is the one the full computation
    (NFKC, each character to its prototype, NFD) gives, for every ASCII character and for mixed ids."""
    import random
    import unicodedata

    from rules_engine.rules.validate import _prototypes, skeleton

    def full(text):
        return unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).translate(_prototypes()))

    rng = random.Random(3)
    texts = [chr(c) for c in range(32, 127)] + ["".join(rng.choice("IO0lL1|`'-_ab") for _ in range(8))
                                                for _ in range(500)]
    for text in texts:
        assert skeleton(text) == full(text), text
    assert skeleton("LDE-0O1") == skeleton("LDE-001") and skeleton("Il|") == "111"


@pytest.mark.parametrize("ids, refused", [
    (["A-1", "A-2", "A-3"], None),
    (["A-1", "A-2", "A-1"], 2),
    (["A-10", "A-lO", "B"], 1),  # a letter l and a letter O for a one and a zero
    (["A-1", "A-2\n", "A-3"], 1),  # a newline: the separator a quick check would join them with
    (["A-1", "A-\u00e9", "A-e\u0301"], 2),  # not ASCII: the same letter composed and decomposed
])
def test_ids_are_unique_as_a_reader_sees_them_in_any_mix(ids, refused):
    from rules_engine.rules.validate import _check_unique_ids

    data = {"applicants": [{"id": key} for key in ids]}
    text = json.dumps(data, indent=1)
    if refused is None:
        _check_unique_ids(data, text, "f.json")
        return
    with pytest.raises(InputError) as info:
        _check_unique_ids(data, text, "f.json")
    assert f"applicants[{refused}].id" in str(info.value), str(info.value)


@pytest.mark.parametrize("quarters, refused", [
    ([["2016Q3", "2016Q4"], ["2016Q3", "2016Q4"]], []),
    ([["2016Q3", "2016Q4"], ["2016Q4", "2017Q1", "2016Q4"]], [(1, 2, 0)]),
    ([["2016Q3", "2016Q3", "2016Q3"], []], [(0, 1, 0), (0, 2, 0)]),
    ([[None, None, "2016Q3"], ["2016Q3"]], []),  # no key is no value: nothing to be given twice
    ([["2016Q3", {}, "2016Q4", {}], ["2016Q4", "2016Q4"]], [(1, 1, 0)]),  # an item without the key
    ([["2016Q3", [], "2016Q3"]], [(0, 2, 0)]),  # an item that is no mapping
    ([["2016Q3"], ["2016Q4"], ["2016Q3", "2016Q4", "2017Q1", "2016Q3"]], [(2, 3, 0)]),  # the last applicant
])
def test_a_key_given_twice_in_an_applicants_list_is_refused_at_each_repetition(quarters, refused):
    from rules_engine.rules.facts import check_unique_by

    schema = {"type": "object", "properties": {"applicants": {"type": "array", "items": {
        "type": "object", "properties": {"id": {"type": "string"}, "quarters": {
            "type": "array", "x-unique-by": "quarter", "items": {"type": "object"}}}}}}}
    applicants = [{"id": f"A{i}", "quarters": [{"quarter": q} if q is None or isinstance(q, str) else q for q in qs]}
                  for i, qs in enumerate(quarters)]
    fields = schema["properties"]["applicants"]["items"]["properties"]
    text = json.dumps({"applicants": applicants}, indent=1)
    if not refused:
        check_unique_by(applicants, fields, schema, text, "f.json")
        return
    with pytest.raises(InputError) as info:
        check_unique_by(applicants, fields, schema, text, "f.json")
    places = [p.path for p in info.value.problems]
    assert places == [f"applicants[{i}] (id A{i}).quarters[{pos}].quarter" for i, pos, _ in refused], places
    assert all(f"(first at quarters[{first}])" in p.message for p, (_, _, first) in zip(info.value.problems, refused))


def test_dates_given_as_text_become_dates_and_each_bad_one_is_named_in_order():
    from rules_engine.rules.facts import coerce_all

    applicants = [{"id": "A", "from": "2018-01-31", "to": "2018-02-30"},
                  {"id": "B", "from": None, "to": "2019-12-01"},
                  {"id": "C", "from": "2018-13-01", "to": "x"},
                  {"id": "D"},
                  {"id": "E", "from": "0000-01-01", "to": "2020-02-29"}]
    text = json.dumps({"applicants": applicants}, indent=1)
    with pytest.raises(InputError) as info:
        coerce_all(applicants, (("from",), ("to",)), text, "f.json")
    # by applicant, then by field, as the file reads
    assert [p.path for p in info.value.problems] == ["applicants[0].to", "applicants[2].from", "applicants[2].to",
                                                     "applicants[4].from"]
    assert applicants[0]["from"] == dt.date(2018, 1, 31) and applicants[1]["to"] == dt.date(2019, 12, 1)
    assert applicants[1]["from"] is None and "from" not in applicants[3]
    assert applicants[4]["to"] == dt.date(2020, 2, 29)
    nested = [{"id": "A", "grants": [{"on": "2018-01-01"}, {"on": "2018-02-31"}]}, {"id": "B", "grants": []}]
    with pytest.raises(InputError) as info:
        coerce_all(nested, (("grants", "*", "on"),), json.dumps({"applicants": nested}), "f.json")
    assert [p.path for p in info.value.problems] == ["applicants[0].grants[1].on"]
    assert nested[0]["grants"][0]["on"] == dt.date(2018, 1, 1)


def test_a_key_that_is_no_text_is_named_at_its_place():
    """YAML's ``~`` or ``1`` as a key (found by the fuzzer: an internal error before)."""
    from rules_engine import api

    ruleset = api.resolve("lde", Path(__file__).resolve().parents[1] / "rules", dt.date(2018, 6, 20))
    text = "applicants:\n  - id: A\n    ~: 1\n    foo: 2\n    1: x\n"
    with pytest.raises(InputError) as info:
        api.parse_facts(text.encode(), "f.yaml", ruleset)
    unknown = sorted(str(p) for p in info.value.problems if "unknown key" in p.message)
    assert [u.split(": applicants")[0] for u in unknown] == ["f.yaml:3:5", "f.yaml:4:5", "f.yaml:5:5"]
    assert "(id A).null: unknown key null;" in unknown[0] and "(id A).1: unknown key 1;" in unknown[2]


@pytest.mark.parametrize("lists, once", [
    ([["2016Q3", "2016Q4"], ["2016Q3", "2016Q4"], []], True),  # the same quarter in two applicants is no repeat
    ([["2016Q3", "2016Q4", "2016Q3"]], False),
    ([["2016Q3"], ["2016Q4", "2016Q4"]], False),
    ([["2016Q3", None]], False),  # no value: left to the check of each applicant
    ([[]], True),
    ([], True),
])
def test_each_key_once_is_seen_for_all_applicants_at_once(lists, once):
    from rules_engine.rules.facts import _each_once

    applicants = [{"id": str(i), "quarters": [{"quarter": q} for q in qs]} for i, qs in enumerate(lists)]
    assert _each_once(applicants, "quarters", "quarter") is once


@pytest.mark.parametrize("applicants", [
    [{"quarters": [{"quarter": "2016Q3"}, {}]}],  # an item without the key
    [{"quarters": [{"quarter": "2016Q3"}, "2016Q4"]}],  # an item that is no mapping
    [{"quarters": [{"quarter": ["2016Q3"]}]}],  # a key no set can hold
    ["no applicant"],
])
def test_what_cannot_be_seen_at_once_is_left_to_each_applicant(applicants):
    from rules_engine.rules.facts import _each_once

    assert _each_once(applicants, "quarters", "quarter") is False
