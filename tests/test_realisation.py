"""Issue 25: the growth path followed, from a logged decision to its realisation, quarter by quarter.

The decision: the sheltered workshops of 2018 (version from 2018-04-01, so the base quarter is 2018Q1), two
provinces of equal weight (351 FTE split 176 / 175), four workshops asking little enough to get what they ask:
A 4 and B 2 in Antwerpen, C 3 and D 1 in Limburg. Worked out by hand before the first run:

- A: base filled 100; 2018Q3 contingent 104, filled 104: extra min(4, 104 - 100) = 4, vacant 0, fill rate 100%.
- B: base filled 50; 2018Q3 contingent 52, filled 51: extra min(2, 1) = 1, vacant 1, fill rate 51/52 = 98.08%.
- C: base filled 30; 2018Q3 contingent 33, filled 29: below its base, extra 0 (never negative), vacant 3.
- D: base filled 10; no 2018Q3 figures: missing, never 0.
- Antwerpen: allocated 6, extra 5, vacant 1, realised 5/6 = 83.33%. Limburg: allocated 4, of which 3 reported:
  extra 0, vacant 3, realised 0%, 1 missing. The call: allocated 10, reported 9, extra 5, realised 5/9 = 55.56%;
  of those that reported, base filled 100 + 50 + 30 = 180, filled 104 + 51 + 29 = 184, contingent
  104 + 52 + 33 = 189 (fill rate 97.35%), extra vacant 9 - 5 = 4.
- 2018Q4 (A only: filled 102, extra 2; the others missing), reported with --through 2018Q4.
"""
from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest
from click.testing import CliRunner

from rules_cli.cli import main

from conftest import RULES
from helpers import workshop, write_facts


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture()
def decided(tmp_path):
    applicants = [workshop("A", "Antwerpen", 100, 4), workshop("B", "Antwerpen", 50, 2),
                  workshop("C", "Limburg", 30, 3), workshop("D", "Limburg", 10, 1)]
    facts = write_facts(tmp_path / "call.json", applicants,
                        {"Antwerpen": {"work_disabled": 1}, "Limburg": {"work_disabled": 1}})
    log = tmp_path / "log.sqlite"
    result = invoke("evaluate", "sheltered-workshops", facts, "--as-of", "2018-06-20", "--rules-dir", RULES, "--log", log)
    assert result.exit_code == 0, result.output
    record = json.loads(invoke("show", "1", "--log", log).stdout)
    assert {d["id"]: d["allocated_fte"] for d in record["decisions"]} == {"A": 4, "B": 2, "C": 3, "D": 1}
    settled = {"applicants": [
        {"id": "A", "quarters": [{"quarter": "2018Q1", "contingent_fte": 100, "filled_fte": 100},
                                 {"quarter": "2018Q3", "contingent_fte": 104, "filled_fte": 104},
                                 {"quarter": "2018Q4", "contingent_fte": 104, "filled_fte": 102}]},
        {"id": "B", "quarters": [{"quarter": "2018Q1", "contingent_fte": 50, "filled_fte": 50},
                                 {"quarter": "2018Q3", "contingent_fte": 52, "filled_fte": 51}]},
        {"id": "C", "quarters": [{"quarter": "2018Q1", "contingent_fte": 30, "filled_fte": 30},
                                 {"quarter": "2018Q3", "contingent_fte": 33, "filled_fte": 29}]},
        {"id": "D", "quarters": [{"quarter": "2018Q1", "contingent_fte": 10, "filled_fte": 10}]}]}
    path = tmp_path / "settled.json"
    path.write_text(json.dumps(settled), encoding="utf-8")
    return log, path


def rows_of(log, settled, *more):
    result = invoke("report", "realisation", "1", settled, "--log", log, "--format", "json", *more)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_float=Decimal)


