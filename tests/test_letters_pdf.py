"""Issue 19: a letter an administration can send: sender, addressee, date, reference, legal basis, appeal route;
as text, as a page to print, and as a PDF of the whole call (WeasyPrint), read back with pypdf."""
from __future__ import annotations

import io
import re

from click.testing import CliRunner
from fastapi.testclient import TestClient
from pypdf import PdfReader

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog, TokenStore
from rules_service.app import Settings, create_app

from conftest import RULES, example

APPEAL = "beroep tot nietigverklaring instellen bij de Raad van State"


def _logged(tmp_path):
    log = tmp_path / "log.sqlite"
    result = CliRunner().invoke(main, ["evaluate", "sheltered-workshops", str(example("sheltered-workshops")),
                                       "--as-of", "2018-06-20", "--rules-dir", str(RULES), "--log", str(log)])
    assert result.exit_code == 0, result.output
    with DecisionLog(log, create=False) as opened:
        return log, next(iter(opened.entries())).record_id


def _letters_by_applicant(pdf: bytes) -> dict:
    """Applicant id -> the text of its letter's pages (a letter starts on a new page, with its reference)."""
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    letters: dict = {}
    current = None
    for text in pages:
        found = re.search(r"Ons kenmerk: \S+ / (\S+)", text)
        if found:
            current = found.group(1)
            letters[current] = ""
        letters[current] += " " + " ".join(text.split())
    return letters


def test_the_letters_of_the_2018_sheltered_workshops_call_as_one_pdf(tmp_path):
    log, record_id = _logged(tmp_path)
    out = tmp_path / "letters.pdf"
    result = CliRunner().invoke(main, ["letters", record_id, "-o", str(out), "--log", str(log)])
    assert result.exit_code == 0, result.output
    letters = _letters_by_applicant(out.read_bytes())
    assert len(letters) == 55  # every workshop of the example call, each on pages of its own
    bw040 = letters["BW-040"]
    # BW-040 (Limburg) asked 20 FTE and got 15: 11 by its share, 1 for its remainder, 3 from the pool
    assert "U krijgt 15 VTE bij, van de 20 VTE die u vroeg." in bw040
    assert f"Ons kenmerk: {record_id} / BW-040" in bw040
    assert bw040.index("Beschutte werkplaats Genk 40") < bw040.index("Datum:")  # the addressee, from the facts
    assert APPEAL in bw040 and "binnen 60 dagen" in bw040
    assert "Departement Werk en Sociale Economie" in bw040 and "Rechtsgrond" in bw040
    assert "Antwoord op schriftelijke vraag nr. 491" in bw040
    ineligible = next(text for text in letters.values() if "Nee. U voldoet niet aan elke voorwaarde" in text)
    assert APPEAL in ineligible  # a refusal names the appeal route too


def test_the_letter_over_http_as_a_pdf_and_the_whole_call(tmp_path):
    log, record_id = _logged(tmp_path)
    with DecisionLog(log) as opened:
        secret = TokenStore(opened).add("audit-office", "auditor")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    auth = {"Authorization": f"Bearer {secret}"}
    one = client.get(f"/v1/decisions/{record_id}/letter/BW-040", headers={**auth, "Accept": "application/pdf"})
    assert one.status_code == 200 and one.headers["content-type"] == "application/pdf"
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(one.content)).pages).split())
    assert "U krijgt 15 VTE bij" in text and APPEAL in text
    english = client.get(f"/v1/decisions/{record_id}/letter/BW-040?lang=en", headers={**auth, "Accept": "text/plain"})
    words = " ".join(english.text.split())
    assert "Council of State (Raad van State), Wetenschapsstraat 33" in words and "Our reference:" in words
    everyone = client.get(f"/v1/decisions/{record_id}/letters", headers=auth)
    assert everyone.status_code == 200 and len(_letters_by_applicant(everyone.content)) == 55


