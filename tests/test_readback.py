"""Issue 19: a record has its own id; the caller reads back what it decided; the letter over HTTP."""
from __future__ import annotations

import re

from click.testing import CliRunner
from fastapi.testclient import TestClient

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog, TokenStore
from rules_service.app import Settings, create_app

from conftest import RULES, example

BODY = example("sheltered-workshops").read_bytes()
URL = "/v1/rulesets/sheltered-workshops/evaluate?as_of=2018-06-20"


def _site(tmp_path, *roles):
    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        tokens = [TokenStore(opened).add(f"{role}-{i}", role) for i, role in enumerate(roles)]
    return TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log)))), tokens, log


def _auth(secret, **more):
    return {"Authorization": f"Bearer {secret}", **more}


def test_each_record_has_its_own_id_in_location(tmp_path):
    client, (evaluator,), log = _site(tmp_path, "evaluator")
    first = client.post(URL, content=BODY, headers=_auth(evaluator, **{"content-type": "application/yaml"}))
    again = client.post(URL, content=BODY, headers=_auth(evaluator, **{"content-type": "application/yaml"}))
    locations = [r.headers["location"] for r in (first, again)]
    assert all(re.fullmatch(r"/v1/decisions/\d+-[0-9a-f]{12}", loc) for loc in locations)
    assert locations[0] != locations[1] and first.content == again.content  # one decision, decided twice: two records
    with DecisionLog(log, create=False) as opened:
        one, two = opened.entries()
    assert locations == [f"/v1/decisions/{one.record_id}", f"/v1/decisions/{two.record_id}"]
    assert one.decision_id == two.decision_id  # the content hash says they decided the same thing


def test_an_ambiguous_decision_id_lists_the_records(tmp_path):
    client, (evaluator, auditor), log = _site(tmp_path, "evaluator", "auditor")
    for _ in range(2):
        client.post(URL, content=BODY, headers=_auth(evaluator, **{"content-type": "application/yaml"}))
    with DecisionLog(log, create=False) as opened:
        one, two = opened.entries()
    shown = CliRunner().invoke(main, ["show", one.decision_id[:10], "--log", str(log)])
    assert shown.exit_code == 1 and one.record_id in shown.output and two.record_id in shown.output
    http = client.get(f"/v1/decisions/{one.decision_id[:10]}", headers=_auth(auditor))
    assert http.status_code == 404 and one.record_id in http.text and two.record_id in http.text
    assert CliRunner().invoke(main, ["show", two.record_id, "--log", str(log)]).exit_code == 0
    wrong = f"{one.seq}-{two.hash[:12]}"  # a number with another record's hash is no record
    assert CliRunner().invoke(main, ["show", wrong, "--log", str(log)]).exit_code == 1


def test_an_evaluator_reads_its_own_records_and_no_others(tmp_path):
    client, (mine, theirs), _log = _site(tmp_path, "evaluator", "evaluator")
    made = client.post(URL, content=BODY, headers=_auth(mine, **{"content-type": "application/yaml"}))
    location = made.headers["location"]
    own = client.get(location, headers=_auth(mine))
    assert own.status_code == 200 and own.content == made.content
    assert client.get(location, headers=_auth(theirs)).status_code == 403
    assert client.get(location + "/letter/BW-001", headers=_auth(theirs)).status_code == 403


def test_the_letter_over_http_as_text_and_as_a_page(tmp_path):
    client, (evaluator,), _log = _site(tmp_path, "evaluator")
    location = client.post(URL, content=BODY, headers=_auth(evaluator, **{"content-type": "application/yaml"})
                           ).headers["location"]
    text = client.get(location + "/letter/BW-040", headers=_auth(evaluator, accept="text/plain"))
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    words = " ".join(text.text.split())
    assert "Motivering van de beslissing over uw aanvraag" in words and "U krijgt 15 VTE bij" in words
    assert "exact" not in words and not re.search(r"\d+/\d+", words)  # no fractions, unlike the auditor's text
    page = client.get(location + "/letter/BW-040", headers=_auth(evaluator, accept="text/html"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="nl">' in page.text and "@media print" in page.text and "U krijgt 15 VTE bij" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    english = client.get(location + "/letter/BW-040?lang=en", headers=_auth(evaluator))
    assert "You receive 15 FTE more" in " ".join(english.text.split())
    refused = client.get(location + "/letter/BW-040", headers=_auth(evaluator, accept="application/msword"))
    assert refused.status_code == 406
    missing = client.get(location + "/letter/NOPE", headers=_auth(evaluator))
    assert missing.status_code == 404


def test_the_csv_and_the_workbook_of_a_logged_decision_name_its_record(tmp_path):
    import csv
    import io

    from openpyxl import load_workbook

    log = tmp_path / "log.sqlite"
    base = ["evaluate", "lde", str(example("lde")), "--as-of", "2018-06-20", "--rules-dir", str(RULES)]
    logged = CliRunner().invoke(main, [*base, "--log", str(log), "--format", "csv"])
    assert logged.exit_code == 0, logged.output
    with DecisionLog(log, create=False) as opened:
        record_id = next(iter(opened.entries())).record_id
    rows = list(csv.DictReader(io.StringIO(logged.stdout)))
    assert rows and all(row["record_id"] == record_id for row in rows)
    dry = CliRunner().invoke(main, [*base, "--no-log", "--format", "csv"])
    assert "record_id" not in dry.stdout.splitlines()[0]  # nothing was logged: no record to name
    book = tmp_path / "decision.xlsx"
    assert CliRunner().invoke(main, [*base, "--log", str(log), "--format", "xlsx", "-o", str(book)]).exit_code == 0
    with DecisionLog(log, create=False) as opened:
        second = list(opened.entries())[1].record_id
    sheet = load_workbook(book, read_only=True)["decision"]
    assert [c for c in next(sheet.iter_rows(min_row=2, max_row=2, values_only=True))][:2] == ["record_id", second]
