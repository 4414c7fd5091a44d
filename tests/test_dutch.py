"""The pages' problems in Dutch (a Dutch page has no English): the engine's messages for the mistakes people make
while typing a condition, and for a call's facts that are refused (the simulation and comparison pages), each made
for real and read back in Dutch written by hand."""
from __future__ import annotations

import re

import pytest

from rules_engine import api
from rules_service.dutch import in_dutch

from conftest import RULES

SHIPPED = (RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_text(encoding="utf-8")
CONDITION = "when: fill_rate >= params.min_fill_rate"


@pytest.mark.parametrize("typed, dutch", [
    ("fill_rate >= params.min_fil_rate", "onbekende parameter 'min_fil_rate', bedoelt u 'min_fill_rate'?"),
    ("fill_rate >= params.nothing_like_it", "onbekende parameter 'nothing_like_it'"),
    ("fill_rate >=", "hier hoort een waarde, maar er staat het einde van de uitdrukking"),
    ("fill_rate >= params.min_fill_rate)", "onverwacht: ')'"),
    ("fill_rate >= params.min_fill_rate >= 0", "vergelijkingen kunnen niet aan elkaar geschakeld worden; verbind ze met 'and'"),
    ("fill_rate >= 'hoog'", "een getal kan niet vergeleken worden met een tekst"),
    ("fill_rate", "een voorwaarde moet waar of onwaar zijn, dit geeft een getal"),
    ("fill_rate >= params.min_fill_rate and name * 2 > 1", "'*' werkt met getallen, niet met een tekst"),
    ("fill_rate >= avg(quarters, filled_fte)", None),
])
def test_a_mistyped_condition_is_told_in_dutch(typed, dutch):
    text = SHIPPED.replace(CONDITION, f"when: {typed}")
    problems = api.check_text(text, "<draft>").problems
    assert len(problems) == 1
    said = in_dutch(problems[0].message)
    if dutch is None:  # an unknown function: its list of functions is kept, the sentence is Dutch
        assert said.startswith("onbekende functie 'avg'; de functies zijn ")
    else:
        assert said == dutch


def test_a_message_of_unknown_shape_is_kept_as_it_is():
    assert in_dutch("something new went wrong") == "something new went wrong"


LDE = {"id": "LDE-1", "name": "X", "province": "Antwerpen", "contingent_fte": 3, "requested_fte": 2,
       "realisation_rate": 0.9, "merged_on": None,
       "assessment": {"guidance_actions": 3, "transition_vision": 3, "realised_transition": 3, "regular_cooperation": 2}}


def _facts_problem(raw: bytes, spec: str = "lde") -> str:
    import datetime as dt

    from rules_engine.errors import InputError
    from rules_engine.rules.facts import parse_facts

    ruleset = api.resolve(spec, RULES, dt.date(2018, 6, 20))
    with pytest.raises(InputError) as info:
        parse_facts(raw, "call.json", ruleset, "json")
    return info.value.problems[0].message


def _call(**changes) -> bytes:
    import json

    return json.dumps({"applicants": [{**LDE, **changes}, {**LDE, "id": "LDE-2"}]}, indent=1).encode()


@pytest.mark.parametrize("raw, dutch", [
    (_call(requested_fte="drie"), "moet een geheel getal zijn, niet 'drie'"),
    (_call(requested_fte=-1), "moet >= 1 zijn, niet -1"),
    (_call(province="Brussel"), "moet een van Antwerpen, Limburg, Oost-Vlaanderen, Vlaams-Brabant, West-Vlaanderen zijn, "
                                "niet 'Brussel'"),
    (_call(province="Antwerpn"), "moet een van Antwerpen, Limburg, Oost-Vlaanderen, Vlaams-Brabant, West-Vlaanderen "
                                 "zijn, niet 'Antwerpn', bedoelt u 'Antwerpen'?"),
    (_call(nme="x"), "onbekende sleutel 'nme', bedoelt u 'name'?; hier toegestaan: id, name, province, contingent_fte, "
                     "requested_fte, realisation_rate, merged_on, assessment"),
    (_call(merged_on="2018-13-01"), "moet een datum zijn (JJJJ-MM-DD), niet '2018-13-01'"),
    (_call(id="LDE-2"), "aanvrager-id 'LDE-2' komt twee keer voor (eerst bij applicants[0])"),
    (_call(name=""), "mag niet leeg zijn"),
    (_call(assessment=[]), "moet een verzameling sleutels zijn, niet een lijst"),
    (b'{"applicants": [1,]}', "JSON-syntaxis: hier hoort een waarde"),
    (b'{"applicants": [], "applicants": []}', "de sleutel 'applicants' staat er twee keer"),
    (b'[]', "een bestand met aanvragen moet een verzameling sleutels zijn, met een lijst 'applicants'"),
    (b'{"applicants": [{"id": "A", "x": NaN}]}', "'NaN' is geen getal dat deze engine aanvaardt"),
    (b'{"applicants": [{"id": 1e400}]}', "het getal '1e400' is te groot: een getal heeft hoogstens 15 beduidende "
                                         "cijfers, 15 voor de komma en 20 erna"),
])
def test_a_facts_problem_is_told_in_dutch(raw, dutch):
    assert in_dutch(_facts_problem(raw)) == dutch


def test_the_workshops_facts_problems_are_told_in_dutch():
    quarter = '{"quarter": "2016-3", "contingent_fte": 3, "filled_fte": 3}'
    shop = '"id": "A", "name": "B", "province": "Limburg", "contingent_fte": 3, "requested_fte": 2'
    assert in_dutch(_facts_problem(f'{{"applicants": [{{{shop}, "quarters": [{quarter}]}}]}}'.encode(),
                                   "sheltered-workshops")) == "de verplichte sleutel 'regions' ontbreekt"
    regions = '"regions": {"Antwerpen": {"work_disabled": 3}}'
    assert in_dutch(_facts_problem(f'{{{regions}, "applicants": [{{{shop}, "quarters": [{quarter}]}}]}}'.encode(),
                                   "sheltered-workshops")) == "moet een kwartaal zijn zoals 2016Q3, niet '2016-3'"
    assert in_dutch(_facts_problem(f'{{{regions}, "applicants": [{{{shop}, "quarters": []}}]}}'.encode(),
                                   "sheltered-workshops")) == "geen gegevens voor 'Limburg' onder regions"
    assert in_dutch("'2016Q3' is given twice (first at quarters[0]): each quarter once") == \
        "'2016Q3' staat er twee keer (eerst bij quarters[0]): elke waarde van 'quarter' één keer"
    assert in_dutch("applicant id 'LDE-O1' looks the same as 'LDE-01' (first at applicants[0])") == \
        "aanvrager-id 'LDE-O1' ziet er hetzelfde uit als 'LDE-01' (eerst bij applicants[0])"
    assert in_dutch("1,000,001 applicants, over the limit of 1,000,000 a call (RULES_MAX_APPLICANTS, set by whoever "
                    "runs the engine)") == ("1.000.001 aanvragen, meer dan de grens van 1.000.000 per oproep "
                                            "(RULES_MAX_APPLICANTS, ingesteld door wie de engine beheert)")
    assert in_dutch("decision 7 has 100,000 letters; one PDF holds at most 500 (RULES_MAX_LETTERS): ask for them by "
                    "applicant") == ("beslissing 7 heeft 100.000 brieven; één PDF bevat er ten hoogste 500 "
                                     "(RULES_MAX_LETTERS): vraag ze per aanvrager op")
    assert in_dutch("1,200 letters asked for; one PDF holds at most 1,000 (RULES_MAX_LETTERS): ask for fewer") == \
        "1.200 brieven gevraagd; één PDF bevat er ten hoogste 1.000 (RULES_MAX_LETTERS): vraag er minder"


def _policy_owner(tmp_path):
    """A browser signed in to the pages as a policy owner."""
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    from test_web import sign_in

    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        secret = TokenStore(opened).add("policy-team", "policy-owner")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))), raise_server_exceptions=False)
    assert sign_in(client, secret).status_code == 303
    return client