def test_the_decision_page_offers_the_letters(tmp_path):
    from test_web import sign_in

    log, _record_id = _logged(tmp_path)
    with DecisionLog(log) as opened:
        secret = TokenStore(opened).add("audit-office", "auditor")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    assert sign_in(client, secret).status_code == 303
    page = client.get("/decisions/1")
    assert 'href="/decisions/1/letters.pdf"' in page.text and "Brieven aan de aanvragers downloaden (PDF)" in page.text
    pdf = client.get("/decisions/1/letters.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert len(_letters_by_applicant(pdf.content)) == 55


# A decision of 100,000 applicants would have WeasyPrint lay out 100,000 letters in one request: about a tenth of
# a second and a megabyte of memory each (200 LDE letters: 17 s, 241 MB), a worker held for hours. Over the
# operator's limit (RULES_MAX_LETTERS), one PDF is refused before any letter is written; by applicant, it is not.


def test_one_pdf_holds_at_most_the_operators_number_of_letters(tmp_path, monkeypatch):
    log, record_id = _logged(tmp_path)
    out = tmp_path / "letters.pdf"
    monkeypatch.setenv("RULES_MAX_LETTERS", "54")  # the call has 55 workshops
    refused = CliRunner().invoke(main, ["letters", record_id, "-o", str(out), "--log", str(log)])
    assert refused.exit_code == 1 and not out.exists()
    assert refused.output.startswith("error: decision 1 has 55 letters; one PDF holds at most 54 "
                                     "(RULES_MAX_LETTERS): ask for them by applicant"), refused.output
    assert "Traceback" not in refused.output
    some = ["letters", record_id, "-o", str(out), "--log", str(log), "--applicant", "BW-040", "--applicant", "BW-001"]
    monkeypatch.setenv("RULES_MAX_LETTERS", "2")  # as many as the limit: written
    written = CliRunner().invoke(main, some)
    assert written.exit_code == 0, written.output
    assert sorted(_letters_by_applicant(out.read_bytes())) == ["BW-001", "BW-040"]
    monkeypatch.setenv("RULES_MAX_LETTERS", "1")
    one_too_many = CliRunner().invoke(main, some)
    assert one_too_many.exit_code == 1 and one_too_many.output.startswith(
        "error: 2 letters asked for; one PDF holds at most 1 (RULES_MAX_LETTERS): ask for fewer")
    monkeypatch.setenv("RULES_MAX_LETTERS", "veel")
    mistyped = CliRunner().invoke(main, some)
    assert mistyped.exit_code == 1 and "RULES_MAX_LETTERS='veel': give a whole number" in mistyped.output


def test_the_letter_limit_is_500_unless_set(monkeypatch):
    import pytest

    from rules_engine.api import within_letters
    from rules_engine.errors import TooLarge

    monkeypatch.delenv("RULES_MAX_LETTERS", raising=False)
    within_letters(3, 500)
    with pytest.raises(TooLarge, match=r"^decision 3 has 501 letters; one PDF holds at most 500 \(RULES_MAX_LETTERS\)"):
        within_letters(3, 501)
    monkeypatch.setenv("RULES_MAX_LETTERS", "1_000")
    within_letters(3, 1000)
    with pytest.raises(TooLarge, match=r"^1,001 letters asked for; one PDF holds at most 1,000 "):
        within_letters(3, 1001, chosen=True)


def test_the_service_and_the_page_refuse_a_pdf_of_more_letters_than_the_limit(tmp_path, monkeypatch):
    from test_web import sign_in

    log, record_id = _logged(tmp_path)
    with DecisionLog(log) as opened:
        secret = TokenStore(opened).add("audit-office", "auditor")
    monkeypatch.setenv("RULES_MAX_LETTERS", "54")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    refused = client.get(f"/v1/decisions/{record_id}/letters", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/too-large" and problem["title"] == "Too large"
    assert problem["detail"].startswith("decision 1 has 55 letters; one PDF holds at most 54 (RULES_MAX_LETTERS)")
    one = client.get(f"/v1/decisions/{record_id}/letter/BW-040",
                     headers={"Authorization": f"Bearer {secret}", "Accept": "application/pdf"})
    assert one.status_code == 200 and one.headers["content-type"] == "application/pdf"
    assert sign_in(client, secret).status_code == 303
    page = client.get("/decisions/1")
    assert "letters.pdf" not in page.text  # no link to what would be refused; the page says why, in Dutch
    assert "55 brieven: meer dan de 54 die één PDF mag bevatten (RULES_MAX_LETTERS)" in page.text
    asked = client.get("/decisions/1/letters.pdf")
    assert asked.status_code == 422 and asked.headers["content-type"].startswith("text/html")
    assert "beslissing 1 heeft 55 brieven; één PDF bevat er ten hoogste 54 (RULES_MAX_LETTERS)" in asked.text
    assert "letters" not in re.sub(r"<[^>]*>|RULES_MAX_LETTERS|/decisions/1/[\w.]+", "", asked.text).lower()
    client.get("/lang/en")
    english = client.get("/decisions/1")
    assert "55 letters: more than the 54 one PDF may hold (RULES_MAX_LETTERS)" in english.text


def test_a_mistyped_letter_limit_stops_the_service_at_start(monkeypatch):
    import pytest

    from rules_engine.errors import RulesError

    monkeypatch.setenv("RULES_MAX_LETTERS", "1e3")
    with pytest.raises(RulesError, match="RULES_MAX_LETTERS='1e3': give a whole number"):
        create_app(Settings(rules_dir=str(RULES), log="unused.sqlite"))


def test_a_time_limit_stops_the_letters_before_their_pdf_is_laid_out(tmp_path):
    """The service's time limit (``deadline``) stops the letters' work between two letters, before WeasyPrint,
    which checks nothing, lays them out: also once the stored rules are compiled (cached), so that nothing else
    on the way checks it."""
    import pytest

    from rules_engine import api
    from rules_engine.limits import TimeLimitExceeded, deadline

    log, record_id = _logged(tmp_path)
    with DecisionLog(log) as opened:
        assert api.letters_pdf(opened, record_id, applicants=["BW-040"]).startswith(b"%PDF-")  # the rules compiled
        with deadline(0), pytest.raises(TimeLimitExceeded):
            api.letters_pdf(opened, record_id)
