"""durable_rules as second evaluator: differential tests against the Python evaluator, and its guards."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

pytest.importorskip("durable.engine", reason="the durable extra is not installed")

from rules_engine.decide import durable  # noqa: E402
from rules_engine.rules.compile import compile_file, compile_text  # noqa: E402
from rules_engine.errors import EvaluationError  # noqa: E402
from rules_engine.decide.evaluate import derive, python_outcomes  # noqa: E402
from rules_engine.rules.facts import load_facts  # noqa: E402

from conftest import RULESETS, example, rule_file  # noqa: E402
from helpers import lde_applicant, workshop  # noqa: E402


def outcome(ruleset, held: dict) -> tuple:
    """(eligible, tier) as both evaluators must agree on them."""
    eligible = all(held[r.id] for r in ruleset.eligibility)
    if not eligible:
        return False, None
    for number, rule in enumerate(ruleset.tiers, start=1):
        if held.get(rule.id):
            return True, number
    return True, len(ruleset.tiers) + 1


def assert_agree(ruleset, applicants: list) -> None:
    envs = derive(ruleset, applicants)
    ours = [outcome(ruleset, h) for h in python_outcomes(ruleset, envs)]
    theirs = [outcome(ruleset, h) for h in durable.durable_outcomes(ruleset, envs)]
    for env, a, b in zip(envs, ours, theirs):
        assert a == b, f"{env['id']}: python {a} durable {b}"


@pytest.mark.parametrize("ruleset_id", RULESETS)
def test_examples_agree(ruleset_id):
    ruleset = compile_file(rule_file(ruleset_id))
    assert_agree(ruleset, load_facts(example(ruleset_id), ruleset).applicants)


def random_lde(rng: random.Random, n: int) -> list:
    out = []
    for i in range(n):
        merged = rng.choice([None, dt.date(2015, 4, 1), dt.date(2015, 3, 31), dt.date(2019, 1, 1)])
        contingent = rng.choice([Decimal("5"), Decimal("4.99"), Decimal("5.01"), Decimal(rng.randint(0, 3000)) / 100])
        rate = rng.choice([Decimal("0.9"), Decimal("0.8999"), Decimal("0.90001"), Decimal(rng.randint(0, 1000)) / 1000])
        scores = tuple(rng.randint(0, 3) for _ in range(4))
        out.append(lde_applicant(f"L{i}", contingent, rng.randint(1, 9), rate, merged, scores))
    return out


def test_random_lde_applicants_agree():
    assert_agree(compile_file(rule_file("lde")), random_lde(random.Random(7), 1500))


def test_random_workshops_agree():
    rng = random.Random(11)
    applicants = []
    for i in range(800):
        rate = rng.choice(["0.95", "0.9499", "0.9501", "1", "0", str(Decimal(rng.randint(800, 1000)) / 1000)])
        quarters = rng.choice([("2016Q3", "2016Q4", "2017Q1", "2017Q2"), ("2016Q3", "2017Q1", "2017Q2"),
                               ("2016Q3", "2016Q4", "2017Q1", "2017Q2", "2017Q4")])
        applicants.append(workshop(f"W{i}", "Antwerpen", rng.choice([40, 12.5, 0.1, 3000]), 2, rate, quarters))
    assert_agree(compile_file(rule_file("sheltered-workshops")), applicants)


def test_catch_all_and_no_rule_matching():
    # an applicant that fails every rule must not raise MessageNotHandledException
    ruleset = compile_file(rule_file("lde"))
    assert_agree(ruleset, [lde_applicant("none", rate="0", scores=(0, 0, 0, 0))])


def test_or_fires_once_and_not_is_pushed_down(tmp_path):
    text = rule_file("lde").read_text(encoding="utf-8").replace(
        "when: realisation_rate >= params.min_realisation_rate",
        'when: province in ["Antwerpen", "Limburg"] or realisation_rate >= 0.5 or not (merged_on is null)')
    ruleset = compile_text(text, "or.yaml")
    assert_agree(ruleset, random_lde(random.Random(3), 300))


def test_more_rules_than_durable_takes_at_once():
    rules = "\n".join(f"  - id: r{i}\n    description: d\n    source: s\n    when: realisation_rate >= 0.{i:03d}"
                      for i in range(120))
    text = rule_file("lde").read_text(encoding="utf-8")
    start, end = text.index("eligibility:\n"), text.index("\npriority:")
    ruleset = compile_text(text[:start] + "eligibility:\n" + rules + text[end:], "many.yaml")
    assert len(durable.plan(ruleset).names) == 3  # 120 rules + 2 tiers in chunks of 50
    assert_agree(ruleset, random_lde(random.Random(5), 200))


def test_values_durable_cannot_hold_are_errors_not_differences():
    with pytest.raises(EvaluationError, match="cannot be represented"):
        durable.to_durable(Decimal("1E+17"), "x")
    with pytest.raises(EvaluationError, match="cannot be represented"):
        durable.to_durable(Decimal("0.00001"), "x")
    with pytest.raises(EvaluationError, match="64-bit"):
        durable.to_durable(2**70, "x")
    assert durable.to_durable(dt.date(2015, 4, 1)) == dt.date(2015, 4, 1).toordinal()
    assert durable.to_durable(Decimal("12.0")) == 12 and isinstance(durable.to_durable(Decimal("12.0")), int)


def test_rounding_that_could_flip_a_comparison_is_refused():
    ruleset = compile_file(rule_file("lde"))
    close = lde_applicant("close", rate="0.90000000000000000001")  # > 0.90 exactly, == 0.9 as a float
    envs = derive(ruleset, [close])
    assert python_outcomes(ruleset, envs)[0]["sufficient_realisation"] is True
    with pytest.raises(EvaluationError, match="same binary float"):
        durable.durable_outcomes(ruleset, envs)


def test_tagged_facts_and_registration_once():
    ruleset = compile_file(rule_file("lde"))
    plan = durable.plan(ruleset)
    for _, definition in plan.definitions:
        for rule in definition.values():
            assert '"_t": "applicant"' in str(rule).replace("'", '"')
    durable.durable_outcomes(ruleset, derive(ruleset, [lde_applicant("a")]))
    before = dict(durable._registered)
    durable.durable_outcomes(ruleset, derive(ruleset, [lde_applicant("b")]))
    assert durable._registered == before


def test_facts_are_retracted_after_each_applicant():
    ruleset = compile_file(rule_file("lde"))
    durable.durable_outcomes(ruleset, derive(ruleset, [lde_applicant(f"m{i}") for i in range(50)]))
    for name in durable.plan(ruleset).names:
        assert durable._host.get_facts(name) == []


def test_a_long_in_list_is_nested_below_the_sibling_limit():
    provinces = ", ".join(f'"P{i}"' for i in range(100)) + ', "Antwerpen"'
    text = rule_file("lde").read_text(encoding="utf-8").replace(
        "when: realisation_rate >= params.min_realisation_rate", f"when: province in [{provinces}]")
    ruleset = compile_text(text, "long-in.yaml")
    body = str(durable.plan(ruleset).definitions[0][1]["r_sufficient_realisation"])
    assert body.count("'$or'") > 1
    assert_agree(ruleset, random_lde(random.Random(9), 50))


def test_too_many_values_per_fact_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(durable, "MAX_PROPERTIES", 3)
    with pytest.raises(EvaluationError, match="cannot hold that many properties"):
        durable.plan(compile_file(rule_file("lde")))


ROUNDS = [("lde/lde-2019.yaml", "lde-2018.yaml"), ("social-workshops/social-workshops-2019.yaml", "social-workshops-2018.yaml"),
          ("maatwerk-redistribution/maatwerk-redistribution-2020.yaml", "maatwerk-2020.yaml")]


@pytest.mark.parametrize("rule_path, facts", ROUNDS)
def test_the_later_rounds_agree_on_their_examples(rule_path, facts):
    root = rule_file("lde").parents[2]
    ruleset = compile_file(root / "rules" / rule_path)
    assert_agree(ruleset, load_facts(root / "examples" / facts, ruleset).applicants)


def test_random_applicants_agree_under_the_2019_lde_draft():
    assert_agree(compile_file(rule_file("lde").parent / "lde-2019.yaml"), random_lde(random.Random(11), 1500))
