"""Applications decided as one (issue 20, item 5: grouping, for workshops that merged): ``facts.group``."""
from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import pytest
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.rules.group import Group, ListSum, merge

from conftest import EXAMPLES

POLICIES = EXAMPLES / "policies"
ROOT = EXAMPLES.parent


def quarters(*figures):
    return [{"quarter": q, "contingent_fte": c, "filled_fte": f} for q, c, f in figures]


# The call of examples/policies/mergers/tests, worked out there by hand: B merged into A, D into C (D reported
# one reference quarter only), E alone. A alone would fall short (0.925); A+B reaches 0.95.
CALL = {"applicants": [
    {"id": "A", "name": "Werkplaats Aalst", "contingent_fte": 10, "requested_fte": 3,
     "quarters": quarters(("2017Q3", 10, 9), ("2017Q4", 10, 9.5))},
    {"id": "B", "name": "Werkplaats Brugge", "merged_into": "A", "contingent_fte": 5, "requested_fte": 2,
     "quarters": quarters(("2017Q3", 5, 5), ("2017Q4", 5, 5))},
    {"id": "C", "contingent_fte": 8, "requested_fte": 2, "quarters": quarters(("2017Q3", 8, 8), ("2017Q4", 8, 7.8))},
    {"id": "D", "merged_into": "C", "contingent_fte": 4, "requested_fte": 1, "quarters": quarters(("2017Q3", 4, 4))},
    {"id": "E", "merged_into": None, "contingent_fte": 6, "requested_fte": 4,
     "quarters": quarters(("2017Q3", 6, 6), ("2017Q4", 6, 6))}]}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def decide(tmp_path, call, *more):
    path = tmp_path / "call.json"
    path.write_text(json.dumps(call), encoding="utf-8")
    return invoke("evaluate", "mergers", path, "--as-of", "2018-06-20", "--rules-dir", POLICIES, "--format", "json",
                  *more)


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_a_group_decides_as_one_in_both_evaluators(tmp_path, engine):
    result = decide(tmp_path, CALL, "--no-log", "--engine", engine)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout, parse_float=Decimal)
    decisions = {d["id"]: d for d in record["decisions"]}
    assert list(decisions) == ["E", "A", "C"] and record["applicants"] == 3  # B and D apply with A and C
    assert decisions["A"]["members"] == ["B"] and decisions["C"]["members"] == ["D"] and "members" not in decisions["E"]
    assert list(decisions["A"])[:3] == ["id", "name", "members"]
    assert decisions["A"]["derived"]["fill_rate"] == Decimal("0.95")  # 28.5 / 30
    assert decisions["A"]["requested_fte"] == 3  # the head's request: the group applies once
    assert (decisions["E"]["allocated_fte"], decisions["A"]["allocated_fte"], decisions["C"]["allocated_fte"]) == (4, 2, 0)
    assert decisions["C"]["derived"]["reported"] == 1  # only the quarter both C and D reported
    schema = json.loads((ROOT / "schemas" / "decision.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(json.loads(result.stdout))


def test_a_call_without_mergers_keeps_its_bytes(tmp_path):
    # No one merged: no 'members' anywhere, the record as any other.
    call = {"applicants": [a for a in CALL["applicants"] if "merged_into" not in a or a["merged_into"] is None]}
    result = decide(tmp_path, call, "--no-log")
    assert result.exit_code == 0 and '"members"' not in result.stdout


def test_merging_adds_up_exactly_and_keeps_the_quarters_every_member_has():
    group = Group("merged_into", ("contingent_fte",), (ListSum("quarters", "quarter", ("filled_fte",)),))
    head = {"id": "H", "contingent_fte": Decimal("0.1"), "quarters": [{"quarter": "Q1", "filled_fte": Decimal("0.1")},
                                                                      {"quarter": "Q2", "filled_fte": 1}]}
    one = {"id": "M1", "merged_into": "H", "contingent_fte": Decimal("0.2"),
           "quarters": [{"quarter": "Q2", "filled_fte": 2}, {"quarter": "Q1", "filled_fte": Decimal("0.2")}]}
    two = {"id": "M2", "merged_into": "H", "contingent_fte": 3, "quarters": [{"quarter": "Q1", "filled_fte": 3}]}
    alone = {"id": "X", "contingent_fte": 7, "quarters": []}
    applicants, groups = merge([one, head, alone, two], group)
    assert groups == {"H": ("M1", "M2")} and [a["id"] for a in applicants] == ["H", "X"]
    merged = applicants[0]
    assert merged["contingent_fte"] == Decimal("3.3") and str(merged["contingent_fte"]) == "3.3"  # 0.1 + 0.2 + 3
    assert merged["quarters"] == [{"quarter": "Q1", "filled_fte": Decimal("3.3")}]  # Q2: M2 did not report it
    assert head["contingent_fte"] == Decimal("0.1") and applicants[1] is alone  # the inputs are left as they were


def test_a_merger_into_no_application_or_into_a_member_is_refused_at_its_place(tmp_path):
    path = tmp_path / "call.yaml"
    path.write_text("applicants:\n"
                    "  - {id: A, contingent_fte: 1, requested_fte: 1, quarters: []}\n"
                    "  - {id: B, merged_into: Z, contingent_fte: 1, requested_fte: 1, quarters: []}\n"
                    "  - {id: C, merged_into: B, contingent_fte: 1, requested_fte: 1, quarters: []}\n", encoding="utf-8")
    result = invoke("evaluate", "mergers", path, "--as-of", "2018-06-20", "--rules-dir", POLICIES, "--no-log")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{path}:3:26: applicants[1] (id B).merged_into: 'Z' is no application of this call" in result.output
    assert (f"{path}:4:26: applicants[2] (id C).merged_into: 'B' was itself merged into 'Z': name 'Z' (a group has "
            "one head)") in result.output


def test_a_rule_file_that_groups_by_what_is_not_there_is_refused(tmp_path):
    text = (POLICIES / "mergers" / "mergers-2018.yaml").read_text(encoding="utf-8")
    bad = text.replace("by: merged_into", "by: merged_in").replace("sum: [contingent_fte]", "sum: [id]")
    bad = bad.replace("quarters: {key: quarter,", "quarters: {key: kwartaal,")
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert "facts.group.by: 'merged_in' is not an applicant field of the facts schema" in result.output
    assert "facts.group.sum[0]: 'id' is not a number field of the applicants" in result.output
    assert "facts.group.lists.quarters.key: the items of 'quarters' have no field 'kwartaal'" in result.output
    line = bad.splitlines().index("    by: merged_in") + 1
    assert f"{path}:{line}:9:" in result.output


def test_the_letters_name_the_group_in_dutch_and_english(tmp_path):
    log = tmp_path / "log.sqlite"
    assert decide(tmp_path, CALL, "--log", log).exit_code == 0
    head = " ".join(invoke("explain", "1", "A", "--log", log).stdout.split())
    assert ("Samen met uw aanvraag werd die van B beoordeeld, omdat die met u samengevoegd werd: uw cijfers zijn "
            "samengeteld (contingent in VTE, kwartaalcijfers)") in head
    member = " ".join(invoke("explain", "1", "B", "--log", log).stdout.split())
    assert "Uw aanvraag (B) werd samengevoegd met die van A" in member and "U krijgt 2 VTE bij" in member
    english = " ".join(invoke("explain", "1", "B", "--log", log, "--lang", "en").stdout.split())
    assert "Your application (B) was merged into that of A" in english
    auditor = " ".join(invoke("explain", "1", "A", "--log", log, "--for", "auditor").stdout.split())
    assert "Samen beoordeeld met de samengevoegde aanvragen: B" in auditor
    assert invoke("replay", "--all", "--log", log).exit_code == 0  # the group is formed again from the stored facts


def test_the_table_and_the_decision_page_name_the_members(tmp_path):
    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    from test_web import signed_in

    log = tmp_path / "log.sqlite"
    table = decide(tmp_path, CALL, "--log", log, "--format", "table")
    assert table.exit_code == 0 and "(+D)" in table.stdout
    with DecisionLog(log) as opened:
        auditor = TokenStore(opened).add("auditor", "auditor")
    client = signed_in(create_app(Settings(rules_dir=str(POLICIES), log=str(log))), auditor)
    page = client.get("/decisions/1")
    assert page.status_code == 200, page.text
    assert "Werkplaats Aalst <small>(samen met B)</small>" in page.text
