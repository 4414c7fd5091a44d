"""Issue 24: a fresh record's decisions are written when they are read (``decide/lazy.py``), and read alike however
they are read: indexed, sliced, iterated, compared, copied, sent to another process, written as JSON in chunks.
The expected decisions come from the record's own JSON text read back by the standard library, and from a
hand-written call whose every trace value is known."""
from __future__ import annotations

import copy
import gc
import datetime as dt
import json
import pickle
from decimal import Decimal

import pytest

from rules_engine.decide import decision as D
from rules_engine.decide.lazy import Decisions
from rules_engine.rules.compile import compile_file
from rules_engine.rules.facts import parse_facts

from conftest import RULES

AS_OF = dt.date(2018, 6, 20)


def lde_record(applicants: int = 7) -> dict:
    rs = compile_file(RULES / "lde" / "lde-2018.yaml")
    # guidance i % 4 plus 2 + 3 + 2; realisation 0.85 to 0.94; contingent 2 to 7 FTE
    calls = [{"id": f"LDE-{i:03d}", "name": f"Initiatief {i}", "province": "Limburg", "contingent_fte": 2 + i % 6,
              "requested_fte": 1 + i % 4, "realisation_rate": Decimal(f"0.{85 + i % 10}"), "merged_on": None,
              "assessment": {"guidance_actions": i % 4, "transition_vision": 2, "realised_transition": 3,
                             "regular_cooperation": 2}} for i in range(applicants)]
    text = D.to_json_bytes({"applicants": calls}, indent=None)
    return D.decide(rs, parse_facts(text, "f.json", rs), AS_OF, kind="simulation")


def test_the_decisions_read_as_the_list_their_json_text_holds():
    record = lde_record()
    decisions = record["decisions"]
    assert isinstance(decisions, Decisions) and len(decisions) == 7
    plain = list(decisions)
    assert D.to_json_bytes(record) == D.to_json_bytes({**record, "decisions": plain})
    back = json.loads(D.to_json_bytes(record), parse_float=Decimal)["decisions"]
    assert [d["id"] for d in back] == [d["id"] for d in plain] and back[3]["reasons"] == plain[3]["reasons"]
    assert decisions == plain and plain == decisions and decisions == Decisions(plain, dict)
    assert decisions[0] == plain[0] and decisions[-1] == plain[-1] and decisions[2:5] == plain[2:5]
    assert decisions[::-2] == plain[::-2]
    assert decisions != plain[:-1] and decisions != plain + plain[:1]
    assert decisions != "not a list" and decisions != tuple(plain)


def test_a_decision_read_twice_is_written_twice_alike_and_apart():
    record = lde_record()
    first, again = record["decisions"][0], record["decisions"][0]
    assert first == again and first is not again
    before = D.to_json_bytes(first)
    first["reasons"].append("changed by a reader")
    first["rank_keys"]["tier"] = "changed by a reader"
    first["tier_checks"][0]["values"].clear()
    first["derived"].clear()
    # what a reader does to its copy is not the record's
    assert D.to_json_bytes(record["decisions"][0]) == D.to_json_bytes(again) == before


def test_a_copied_or_pickled_record_holds_the_plain_list():
    record = lde_record()
    for other in (copy.deepcopy(record), pickle.loads(pickle.dumps(record)), copy.copy(record["decisions"])):
        decisions = other["decisions"] if isinstance(other, dict) else other
        assert type(decisions) is list and decisions == list(record["decisions"])


