"""Letters that are true: the reason a letter gives for getting less than asked is the constraint that bound.

The check in ``binding_is_true`` reads the decision's own trace (caps, budgets, shares, steps) and
verifies the claim the letter makes; it shares no code with ``rules_engine.tell.letter``.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from fractions import Fraction

import pytest

from rules_engine.api import Asking, evaluate
from rules_engine.tell.letter import as_letter_text, letter
from rules_engine.tell.rounding import on_its_side

from conftest import EXAMPLES, RULES

ROUNDS = [
    ("sheltered-workshops", "sheltered-workshops-2018.yaml", dt.date(2018, 6, 20), False),
    ("sheltered-workshops@2019.1", "sheltered-workshops-2018.yaml", dt.date(2019, 6, 20), True),
    ("lde", "lde-2018.yaml", dt.date(2018, 6, 20), False),
    ("lde@2019.1", "lde-2018.yaml", dt.date(2019, 6, 20), True),
    ("social-workshops", "social-workshops-2018.yaml", dt.date(2018, 6, 20), False),
    ("social-workshops", "social-workshops-2018.yaml", dt.date(2019, 6, 20), False),
    ("maatwerk-redistribution", "maatwerk-2020.yaml", dt.date(2020, 3, 1), False),
]
ENGLISH = re.compile(r"\b(the|and|share|rate|granted|filled|FTE|ranked|you)\b")


def num(value) -> Fraction:
    if isinstance(value, dict):
        return Fraction(int(value["numerator"]), int(value["denominator"]))
    return Fraction(str(value)) if value is not None else Fraction(0)


def binding_is_true(record: dict, decision: dict, constraint: str, method: str) -> bool:
    """Does the trace bear out the constraint the letter names?"""
    trace, allocated, requested = decision["allocation"], num(decision["allocated_fte"]), num(decision["requested_fte"])
    at_cap = trace.get("cap_fte") is not None and num(trace["cap_fte"]) == allocated
    if constraint == "cap":
        return at_cap and allocated < requested
    if at_cap:
        return False  # the cap bound, yet the letter named something else
    if constraint == "steps":
        return "steps" in trace
    own = num(trace["floor_fte"])
    if constraint == "budget":  # greedy: what was left at its turn, all of it, and no more
        pot = num(trace["region_budget_fte"]) if trace["region_budget_fte"] is not None else num(record["budget_fte"])
        before = sum(num(d["allocation"]["floor_fte"]) for d in record["decisions"]
                     if d["eligible"] and d["rank"] < decision["rank"] and d.get("region") == decision.get("region"))
        return method == "greedy" and before + own == pot
    if constraint == "share":
        unit = num(record["unit_fte"])
        ideal = num(trace["ideal_fte"])
        return method in ("equal", "proportional") and ideal < requested and own <= ideal < own + unit
    if constraint == "rounds":
        return method == "round-robin"
    return False


def letters_of(spec, facts, as_of, simulate, engine):
    ruleset, record, _ = evaluate(spec, EXAMPLES / facts, as_of, RULES, engine=engine,
                                  asking=Asking(simulate=simulate, logging=False))
    for decision in record["decisions"]:
        yield ruleset, record, decision, letter(record, ruleset, decision["id"], "nl")


@pytest.mark.parametrize("engine", ["python", "durable"])
@pytest.mark.parametrize("spec, facts, as_of, simulate", ROUNDS)
def test_every_letter_names_the_constraint_that_bound(spec, facts, as_of, simulate, engine):
    short = 0
    for ruleset, record, decision, result in letters_of(spec, facts, as_of, simulate, engine):
        section = result["sections"][-2]
        constraint = section.get("constraint")
        text = as_letter_text(result)
        less = decision["eligible"] and num(decision["allocated_fte"]) < num(decision["requested_fte"]) \
            and not decision.get("reduced_fte")
        if less:
            short += 1
            assert constraint is not None, decision["id"]
            assert binding_is_true(record, decision, constraint, ruleset.allocation.method), (decision["id"], constraint)
        else:
            assert constraint is None, decision["id"]
        if "gerangschikt waren" in text:  # 'the applicants ranked before you had it all': someone was, and got FTE
            assert any(d["eligible"] and d["rank"] < decision["rank"] and d.get("region") == decision.get("region")
                       and num(d["allocated_fte"]) for d in record["decisions"]), decision["id"]
        assert not ENGLISH.search(text), (decision["id"], ENGLISH.search(text).group(0))
    assert short, "no applicant got less than it asked: the round tests nothing"


def test_the_first_ranked_applicant_with_a_cap_of_0_is_told_its_cap():
    """The 2019 LDE draft on the shipped example: LDE-031 is ranked first, with a contingent of 4.3 and
    a request of 2, so its cap is max(0, min(2, floor(5 - 4.3))) = floor(0.7) = 0."""
    for _ruleset, _record, decision, result in letters_of("lde@2019.1", "lde-2018.yaml", dt.date(2019, 6, 20), True,
                                                          "python"):
        if decision["id"] == "LDE-031":
            text = " ".join(as_letter_text(result).split())
            assert decision["rank"] == 1 and decision["allocated_fte"] == 0
            assert "U kreeg het maximum waarop u volgens de regels recht had: 0 VTE." in text
            assert "gerangschikt" not in text.split("4. Wat u krijgt")[1]
            return
    pytest.fail("LDE-031 not in the call")


LDE = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")


def _variant(tmp_path, allocation: str, budget: int = 4):
    text = LDE.replace("  fte: 155\n", f"  fte: {budget}\n")
    text = text[:text.index("\nallocation:\n")] + "\nallocation:\n" + allocation + text[text.index("\nlint:\n"):]
    folder = tmp_path / "rules" / "lde"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lde-2018.yaml").write_text(text, encoding="utf-8")
    return folder / "lde-2018.yaml"


def _applicant(id_, score_each, rate):
    return {"id": id_, "name": f"Initiatief {id_}", "province": "Limburg", "contingent_fte": 10, "requested_fte": 3,
            "realisation_rate": rate, "merged_on": None,
            "assessment": {k: score_each for k in ("guidance_actions", "transition_vision", "realised_transition",
                                                   "regular_cooperation")}}


# all eligible (every score >= 1, sums 12, 8, 8 >= 6, rates >= 0.90), ranked A, B, C by score, then rate
FACTS = {"applicants": [_applicant("C", 2, 0.92), _applicant("A", 3, 0.95), _applicant("B", 2, 0.95)]}


def _letters(tmp_path, allocation: str, lang: str = "nl") -> dict:
    path = _variant(tmp_path, allocation)
    ruleset, record, _ = evaluate(str(path), FACTS, dt.date(2018, 6, 20), tmp_path / "rules",
                                  asking=Asking(simulate=True, logging=False))
    return {d["id"]: (d, " ".join(as_letter_text(letter(record, ruleset, d["id"], lang)).split()))
            for d in record["decisions"]}


@pytest.mark.parametrize("method, grants", [
    # budget 4, requests 3 each, A's cap 0. greedy: A 0, B 3, C the 1 left; equal: B and C 2 each (4 / 2);
    # proportional to the request (3 and 3): the same 2 and 2.
    ("greedy", {"A": 0, "B": 3, "C": 1}),
    ("equal", {"A": 0, "B": 2, "C": 2}),
    ("proportional\n  weight: requested_fte", {"A": 0, "B": 2, "C": 2}),
])
def test_a_cap_of_0_is_the_reason_whatever_the_method(tmp_path, method, grants):
    letters = _letters(tmp_path, f"  method: {method}\n  cap: 'if id == \"A\" then 0 else requested_fte'\n")
    assert {k: d["allocated_fte"] for k, (d, _) in letters.items()} == grants
    decision, text = letters["A"]
    assert decision["rank"] == 1
    assert "U krijgt geen bijkomende VTE. U kreeg het maximum waarop u volgens de regels recht had: 0 VTE." in text
    assert "gerangschikt waren" not in text and "budget" not in text.split("4. Wat u krijgt")[1].split("Hoe")[0]


def test_greedy_names_the_budget_left_at_the_turn(tmp_path):
    letters = _letters(tmp_path, "  method: greedy\n  cap: 'if id == \"A\" then 0 else requested_fte'\n")
    assert "Bij uw beurt in de rangschikking bleef er van het budget nog 1 VTE over." in letters["C"][1]
    english = _letters(tmp_path, "  method: greedy\n  cap: requested_fte\n", "en")
    # A 3, B the 1 left, C nothing: the applicants ranked before C had it all
    assert "At your turn in the ranking, 1 FTE of the budget was left." in english["B"][1]
    assert "The budget was used up at your turn: the applicants ranked before you received all of it." in english["C"][1]


def test_a_proportional_share_gives_its_percentage_and_rounding(tmp_path):
    # budget 4 in proportion to the requests 3, 3, 3: each 4/3 = 1.3333 FTE, 44.44 % of 3; floors 1, 1, 1;
    # the 1 unit left goes to the first in the remainder queue (equal remainders: rank order): A
    letters = _letters(tmp_path, "  method: proportional\n  weight: requested_fte\n  cap: requested_fte\n")
    assert [letters[k][0]["allocated_fte"] for k in "ABC"] == [2, 1, 1]
    text = letters["B"][1]
    assert "uw aandeel was 1,3333 VTE, 44,44 % van wat u vroeg" in text
    assert "in verhouding tot gevraagde bijkomende VTE" in text
    assert "Dat aandeel werd afgerond naar 1 VTE in volledige eenheden van 1 VTE." in text
    assert "u stond op plaats 1 in de volgorde van de grootste resten" in letters["A"][1]
    assert "grootste resten" not in text


def test_round_robin_names_its_rounds_and_the_turn(tmp_path):
    # budget 4, 3 applicants: one full round (3), then 1 unit in a second round to the first in rank: A
    letters = _letters(tmp_path, "  method: round-robin\n  cap: requested_fte\n")
    assert [letters[k][0]["allocated_fte"] for k in "ABC"] == [2, 1, 1]
    assert "het volstond voor 1 volledige ronde(s)" in letters["B"][1]
    assert "u had beurt 1" in letters["A"][1] and "beurt" not in letters["B"][1].split("ronde(s).")[1]


def test_a_condition_that_counts_a_list_of_objects_does_not_break_the_letter(tmp_path):
    text = (RULES / "social-workshops" / "social-workshops-2018.yaml").read_text(encoding="utf-8")
    text = text.replace("when: reference_quarters_reported == count(params.reference_quarters)",
                        "when: count(quarters) >= count(params.reference_quarters) - 1")
    folder = tmp_path / "rules" / "social-workshops"
    folder.mkdir(parents=True)
    (folder / "social-workshops-2018.yaml").write_text(text, encoding="utf-8")
    ruleset, record, _ = evaluate(str(folder / "social-workshops-2018.yaml"), EXAMPLES / "social-workshops-2018.yaml",
                                  dt.date(2018, 6, 20), tmp_path / "rules", asking=Asking(simulate=True, logging=False))
    first = record["decisions"][0]
    body = as_letter_text(letter(record, ruleset, first["id"], "nl"))
    assert "kwartalen: 2016Q3" in " ".join(body.split())  # the quarters named by their own name, never a crash
    assert Decimal(0) <= first["allocated_fte"]


def test_the_policy_owners_note_is_for_auditors_never_in_a_letter():
    from rules_engine.tell.explain import as_text, explain_applicant

    failing = 0
    for ruleset, record, decision, result in letters_of("sheltered-workshops", "sheltered-workshops-2018.yaml",
                                                        dt.date(2018, 6, 20), False, "python"):
        text = " ".join(as_letter_text(result).split())
        assert "de oproep is gevolgd" not in text
        if any(c["rule"] == "min_fill_rate" and not c["passed"] for c in decision["reasons"]):
            failing += 1
            assert "ingevuld contingent van 95% of meer" in text  # the quoted source stays
            auditor = " ".join(as_text(explain_applicant(record, ruleset, decision["id"], "nl")).split())
            assert "Toelichting van de beleidsmaker: De tekst zegt verderop 'meer dan 95%'; de oproep is gevolgd" in auditor
    assert failing


def test_a_tie_names_who_tied_and_the_draw_that_decided():
    """The 2019 LDE draft on the shipped example: four initiatives share tier 3, a score of 7 and a rate of 93.9%;
    the published lottery (sha256 of 'seed:id', lowest first) decides their order."""
    import hashlib

    ruleset, record, _ = evaluate("lde@2019.1", EXAMPLES / "lde-2018.yaml", dt.date(2019, 6, 20), RULES,
                                  asking=Asking(simulate=True, logging=False))
    seed = ruleset.params["lottery_seed"]
    group = [d for d in record["decisions"] if d["eligible"] and d["tier"] == 3
             and d["derived"]["assessment_sum"] == 7 and str(d["rank_keys"]["realisation_rate"]) == "0.939"]
    assert len(group) == 4
    draws = {d["id"]: hashlib.sha256(f"{seed}:{d['id']}".encode()).hexdigest() for d in group}
    by_draw = sorted(draws, key=draws.get)
    assert by_draw == [d["id"] for d in sorted(group, key=lambda d: d["rank"])]  # the draw set the order
    for d in group:
        text = " ".join(as_letter_text(letter(record, ruleset, d["id"], "nl")).split())
        others = [i for i in by_draw if i != d["id"]]
        assert f"U stond gelijk met {', '.join(others)} op:" in text
        assert "Daarna besliste de loting (laagste eerst): " + "; ".join(f"{i} {draws[i][:12]}" for i in by_draw) in text


def test_a_rule_text_per_language_and_a_missing_translation_is_a_lint_finding(tmp_path):
    from rules_engine.api import compile_file
    from rules_engine.policy.lint import lint_ruleset

    text = LDE.replace("    description: Het project heeft voldoende draagkracht om nieuwe trajecten op te vangen "
                       "(realisatiegraad)\n",
                       "    description:\n      nl: Het project heeft voldoende draagkracht om nieuwe trajecten op te "
                       "vangen (realisatiegraad)\n      en: The project can take on new trajectories (realisation rate)\n")
    assert text != LDE
    folder = tmp_path / "rules" / "lde"
    folder.mkdir(parents=True)
    (folder / "lde-2018.yaml").write_text(text, encoding="utf-8")
    ruleset, record, _ = evaluate(str(folder / "lde-2018.yaml"), FACTS, dt.date(2018, 6, 20), tmp_path / "rules",
                                  asking=Asking(simulate=True, logging=False))
    english = " ".join(as_letter_text(letter(record, ruleset, "A", "en")).split())
    dutch = " ".join(as_letter_text(letter(record, ruleset, "A", "nl")).split())
    assert "- The project can take on new trajectories (realisation rate): met." in english
    assert "- Het project heeft voldoende draagkracht om nieuwe trajecten op te vangen (realisatiegraad): voldaan." in dutch
    assert "The project can take on" not in dutch
    missing = [f for f in lint_ruleset(compile_file(folder / "lde-2018.yaml")) if f.code == "missing-translation"]
    assert {f.subject for f in missing} == {"every_aspect_scored", "sufficient_guidance", "small_with_guidance",
                                            "small_after_merger", "assessment_sum"}


def test_a_tie_of_many_names_five_and_counts_the_rest(tmp_path):
    # eight initiatives alike in everything but their id: the file number decides (lowest first)
    twins = {"applicants": [dict(_applicant(f"T{i}", 2, 0.95), name=f"Initiatief T{i}") for i in range(1, 9)]}
    path = _variant(tmp_path, "  method: greedy\n  cap: requested_fte\n")
    ruleset, record, _ = evaluate(str(path), twins, dt.date(2018, 6, 20), tmp_path / "rules",
                                  asking=Asking(simulate=True, logging=False))
    text = " ".join(as_letter_text(letter(record, ruleset, "T8", "nl")).split())
    assert "U stond gelijk met T1, T2, T3, T4, T5 en 2 andere op:" in text
    assert "Daarna besliste het dossiernummer (laagste eerst): T1; T2; T3; T4; T5; T6; en 2 andere." in text


def _workshop(ident: str, filled: str) -> dict:
    """A sheltered workshop of 100 FTE that filled ``filled`` FTE in each of the four quarters of the 2018 round's
    reference period: its mean fill rate is filled / 100, exactly."""
    quarters = [{"quarter": q, "contingent_fte": 100, "filled_fte": Decimal(filled)}
                for q in ("2016Q3", "2016Q4", "2017Q1", "2017Q2")]
    return {"id": ident, "name": f"Werkplaats {ident}", "province": "Limburg", "contingent_fte": 100,
            "requested_fte": 2, "quarters": quarters}


@pytest.mark.parametrize("filled, held, nl, en", [
    # 94.9996% misses the 95% of the 2018 round: written with two decimals it would be 95,00 %, the threshold
    # itself, beside "niet voldaan"; the letter writes as many decimals as it takes to fall on the right side
    ("94.9996", False, "94,9996 %", "94.9996 %"),
    ("95.0004", True, "95,0004 %", "95.0004 %"),  # over it, never shown as exactly it
    ("95", True, "95,00 %", "95.00 %"),  # exactly the threshold: two decimals, as any other rate
    ("95.004", True, "95,004 %", "95.004 %"),
    ("92.2849", False, "92,28 %", "92.28 %"),  # far from any threshold: two decimals
])
@pytest.mark.parametrize("written", ["params.min_fill_rate", "0.95"])  # a parameter, or a number in the rule itself
def test_a_rate_near_a_threshold_is_written_on_its_own_side_of_it(tmp_path, filled, held, nl, en, written):
    text = (RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_text(encoding="utf-8")
    text = text.replace("when: fill_rate >= params.min_fill_rate", f"when: fill_rate >= {written}")
    if written == "0.95":  # and the parameter no longer 0.95, so that only the rule's own number can tell
        text = text.replace("    value: 0.95\n", "    value: 0.5\n")
    folder = tmp_path / "rules" / "sheltered-workshops"
    folder.mkdir(parents=True)
    (folder / "sheltered-workshops-2018.yaml").write_text(text, encoding="utf-8")
    facts = {"regions": {"Limburg": {"work_disabled": 4700}}, "applicants": [_workshop("W1", filled)]}
    ruleset, record, _ = evaluate("sheltered-workshops", facts, dt.date(2018, 6, 20), tmp_path / "rules",
                                  asking=Asking(simulate=True, logging=False))
    check = next(c for c in record["decisions"][0]["reasons"] if c["rule"] == "min_fill_rate")
    assert check["passed"] is held
    for lang, shown in (("nl", nl), ("en", en)):
        text = " ".join(as_letter_text(letter(record, ruleset, "W1", lang)).split())
        assert f"over de kwartalen van de referteperiode: {shown}." in text if lang == "nl" else f": {shown}." in text


def test_the_letter_names_the_value_it_was_ranked_by():
    """Maatwerk 2020: MB-013 filled 321.2, 321.71, 325.99 and 326.57 of 341.2 FTE in the four quarters of 2019, a mean
    rate of 1295.47 / 1364.8 = 94.920...%: not over the 95% that receives, which its letter can only show by its
    rate (the rule of eligibility does not read it)."""
    ruleset, record, _ = evaluate("maatwerk-redistribution", EXAMPLES / "maatwerk-2020.yaml", dt.date(2020, 3, 1),
                                  RULES, asking=Asking(simulate=True, logging=False))
    assert num(next(d for d in record["decisions"] if d["id"] == "MB-013")["rank_keys"]["fill_rate"]) == \
        Fraction("1295.47") / Fraction("1364.8")
    nl = " ".join(as_letter_text(letter(record, ruleset, "MB-013", "nl")).split())
    assert ("3. Uw plaats in de rangschikking U staat op plaats 16 van de 39 aanvragers die in aanmerking komen. "
            "De volgorde is bepaald door: gemiddelde invullingsgraad (ingevuld / contingent) over de kwartalen van de "
            "referteperiode (hoogste eerst); dossiernummer. Uw gegevens: gemiddelde invullingsgraad (ingevuld / "
            "contingent) over de kwartalen van de referteperiode: 94,92 %.") in nl
    en = " ".join(as_letter_text(letter(record, ruleset, "MB-013", "en")).split())
    assert "Your figures: " in en and ": 94.92 %." in en


def test_a_large_value_near_a_threshold_takes_the_decimals_it_needs():
    # 10^20 + 2/3 against a threshold 10^-9 above it: as a percentage 10^22 + 66.666...; rounded up at the k-th
    # decimal it exceeds the value by 10^-k / 3, which stays under the 10^-7 to the threshold from k = 7 on: thirty
    # digits, more than the 28 of the default decimal context
    value = Fraction(10**20) + Fraction(2, 3)
    assert on_its_side(value, 2, (value + Fraction(1, 10**9),), scale=100) == \
        Decimal("10000000000000000000066.6666667")


@pytest.mark.parametrize("gap, shown", [
    (Fraction(1, 10**10), "94.99999999"),  # 10^-8 of a percent below: eight decimals tell it apart
    (-Fraction(1, 10**10), "95.00000001"),
    # 10^-28 of a percent below: no rounding to 26 decimals (24 more than the usual two) tells it apart; cut down
    (Fraction(1, 10**30), "94." + "9" * 26),
    (-Fraction(1, 10**30), "95." + "0" * 25 + "1"),  # and above it, cut up
])
def test_a_rate_a_hair_from_a_threshold_stays_on_its_side(gap, shown):
    assert str(on_its_side(Fraction(95, 100) - gap, 2, (Fraction(95, 100),), scale=100)) == shown


def test_a_number_in_a_steps_for_is_a_threshold_too(tmp_path):
    # maatwerk 2020 with the recipients' 95% written in the step itself (the parameter set apart at 0.5): a company
    # that filled 95.0004 of 100 FTE each quarter receives, and its letter says 95,0004 %, not 95,00 %
    text = (RULES / "maatwerk-redistribution" / "maatwerk-redistribution-2020.yaml").read_text(encoding="utf-8")
    text = text.replace("for: fill_rate > params.recipient_threshold", "for: fill_rate > 0.95")
    text = text.replace("  recipient_threshold:\n    value: 0.95\n", "  recipient_threshold:\n    value: 0.5\n")
    folder = tmp_path / "rules" / "maatwerk-redistribution"
    folder.mkdir(parents=True)
    (folder / "maatwerk-redistribution-2020.yaml").write_text(text, encoding="utf-8")
    quarters = lambda filled: [{"quarter": f"2019Q{q}", "contingent_fte": 100, "filled_fte": Decimal(filled)}  # noqa
                               for q in range(1, 5)]
    facts = {"regions": {"Limburg": {"work_disabled": 4700}}, "applicants": [
        {"id": "M1", "name": "Maatwerk M1", "province": "Limburg", "contingent_fte": 100, "requested_fte": 2,
         "quarters": quarters("95.0004")},
        {"id": "M2", "name": "Maatwerk M2", "province": "Limburg", "contingent_fte": 100, "requested_fte": 2,
         "quarters": quarters("80")}]}
    ruleset, record, _ = evaluate("maatwerk-redistribution", facts, dt.date(2020, 3, 1), tmp_path / "rules",
                                  asking=Asking(simulate=True, logging=False))
    assert next(d for d in record["decisions"] if d["id"] == "M1")["allocated_fte"] > 0
    nl = " ".join(as_letter_text(letter(record, ruleset, "M1", "nl")).split())
    assert "over de kwartalen van de referteperiode: 95,0004 %." in nl
