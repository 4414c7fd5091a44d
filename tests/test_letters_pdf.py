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
