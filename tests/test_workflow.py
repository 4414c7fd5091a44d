"""Policy owners' workflow: versions by date, rules test, rules diff, what-if, lint."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal

import pytest

from rules_cli.cli import main
from rules_engine.api import resolve, validate_paths
from rules_engine.rules.compile import compile_text
from rules_engine.decide.decision import decide
from rules_engine.policy.diff import changed_applicants
from rules_engine.errors import LookupFailure
from rules_engine.rules.facts import load_facts
from rules_engine.policy.lint import lint_ruleset

from conftest import EXAMPLES, RULES, example, rule_file


def invoke(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_shipped_tests_pass_with_full_coverage(runner):
    result = invoke(runner, "test", "--rules-dir", RULES, "--coverage")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "13 passed, 0 failed"
    assert ("coverage: 100.0% of the rules, caps, steps and derived values of published versions reached both ways"
            in " ".join(result.stdout.split()))


def test_a_wrong_expectation_fails_with_its_line_and_the_trace(runner, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "lde" / "tests" / "lde-2018.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("D: {eligible: true, tier: 3, rank: 3, allocated_fte: 5}",
                                 "D: {eligible: true, tier: 3, rank: 3, allocated_fte: 6}"), encoding="utf-8")
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if "allocated_fte: 6}" in l)
    result = invoke(runner, "test", rules / "lde", "--rules-dir", rules)
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())  # lines are wrapped to the terminal's width
    assert f"{path}:{line}:" in text and "D.allocated_fte: expected 6, got 5" in text
    assert "sufficient_realisation: held (realisation_rate = 0.99, params.min_realisation_rate = 0.9)" in text
    assert result.stdout.splitlines()[-1] == "3 passed, 1 failed"


def test_coverage_fails_when_a_rule_is_only_seen_one_way(runner, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "sheltered-workshops" / "tests" / "sheltered-workshops-2018.yaml").unlink()
    result = invoke(runner, "test", rules / "sheltered-workshops", "--rules-dir", rules, "--coverage")
    assert result.exit_code == 1
    assert "rule 'complete_reference_period' of sheltered-workshops 2018.1 is never held nor not held" in \
        " ".join(result.stdout.split())  # lines are wrapped to the terminal's width


def test_version_in_force_by_date():
    assert resolve("lde", RULES, dt.date(2018, 6, 15)).version == "2018.1"
    assert resolve("lde", RULES, dt.date(2018, 12, 31)).version == "2018.1"
    assert resolve("lde", RULES, dt.date(2030, 1, 1)).version == "2019.1"  # open-ended
    with pytest.raises(LookupFailure, match="no version of 'lde' is in force on 2018-06-14"):
        resolve("lde", RULES, dt.date(2018, 6, 14))
    assert resolve("sheltered-workshops", RULES, dt.date(2019, 3, 31)).version == "2018.1"
    assert resolve("sheltered-workshops", RULES, dt.date(2019, 4, 1)).version == "2019.1"
    assert resolve("sheltered-workshops@2018.1", RULES, dt.date(2030, 1, 1)).version == "2018.1"


def test_after_a_closed_period_is_a_clear_error(runner, tmp_path):
    rules = tmp_path / "rules"
    (rules / "lde").mkdir(parents=True)
    text = rule_file("lde").read_text(encoding="utf-8")  # 2018.1 ends on 2018-12-31, and is alone here
    (rules / "lde" / "lde-2018.yaml").write_text(text, encoding="utf-8")
    inside = invoke(runner, "evaluate", "lde", example("lde"), "--as-of", "2018-12-31", "--rules-dir", rules, "--no-log")
    assert inside.exit_code == 0 and "ruleset lde 2018.1" in inside.stderr
    after = invoke(runner, "evaluate", "lde", example("lde"), "--as-of", "2019-01-01", "--rules-dir", rules)
    assert after.exit_code == 1
    assert "no version of 'lde' is in force on 2019-01-01; versions: 2018.1 from 2018-06-15 to 2018-12-31" in after.stderr


def test_versions_lists_both(runner):
    result = invoke(runner, "versions", "sheltered-workshops", "--rules-dir", RULES)
    assert "2018.1" in result.stdout and "2019.1" in result.stdout


def test_diff_lists_exactly_the_changed_applicants(runner):
    result = invoke(runner, "diff", "sheltered-workshops@2018.1", "sheltered-workshops@2019.1",
                    example("sheltered-workshops"), "--rules-dir", RULES, "--as-of", "2019-04-01", "--format", "json")
    assert result.exit_code == 0
    reported = {c["id"] for c in json.loads(result.stdout)["changed"]}
    # independently: evaluate both versions separately and compare every applicant's outcome
    as_of = dt.date(2019, 4, 1)
    records = []
    for version in ("2018.1", "2019.1"):
        ruleset = resolve(f"sheltered-workshops@{version}", RULES, as_of)
        records.append({d["id"]: d for d in decide(ruleset, load_facts(example("sheltered-workshops"), ruleset),
                                                    as_of)["decisions"]})
    expected = {i for i in records[0] if any(records[0][i][k] != records[1][i][k]
                                             for k in ("eligible", "tier", "rank", "allocated_fte"))}
    assert reported == expected and expected


def test_diff_with_set_on_one_ruleset(runner):
    result = invoke(runner, "diff", "sheltered-workshops@2018.1", example("sheltered-workshops"), "--set",
                    "min_fill_rate=0.96", "--rules-dir", RULES, "--as-of", "2018-06-20")
    assert result.exit_code == 0
    assert "new: sheltered-workshops 2018.1 with min_fill_rate=0.96" in result.stdout
    assert "not eligible" in result.stdout
    assert invoke(runner, "diff", "lde", example("lde"), "--rules-dir", RULES).exit_code == 2


@pytest.mark.parametrize("old, new, facts, as_of", [
    ("sheltered-workshops@2018.1", "sheltered-workshops@2019.1", "sheltered-workshops", "2019-04-01"),
    ("maatwerk-redistribution", None, "maatwerk", "2020-03-01"),  # steps with a reduction: reduced and change too
])
def test_a_diff_compares_outcomes_without_writing_a_trace(monkeypatch, old, new, facts, as_of):
    # the impact of a change over 100,000 applicants wrote both sides' full decisions, trace and all, to compare four
    # fields (10 s and 923 MB); the outcomes compared are those of the decisions written out in full
    from rules_engine.decide.evaluate import Assessment
    from rules_engine.policy.diff import changed_applicants

    day = dt.date.fromisoformat(as_of)
    path = RULES.parent / "examples" / ("maatwerk-2020.yaml" if facts == "maatwerk" else f"{facts}-2018.yaml")
    rulesets = [resolve(old, RULES, day), resolve(new, RULES, day) if new else
                resolve(old, RULES, day, {"reduction_threshold": "0.92"})]
    before, after = (decide(r, load_facts(path, r), day) for r in rulesets)
    expected = changed_applicants({**before, "decisions": list(before["decisions"])},
                                  {**after, "decisions": list(after["decisions"])})
    assert expected
    monkeypatch.setattr(Assessment, "trace", lambda self: pytest.fail("a trace written to compare outcomes"))
    assert changed_applicants(before, after) == expected


def test_changed_applicants_ignores_unchanged():
    a = {"decisions": [{"id": "x", "eligible": True, "tier": 1, "rank": 1, "allocated_fte": Decimal(1)}]}
    b = {"decisions": [{"id": "x", "eligible": True, "tier": 1, "rank": 1, "allocated_fte": Decimal("1.0")}]}
    assert changed_applicants(a, b) == []


def lint_codes(text: str, today=dt.date(2018, 7, 1)) -> set:
    return {f"{f.code}:{f.subject}" for f in lint_ruleset(compile_text(text, "x.yaml"), today=today)}


def test_shipped_rules_pass_lint(runner):
    result = invoke(runner, "lint", RULES)
    assert result.exit_code == 0 and result.stdout.strip() == "0 finding(s) in 7 rule file(s)"
    assert invoke(runner, "validate", "--strict", RULES).exit_code == 0


def test_the_example_policies_pass_lint(runner):
    result = invoke(runner, "lint", RULES.parent / "examples" / "policies")
    assert result.exit_code == 0 and result.stdout.strip() == "0 finding(s) in 4 rule file(s)", result.stdout


def test_a_field_a_letter_names_without_a_dutch_label_is_a_lint_finding():
    # a Dutch letter names what a rule read by the facts schema's x-label; without one it wrote the field's own
    # (English) name: "granted from" in "De volgorde is bepaald door: granted from (laagste eerst)"
    schema = (RULES.parent / "schemas" / "lde.facts.schema.json").read_text(encoding="utf-8")
    data = json.loads(schema)
    fields = data["$defs"]["applicant"]["properties"]
    del fields["realisation_rate"]["x-label"]
    del fields["assessment"]["properties"]["guidance_actions"]["x-label"]
    text = rule_file("lde").read_text(encoding="utf-8")
    ruleset = compile_text(text, "x.yaml", schema_text=json.dumps(data))
    findings = [f for f in lint_ruleset(ruleset, today=dt.date(2018, 7, 1)) if f.code == "missing-label"]
    assert {f.subject for f in findings} == {"realisation_rate", "assessment.guidance_actions"}
    assert "a Dutch letter would call it 'realisation rate'" in str(findings[-1]) + str(findings[0])
    assert not [f for f in lint_ruleset(compile_text(text, "x.yaml"), today=dt.date(2018, 7, 1))
                if f.code == "missing-label"]
    # with on_invalid: exclude, a letter to an application set aside names the field that was wrong, whichever
    del fields["province"]["x-label"]
    excluding = text.replace("  schema: lde.facts.schema.json\n", "  schema: lde.facts.schema.json\n  on_invalid: exclude\n")
    assert excluding != text
    for rule_text, province in ((text, False), (excluding, True)):
        codes = {f.subject for f in lint_ruleset(compile_text(rule_text, "x.yaml", schema_text=json.dumps(data)),
                                                 today=dt.date(2018, 7, 1)) if f.code == "missing-label"}
        assert ("province" in codes) is province


def test_lint_findings():
    text = rule_file("lde").read_text(encoding="utf-8")
    shadow = text.replace("when: contingent_fte < params.small_initiative_fte and merged_on >= params.lde_regulation_in_force",
                          "when: contingent_fte < 4 and assessment_sum >= 9")
    assert "shadowed-tier:small_after_merger" in lint_codes(shadow)
    never = text.replace("when: realisation_rate >= params.min_realisation_rate", "when: realisation_rate > 1")
    assert "never-holds:sufficient_realisation" in lint_codes(never)
    always = text.replace("when: realisation_rate >= params.min_realisation_rate", "when: requested_fte >= 1")
    codes = lint_codes(always)
    assert "always-holds:sufficient_realisation" in codes
    assert "unused-parameter:min_realisation_rate" in codes
    unused = text.replace("merged_on >= params.lde_regulation_in_force", "contingent_fte < 4")
    assert {"unused-field:merged_on", "unused-parameter:lde_regulation_in_force"} <= lint_codes(unused)
    conflict = text.replace("when: assessment_sum >= params.min_assessment_sum",
                            "when: assessment_sum >= 13")
    assert "never-holds:sufficient_guidance" in lint_codes(conflict)  # the sum of four scores 0-3 is at most 12
    untotal = text.replace("  - by: id\n    order: asc\n", "")
    assert "ranking-not-total:ranking" in lint_codes(untotal)
    expired = text.replace("  to: 2018-12-31\n", "  to: 2018-06-30\n")
    assert "expired:effective" in lint_codes(expired)
    assert "expired:effective" not in lint_codes(expired, today=dt.date(2018, 6, 20))


def test_lint_location_points_at_the_rule(runner, tmp_path):
    text = rule_file("lde").read_text(encoding="utf-8").replace(
        "when: realisation_rate >= params.min_realisation_rate", "when: realisation_rate > 1")
    path = tmp_path / "lde.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "- id: sufficient_realisation" in l)
    result = invoke(runner, "lint", path)
    assert result.exit_code == 1 and f"{path}:{line}:5: never-holds:" in result.stdout


def test_validation_sees_the_new_version_and_its_tests_are_not_rules():
    result = validate_paths([RULES])
    assert result.problems == [] and result.files == 7


@pytest.mark.parametrize("cap, negative", [
    ("requested_fte - 3", True),  # requested_fte >= 1 in the facts schema: as low as -2
    ("5 - contingent_fte", True),  # the contingent has no maximum
    ("min(requested_fte, floor(5 - contingent_fte))", True),
    ("max(0, min(requested_fte, floor(5 - contingent_fte)))", False),
    ("if tier <= 2 then max(0, 5 - contingent_fte) else requested_fte", False),
    ("requested_fte", False),
    ("requested_fte / 2 - 1", False),  # a quotient: lint cannot tell, and says nothing
])
def test_lint_flags_a_cap_that_can_go_negative(cap, negative):
    text = rule_file("lde").read_text(encoding="utf-8").replace("  cap: requested_fte\n", f"  cap: {cap}\n")
    assert ("negative-cap:cap" in lint_codes(text)) is negative


@pytest.mark.parametrize("as_of, outcome", [('"2018-06-20"', "4 passed, 0 failed"), ('"2018-13-01"', "cases[0].as_of: must be a date (YYYY-MM-DD), not '2018-13-01'")])
def test_a_quoted_date_in_a_test_case_is_a_date(runner, tmp_path, as_of, outcome):
    # A quoted as_of (as JSON writes it) picked the version by comparing a date with a text: exit 3.
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "lde" / "tests" / "lde-2018.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("as_of: 2018-06-20", f"as_of: {as_of}", 1), encoding="utf-8")
    result = invoke(runner, "test", rules / "lde", "--rules-dir", rules)
    assert outcome in " ".join(result.stdout.split()) and result.exit_code == (0 if "passed" in outcome else 1), result.output


def test_the_example_policies_in_the_new_constructs_pass_their_hand_worked_cases(runner):
    # examples/policies: a pro-rata part of a year (dates), a province attribute in a score (region.X), a nested
    # quarter match (named items), mergers (facts.group); each case was computed by hand in its comments before
    # the first run.
    policies = EXAMPLES / "policies"
    result = invoke(runner, "test", "--rules-dir", policies, "--coverage")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "5 passed, 0 failed", result.stdout
    result = invoke(runner, "lint", "--rules-dir", policies)
    assert result.exit_code == 0 and result.stdout == "0 finding(s) in 4 rule file(s)\n", result.stdout


def test_coverage_lists_caps_steps_and_derived_values_no_case_reached(runner, tmp_path):
    # regional-unemployment with a threshold no one meets: no one is eligible, so the greedy step hands out
    # nothing and the cap is never reached either way. pro-rata with a budget of 100: every eligible applicant
    # gets its whole cap (D 5, A 4, B 1.5, C 0), so the cap always binds.
    policies = tmp_path / "policies"
    shutil.copytree(EXAMPLES / "policies", policies)
    case = policies / "regional-unemployment" / "tests" / "regional-unemployment-2018.yaml"
    case.write_text(case.read_text(encoding="utf-8").replace("    as_of: 2018-06-20\n",
                                                             "    as_of: 2018-06-20\n    set: {min_score: 100}\n"))
    case = policies / "pro-rata" / "tests" / "pro-rata-2018.yaml"
    case.write_text(case.read_text(encoding="utf-8").replace("    as_of: 2018-06-20\n",
                                                             "    as_of: 2018-06-20\n    budget_fte: 100\n"))
    result = invoke(runner, "test", "--rules-dir", policies, "--coverage")
    text = " ".join(result.stdout.split())
    assert result.exit_code == 1
    assert "coverage: step 2 (greedy) of regional-unemployment 2018.1 never hands out or takes anything" in text
    assert "coverage: the cap of regional-unemployment 2018.1 never binds (no applicant gets its whole cap)" in text
    assert ("coverage: the cap of pro-rata 2018.1 always binds (no case runs out of budget before an applicant's cap)"
            in text)
    assert "derived value '" not in text  # every derived value came to a value somewhere
