"""Issue 26: what the letter mutation run showed no test pinned, each written from what the reader must read.

The small calls are those of test_letter_truth (budget 4, three LDE initiatives asking 3 each, ranked A, B, C);
each figure below is worked out in its comment.
"""
from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.api import Asking, evaluate
from rules_engine.tell.letter import as_letter_html, as_letter_text, letter

from conftest import EXAMPLES, RULES
from test_letter_truth import FACTS, _applicant, _variant

GREEDY = "  method: greedy\n  cap: requested_fte\n"


def decided(tmp_path, allocation: str, facts: dict, budget: int = 4, edit=lambda text: text):
    path = _variant(tmp_path, allocation, budget)
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    ruleset, record, _ = evaluate(str(path), facts, dt.date(2018, 6, 20), tmp_path / "rules",
                                  asking=Asking(simulate=True, logging=False))
    return ruleset, record


def text_of(ruleset, record, applicant: str, lang: str = "nl") -> str:
    return " ".join(as_letter_text(letter(record, ruleset, applicant, lang)).split())


def test_an_equal_split_says_equally(tmp_path):
    # equal, unit 1: 4 FTE over three: 4/3 each (44.44% of 3), rounded down to 1; the one left goes to A (rank 1)
    ruleset, record = decided(tmp_path, "  method: equal\n  cap: requested_fte\n", FACTS)
    assert {d["id"]: d["allocated_fte"] for d in record["decisions"]} == {"A": 2, "B": 1, "C": 1}
    dutch = text_of(ruleset, record, "B")
    assert ("Het budget volstond niet voor alle aanvragen en werd gelijk verdeeld: uw aandeel was 1,3333 VTE, "
            "44,44 % van wat u vroeg.") in dutch
    assert "Dat aandeel werd afgerond naar 1 VTE in volledige eenheden van 1 VTE." in dutch
    assert "did not cover every request and was shared equally: your share was 1.3333 FTE" in text_of(ruleset, record, "B", "en")


def test_the_rounds_of_half_fte_are_counted_in_rounds(tmp_path):
    # round-robin in units of 0.5: 8 units, one per applicant per round: two full rounds (6 units), then A and B
    # one more each. C got 2 units = 1 FTE: the budget lasted 2 full rounds (not 1 FTE / 0.5 = 0.5 nor 2 * 0.5).
    ruleset, record = decided(tmp_path, "  method: round-robin\n  cap: requested_fte\n", FACTS,
                              edit=lambda text: text.replace("  unit: 1\n", "  unit: 0.5\n"))
    assert {d["id"]: str(d["allocated_fte"]) for d in record["decisions"]} == {"A": "1.5", "B": "1.5", "C": "1.0"}
    assert ("Het budget werd om beurten verdeeld, 0,5 VTE per aanvrager per ronde, in volgorde van de rangschikking; "
            "het volstond voor 2 volledige ronde(s).") in text_of(ruleset, record, "C")
    first = text_of(ruleset, record, "A")
    assert "het volstond voor 2 volledige ronde(s)" in first
    assert "In de laatste, onvolledige ronde kreeg u nog 0,5 VTE: u had beurt 1." in first


def test_an_application_set_aside_is_told_which_figure(tmp_path):
    # on_invalid: exclude; D's realisation rate is a word: D is set aside, ineligible, and told which figure
    bad = {"applicants": [*FACTS["applicants"], dict(_applicant("D", 2, 0.95), realisation_rate="veel")]}
    ruleset, record = decided(tmp_path, GREEDY, bad, edit=lambda text: text.replace(
        "  schema: lde.facts.schema.json\n", "  schema: lde.facts.schema.json\n  on_invalid: exclude\n"))
    dutch = text_of(ruleset, record, "D")
    assert ("Nee. U voldoet niet aan elke voorwaarde: - Uw aanvraag kon niet beoordeeld worden: dit gegeven ontbreekt "
            "of is ongeldig: realisatiegraad (aandeel van de toegekende trajecten dat ingevuld is). 2. Wat u krijgt "
            "U krijgt geen bijkomende VTE.") in dutch
    english = text_of(ruleset, record, "D", "en")
    assert "realisation_rate" not in english and "could not be assessed" in english
    page = as_letter_html(letter(record, ruleset, "D"))
    assert "<li>Uw aanvraag kon niet beoordeeld worden: dit gegeven ontbreekt of is ongeldig: realisatiegraad" in page


