"""The web pages in a real headless Chromium (Debian's chromium and chromium-driver, via Selenium),
against a real ``rules serve`` on 127.0.0.1, walked as their users would. Each test saves
screenshots (1280 and 390 px wide) under test-artifacts/ (not committed)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

selenium = pytest.importorskip("selenium", reason="the test extra is not installed")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from rules_engine.record.audit import DecisionLog, TokenStore  # noqa: E402

from conftest import RULES, example  # noqa: E402
from service_process import Server  # noqa: E402

ROOT = RULES.parent
ARTIFACTS = Path(os.environ.get("RULES_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
                                reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)")

# Written out instead of axe-core: the checks the pages promise, run in the page itself.
A11Y = """
const problems = [];
if (!document.documentElement.lang) problems.push('no lang');
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label')
                   || el.getAttribute('aria-label');
  if (!labelled) problems.push('field without label: ' + (el.name || el.id));
}
for (const table of document.querySelectorAll('table')) {
  if (!table.querySelector('th')) problems.push('table without header cells');
}
for (const el of document.querySelectorAll('a, button, input, select, textarea')) {
  if (el.tabIndex < 0) problems.push('not reachable by keyboard: ' + el.outerHTML.slice(0, 60));
}
for (const script of document.querySelectorAll('script')) {  // only the pages' own files, never inline or elsewhere
  if (!script.src || !script.src.startsWith(location.origin + '/static/')) problems.push('a script not of this server');
}
return problems;
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    log = folder / "log.sqlite"
    with DecisionLog(log) as opened:
        store = TokenStore(opened)
        tokens = {role: store.add(role.replace("-", ""), role) for role in ("policy-owner", "auditor", "evaluator")}
    from click.testing import CliRunner

    from rules_cli.cli import main

    result = CliRunner().invoke(main, ["evaluate", "sheltered-workshops", str(example("sheltered-workshops")),
                                       "--as-of", "2018-06-20", "--rules-dir", str(RULES), "--log", str(log)])
    assert result.exit_code == 0, result.output
    process = Server(log, workers=1)
    yield process, tokens, log
    process.kill()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                 "--lang=nl"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER or "/usr/bin/chromedriver"),
                              options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shoot(driver, name: str) -> None:
    """Screenshots at 1280 and 390 px wide; and the page's accessibility checks."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(width, min(max(900, height), 4000))
        driver.save_screenshot(str(ARTIFACTS / f"{name}-{width}.png"))
    driver.set_window_size(1280, 900)
    assert driver.execute_script(A11Y) == [], name


def sign_in(driver, url: str, token: str) -> None:
    """With the keyboard only: focus the token field, type, Enter."""
    driver.get(url + "/login")
    field = driver.find_element(By.ID, "token")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # the skip link
    field.send_keys(token + Keys.ENTER)
    # the form posts and the browser navigates: wait for the page after it, not the login page's heading. Asked
    # whether the old field is stale, Chrome at times answers that the node left the document (a WebDriverException,
    # not a staleness): the address says it without touching the old page.
    WebDriverWait(driver, 60).until(lambda d: urlsplit(d.current_url).path.rstrip("/") != urlsplit(url).path + "/login")
    assert wait_for(driver, "h1").text


def wait_for(driver, css: str):
    """The element, once the page that has it has loaded (a form post navigates)."""
    return WebDriverWait(driver, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def body(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_a_policy_owner_reads_the_95_percent_rule_and_its_source(server, browser):
    process, tokens, _log = server
    sign_in(browser, process.url, tokens["policy-owner"])
    browser.find_element(By.LINK_TEXT, "De regels").click()
    shoot(browser, "rules")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/rules/sheltered-workshops/2018.1"]').click()
    rule = browser.find_element(By.ID, "rule-min_fill_rate")
    assert "95%" in rule.text and "fill_rate >= params.min_fill_rate" in rule.text
    assert "ingevuld contingent van 95% of meer" in rule.find_element(By.TAG_NAME, "blockquote").text
    shoot(browser, "ruleset")


def test_a_draft_with_a_typo_shows_the_problem_at_its_line(server, browser):
    process, tokens, _log = server
    sign_in(browser, process.url, tokens["policy-owner"])
    browser.get(process.url + "/check")
    text = (RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_text(encoding="utf-8")
    typo = text.replace("when: fill_rate >= params.min_fill_rate", "when: fill_rat >= params.min_fill_rate")
    line = next(i for i, l in enumerate(typo.splitlines(), 1) if "fill_rat >=" in l)
    area = browser.find_element(By.ID, "rule_text")
    browser.execute_script("arguments[0].value = arguments[1];", area, typo)  # pasting, without typing 4 kB
    browser.find_element(By.CSS_SELECTOR, "form[action='/check'] button[type=submit]").click()
    problems = wait_for(browser, "ul.problems").text
    assert f"Regel {line}, kolom" in problems and "onbekend veld 'fill_rat', bedoelt u 'fill_rate'?" in problems
    marked = browser.find_element(By.ID, f"L{line}")
    assert "marked" in marked.get_attribute("class")
    shoot(browser, "check")


def test_simulating_the_example_allocates_351_fte_over_the_provinces(server, browser):
    process, tokens, _log = server
    sign_in(browser, process.url, tokens["policy-owner"])
    browser.get(process.url + "/simulate")
    Select(browser.find_element(By.ID, "spec")).select_by_visible_text("sheltered-workshops@2018.1")
    Select(browser.find_element(By.ID, "example")).select_by_value("sheltered-workshops-2018.yaml")
    browser.find_element(By.ID, "as_of").send_keys("06-20-2018")  # typed as the (US) date field expects
    browser.execute_script("document.getElementById('as_of').value = '2018-06-20'")
    browser.find_element(By.CSS_SELECTOR, "button[name=download][value='']").click()
    wait_for(browser, "#allocated-total, pre.error")
    assert not browser.find_elements(By.CSS_SELECTOR, "pre.error"), body(browser)
    assert browser.find_element(By.ID, "allocated-total").text == "351 VTE"
    regions = browser.find_element(By.CSS_SELECTOR, "table.regions").text
    for province in ("Antwerpen", "Limburg", "Oost-Vlaanderen", "Vlaams-Brabant", "West-Vlaanderen"):
        assert province in regions
    assert browser.find_elements(By.CSS_SELECTOR, "figure svg rect")
    shoot(browser, "simulate")


def test_comparing_2018_with_2019_lists_the_changed_workshops(server, browser):
    process, tokens, _log = server
    sign_in(browser, process.url, tokens["policy-owner"])
    browser.get(process.url + "/compare")
    Select(browser.find_element(By.ID, "old")).select_by_visible_text("sheltered-workshops@2018.1")
    Select(browser.find_element(By.ID, "new")).select_by_value("sheltered-workshops@2019.1")
    Select(browser.find_element(By.ID, "example")).select_by_value("sheltered-workshops-2018.yaml")
    browser.execute_script("document.getElementById('as_of').value = '2019-04-01'")
    browser.find_element(By.CSS_SELECTOR, "form[action='/compare'] button[type=submit]").click()
    wait_for(browser, "table.changed, pre.error")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.changed tbody tr")
    assert len(rows) == 31 and rows[0].text.startswith("BW-")  # as `rules diff` says on this example
    shoot(browser, "compare")


def test_an_auditor_reads_a_motivation_replays_and_verifies(server, browser):
    process, tokens, _log = server
    sign_in(browser, process.url, tokens["auditor"])
    browser.find_element(By.LINK_TEXT, "Beslissingen").click()
    shoot(browser, "decisions")
    browser.find_element(By.LINK_TEXT, "1").click()
    browser.find_element(By.LINK_TEXT, "BW-008").click()
    motivation = wait_for(browser, "#motivation").text
    assert "Er ontbreekt: 2017Q1." in motivation and "Komt u in aanmerking?" in motivation
    shoot(browser, "decision")
    browser.find_element(By.XPATH, "//button[text()='Opnieuw berekenen']").click()
    assert "Identiek" in wait_for(browser, "#replay-result").text
    browser.find_element(By.LINK_TEXT, "Integriteit").click()
    head = browser.find_element(By.ID, "head").text
    browser.find_element(By.ID, "head-given").send_keys(head)
    browser.find_element(By.XPATH, "//button[text()='Nakijken']").click()
    assert "In orde: 1 records" in wait_for(browser, "#verify-result").text
    shoot(browser, "integrity")


def test_a_policy_owner_is_refused_the_decisions(server, browser):
    process, tokens, _log = server
    sign_in(browser, process.url, tokens["policy-owner"])
    browser.get(process.url + "/decisions")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Geen toegang"
    shoot(browser, "forbidden")


PAGES_FROM_HOME = """
const seen = new Set();
for (const a of document.querySelectorAll('a[href]')) {
  const url = new URL(a.href, location.href);
  if (url.origin === location.origin && !url.pathname.startsWith('/v1') && !url.pathname.endsWith('.pdf')
      && !url.pathname.startsWith('/logout') && !url.pathname.endsWith('.json')) seen.add(url.pathname + url.search);
}
return [...seen];
"""


@pytest.mark.parametrize("role", ["policy-owner", "auditor", "evaluator"])
def test_no_page_scrolls_sideways_on_a_phone(server, browser, role):
    # Issue 23, item 5: every page reachable from / (and one link further), for each role, at 390 px and at
    # 1280 px: the page is no wider than the window (document.documentElement.scrollWidth).
    process, tokens, _log = server
    sign_in(browser, process.url, tokens[role])
    browser.get(process.url + "/")
    pages = set(browser.execute_script(PAGES_FROM_HOME)) | {"/"}
    for page in sorted(pages):
        browser.get(process.url + page)
        pages |= set(browser.execute_script(PAGES_FROM_HOME))
    wide = []
    for page in sorted(pages)[:60]:  # bounded: a page of links may list many records
        for width in (390, 1280):
            browser.set_window_size(width, 900)
            browser.get(process.url + page)
            inner = browser.execute_script("return window.innerWidth")
            scroll = browser.execute_script("return document.documentElement.scrollWidth")
            if scroll > inner + 1:
                wide.append(f"{page} at {width}: {scroll} > {inner}")
    browser.set_window_size(1280, 900)
    assert wide == [], wide


def test_the_api_is_tried_in_the_browser(server, browser):
    # Issue 23, item 4: /docs/try renders every operation from /openapi.json with Swagger UI served by this server,
    # and a call tried with a token answers (the rulesets, as an evaluator may read them).
    process, tokens, _log = server
    browser.get(process.url + "/docs/try")
    WebDriverWait(browser, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 20)
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/v1/rulesets/{spec}/evaluate" in paths and "/v1/audit/checkpoint" in paths
    browser.find_element(By.CSS_SELECTOR, "button.authorize").click()
    field = WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".auth-container input")))
    field.send_keys(tokens["evaluator"])
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
    browser.find_element(By.CSS_SELECTOR, "button.btn-done").click()
    block = next(e for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-get")
                 if e.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text == "/v1/rulesets")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    WebDriverWait(browser, 30).until(lambda d: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    block.find_element(By.CSS_SELECTOR, ".execute").click()
    status = WebDriverWait(browser, 60).until(lambda d: block.find_elements(By.CSS_SELECTOR, ".live-responses-table "
                                                                            "tbody td.response-col_status"))
    assert status[0].text.strip().startswith("200"), status[0].text


DRAFT_CASE = """cases:
  - name: exactly 90% is in from 2019-04-01
    # by hand: 36/40 = 0.90 in each quarter, the new threshold; alone in its province, it gets its request of 3
    as_of: 2019-06-01
    regions: {Antwerpen: {work_disabled: 1}}
    applicants:
      - id: ninety
        name: Negentig procent
        province: Antwerpen
        contingent_fte: 40
        requested_fte: 3
        quarters:
          - {quarter: 2016Q3, contingent_fte: 40, filled_fte: 36}
          - {quarter: 2016Q4, contingent_fte: 40, filled_fte: 36}
          - {quarter: 2017Q1, contingent_fte: 40, filled_fte: 36}
          - {quarter: 2017Q2, contingent_fte: 40, filled_fte: 36}
    expect:
      ninety: {eligible: true, allocated_fte: 3}
