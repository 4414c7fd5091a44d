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


def settlements_workbook(path, settled: dict, as_text: tuple = ()):
    """The settlements as a clerk's workbook, written cell by cell here (not by the engine): one sheet of
    applicants, one of quarters with the applicant's id in its first column. ``as_text``: (applicant, quarter)
    whose contingent is typed as text, as a pasted figure often is."""
    from openpyxl import Workbook

    book = Workbook()
    applicants = book.active
    applicants.title = "applicants"
    applicants.append(["id"])
    quarters = book.create_sheet("quarters")
    quarters.append(["applicant", "quarter", "contingent_fte", "filled_fte"])
    for applicant in settled["applicants"]:
        applicants.append([applicant["id"]])
        for q in applicant["quarters"]:
            contingent = q["contingent_fte"]
            if (applicant["id"], q["quarter"]) in as_text:
                contingent = str(contingent)
            quarters.append([applicant["id"], q["quarter"], contingent, q["filled_fte"]])
    book.save(path)
    return path


def test_settlements_from_a_workbook_give_the_same_report(decided, tmp_path):
    # Issue 25, item 1: SETTLEMENTS may be a workbook. The same figures as the JSON give the same report,
    # a number typed as text is read (with a warning at its cell), a bad cell is named by sheet and cell.
    log, settled = decided
    data = json.loads(settled.read_text(encoding="utf-8"))
    book = settlements_workbook(tmp_path / "settled.xlsx", data, as_text={("B", "2018Q3")})
    from_book = rows_of(log, book, "--through", "2018Q4")
    # B's 2018Q3 row is the 6th of the quarters sheet (A has three, B's 2018Q1 is the 5th): its contingent in C6
    assert from_book.pop("warnings") == [f"{book}:quarters!C6: '52' is text in a number column; read as 52"]
    assert from_book == rows_of(log, settled, "--through", "2018Q4")
    from openpyxl import load_workbook

    opened = load_workbook(book)
    assert opened["quarters"]["D3"].value == 104  # A's 2018Q3 filled FTE: row 3, column D
    opened["quarters"]["D3"] = "veel"
    opened.save(tmp_path / "bad.xlsx")
    refused = invoke("report", "realisation", "1", tmp_path / "bad.xlsx", "--log", log)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "quarters!D3" in refused.output and "veel" in refused.output