def test_a_tie_with_five_others_names_them_all_and_no_more(tmp_path):
    # six initiatives equal on tier, score and rate: the file number decides; A is tied with exactly five others
    six = {"applicants": [_applicant(x, 2, 0.95) for x in "FEDCBA"]}
    ruleset, record = decided(tmp_path, GREEDY, six, budget=20)
    text = text_of(ruleset, record, "A")
    assert ("U stond gelijk met B, C, D, E, F op: voorrangsgroep (laagste eerst); totaalscore op de vier aspecten van "
            "kwalitatieve begeleiding (0-12) (hoogste eerst); realisatiegraad (aandeel van de toegekende trajecten "
            "dat ingevuld is) (hoogste eerst). Daarna besliste het dossiernummer (laagste eerst): A; B; C; D; E; F.") in text
    assert "andere" not in text


def test_the_page_puts_each_figure_under_its_own_condition(tmp_path):
    ruleset, record = decided(tmp_path, GREEDY, FACTS)
    page = as_letter_html(letter(record, ruleset, "B"))
    items = page.split("<li>")[1:]
    assert items[0].startswith("Elk aspect van de kwalitatieve begeleiding haalt de minimumscore: voldaan.")
    assert '<p class="sub">Uw gegevens: score voor begeleidingsacties: 2;' in items[0]
    assert items[1].startswith("De totaalscore op kwalitatieve begeleiding")
    assert '<p class="sub">Uw gegevens: totaalscore op de vier aspecten' in items[1]
    assert "totaalscore op de vier aspecten" not in items[0]


def test_the_letter_as_sent_has_its_head_and_closing_sections_in_order(tmp_path):
    # an official decision of the shipped sheltered-workshops rules, whose letter: section names the sender
    log = tmp_path / "log.sqlite"
    runner = CliRunner()
    decided_ = runner.invoke(main, ["evaluate", "sheltered-workshops", str(EXAMPLES / "sheltered-workshops-2018.yaml"),
                                    "--as-of", "2018-06-20", "--rules-dir", str(RULES), "--log", str(log)])
    assert decided_.exit_code == 0, decided_.output
    shown = runner.invoke(main, ["explain", "1", "BW-004", "--log", str(log), "--format", "json"])
    result = json.loads(shown.stdout)
    head = result["head"]
    assert head["sender"][:3] == ["Departement Werk en Sociale Economie", "Afdeling Sociale Economie",
                                  "Koning Albert II-laan 35 bus 20, 1030 Brussel"]
    assert head["sender"][3] == "Contact: socialeeconomie@vlaanderen.be"
    facts = {a["id"]: a for a in json.loads(runner.invoke(main, ["facts", "convert",
                                                                  str(EXAMPLES / "sheltered-workshops-2018.yaml"),
                                                                  str(tmp_path / "f.json")]).output and
                                            (tmp_path / "f.json").read_text(encoding="utf-8"))["applicants"]}
    assert head["addressee"][0] == facts["BW-004"]["name"]
    assert head["reference"].startswith("Ons kenmerk: ") and head["reference"].endswith(" / BW-004")
    titles = [s["title"] for s in result["sections"]]
    assert titles[-4:] == ["Rechtsgrond", "Beroep", "", ""]  # the signature, then the closing sentence
    assert result["sections"][-1]["lines"][0].startswith("Deze beslissing is vastgelegd in het beslissingsregister")
    assert result["sections"][-2]["lines"][0].startswith("Namens de Vlaamse minister")
    assert titles.count("Rechtsgrond") == 1 and titles[0] == "Motivering van de beslissing over uw aanvraag"


def test_texts_that_look_like_dates_or_numbers():
    # A letter writes a date given as text as a date, and leaves a text that only looks like one as it is.
    from rules_engine.tell.letter import Formatter, _first_clause

    fmt = Formatter("nl", None)
    assert fmt.value("x", "2018-06-20") == "20 juni 2018"
    assert [fmt.value("x", v) for v in ("2018-06-201", "2018-06/20", "2018/06-20")] == ["2018-06-201", "2018-06/20",
                                                                                       "2018/06-20"]
    # a text with an exponent is no number a person writes ('1e999999' crashed the formatter)
    assert [Formatter.number_in("nl", v) for v in ("Infinity", "NaN", "1e999999", "1E5")] == ["Infinity", "NaN",
                                                                                              "1e999999", "1E5"]
    assert Formatter.number_in("nl", "1234.5") == "1.234,5"
    assert _first_clause("VTE per kwartaal") == "VTE per kwartaal"  # an acronym keeps its capitals
    assert _first_clause("Het aantal") == "het aantal"