"""


def _type(driver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def _under(driver, field: str):
    return driver.find_element(By.CSS_SELECTOR, f'.field-problem[data-for="{field}"]')


def test_a_new_version_through_the_editor_alone_then_reviewed_and_published(tmp_path, browser):
    # Issue 21's done-when: a policy owner lowers the threshold from 95% to 90% through the form alone, sees a
    # mistyped condition's problem at its place as they type, runs the tests and a simulation with its impact,
    # and submits; an approver sees the diff and the impact and approves; the version is in the policy explorer.
    from click.testing import CliRunner

    from rules_cli.cli import main

    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        store = TokenStore(opened)
        owner, approver = store.add("olivia", "policy-owner"), store.add("alice", "approver")
    decided = CliRunner().invoke(main, ["evaluate", "sheltered-workshops", str(example("sheltered-workshops")),
                                        "--as-of", "2018-06-20", "--rules-dir", str(RULES), "--log", str(log)])
    assert decided.exit_code == 0, decided.output
    process = Server(log, workers=1, extra=("--require-approvals", "1"))
    try:
        url = process.url
        sign_in(browser, url, owner)
        browser.get(url + "/drafts")
        Select(browser.find_element(By.ID, "base")).select_by_visible_text("sheltered-workshops@2018.1")
        _type(browser, "version", "2019.2")
        browser.find_element(By.ID, "version").submit()
        wait_for(browser, "form.editor")
        _type(browser, "param-min_fill_rate", "0.90")
        # the texts that still say 95% are pointed out under their fields as soon as the value changes
        WebDriverWait(browser, 30).until(lambda d: _under(d, "desc:min_fill_rate").is_displayed())
        assert "noemt 95%, maar params.min_fill_rate is nu 0.90" in _under(browser, "desc:min_fill_rate").text
        _type(browser, "when-min_fill_rate", "fill_rate >= params.min_fil_rate")
        WebDriverWait(browser, 30).until(lambda d: "Teken 14" in _under(d, "when:min_fill_rate").text)
        assert "onbekende parameter 'min_fil_rate', bedoelt u 'min_fill_rate'?" in _under(browser, "when:min_fill_rate").text
        _type(browser, "when-min_fill_rate", "fill_rate >= params.min_fill_rate")
        _type(browser, "desc-min_fill_rate", "Het contingent was gemiddeld voor minstens 90% ingevuld over de referteperiode")
        _type(browser, "pdesc-min_fill_rate", "Minimale invullingsgraad van het contingent over de referteperiode (inclusief 90%)")
        _type(browser, "effective_from", "2019-04-01")
        browser.find_element(By.ID, "effective_to").clear()
        WebDriverWait(browser, 30).until(lambda d: not any(p.is_displayed() for p in d.find_elements(By.CSS_SELECTOR, ".field-problem")))
        shoot(browser, "editor")
        browser.execute_script("window.beforeSaving = true")  # the page before said valid too: wait for the next
        browser.find_element(By.CSS_SELECTOR, "form.editor button[type=submit]").click()
        WebDriverWait(browser, 60, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return !window.beforeSaving"))
        wait_for(browser, "p.ok")  # saved, and valid
        browser.execute_script("arguments[0].value = arguments[1];", browser.find_element(By.ID, "tests"), DRAFT_CASE)
        browser.find_element(By.ID, "run-tests").click()
        assert wait_for(browser, "#tests-summary").text == "1 / 1 tests geslaagd"
        browser.find_element(By.ID, "run-simulation").click()
        impact = wait_for(browser, "#impact")
        words = " ".join(browser.find_element(By.CSS_SELECTOR, "section.try").text.split())
        # by hand, from the README's diff of the same call: 31 eligible at 95%, 51 at 90%; 45 of 55 change
        assert "45 / 55 gewijzigde aanvragers" in words and "in aanmerking 31 → 51" in words, words
        assert impact and browser.find_elements(By.CSS_SELECTOR, "section.try svg rect")
        heading = browser.find_elements(By.CSS_SELECTOR, "#impact-table thead th")[4]  # Δ VTE
        heading.click()
        values = [float(c.get_attribute("data-sort")) for c in
                  browser.find_elements(By.CSS_SELECTOR, "#impact-table tbody tr td:nth-of-type(4)")]
        assert values == sorted(values) and len(values) == 45
        heading.click()
        values = [float(c.get_attribute("data-sort")) for c in
                  browser.find_elements(By.CSS_SELECTOR, "#impact-table tbody tr td:nth-of-type(4)")]
        assert values == sorted(values, reverse=True)
        shoot(browser, "draft-tried")
        _type(browser, "reason", "90% vanaf 2019-04-01")
        browser.find_element(By.ID, "reason").submit()
        assert wait_for(browser, "#state").text == "ingediend"
        browser.delete_all_cookies()
        sign_in(browser, url, approver)
        browser.get(url + "/drafts/sheltered-workshops/2019.2")
        review = " ".join(body(browser).split())
        assert "95,00 % → 90,00 %" in review and "31 → 51" in review
        added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff span.add")]
        assert "+    value: 0.90" in added
        shoot(browser, "draft-review")
        _type(browser, "note", "nagekeken")
        browser.find_element(By.ID, "note").submit()
        WebDriverWait(browser, 30).until(lambda d: "alice" in body(d))
        browser.delete_all_cookies()
        sign_in(browser, url, owner)
        browser.get(url + "/drafts/sheltered-workshops/2019.2")
        browser.find_element(By.ID, "publish-note").submit()
        WebDriverWait(browser, 30).until(lambda d: "/rules/sheltered-workshops/2019.2" in d.current_url)
        browser.get(url + "/rules")
        assert browser.find_elements(By.CSS_SELECTOR, 'a[href="/rules/sheltered-workshops/2019.2"]')
    finally:
        process.kill()