def test_each_applicant_region_and_the_call_by_hand(decided):
    log, settled = decided
    report = rows_of(log, settled, "--quarter", "2018Q3")
    assert report["base"] == "2018Q1" and report["quarters"] == ["2018Q3"]
    rows = {(r["applicant"] or r["region"] or "call"): r for r in report["rows"]}
    a, b, c, d = rows["A"], rows["B"], rows["C"], rows["D"]
    assert (a["extra_filled_fte"], a["extra_vacant_fte"], a["fill_rate"], a["missing"]) == (4, 0, 1, False)
    assert (b["extra_filled_fte"], b["extra_vacant_fte"]) == (1, 1)
    assert b["fill_rate"] == "51/52"  # exact: a fraction that does not terminate is written p/q
    assert (c["base_filled_fte"], c["filled_fte"], c["extra_filled_fte"], c["extra_vacant_fte"]) == (30, 29, 0, 3)
    assert d["missing"] is True and d["extra_filled_fte"] is None and d["filled_fte"] is None and d["allocated_fte"] == 1
    antwerpen, limburg, call = rows["Antwerpen"], rows["Limburg"], rows["call"]
    assert (antwerpen["allocated_fte"], antwerpen["extra_filled_fte"], antwerpen["extra_vacant_fte"]) == (6, 5, 1)
    assert antwerpen["realised"] == "5/6"
    assert (limburg["allocated_fte"], limburg["reporting_allocated_fte"], limburg["extra_filled_fte"],
            limburg["missing"], limburg["realised"]) == (4, 3, 0, 1, 0)
    assert (call["allocated_fte"], call["reporting_allocated_fte"], call["extra_filled_fte"], call["missing"]) == (10, 9, 5, 1)
    assert call["realised"] == "5/9"


def test_the_quarters_through_one_and_the_table_in_dutch_and_english(decided):
    log, settled = decided
    report = rows_of(log, settled, "--through", "2018Q4")
    assert report["quarters"] == ["2018Q3", "2018Q4"]
    q4 = {(r["applicant"] or r["region"] or "call"): r for r in report["rows"] if r["quarter"] == "2018Q4"}
    assert q4["A"]["extra_filled_fte"] == 2 and q4["call"]["missing"] == 3
    table = invoke("report", "realisation", "1", settled, "--log", log, "--quarter", "2018Q3")
    words = " ".join(table.stdout.split())
    assert table.exit_code == 0 and "invullingsgraad" in words and "basis 2018Q1" in words
    assert "98,08%" in words and "83,33%" in words and "(oproep)" in words and "ja" in words and "83.33" not in words
    english = invoke("report", "realisation", "1", settled, "--log", log, "--quarter", "2018Q3", "--lang", "en",
                     "--format", "csv")
    lines = english.stdout.splitlines()
    assert lines[0] == ("quarter,applicant,region,allocated,base filled,filled,contingent,extra filled,extra vacant,"
                        "fill rate,realised,missing")
    assert "2018Q3,D,Limburg,1,,,,,,,,yes" in lines and "2018Q3,(call),,10,180,184,189,5,4,97.35%,55.56%,1" in lines


def test_a_tampered_decision_is_not_reported_on(decided):
    log, settled = decided
    with sqlite3.connect(log) as db:
        db.execute("UPDATE records SET allocated_fte = '11' WHERE seq = 1")
    refused = invoke("report", "realisation", "1", settled, "--log", log)
    assert refused.exit_code == 1 and "Traceback" not in refused.output and "record 1" in refused.output


def test_bad_quarters_and_settlements_are_clear_errors(decided, tmp_path):
    log, settled = decided
    assert "'2018-3' is not a quarter" in invoke("report", "realisation", "1", settled, "--log", log, "--quarter", "2018-3").output
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"applicants": [{"id": "A", "quarters": [{"quarter": "2018Q3", "filled_fte": 1}]}]}')
    result = invoke("report", "realisation", "1", wrong, "--log", log)
    assert result.exit_code == 1 and "missing required key 'contingent_fte'" in result.output