def test_the_simulation_page_tells_a_bad_call_in_the_pages_language(tmp_path):
    from test_web import csrf

    client = _policy_owner(tmp_path)
    said = {}
    for lang in ("nl", "en"):
        client.get(f"/lang/{lang}")
        page = client.post("/simulate", data={"csrf": csrf(client.get("/simulate").text), "spec": "lde@2018.1",
                                              "as_of": "2018-06-20"},
                           files={"facts_file": ("call.json", _call(requested_fte="drie", merged_on="2018-13-01"))})
        assert page.status_code == 422
        said[lang] = page.text.split('class="error"', 1)[1].split("</pre>", 1)[0]
    assert "applicants[0] (id LDE-1).requested_fte: moet een geheel getal zijn, niet &#39;drie&#39;" in said["nl"]
    assert "merged_on: moet een datum zijn (JJJJ-MM-DD)" in said["nl"] and "must" not in said["nl"]
    assert "requested_fte: must be an integer, not &#39;drie&#39;" in said["en"]


def test_the_simulation_forms_own_refusals_are_dutch_on_a_dutch_page(tmp_path):
    from test_web import csrf

    client = _policy_owner(tmp_path)
    client.get("/lang/nl")

    def refusal(**fields):
        page = client.post("/simulate", data={"csrf": csrf(client.get("/simulate").text), "spec": "lde@2018.1",
                                              "as_of": "2018-06-20", **fields})
        assert page.status_code == 422
        return page.text.split('class="error"', 1)[1].split("</pre>", 1)[0]
    assert refusal() == ' role="alert">facts: laad een bestand met aanvragen op, of kies een voorbeeld'
    said = refusal(example="lde-2018.yaml", as_of="20 juni")
    assert said == ' role="alert">as_of: &#39;20 juni&#39; is geen datum (JJJJ-MM-DD)'
    said = refusal(example="lde-2018.yaml", overrides="min_aspect_score")
    assert said == ' role="alert">overrides:1:1: schrijf NAAM=WAARDE, niet &#39;min_aspect_score&#39;'


