"""Fuzzing the parsers and loaders: the only outcomes allowed are a result or the engine's own error.

Longer runs: RULES_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py
"""
from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.rules import expr as E
from rules_engine.rules.compile import compile_file, compile_text
from rules_engine.decide.decision import decide
from rules_engine.errors import EvaluationError, ExpressionError, InputError
from rules_engine.rules.facts import parse_facts

from conftest import example, rule_file

EXAMPLES = int(os.environ.get("RULES_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, suppress_health_check=list(HealthCheck))
LDE_TEXT = rule_file("lde").read_text(encoding="utf-8")
LDE = compile_file(rule_file("lde"))
FACTS_YAML = example("lde").read_bytes()[:6000].rsplit(b"\n  - id:", 1)[0] + b"\n"

TOKENS = ["realisation_rate", "contingent_fte", "assessment.guidance_actions", "assessment_sum", "merged_on",
          "province", "params.min_realisation_rate", "params.lde_regulation_in_force", "quarters", "id",
          "1", "0.5", "-2", "2015-04-01", '"Antwerpen"', "null", "true", "false", "[1, 2]", '["Antwerpen", "Limburg"]',
          "and", "or", "not", "in", "is", "is not", "(", ")", "+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=",
          "sum(", "mean(", "count(", "min(", ",", "where", "]", "[", ".", "=", "'", '"', "@", "\t", "é"]


@FUZZ
@given(st.text(max_size=200))
def test_parser_on_any_text(text):
    try:
        E.parse(text)
    except ExpressionError as exc:
        assert 0 <= exc.offset <= len(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_expressions_in_a_rule_file(tokens):
    expression = " ".join(tokens).replace('"', "'") or "true"
    text = LDE_TEXT.replace("when: realisation_rate >= params.min_realisation_rate", f'when: "{expression}"')
    try:
        ruleset = compile_text(text, "fuzz.yaml")
    except InputError as exc:
        assert all(p.location.file == "fuzz.yaml" and p.location.line >= 1 for p in exc.problems)
        return
    facts = parse_facts(FACTS_YAML, "facts.yaml", ruleset)
    try:
        decide(ruleset, facts, dt.date(2018, 6, 20))
    except EvaluationError:
        pass


def _mutate(data: bytes, edits: list) -> bytes:
    out = bytearray(data)
    for kind, position, value in edits:
        if not out:
            break
        at = position % len(out)
        if kind == 0:
            out[at] = value
        elif kind == 1:
            del out[at]
        elif kind == 2:
            out.insert(at, value)
        else:
            line_end = out.find(b"\n", at)
            out[at:line_end if line_end > 0 else at] = b""
    return bytes(out)


edits_st = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6)


@FUZZ
@given(edits_st)
def test_mutated_rule_files(edits):
    from rules_engine.rules.load import decode

    data = _mutate(LDE_TEXT.encode("utf-8"), edits)
    try:
        compile_text(decode(data, "mutant.yaml"), "mutant.yaml")
    except InputError as exc:
        assert exc.problems and all(p.location.file == "mutant.yaml" for p in exc.problems)


@FUZZ
@given(edits_st, st.booleans())
def test_mutated_facts_files(edits, as_json):
    if as_json:
        import json

        from rules_engine.rules.load import load_yaml_fast
        base = json.dumps(load_yaml_fast(FACTS_YAML.decode(), "x"), default=str).encode()
        label = "mutant.json"
    else:
        base, label = FACTS_YAML, "mutant.yaml"
    try:
        facts = parse_facts(_mutate(base, edits), label, LDE)
    except InputError as exc:
        assert exc.problems and all(p.location.file == label for p in exc.problems)
        return
    decide(LDE, facts, dt.date(2018, 6, 20))


numbers = st.one_of(st.integers(-10**30, 10**30), st.decimals(allow_nan=False, allow_infinity=False, places=8),
                    st.decimals(min_value=-10**20, max_value=10**20, allow_nan=False, allow_infinity=False))


@settings(max_examples=max(EXAMPLES // 2, 50), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(numbers, numbers, st.integers(0, 3), st.one_of(st.none(), st.dates())), min_size=1, max_size=20))
def test_durable_agrees_or_refuses_on_extreme_values(rows):
    pytest.importorskip("durable.engine")
    from rules_engine.decide.durable import durable_outcomes
    from rules_engine.decide.evaluate import derive, python_outcomes

    applicants = [{"id": f"x{i}", "name": "x", "province": "Antwerpen", "contingent_fte": contingent,
                   "requested_fte": 1, "realisation_rate": rate, "merged_on": merged,
                   "assessment": {"guidance_actions": score, "transition_vision": 2, "realised_transition": 2,
                                  "regular_cooperation": 2}}
                  for i, (contingent, rate, score, merged) in enumerate(rows)]
    envs = derive(LDE, applicants)
    ours = python_outcomes(LDE, envs)
    try:
        theirs = durable_outcomes(LDE, envs)
    except EvaluationError as exc:
        assert "durable_rules" in str(exc) or "cannot" in str(exc)
        return
    for a, b in zip(ours, theirs):
        assert all(a[rule] == b[rule] for rule in a), (a, b)