def test_the_report_as_a_workbook_and_as_csv_for_excel(decided, tmp_path):
    # Issue 25, item 1: the XLSX and csv-excel outputs, in Dutch and English. The figures by hand (2018Q3,
    # base 2018Q1): B was given 2, filled 51 of 52 over a base of 50, so 1 extra filled, 1 vacant, fill rate
    # 51/52 = 98.08%, realised 1/2. The call: allocated 4+2+3+1 = 10, of which D's 1 did not report; filled
    # 104+51+29 = 184 of 104+52+33 = 189 (97.35%), base 100+50+30 = 180, extra 4+1+0 = 5 of 9: 55.56%.
    from openpyxl import load_workbook

    log, settled = decided
    out = tmp_path / "realisatie.xlsx"
    result = invoke("report", "realisation", "1", settled, "--log", log, "--quarter", "2018Q3", "--format", "xlsx",
                    "-o", out)
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert book.sheetnames == ["realisatie", "beslissing"]
    sheet = book["realisatie"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["kwartaal", "dossiernummer", "regio", "toegekend", "basis ingevuld", "ingevuld", "contingent",
                       "extra ingevuld", "extra vacant", "invullingsgraad", "gerealiseerd", "ontbreekt"]
    b = next(r for r in rows if r[1] == "B")
    assert b[:9] == ["2018Q3", "B", "Antwerpen", 2, 50, 51, 52, 1, 1] and b[11] is None
    assert b[9] == pytest.approx(51 / 52, abs=1e-12) and b[10] == pytest.approx(0.5, abs=1e-12)
    d = next(r for r in rows if r[1] == "D")
    assert d == ["2018Q3", "D", "Limburg", 1, None, None, None, None, None, None, None, "ja"]
    call = rows[-1]
    assert call[:9] == ["2018Q3", "(oproep)", None, 10, 180, 184, 189, 5, 4] and call[11] == 1
    assert call[9] == pytest.approx(184 / 189, abs=1e-12) and call[10] == pytest.approx(5 / 9, abs=1e-12)
    rate = next(c for c in sheet[rows.index(b) + 1] if c.column == 10)
    assert rate.number_format == "0.00%"
    about = {r[0]: r[1] for r in book["beslissing"].iter_rows(values_only=True)}
    assert about["basiskwartaal"] == "2018Q1" and about["regelset"].startswith("sheltered-workshops")
    again = tmp_path / "again.xlsx"
    invoke("report", "realisation", "1", settled, "--log", log, "--quarter", "2018Q3", "--format", "xlsx", "-o", again)
    assert again.read_bytes() == out.read_bytes()  # same input, same bytes
    english = tmp_path / "realisation.xlsx"
    invoke("report", "realisation", "1", settled, "--log", log, "--quarter", "2018Q3", "--format", "xlsx", "-o",
           english, "--lang", "en")
    assert load_workbook(english).sheetnames == ["realisation", "decision"]
    excel = invoke("report", "realisation", "1", settled, "--log", log, "--quarter", "2018Q3", "--format", "csv-excel")
    raw = excel.stdout_bytes
    assert excel.exit_code == 0 and raw.startswith("\ufeffkwartaal;dossiernummer;".encode("utf-8"))
    lines = raw.decode("utf-8-sig").split("\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert "2018Q3;B;Antwerpen;2;50;51;52;1;1;98,08%;50,00%;" in lines
    assert "2018Q3;(oproep);;10;180;184;189;5;4;97,35%;55,56%;1" in lines
    needs_file = invoke("report", "realisation", "1", settled, "--log", log, "--format", "xlsx")
    assert needs_file.exit_code == 2 and "-o" in needs_file.output


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_workbook_over_http_and_on_the_page(decided, tmp_path):
    # The settlements workbook sent over HTTP and uploaded on the page; the report back as CSV or a workbook.
    from fastapi.testclient import TestClient
    from openpyxl import load_workbook

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    from test_web import csrf, signed_in

    log, settled = decided
    book = settlements_workbook(tmp_path / "afrekening.xlsx", json.loads(settled.read_text(encoding="utf-8")))
    with DecisionLog(log) as opened:
        owner = TokenStore(opened).add("owner", "policy-owner")
    app = create_app(Settings(rules_dir=str(RULES), log=str(log)))
    client = TestClient(app, raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {owner}"}
    answer = client.post("/v1/decisions/1/realisation?quarter=2018Q3", content=book.read_bytes(),
                         headers=auth | {"content-type": XLSX})
    assert answer.status_code == 200, answer.text
    assert answer.json() == rows_of(log, settled, "--quarter", "2018Q3")
    as_csv = client.post("/v1/decisions/1/realisation?quarter=2018Q3&lang=en", content=settled.read_bytes(),
                         headers=auth | {"content-type": "application/json", "accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "2018Q3,(call),,10,180,184,189,5,4,97.35%,55.56%,1" in as_csv.text.splitlines()
    as_book = client.post("/v1/decisions/1/realisation?quarter=2018Q3", content=settled.read_bytes(),
                          headers=auth | {"content-type": "application/json", "accept": XLSX})
    assert as_book.status_code == 200 and as_book.headers["content-type"] == XLSX
    (tmp_path / "back.xlsx").write_bytes(as_book.content)
    assert load_workbook(tmp_path / "back.xlsx").sheetnames == ["realisatie", "beslissing"]
    bad = load_workbook(book)
    bad["quarters"]["D3"] = "veel"
    bad.save(tmp_path / "bad.xlsx")
    refused = client.post("/v1/decisions/1/realisation", content=(tmp_path / "bad.xlsx").read_bytes(),
                          headers=auth | {"content-type": XLSX})
    assert refused.status_code == 422 and "quarters!D3" in refused.text
    page_client = signed_in(app, owner)
    form = page_client.get("/decisions/1/realisation")
    assert ".xlsx" in form.text
    page = page_client.post("/decisions/1/realisation", data={"csrf": csrf(form.text), "quarter": "2018Q3"},
                            files={"settlements_file": ("afrekening.xlsx", book.read_bytes())})
    assert page.status_code == 200, page.text
    text = " ".join(page.text.split())
    assert "basiskwartaal 2018Q1" in text and "83,33%" in text and "98,08%" in text
    wrong = page_client.post("/decisions/1/realisation", data={"csrf": csrf(form.text)},
                             files={"settlements_file": ("bad.xlsx", (tmp_path / "bad.xlsx").read_bytes())})
    assert wrong.status_code == 422 and "quarters!D3" in wrong.text and "Traceback" not in wrong.text