def test_a_tie_names_five_and_counts_the_rest(tmp_path):
    # 7 initiatives equal but for the file number: A is tied with 6, named 5 and "1 andere"; the draw shows the
    # first 6 and "1 andere". With 13: "7 andere" in both (12 others - 5 named; 13 in the draw - 6 shown).
    seven = {"applicants": [_applicant(x, 2, 0.95) for x in "ABCDEFG"]}
    ruleset, record = decided(tmp_path, GREEDY, seven, budget=40)
    text = text_of(ruleset, record, "A")
    assert "U stond gelijk met B, C, D, E, F en 1 andere op:" in text
    assert "Daarna besliste het dossiernummer (laagste eerst): A; B; C; D; E; F; en 1 andere." in text
    thirteen = {"applicants": [_applicant(x, 2, 0.95) for x in "ABCDEFGHIJKLM"]}
    ruleset, record = decided(tmp_path, GREEDY, thirteen, budget=40)
    text = text_of(ruleset, record, "A")
    assert "U stond gelijk met B, C, D, E, F en 7 andere op:" in text and "A; B; C; D; E; F; en 7 andere." in text


def test_the_page_has_one_main_heading_and_the_letter_as_sent_its_head(tmp_path):
    from rules_engine.tell.letter import for_sending

    extended = {"applicants": [dict(a, address="Kerkstraat 1", city="9000 Gent") for a in FACTS["applicants"]]}
    ruleset, record = decided(tmp_path, GREEDY, extended, edit=lambda text: text.replace(
        "  schema: lde.facts.schema.json\n",
        "  schema: lde.facts.schema.json\n  extend:\n    fields:\n      address: {type: string}\n"
        "      city: {type: string}\n") + "letter:\n  sender:\n    administration: Departement WSE\n"
        "  appeal: Beroep bij de Raad van State.\n")
    own = next(a for a in extended["applicants"] if a["id"] == "B")
    sent = for_sending(letter(record, ruleset, "B"), ruleset, "nl", own, "7-abc", "2018-06-21T10:00:00Z")
    assert sent["head"]["addressee"] == ["Initiatief B", "Kerkstraat 1", "9000 Gent"]
    assert sent["head"]["date"] == "Datum: 21 juni 2018" and sent["head"]["reference"] == "Ons kenmerk: 7-abc / B"
    page = as_letter_html(sent)
    assert page.count("<h1>") == 1 and page.index("<h1>") < page.index("<h2>")
    assert '<header><p class="sender">' in page and "Kerkstraat 1<br>9000 Gent" in page
    assert "<header>" not in as_letter_html(letter(record, ruleset, "B"))  # no head without a letter: section


def test_a_letter_read_back_from_the_log_names_every_bad_figure(tmp_path):
    # from the log, the record is read back from JSON: its texts are new objects (no 'is' holds), and an
    # application set aside for two figures is told both.
    import json as json_

    path = _variant(tmp_path, GREEDY)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  schema: lde.facts.schema.json\n", "  schema: lde.facts.schema.json\n  on_invalid: exclude\n"), encoding="utf-8")
    bad = {"applicants": [*FACTS["applicants"], dict(_applicant("D", 2, 0.95), realisation_rate="veel",
                                                     contingent_fte="tien")]}
    facts = tmp_path / "call.json"
    facts.write_text(json_.dumps(bad), encoding="utf-8")
    log = tmp_path / "log.sqlite"
    runner = CliRunner()
    assert runner.invoke(main, ["evaluate", str(path), str(facts), "--as-of", "2018-06-20", "--log", str(log),
                                "--simulate"]).exit_code == 0
    text = " ".join(runner.invoke(main, ["explain", "1", "D", "--log", str(log)]).stdout.split())
    assert text.count("Uw aanvraag kon niet beoordeeld worden") == 2
    assert "ongeldig: realisatiegraad" in text and "ongeldig: huidig contingent in VTE" in text