@pytest.mark.parametrize("name", sorted(p.name for p in (RULES.parent / "tests" / "hostile").glob("*")
                                        if p.suffix in (".yaml", ".json") and p.name != "cases.yaml"))
def test_every_hostile_call_is_refused_in_dutch_on_a_dutch_page(name):
    """The refusals of the hostile corpus, each as a Dutch page shows it: the same places, no English sentence (a
    YAML parser's own syntax message is the one shape still told as the parser wrote it)."""
    import datetime as dt

    from rules_engine.errors import RulesError
    from rules_engine.rules.facts import load_facts
    from rules_service.dutch import error_text

    ruleset = api.resolve("lde", RULES, dt.date(2018, 6, 20))
    try:
        load_facts(RULES.parent / "tests" / "hostile" / name, ruleset)
    except RulesError as exc:
        english, dutch = error_text(exc, "en").splitlines(), error_text(exc, "nl").splitlines()
        assert len(english) == len(dutch)
        for line_en, line_nl in zip(english, dutch):
            assert line_en.split(": ", 1)[0] == line_nl.split(": ", 1)[0]
            if "YAML syntax: " not in line_en:
                assert line_nl != line_en and not re.search(r"\b(must|is not|not a|the|are|allowed)\b", line_nl), \
                    line_nl


def test_a_version_that_cannot_decide_is_told_in_dutch():
    import datetime as dt

    from rules_engine.errors import LookupFailure
    from rules_service.dutch import error_text

    with pytest.raises(LookupFailure) as info:
        api.resolve("lde@2017.1", RULES, dt.date(2018, 6, 20))
    assert error_text(info.value, "nl") == "regelset 'lde' heeft geen versie 2017.1; versies: 2018.1, 2019.1"
    with pytest.raises(LookupFailure) as info:
        api.resolve("lde", RULES, dt.date(2001, 1, 1))
    assert error_text(info.value, "nl") == ("geen versie van 'lde' is van kracht op 2001-01-01; versies: 2018.1 van "
                                            "2018-06-15 tot 2018-12-31; 2019.1 van 2019-01-01, zonder einde")
    assert error_text(info.value, "en") == str(info.value)


@pytest.mark.parametrize("english, dutch", [
    ("olivia wrote draft lde@2019.2: an author never approves their own text",
     "olivia schreef ontwerp lde@2019.2: een auteur keurt nooit de eigen tekst goed"),
    ("draft lde@2019.2 has 1 approval(s) of its submitted text by others than its author (olivia); publishing needs 2",
     "ontwerp lde@2019.2 heeft 1 goedkeuring(en) van de ingediende tekst door anderen dan de auteur (olivia); "
     "publiceren vraagt er 2"),
    ("draft lde@2019.2 is submitted: it is approved or sent back, not edited",
     "ontwerp lde@2019.2 is ingediend: het wordt goedgekeurd of teruggestuurd, niet bewerkt"),
    ("lde@2018.1 is published already: a change is a new version",
     "lde@2018.1 is al gepubliceerd: een wijziging is een nieuwe versie"),
    ("a submission needs its reason", "een indiening heeft een reden nodig"),
])
def test_the_drafts_refusals_are_told_in_dutch(english, dutch):
    assert in_dutch(english) == dutch