def test_the_same_report_over_http(decided):
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    log, settled = decided
    with DecisionLog(log) as opened:
        owner = TokenStore(opened).add("owner", "policy-owner")
        clerk = TokenStore(opened).add("clerk", "evaluator")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))), raise_server_exceptions=False)
    body = settled.read_bytes()
    denied = client.post("/v1/decisions/1/realisation", content=body,
                         headers={"Authorization": f"Bearer {clerk}", "content-type": "application/json"})
    assert denied.status_code == 403
    answer = client.post("/v1/decisions/1/realisation?quarter=2018Q3", content=body,
                         headers={"Authorization": f"Bearer {owner}", "content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == rows_of(log, settled, "--quarter", "2018Q3") | {}  # the command line's JSON
    bad = client.post("/v1/decisions/1/realisation", content=b'{"applicants": [{"id": 1}]}',
                      headers={"Authorization": f"Bearer {owner}", "content-type": "application/json"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["pointer"] in ("/applicants/0/id", "/applicants/0")


def test_the_realisation_page_in_dutch(decided):
    # Issue 25, item 2: from a decision, "Realisatie": an upload of the settlements, the table, and per province
    # the allocated against the extra filled.
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    from test_web import csrf, signed_in

    log, settled = decided
    with DecisionLog(log) as opened:
        owner = TokenStore(opened).add("owner", "policy-owner")
    app = create_app(Settings(rules_dir=str(RULES), log=str(log)))
    client = signed_in(app, owner)
    form = client.get("/decisions/1/realisation")
    assert form.status_code == 200 and "Afrekening per kwartaal" in form.text
    page = client.post("/decisions/1/realisation", data={"csrf": csrf(form.text), "quarter": "2018Q3"},
                       files={"settlements_file": ("settled.json", settled.read_bytes())})
    assert page.status_code == 200, page.text
    text = " ".join(page.text.split())
    assert "basiskwartaal 2018Q1" in text and "83,33%" in text and "98,08%" in text and "(oproep)" in text
    assert "Toegekend 6" in text and "Extra ingevuld 5" in text  # Antwerpen's bar
    assert "realised" not in text.lower().replace("gerealiseerd", "")  # no English on the Dutch page
    bad = client.post("/decisions/1/realisation", data={"csrf": csrf(form.text), "settlements_text": "applicants: 3"})
    assert bad.status_code == 422 and "Traceback" not in bad.text


def test_the_chain_on_the_shipped_examples(tmp_path):
    # Issue 25, item 3: decide 2018 -> settle -> realisation -> the 2020 redistribution, as the README shows it.
    from conftest import EXAMPLES

    log = tmp_path / "log.sqlite"
    decided = invoke("evaluate", "sheltered-workshops", EXAMPLES / "sheltered-workshops-2018.yaml", "--as-of",
                     "2018-06-20", "--rules-dir", RULES, "--log", log)
    assert decided.exit_code == 0, decided.output
    settled = EXAMPLES / "settlements-2018-2019.yaml"
    report = rows_of(log, settled, "--quarter", "2019Q4")
    call = next(r for r in report["rows"] if r["applicant"] is None and r["region"] is None)
    assert report["base"] == "2018Q1" and call["allocated_fte"] == 351 and call["missing"] == 0
    q3 = rows_of(log, settled, "--quarter", "2018Q3")
    assert next(r for r in q3["rows"] if r["applicant"] is None and r["region"] is None)["missing"] == 1  # BW-005
    assert next(r for r in q3["rows"] if r["applicant"] == "BW-005")["missing"] is True
    nxt = invoke("evaluate", "maatwerk-redistribution", settled, "--as-of", "2020-03-01", "--rules-dir", RULES,
                 "--log", log, "--format", "json")
    assert nxt.exit_code == 0, nxt.output
    assert json.loads(nxt.stdout)["applicants"] == 55


def test_the_settlements_example_is_what_the_generator_writes(tmp_path, monkeypatch):
    # examples/settlements-2018-2019.yaml is made by examples/generate.py from the 2018 call and the engine's decision
    from conftest import EXAMPLES

    monkeypatch.syspath_prepend(str(EXAMPLES))
    import generate

    out = tmp_path / "settlements.yaml"
    original = generate.write
    monkeypatch.setattr(generate, "write", lambda _path, *args, **kwargs: original(out, *args, **kwargs))
    generate.main_settlements()
    assert out.read_bytes() == (EXAMPLES / "settlements-2018-2019.yaml").read_bytes()