def test_the_trace_shows_every_value_each_rule_read():
    record = lde_record()
    by_id = {d["id"]: d for d in record["decisions"]}
    # LDE-006: guidance 2 + 2 + 3 + 2 = 9 >= 6, realisation 0.91 >= 0.90, contingent 2 < 5 and 9 >= 8: tier 1,
    # the second tier never checked
    small = by_id["LDE-006"]
    assert [(c["rule"], c["passed"]) for c in small["reasons"]] == [
        ("every_aspect_scored", True), ("sufficient_guidance", True), ("sufficient_realisation", True)]
    assert small["reasons"][0]["values"] == {"assessment.guidance_actions": 2, "params.min_aspect_score": 1,
                                             "assessment.transition_vision": 2, "assessment.realised_transition": 3,
                                             "assessment.regular_cooperation": 2}
    assert small["reasons"][1]["values"] == {"assessment_sum": 9, "params.min_assessment_sum": 6}
    assert small["reasons"][2]["values"] == {"realisation_rate": Decimal("0.91"),
                                             "params.min_realisation_rate": Decimal("0.90")}
    assert small["tier_checks"] == [{"rule": "small_with_guidance", "passed": True, "values": {
        "contingent_fte": 2, "params.small_initiative_fte": 5, "assessment_sum": 9, "params.strong_guidance_sum": 8}}]
    # LDE-005: contingent 7 is not small: both tiers checked and failed, the default tier 3
    other = by_id["LDE-005"]
    assert [(c["rule"], c["passed"]) for c in other["tier_checks"]] == [
        ("small_with_guidance", False), ("small_after_merger", False)] and other["tier"] == 3
    assert other["tier_checks"][1]["values"]["merged_on"] is None
    # LDE-000: guidance 0 below 1, and realisation 0.85: ineligible, no tier checked
    failed = by_id["LDE-000"]
    assert [c["passed"] for c in failed["reasons"]] == [False, True, False]
    assert failed["tier_checks"] == [] and failed["tier"] is None


def test_a_large_record_is_encoded_a_part_of_decisions_at_a_time(monkeypatch):
    record = lde_record(9)
    whole = D.to_json_bytes(record)
    written: list = []
    decisions = record["decisions"]
    write = decisions._write
    monkeypatch.setattr(decisions, "_write", lambda item: written.append(item) or write(item), raising=False)
    monkeypatch.setattr(D, "FIRST", 2)
    monkeypatch.setattr(D, "PART", 1)
    parts = D.to_json_parts(record)
    seen = b""
    for part in parts:
        seen += bytes(part)
        assert len(written) <= seen.count(b'\n    {"id":') + 2, "decisions written long before they are encoded"
    assert seen == whole and len(written) == 9


@pytest.mark.parametrize("reading", [lambda d: d[0], lambda d: d[-1:], lambda d: list(d), lambda d: len(d)])
def test_reading_needs_nothing_but_the_items(reading):
    decisions = Decisions(["a", "b"], lambda item: {"id": item})
    assert reading(decisions) in ({"id": "a"}, [{"id": "b"}], [{"id": "a"}, {"id": "b"}], 2)
    assert repr(decisions) == "<2 decisions, written when read>"
    with pytest.raises(TypeError):
        hash(decisions)


@pytest.mark.parametrize("indent", [2, None])
def test_decisions_are_written_without_the_cyclic_collector_and_leave_it_as_found(indent):
    # a large record's decisions are millions of acyclic objects: the collector would walk the whole heap over and
    # over while they are written (a replay of 100,000 took 40% longer); between the parts, the caller's own
    # setting holds
    seen: list = []
    decisions = Decisions(list(range(5)), lambda item: seen.append(gc.isenabled()) or {"id": item})
    assert gc.isenabled()
    between = [gc.isenabled() for _part in D.to_json_parts({"decisions": decisions}, indent=indent)]
    assert seen == [False] * 5 and all(between) and gc.isenabled()


def test_the_outcomes_are_the_decisions_without_their_trace():
    # what a comparison of two calls reads (rules diff): every field as written, but no rule checked shown
    record = lde_record(9)
    full = list(record["decisions"])
    assert any(d["reasons"] for d in full) and any(d["tier_checks"] for d in full)
    assert list(record["decisions"].outcomes()) == [{**d, "reasons": [], "tier_checks": []} for d in full]
    plain = Decisions(["a"], lambda item: {"id": item, "reasons": [1]})  # no brief writer: the decisions whole
    assert list(plain.outcomes()) == [{"id": "a", "reasons": [1]}]
